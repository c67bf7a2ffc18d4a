"""One root exception for smsflow, one small subclass per package.

Callers catch :class:`SmsflowError` at entry points (CLI, HTTP receiver, agents) and turn it
into a one-line message, a 4xx answer or a dead-letter record. Driver errors are wrapped with
``raise ... from e`` so the cause stays visible in logs.
"""

from __future__ import annotations

__all__ = [
    "ClickHouseError",
    "ConfigError",
    "InfraError",
    "SchemaError",
    "SinkError",
    "SmsflowError",
    "ValidationError",
]


class SmsflowError(Exception):
    """Root of every error smsflow raises on purpose."""


class ConfigError(SmsflowError):
    """Settings are missing or inconsistent."""


class InfraError(SmsflowError):
    """The local Kafka broker cannot be fetched, started, reached or stopped."""


class ClickHouseError(SmsflowError):
    """ClickHouse (chDB or server) refused a statement or cannot be reached."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SchemaError(SmsflowError):
    """Bytes that do not decode to a known Avro schema, or a value that does not fit one.

    ``reason`` is a short machine-friendly tag (``unknown-schema``, ``truncated``,
    ``bad-magic``, ``wrong-type`` ...) copied into the dead-letter record.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class ValidationError(SmsflowError):
    """An input event breaks the platform's rules (formats.md)."""


class SinkError(SmsflowError):
    """The ClickHouse sink could not land a batch."""
