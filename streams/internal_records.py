"""The worker's internal records: their schema, and how they are written and read.

Three kinds of record live only on the worker's own topics and changelogs (nothing outside
``streams/`` reads them), as compact JSON, times as integer microseconds since the epoch:

* a **control event** on the control topic, keyed by umid, read by the umid join
  (:class:`ReplyEvent` from the pair matcher, :class:`OrphanEvent` from the orphan timer);
* a **pair event** on the pairs topic, keyed by the (handset, sender) pair
  (:class:`PairEvent`, from the umid join for every request and MO of a numeric pair);
* a **pair value** in the ``pairs`` table and its changelog (:class:`PairValue`).

Compatibility rule: writers write only the spelled-out form below. Readers also accept the
one-letter form written before it (records already on a deployment's control and pairs topics,
and pair values in the ``pairs`` changelog, which compaction keeps for as long as the pair does
not change: keep the old-form reading for as long as such a changelog may exist):

=============  ==========================================  ===============================
record         old form                                    new form
=============  ==========================================  ===============================
reply          ``{"k": "reply", "r": R, "t": T}``          ``{"kind": "reply", "replied": R,
                                                           "replied_at_us": T,
                                                           "reply_count": N,
                                                           "opt_out_count": K}``
orphan         ``{"k": "orphan", "t": T}``                 ``{"kind": "orphan",
                                                           "as_of_us": T}``
pair event     ``{"k": "o"|"m", "u": U, "t": T}``          ``{"side": "outbound"|"inbound",
                                                           "umid": U, "at_us": T,
                                                           "opt_out": B}``
pair value     ``{"o": {..}, "m": {..}, "r": {..}}``       ``{"outbound": {..}, "inbound":
                                                           {..}, "replies": {..},
                                                           "opt_outs": [..],
                                                           "counts": {..}}``
=============  ==========================================  ===============================

A record is read as the new form when it has the new form's first key (``kind``, ``side``,
``outbound``), else as the old form; a record that is neither raises ``KeyError`` (or
``TypeError`` when it is not a JSON object), as the readers did before; an unknown control
kind raises :class:`~smsflow.errors.ValidationError`. The callers dead-letter those.

Fields added to the new form later (reply ``reply_count``/``opt_out_count``, pair event
``opt_out``, pair value ``opt_outs``/``counts``) are optional on reading: a record written
before them reads as 0 / not an opt-out / no opt-out MOs. A pair value without ``counts``
is read without that key (:class:`PairValue` marks it not required), and
:func:`streams.replies.merge_pair` recomputes it on the next event of the pair, even a
duplicate, so every outbound's counts are sent once the pair is touched again.

These are typed definitions here rather than Avro schemas under ``schemas/``: ``schemas/``
holds the contracts between components (released versions, compatibility checked in CI,
Avro framing), while these records are the worker's private state and messages, JSON on the
wire, read and written only by this package.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict

from smsflow.errors import ValidationError

__all__ = [
    "INBOUND",
    "OUTBOUND",
    "ControlEvent",
    "OrphanEvent",
    "PairEvent",
    "PairValue",
    "ReplyEvent",
    "Side",
    "decode_control",
    "decode_pair_event",
    "decode_pair_value",
    "empty_pair",
    "encode_orphan",
    "encode_pair_event",
    "encode_reply",
    "sorted_json",
    "upgrade_pair_value",
]

Side = Literal["outbound", "inbound"]
OUTBOUND: Side = "outbound"
INBOUND: Side = "inbound"


class ReplyEvent(TypedDict):
    """Control event: the outbound keyed by this umid is (not) replied, as of the pair's MOs."""

    kind: Literal["reply"]
    replied: bool
    replied_at_us: int | None  # the earliest answering MO's received_at; None: not replied
    reply_count: int  # MOs answering the outbound (0 when not replied)
    opt_out_count: int  # of those, MOs whose text is a stop keyword


class OrphanEvent(TypedDict):
    """Control event: the receipts held for this umid are orphans (no request came)."""

    kind: Literal["orphan"]
    as_of_us: int  # the partition's stream time when the orphan timer fired


ControlEvent = ReplyEvent | OrphanEvent


