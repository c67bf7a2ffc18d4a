"""Traffic simulator with ground truth (``smsflow simulate``).

```python
from simulator.simulation import SimConfig, simulate, produce_events, write_simulation
sim = simulate(SimConfig(messages=10_000, seed=7))
sim.events        # [(kind, umid, record_dict)] in delivery order, kinds as in KINDS
sim.truth         # the expected analytics (truth.json, see docs/design.md "Ground truth")
sim.messages      # MessageTruth per outbound umid (messages.jsonl)
sim.bad           # invalid records appended per kind when bad_records > 0
write_simulation(sim, "out/")                           # files, byte-identical per seed
await produce_events(settings, sim.events, bad=sim.bad)  # to the broker, keyed by umid
```

Same :class:`SimConfig` -> same events, truth and bytes: every random choice comes from one
``random.Random(seed)``, times are integers of microseconds from a day fixed by the seed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import money
from simulator.config import KINDS, SCHEMA_OF, SimConfig
from simulator.events import (
    HOUR,
    SECOND,
    Emitter,
    Event,
    between,
    new_umid,
    ts,
    us,
    us_of,
)
from simulator.files import (
    BadRecord,
    load_bad_records,
    load_events,
    load_truth,
    write_simulation,
)
from simulator.inbound import simulate_inbound
from simulator.outbound import plan_outbound
from simulator.produce import produce_events
from simulator.smpp import SmppChannel
from simulator.truth import InboundTruth, MessageTruth, compute_truth, to_json_value
from simulator.world import COUNTRIES, SUBACCOUNTS, NumberPool, Recipients

__all__ = [
    "KINDS",
    "SCHEMA_OF",
    "BadRecord",
    "Event",
    "SimConfig",
    "Simulation",
    "load_bad_records",
    "load_events",
    "load_truth",
    "produce_events",
    "simulate",
    "write_simulation",
]


@dataclass
class Simulation:
    """Events in delivery order, the ground truth and the per-message facts behind it."""

    config: SimConfig
    events: list[Event]
    truth: dict[str, Any]
    messages: list[MessageTruth] = field(default_factory=list)
    inbound: list[InboundTruth] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    # index in events -> deliver_sm spec of the receipts the platform sends over SMPP
    # (SimConfig.smpp_receipt_share); their records in events are what SMPP carries
    smpp: dict[int, dict[str, Any]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Valid events per kind (every kind present, 0 when none)."""
        c = Counter(kind for kind, _, _ in self.events)
        return {k: c[k] for k in KINDS}


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("simulating messages", total=total)
        yield lambda n: bar.advance(task, n)


def simulate(config: SimConfig, *, progress: bool = False) -> Simulation:
    """Generate the traffic of ``config`` and its ground truth (pure, deterministic).

    ``progress`` shows a rich progress bar on stderr. Raises
    :class:`~smsflow.errors.ConfigError` only through :class:`SimConfig` validation.
    """
    cfg = config
    rng = random.Random(cfg.seed)
    start_us = us_of(cfg.first_day)
    end_us = us_of(cfg.last_day) + 24 * HOUR
    pool = NumberPool(rng)
    recipients = Recipients(pool, rng, cfg)
    virtual_by_sa: dict[str, list[str]] = {}
    virtual: dict[str, tuple[str, str]] = {}
    by_code = {c.code: c for c in COUNTRIES}
    for sa in SUBACCOUNTS:
        virtual_by_sa[sa.id] = []
        for code in sa.virtual_countries:
            number, _ = pool.draw(by_code[code])
            virtual_by_sa[sa.id].append(number)
            virtual[number] = (sa.id, code)
    emitter = Emitter()
    with _progress(progress, cfg.messages) as advance:
        plans = plan_outbound(cfg, rng, recipients, virtual_by_sa, emitter, start_us, end_us,
                              advance)
    inbound = simulate_inbound(cfg, rng, plans, virtual, recipients, emitter, start_us, end_us)
    orphan_starts = _orphans(cfg, rng, recipients, emitter, start_us,
                             SmppChannel(cfg.seed + 1, cfg.smpp_receipt_share))
    stream_end = emitter.max_event_us
    ttl = int(cfg.orphan_ttl_hours * 3600) * SECOND
    orphans = sum(1 for first in orphan_starts if first + ttl < stream_end)
    bad = _bad_records(cfg, rng, start_us)
    events = emitter.ordered()
    messages = sorted((p.truth for p in plans), key=lambda m: (m.submitted_at, m.umid))
    inbound.sort(key=lambda mo: (mo.received_at, mo.umid))
    kinds = Counter(kind for kind, _, _ in events)
    meta = {
        "seed": cfg.seed, "days": cfg.days, "first_day": cfg.first_day.isoformat(),
        "last_day": cfg.last_day.isoformat(), "currency": cfg.currency,
        "reply_window_hours": cfg.reply_window_hours,
        "orphan_ttl_hours": cfg.orphan_ttl_hours,
        "stream_end": to_json_value(ts(stream_end)) if stream_end else None,
        "events": {k: kinds[k] for k in KINDS}, "orphans_generated": len(orphan_starts),
    }
    if cfg.incidents:  # when each alert must fire: incidents.expected_alerts
        meta["incidents"] = [
            {"kind": i.kind, "key": i.key(), "start_hour": i.start_hour, "hours": i.hours,
             "share": i.share, "delay_s": i.delay_s, "error_code": i.error_code}
            for i in cfg.incidents
        ]
    invalid = {k: cfg.bad_records for k in KINDS}
    truth = compute_truth(messages, inbound, orphans=orphans, invalid=invalid, meta=meta)
    return Simulation(cfg, events, truth, messages, inbound, bad, emitter.smpp_specs())


