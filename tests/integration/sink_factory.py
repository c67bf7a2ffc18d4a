"""A small factory of MessageState / DailyDelta records, as the streams worker emits them.

It mirrors the report semantics of docs/design.md (contribution per message, deltas =
contribution - previous contribution per key, identity (umid, version, key)) closely enough to
feed the sink with realistic records, replays and duplicates in tests; it is not the worker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from schemas.codec import money

__all__ = [
    "KEY", "MEASURES", "MessageSim", "at", "contribution_of", "deltas_between", "scenario",
]

KEY = ("day", "subaccount_id", "country", "operator", "origin", "encoding", "campaign_id",
       "currency")
MEASURES = ("total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
            "segments", "verification_sent", "verification_converted", "replies", "inbound",
            "survey_answered", "clicked")
_SENT = {"sent", "delivered", "undelivered", "read"}


def at(day: int, hour: int = 12, minute: int = 0, micro: int = 0) -> dt.datetime:
    """A UTC timestamp in January 2024 (``day`` of the month)."""
    return dt.datetime(2024, 1, day, hour, minute, 0, micro, tzinfo=dt.UTC)


def contribution_of(st: dict[str, Any]) -> dict[str, Any] | None:
    """What one message state adds to the daily report (None: counts nowhere yet)."""
    if st["direction"] == "INBOUND":
        c = {k: 0 for k in MEASURES}
        c.update(
            day=st["first_event_at"].date(), subaccount_id=st["subaccount_id"] or "",
            country=st["country"] or "", operator="", origin="", encoding=st["encoding"] or "",
            campaign_id="", currency=st["currency"] or "", inbound=1, cost=money(0),
        )
        return c
    if not st["has_request"]:
        return None
    state = st["state"]
    priced = st["price_total"] is not None
    c = {
        "day": (st["queued_at"] or st["rejected_at"]).date(),
        "subaccount_id": st["subaccount_id"] or "",
        "country": st["country"] or "",
        "operator": st["operator"] or "",
        "origin": st["origin"] or "",
        "encoding": st["encoding"] or "",
        "campaign_id": st["campaign_id"] or "",
        "currency": st["currency"] if priced else "",
        "total": 1,
        "received": int(state == "queued"),
        "sent": int(state in _SENT),
        "delivered": int(state in {"delivered", "read"}),
        "undelivered": int(state == "undelivered"),
        "rejected": int(state == "rejected"),
        "chargeable": int(state != "rejected"),
        "segments": st["sms_count"],
        "verification_sent": int(st["verification"]),
        "verification_converted": int(st["verification"] and st["converted"]),
        "replies": int(st["replied"]),
        "inbound": 0,
        "survey_answered": int(st["survey_answered"]),
        "clicked": int(st["clicked"]),
        "cost": money(st["price_total"]) if priced and state != "rejected" else money(0),
    }
    return c


def deltas_between(
    umid: str, version: int, prev: dict[str, Any] | None, new: dict[str, Any] | None,
    event_at: dt.datetime,
) -> list[dict[str, Any]]:
    """DailyDelta records of one change: new - prev per report key, zero rows left out."""
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for sign, c in ((-1, prev), (1, new)):
        if c is None:
            continue
        key = tuple(c[k] for k in KEY)
        row = by_key.setdefault(key, {**{k: 0 for k in MEASURES}, "cost": Decimal(0)})
        for m in MEASURES:
            row[m] += sign * c[m]
        row["cost"] += sign * c["cost"]
    out = []
    for key, row in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        if not any(row[m] for m in MEASURES) and row["cost"] == 0:
            continue
        rec = dict(zip(KEY, key, strict=True))
        rec.update({m: row[m] for m in MEASURES})
        rec.update(umid=umid, version=version, cost=money(row["cost"]), event_at=event_at)
        out.append(rec)
    return out


@dataclass
class MessageSim:
    """One message's successive MessageState versions and the DailyDelta records they cause."""

    subaccount_id: str = "SubAccount-1"
    country: str = "SG"
    operator: str = "SingTel"
    direction: str = "OUTBOUND"
    umid: str = field(default_factory=lambda: str(uuid.uuid4()))
    states: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[list[dict[str, Any]]] = field(default_factory=list)

    def _blank(self) -> dict[str, Any]:
        return {
            "umid": self.umid, "version": 0, "direction": self.direction, "has_request": False,
            "orphan": False, "subaccount_id": None, "batch_id": None, "client_message_id": None,
            "client_batch_id": None, "campaign_id": None, "origin": None, "source": None,
            "destination": None, "text": None, "encoding": None, "sms_count": 0,
            "country": None, "operator": None, "mcc": None, "mnc": None,
            "verification": False, "state": None, "detail": None, "error_code": None,
            "error_message": None, "price_total": None, "price_per_sms": None,
            "currency": None, "queued_at": None, "rejected_at": None, "sent_at": None,
            "delivered_at": None, "undelivered_at": None, "read_at": None,
            "first_event_at": None, "receipts": 0, "duplicates": 0, "converted": False,
            "converted_at": None, "replied": False, "replied_at": None,
            "survey_answered": False, "clicked": False, "clicks": 0,
            "contribution": None, "previous_contribution": None,
        }

    def change(self, event_at: dt.datetime, **fields: Any) -> dict[str, Any]:
        """Apply ``fields`` as the next version; return the new MessageState record."""
        prev = self.states[-1] if self.states else self._blank()
        st = {**prev, **fields}
        st["version"] = prev["version"] + 1
        if st["first_event_at"] is None or event_at < st["first_event_at"]:
            st["first_event_at"] = event_at
        st["previous_contribution"] = prev["contribution"]
        st["contribution"] = contribution_of(st)
        self.states.append(st)
        self.deltas.append(deltas_between(
            self.umid, st["version"], st["previous_contribution"], st["contribution"], event_at
        ))
        return st

    def request(self, when: dt.datetime, *, rejected: bool = False, **fields: Any) -> None:
        """The send request (QUEUED or REJECTED answer) arrives."""
        state = "rejected" if rejected else "queued"
        cur = self.states[-1]["state"] if self.states else None
        self.change(
            when, has_request=True, subaccount_id=self.subaccount_id, country=self.country,
            operator=self.operator, origin=fields.pop("origin", "HTTP_API"),
            encoding=fields.pop("encoding", "GSM7"), sms_count=fields.pop("sms_count", 1),
            destination=fields.pop("destination", "+6591234567"),
            source=fields.pop("source", "smsflow"), text=fields.pop("text", "hello"),
            state=cur if cur and not rejected else state,
            queued_at=None if rejected else when, rejected_at=when if rejected else None,
            **fields,
        )

    def receipt(
        self, state: str, when: dt.datetime, price: str | None = None, currency: str = "EUR",
        **fields: Any,
    ) -> None:
        """A status-bearing receipt (priced when ``price`` is given)."""
        cur = self.states[-1] if self.states else self._blank()
        upd: dict[str, Any] = {"state": state, f"{state}_at": when,
                               "receipts": cur["receipts"] + 1}
        if price is not None and cur["price_total"] is None:
            upd.update(price_total=money(price), price_per_sms=money(price), currency=currency)
        self.change(when, **upd, **fields)

    def inbound(self, when: dt.datetime, currency: str = "EUR") -> None:
        """This sim is an inbound MO (direction INBOUND): its single version."""
        self.direction = "INBOUND"
        self.change(
            when, direction="INBOUND", subaccount_id=self.subaccount_id, country=self.country,
            encoding="GSM7", sms_count=1, source="+6581968289", destination="+4534735477",
            text="STOP", price_total=money("0.01"), price_per_sms=money("0.01"),
            currency=currency, state=None,
        )

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """``(schema, record)`` pairs in emission order: one MessageState per version (the sink
        derives its delta rows; ``deltas`` holds what they must be)."""
        return [("MessageState", st) for st in self.states]


