"""Timestamps as exact integer microseconds since the epoch (UTC), the form Avro and the
worker's internal records carry them in."""

from __future__ import annotations

import datetime as dt

__all__ = ["EPOCH", "from_micros", "to_micros"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(t: dt.datetime) -> int:
    """Exact integer microseconds since the epoch of an aware datetime."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_micros(us: int) -> dt.datetime:
    """Aware UTC datetime of integer microseconds since the epoch."""
    return EPOCH + dt.timedelta(microseconds=us)
