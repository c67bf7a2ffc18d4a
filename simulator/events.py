"""Event collection for the simulator: delivery times, stable ordering, exact timestamps."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

__all__ = ["EPOCH", "HOUR", "MINUTE", "SECOND", "Emitter", "Event", "between", "new_umid", "ts",
           "us", "us_of"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
Event = tuple[str, str, dict[str, Any]]  # (kind, umid, record dict)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def between(rng: random.Random, lo: int, hi: int) -> int:
    """A random integer in [lo, hi) (microseconds), one draw of ``rng``."""
    return lo + int(rng.random() * (hi - lo))


def ts(us: int) -> dt.datetime:
    """Aware UTC datetime of integer microseconds since the epoch (exact, no float)."""
    return EPOCH + dt.timedelta(microseconds=us)


def us(at: dt.datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime (the inverse of :func:`ts`)."""
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def us_of(day: dt.date) -> int:
    """Microseconds since the epoch of midnight UTC starting ``day``."""
    return (day - EPOCH.date()).days * 86_400 * SECOND


def new_umid(rng: random.Random) -> str:
    """A random (version 4) uuid string drawn from ``rng``: reproducible for a seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Emitter:
    """Collects events with the time they reach smsflow; :meth:`ordered` is delivery order.

    Ties on delivery time keep emission order, so the order is a pure function of the seed.
    """

    def __init__(self) -> None:
        self._items: list[tuple[int, int, str, str, dict[str, Any]]] = []
        self._specs: dict[int, dict[str, Any]] = {}  # emission index -> deliver_sm spec
        self.max_event_us = 0  # latest event time carried in a record (stream time at the end)

    def emit(
        self, at_us: int, kind: str, umid: str, record: dict[str, Any], event_us: int,
        smpp: dict[str, Any] | None = None,
    ) -> None:
        """Add an event delivered at ``at_us`` whose own timestamp is ``event_us``; ``smpp``:
        the deliver_sm spec it comes as when the platform sends it over SMPP."""
        if smpp is not None:
            self._specs[len(self._items)] = smpp
        self._items.append((at_us, len(self._items), kind, umid, record))
        if event_us > self.max_event_us:
            self.max_event_us = event_us

    def __len__(self) -> int:
        return len(self._items)

    def ordered(self) -> list[Event]:
        self._items.sort(key=lambda i: (i[0], i[1]))
        return [(k, u, r) for _, _, k, u, r in self._items]

    def smpp_specs(self) -> dict[int, dict[str, Any]]:
        """Index in :meth:`ordered` -> deliver_sm spec of the events that come over SMPP."""
        self._items.sort(key=lambda i: (i[0], i[1]))
        return {pos: self._specs[item[1]] for pos, item in enumerate(self._items)
                if item[1] in self._specs}