# ------------------------------------------------------------------------------ broker I/O
async def produce(settings: Any, items: list[tuple[str, str, dict[str, Any] | bytes]]) -> None:
    """Produce ``(topic, umid, record-or-raw-bytes)``; records are encoded by their topic."""
    from aiokafka import AIOKafkaProducer

    from schemas import get_codec
    from sinks.rows import routes

    codec = get_codec(settings)
    by_topic = routes(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5,
                                acks="all")
    await producer.start()
    try:
        for topic, umid, rec in items:
            value = rec if isinstance(rec, bytes) else codec.encode(by_topic[topic].schema, rec)
            await producer.send(topic, key=umid.encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()


def state_items(settings: Any, sims: list[MessageSim]) -> list[tuple[str, str, Any]]:
    """Every sim's records on the derived topics, in emission order."""
    t = settings.topics
    out: list[tuple[str, str, Any]] = []
    for m in sims:
        for _schema, rec in m.records():
            out.append((t.message_state, m.umid, rec))
    return out


async def lag(settings: Any, group: str) -> int:
    """Records on the sink's topics not yet committed by ``group``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    from sinks.rows import routes

    topics = list(routes(settings))
    tps = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    await admin.start()
    try:
        ends = await consumer.end_offsets(tps)
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except GroupCoordinatorNotAvailableError:  # the group has not committed anything yet
            committed = {}
    finally:
        await consumer.stop()
        await admin.close()
    done = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    return sum(end - done.get(tp, 0) for tp, end in ends.items())


async def wait_drained(settings: Any, group: str, within: float = 120.0) -> None:
    """Wait until ``group`` committed everything on the sink's topics."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := await lag(settings, group)) > 0:
        if loop.time() > deadline:
            raise AssertionError(f"sink still {left} records behind after {within:.0f}s")
        await asyncio.sleep(0.3)


def expected_daily(sims: list[MessageSim]) -> dict[dt.date, dict[str, Any]]:
    """Per-day sums of the final contributions (the truth the daily report must show)."""
    out: dict[dt.date, dict[str, Any]] = {}
    for m in sims:
        c = m.states[-1]["contribution"]
        if c is None:
            continue
        day = out.setdefault(c["day"], {**{k: 0 for k in MEASURES}, "cost": Decimal(0)})
        for k in MEASURES:
            day[k] += c[k]
        day["cost"] += c["cost"]
    return dict(sorted(out.items()))


def random_sims(n: int, seed: int) -> list[MessageSim]:
    """``n`` messages with mixed lifecycles (late, early, rejected, pending), deterministic."""
    import random

    rnd = random.Random(seed)
    sims = []
    for i in range(n):
        m = MessageSim(
            umid=str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            subaccount_id=rnd.choice(["SA-1", "SA-2", "SA-3"]),
            country=rnd.choice(["SG", "US", "DE"]),
            operator=rnd.choice(["op-a", "op-b", ""]),
        )
        day = 1 + i % 5
        sent = at(day, rnd.randrange(24), rnd.randrange(60), rnd.randrange(1_000_000))
        kind = rnd.random()
        price = f"0.0{rnd.randrange(100, 999)}{rnd.randrange(1000)}"
        if kind < 0.1:
            m.request(sent, rejected=True)
        elif kind < 0.2:
            m.receipt("delivered", sent + dt.timedelta(seconds=5), price=price)
            m.request(sent, verification=rnd.random() < 0.5)
        else:
            m.request(sent, verification=rnd.random() < 0.3,
                      campaign_id=rnd.choice(["", "c-1", "c-2"]), sms_count=rnd.randint(1, 3))
            if kind < 0.9:
                m.receipt("sent", sent + dt.timedelta(seconds=1))
                final = "delivered" if rnd.random() < 0.8 else "undelivered"
                m.receipt(final, sent + dt.timedelta(hours=rnd.randrange(30)), price=price)
            if m.states[-1]["verification"] and rnd.random() < 0.5:
                m.change(sent + dt.timedelta(minutes=2), converted=True,
                         converted_at=sent + dt.timedelta(minutes=2))
        sims.append(m)
    return sims


def scenario() -> list[MessageSim]:
    """Five messages covering late receipts, receipts first, rejection, pricing, inbound."""
    late = MessageSim(subaccount_id="SA-1", country="SG", operator="SingTel")
    late.request(at(2, 23, 50), verification=True, campaign_id="c-1")
    late.receipt("sent", at(2, 23, 55))
    late.receipt("delivered", at(3, 0, 5), price="0.0446592")  # late: still counts on day 2
    late.change(at(3, 0, 6), converted=True, converted_at=at(3, 0, 6))
    early = MessageSim(subaccount_id="SA-1", country="US", operator="")
    early.receipt("undelivered", at(4, 9), price="0.0100000", error_code=7,
                  error_message="handset off")
    early.request(at(4, 8, 59), campaign_id="c-1")  # request after the receipt
    rejected = MessageSim(subaccount_id="SA-2", country="SG", operator="StarHub")
    rejected.request(at(2, 10), rejected=True)
    queued = MessageSim(subaccount_id="SA-2", country="SG", operator="StarHub")
    queued.request(at(4, 12), sms_count=3)
    orphan = MessageSim(subaccount_id="SA-2")
    orphan.receipt("delivered", at(4, 13), price="0.02")  # request never seen: counts nowhere
    mo = MessageSim(subaccount_id="SA-1", country="SG")
    mo.inbound(at(3, 7))
    return [late, early, rejected, queued, orphan, mo]
