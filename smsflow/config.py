"""All settings in one place: environment variables with the ``SMSFLOW_`` prefix.

Load once at the entry point with :func:`load_settings` and pass the object down; nothing
deep inside reads the environment. ``KAFKA_BOOTSTRAP_SERVERS`` (no prefix) is honoured too,
as the common convention for pointing tools at an existing broker.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "TopicNames", "load_settings"]


class TopicNames:
    """Names of every Kafka topic smsflow uses, derived from one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def requests(self) -> str:
        """Send requests with the platform's QUEUED/REJECTED answer (input)."""
        return self._t("send-requests")

    @property
    def receipts(self) -> str:
        """Delivery receipts (input)."""
        return self._t("delivery-receipts")

    @property
    def inbound(self) -> str:
        """Inbound MO messages (input)."""
        return self._t("inbound-messages")

    @property
    def surveys(self) -> str:
        """SMS Engage survey responses (input)."""
        return self._t("survey-responses")

    @property
    def otp_feedback(self) -> str:
        """OTP-conversion feedback (input)."""
        return self._t("otp-feedback")

    @property
    def clicks(self) -> str:
        """Short-URL clicks (input)."""
        return self._t("url-clicks")

    @property
    def message_state(self) -> str:
        """Latest joined record per umid (derived, compacted)."""
        return self._t("message-state")

    @property
    def daily_deltas(self) -> str:
        """Aggregate delta rows (derived)."""
        return self._t("daily-deltas")

    @property
    def dead_letter(self) -> str:
        """Invalid events with the reason (never lost)."""
        return self._t("dead-letter")

    def inputs(self) -> list[str]:
        return [
            self.requests,
            self.receipts,
            self.inbound,
            self.surveys,
            self.otp_feedback,
            self.clicks,
        ]

    def derived(self) -> list[str]:
        return [self.message_state, self.daily_deltas]

    def all(self) -> list[str]:
        return [*self.inputs(), *self.derived(), self.dead_letter]

    def compacted(self) -> set[str]:
        """Topics that are changelogs/state (cleanup.policy=compact)."""
        return {self.message_state}


class Settings(BaseSettings):
    """smsflow settings. Every field maps to ``SMSFLOW_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="SMSFLOW_", frozen=True, extra="ignore")

    # --- where state lives -------------------------------------------------------------
    home: Path = Field(
        default=Path(".smsflow"),
        description="Working directory for local state: broker data, chDB data, pids, logs.",
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "smsflow",
        description="Cache outside git for the Kafka broker jars fetched with Maven.",
    )

    # --- Kafka ----------------------------------------------------------------------------
    bootstrap_servers: str = Field(
        default="",
        description="Kafka bootstrap servers; empty means the local broker on kafka_port.",
    )
    kafka_version: str = Field(default="3.9.2", description="Apache Kafka broker version.")
    kafka_port: int = Field(default=9092, description="Local broker client port.")
    kafka_controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    kafka_heap: str = Field(default="1g", description="Local broker JVM heap (-Xmx).")
    topic_prefix: str = Field(default="sms.", description="Prefix of every topic name.")
    partitions: int = Field(default=6, ge=1, description="Partitions per topic.")
    dead_letter_retention_ms: int = Field(
        default=14 * 24 * 3600 * 1000, description="Retention of the dead-letter topic."
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent schema registry; unset means single-object Avro encoding.",
    )

    # --- ClickHouse -------------------------------------------------------------------------
    clickhouse_url: str | None = Field(
        default=None,
        description="ClickHouse server URL (http[s]://user:pass@host:port/db); unset means chDB.",
    )
    clickhouse_path: Path | None = Field(
        default=None, description="chDB data directory; default <home>/clickhouse."
    )
    clickhouse_database: str = Field(default="smsflow", description="ClickHouse database.")
    clickhouse_password: SecretStr | None = Field(
        default=None, description="ClickHouse password when not given in the URL."
    )
    sink_batch_size: int = Field(
        default=10_000, ge=1, description="Sink: most Kafka records per ClickHouse insert batch."
    )
    sink_batch_ms: int = Field(
        default=1_000, ge=1, description="Sink: longest wait (ms) before flushing a partial batch."
    )

    # --- ports of our own services ------------------------------------------------------
    webhook_port: int = Field(default=8080, description="Webhook receiver HTTP port.")
    webhook_token: SecretStr | None = Field(
        default=None,
        description="Shared secret the webhook receiver expects in X-Smsflow-Token; unset = none.",
    )
    webhook_max_body: int = Field(
        default=64 * 1024, ge=1, description="Largest webhook body accepted, in bytes (else 413)."
    )
    worker_web_port: int = Field(default=6066, description="Faust worker web port.")
    health_port: int = Field(default=8081, description="Health/metrics/query port of `run`.")

    # --- stream processor (streams/) ------------------------------------------------------
    worker_store: Literal["memory", "rocksdb"] = Field(
        default="memory",
        description="Faust table store: memory (replays the changelog at start) or rocksdb.",
    )
    reply_window_seconds: int = Field(
        default=24 * 3600, ge=0, description="An MO within this time after an outbound replies."
    )
    orphan_ttl_seconds: int = Field(
        default=48 * 3600, ge=0, description="Stream time a receipt waits for its request."
    )

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap servers to connect to (explicit setting, else the local broker)."""
        if self.bootstrap_servers:
            return self.bootstrap_servers
        env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if env:
            return env
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or (self.home / "clickhouse")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by tests and CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
