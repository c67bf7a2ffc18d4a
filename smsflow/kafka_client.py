"""Kafka connection security for every client: aiokafka keyword arguments and Faust's broker.

Every aiokafka client (producers, consumers, admin clients) is built as::

    AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **aiokafka_kwargs(settings), ...)

and started through :func:`start_client`, which turns a failure into one line: wrong
credentials give ``Kafka at HOST rejected the credentials (SASL SCRAM-SHA-512, user 'u')``, a
failed TLS handshake and an unreachable broker say so. Faust gets the same settings with
``faust.App(..., **faust_broker_kwargs(settings))``.

Secrets come only from settings (environment or ``*_FILE``), typed ``SecretStr``; they are
unwrapped here, at the last moment, and never appear in messages.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Protocol

from aiokafka.conn import create_conn
from aiokafka.errors import AuthenticationFailedError, KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from smsflow.config import Settings
from smsflow.errors import ConfigError, InfraError

__all__ = [
    "aiokafka_kwargs",
    "describe_failure",
    "faust_broker_kwargs",
    "ssl_context",
    "start_client",
]

_SASL = {"SASL_PLAINTEXT", "SASL_SSL"}
_TLS = {"SSL", "SASL_SSL"}


class _Startable(Protocol):
    async def start(self) -> None: ...


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of SSL / SASL_SSL (CA, optional client certificate), else None.

    Raises :class:`ConfigError` naming the file when a CA / certificate / key cannot be loaded.
    """
    if settings.kafka_security_protocol not in _TLS:
        return None
    key_pw = settings.kafka_ssl_key_password
    try:
        return create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password=key_pw.get_secret_value() if key_pw else None,
        )
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load the Kafka TLS files (CA/cert/key): {e}") from e


def _sasl(settings: Settings) -> tuple[str, str]:
    user = settings.kafka_sasl_username
    pw = settings.kafka_sasl_password
    if not user or pw is None:
        raise ConfigError(
            f"SMSFLOW_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "SMSFLOW_KAFKA_SASL_USERNAME and SMSFLOW_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE)"
        )
    return user, pw.get_secret_value()


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    """Security keyword arguments of any aiokafka client (``security_protocol``, ``sasl_*``,
    ``ssl_context``); empty of secrets for PLAINTEXT. Raises :class:`ConfigError` when SASL
    lacks a user or password or the TLS files cannot be loaded."""
    proto = settings.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": proto}
    if proto in _SASL:
        user, pw = _sasl(settings)
        out.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=user,
            sasl_plain_password=pw,
        )
    if proto in _TLS:
        out["ssl_context"] = ssl_context(settings)
    return out


def faust_broker_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``faust.App``: ``broker`` (``["kafka://h1:p1", ...]``) and, unless
    PLAINTEXT, ``broker_credentials`` (``faust.SASLCredentials`` for SASL_PLAINTEXT/SASL_SSL
    with the TLS context for SASL_SSL, ``faust.SSLCredentials`` for SSL)."""
    import faust

    hosts = [h.strip() for h in settings.kafka_bootstrap.split(",") if h.strip()]
    out: dict[str, Any] = {"broker": [f"kafka://{h}" for h in hosts]}
    proto = settings.kafka_security_protocol
    if proto in _SASL:
        user, pw = _sasl(settings)
        out["broker_credentials"] = faust.SASLCredentials(
            username=user,
            password=pw,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context(settings),
        )
    elif proto == "SSL":
        out["broker_credentials"] = faust.SSLCredentials(ssl_context(settings))
    return out


def _first_host(settings: Settings) -> tuple[str, int]:
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return (host or first).strip("[]"), int(port or 9092)


def _auth_message(settings: Settings) -> str:
    return (
        f"Kafka at {settings.kafka_bootstrap} rejected the credentials "
        f"(SASL {settings.kafka_sasl_mechanism}, user '{settings.kafka_sasl_username}')"
    )


def _in_chain(e: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, kinds):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


async def describe_failure(settings: Settings, error: BaseException) -> str:
    """One line saying why a client could not start: rejected credentials, a failed TLS
    handshake, or an unreachable broker. aiokafka hides the cause of a failed bootstrap, so
    with SASL/TLS one direct connection to the first bootstrap server is tried to find it."""
    if _in_chain(error, (SaslAuthenticationFailed, AuthenticationFailedError)):
        return _auth_message(settings)
    if _in_chain(error, (ssl.SSLError,)):
        return f"TLS handshake with Kafka at {settings.kafka_bootstrap} failed: {error}"
    if settings.kafka_security_protocol != "PLAINTEXT":
        host, port = _first_host(settings)
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=10_000, **aiokafka_kwargs(settings)),
                15,
            )
            conn.close()
        except (SaslAuthenticationFailed, AuthenticationFailedError):
            return _auth_message(settings)
        except ssl.SSLError as e:
            return f"TLS handshake with Kafka at {settings.kafka_bootstrap} failed: {e}"
        except (KafkaError, OSError, TimeoutError, ConfigError):
            pass
    detail = str(error) or type(error).__name__
    return f"cannot reach Kafka at {settings.kafka_bootstrap}: {detail}"


async def start_client(
    client: _Startable,
    settings: Settings,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - bounds the start of a client that retries forever
    error: type[Exception] = InfraError,
) -> None:
    """``await client.start()``; on failure raise ``error`` (default :class:`InfraError`)
    with the one-line reason of :func:`describe_failure`. The caller closes the client."""
    try:
        await asyncio.wait_for(client.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as e:
        raise error(await describe_failure(settings, e)) from e