class PairEvent(TypedDict):
    """An outbound request or an MO of a (handset, sender) pair."""

    side: Side
    umid: str
    at_us: int  # submitted_at of an outbound, received_at of an MO
    opt_out: bool  # an MO whose text is a stop keyword (smsflow.privacy.opt_out_keyword)


class PairValue(TypedDict):
    """A pair's outbounds and MOs (umid -> time) and the replies they make."""

    outbound: dict[str, int]  # outbound umid -> submitted_at
    inbound: dict[str, int]  # MO umid -> received_at
    replies: dict[str, int]  # replied outbound umid -> replied_at
    opt_outs: list[str]  # umids of the MOs that are opt-outs, sorted
    #: replied outbound umid -> [MOs answering it, of those opt-outs]; absent in a value
    #: written before the counts (merge_pair then recomputes it)
    counts: NotRequired[dict[str, list[int]]]


_OLD_SIDES: dict[str, Side] = {"o": OUTBOUND, "m": INBOUND}


def _compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def empty_pair() -> PairValue:
    return {"outbound": {}, "inbound": {}, "replies": {}, "opt_outs": [], "counts": {}}


def encode_reply(replied: bool, replied_at_us: int | None, reply_count: int = 0,
                 opt_out_count: int = 0) -> bytes:
    body: ReplyEvent = {"kind": "reply", "replied": replied, "replied_at_us": replied_at_us,
                        "reply_count": reply_count, "opt_out_count": opt_out_count}
    return _compact(body)


def encode_orphan(as_of_us: int) -> bytes:
    body: OrphanEvent = {"kind": "orphan", "as_of_us": as_of_us}
    return _compact(body)


def decode_control(value: bytes) -> ControlEvent:
    """A control-topic record in the new form (from either form); errors: module docstring."""
    body = json.loads(value)
    if "kind" in body:
        kind = body["kind"]
        if kind == "reply":
            return {"kind": "reply", "replied": bool(body["replied"]),
                    "replied_at_us": body["replied_at_us"],
                    "reply_count": int(body.get("reply_count") or 0),
                    "opt_out_count": int(body.get("opt_out_count") or 0)}
        if kind == "orphan":
            return {"kind": "orphan", "as_of_us": body["as_of_us"]}
    else:  # the one-letter form
        kind = body["k"]
        if kind == "reply":
            return {"kind": "reply", "replied": bool(body["r"]), "replied_at_us": body["t"],
                    "reply_count": 0, "opt_out_count": 0}
        if kind == "orphan":
            return {"kind": "orphan", "as_of_us": body["t"]}
    raise ValidationError(f"unknown control event {kind!r}")


def encode_pair_event(side: Side, umid: str, at_us: int, opt_out: bool = False) -> bytes:
    body: PairEvent = {"side": side, "umid": umid, "at_us": at_us, "opt_out": opt_out}
    return _compact(body)


def decode_pair_event(value: bytes) -> PairEvent:
    """A pairs-topic record in the new form (from either form); errors: module docstring."""
    body = json.loads(value)
    if "side" in body:
        side = body["side"]
        if side not in (OUTBOUND, INBOUND):
            raise ValidationError(f"unknown pair event side {side!r}")
        return {"side": side, "umid": body["umid"], "at_us": int(body["at_us"]),
                "opt_out": bool(body.get("opt_out"))}
    old = body["k"]
    if old not in _OLD_SIDES:
        raise ValidationError(f"unknown pair event kind {old!r}")
    return {"side": _OLD_SIDES[old], "umid": body["u"], "at_us": int(body["t"]),
            "opt_out": False}


def sorted_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: the same value always gives the same bytes (a replay
    writes the same changelog records). The one JSON writer of the worker's tables (pairs,
    clicks; :mod:`streams.faust_codecs`)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def upgrade_pair_value(body: Any) -> PairValue:
    """A decoded pair value in the new form (an old-form one converted; one without the
    opt-out fields: no opt-outs, and no ``counts``, which merge_pair recomputes)."""
    if "outbound" in body:
        if "opt_outs" not in body:
            body = {**body, "opt_outs": []}
        return body  # type: ignore[no-any-return]
    return {"outbound": body["o"], "inbound": body["m"], "replies": body["r"], "opt_outs": []}


def decode_pair_value(value: bytes) -> PairValue:
    """A ``pairs`` changelog value in the new form (from either form)."""
    return upgrade_pair_value(json.loads(value))