def _orphans(cfg: SimConfig, rng: random.Random, recipients: Recipients, emitter: Emitter,
             start_us: int, channel: SmppChannel) -> list[int]:
    """Receipts of umids that never get a request, in the first 12 h of the first day; the
    first event time of each. None when the span is too short for them to pass the TTL."""
    if cfg.days * 24 < cfg.orphan_ttl_hours + 24:
        return []
    firsts = []
    for _ in range(round(cfg.messages * cfg.orphan_rate)):
        umid = new_umid(rng)
        country = rng.choice(COUNTRIES)
        rcp = recipients.new(country)
        at = start_us + between(rng, 0, 12 * HOUR)
        firsts.append(at)
        sa = rng.choice(SUBACCOUNTS)
        for state, t in (("sent", at), ("delivered", at + between(rng, SECOND, 600 * SECOND))):
            rec = {
                "umid": umid, "batch_id": None, "client_message_id": None,
                "client_batch_id": None, "subaccount_id": sa.id, "source": sa.sender_ids[0],
                "destination": rcp.number, "state": state,
                "detail": "delivered_to_recipient" if state == "delivered" else None,
                "status_at": ts(t), "error_code": None, "error_message": None,
                "price_total": money(country.price), "price_per_sms": money(country.price),
                "currency": cfg.currency, "sms_count": 1, "mcc": rcp.network.mcc,
                "mnc": rcp.network.mnc, "operator": rcp.network.name, "received_at": None,
            }
            rec, spec = channel.receipt(rec)
            if state == "sent":
                firsts[-1] = us(rec["status_at"])
            emitter.emit(t + between(rng, 50_000, 3 * SECOND), "receipts", umid, rec,
                         us(rec["status_at"]), spec)
            if state == "delivered" and rng.random() < 0.5:
                break  # some orphans never get their final receipt
    return firsts


_FLAVOURS = ("random-bytes", "wrong-schema", "json-without-umid")


def _bad_records(cfg: SimConfig, rng: random.Random, start_us: int) -> list[BadRecord]:
    """``bad_records`` invalid records per input kind, cycling through three flavours."""
    out: list[BadRecord] = []
    for kind in KINDS:
        for i in range(cfg.bad_records):
            flavour = _FLAVOURS[i % len(_FLAVOURS)]
            umid = new_umid(rng)
            if flavour == "random-bytes":  # never starts like an Avro single-object record
                value = b"\xde\xad" + rng.randbytes(rng.randrange(8, 64))
                out.append(BadRecord(kind, flavour, umid.encode(), value))
            elif flavour == "wrong-schema":
                other = "UrlClick" if SCHEMA_OF[kind] == "OtpFeedback" else "OtpFeedback"
                rec: dict[str, Any] = {"umid": umid, "clicked_at": ts(start_us)}
                if other == "OtpFeedback":
                    rec = {"umid": umid, "subaccount_id": None, "converted_at": ts(start_us)}
                out.append(BadRecord(kind, flavour, umid.encode(), None, other, rec))
            else:
                body = {"namespace": "SMS", "eventType": kind,
                        "payload": {"status": {"state": "delivered"}, "smsCount": 1}}
                value = json.dumps(body, sort_keys=True).encode()
                out.append(BadRecord(kind, flavour, None, value))
    return out
