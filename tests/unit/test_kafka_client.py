"""Security keyword arguments of aiokafka clients and of the Faust app."""

from __future__ import annotations

import ssl

import faust
import pytest

from smsflow.config import Settings
from smsflow.errors import ConfigError
from smsflow.kafka_client import aiokafka_kwargs, faust_broker_kwargs


def test_plaintext_has_no_credentials() -> None:
    s = Settings(bootstrap_servers="h1:9092, h2:9093")
    assert aiokafka_kwargs(s) == {"security_protocol": "PLAINTEXT"}
    assert faust_broker_kwargs(s) == {"broker": ["kafka://h1:9092", "kafka://h2:9093"]}


def test_sasl_scram() -> None:
    s = Settings(bootstrap_servers="h:9094", kafka_security_protocol="SASL_PLAINTEXT",
                 kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="u",
                 kafka_sasl_password="p")  # type: ignore[arg-type]
    assert aiokafka_kwargs(s) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "u", "sasl_plain_password": "p",
    }
    creds = faust_broker_kwargs(s)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value, creds.protocol.value) == (
        "u", "p", "SCRAM-SHA-256", "SASL_PLAINTEXT")


def test_sasl_ssl_and_ssl_build_a_tls_context() -> None:
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u",
                 kafka_sasl_password="p")  # type: ignore[arg-type]
    kw = aiokafka_kwargs(s)
    assert kw["security_protocol"] == "SASL_SSL" and isinstance(kw["ssl_context"], ssl.SSLContext)
    assert faust_broker_kwargs(s)["broker_credentials"].protocol.value == "SASL_SSL"
    tls = faust_broker_kwargs(Settings(kafka_security_protocol="SSL"))["broker_credentials"]
    assert isinstance(tls, faust.SSLCredentials)


def test_missing_credentials_and_files_are_config_errors(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="SMSFLOW_KAFKA_SASL_USERNAME"):
        aiokafka_kwargs(Settings(kafka_security_protocol="SASL_PLAINTEXT"))
    with pytest.raises(ConfigError, match="TLS files"):
        aiokafka_kwargs(Settings(kafka_security_protocol="SSL",
                                 kafka_ssl_cafile="/nonexistent/ca.pem"))  # type: ignore[arg-type]
