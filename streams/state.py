"""The message state machine: pure, deterministic transitions of one umid's joined record.

``apply(old, kind, event)`` returns the new ``MessageState`` dict (``schemas/v1/MessageState.avsc``)
or ``None`` when the event changes nothing (a duplicate, a stale receipt, a replay after a crash).
No wall clock, no I/O: the same (old, event) always gives the same result, so replaying input
after a crash re-creates byte-identical records.

Rules (formats.md section 2, docs/design.md "Exactness"):

* Stage times are kept as the minimum per stage (``queued_at`` ... ``read_at``); the current
  ``state`` is *derived* from them, so the result does not depend on arrival order:
  ``read`` if a read receipt was seen; else the final stage (delivered / undelivered /
  rejected) with the latest time (ties: rejected > undelivered > delivered); else ``sent``;
  else ``queued``. A late earlier-stage receipt therefore never overwrites a final state, but
  still fills in its own stage time.
* ``detail`` / ``error_code`` / ``error_message`` belong to the receipt that defines the current
  state (the earliest receipt of that stage).
* The send request is authoritative for the fields it carries (subaccount, batch, campaign,
  origin, numbers, text, encoding, parts, country, operator, verification) and sets
  ``queued_at`` (and ``rejected_at`` when REJECTED) to ``submitted_at``: the message's day.
  Receipts only fill fields that are still empty. A second, different request for a umid is
  ignored (the first one seen wins).
* Operator: the request's, else what the receipts say (:func:`receipt_operator`: the name of
  their MCC/MNC, else their operator name), made canonical in the destination country by
  :mod:`smsflow.operators` (the one place operator values are normalised: 724-02 and TIM end
  as one ``TIM``); an MCC/MNC the table does not list stays ``"<mcc>-<mnc>"`` (replaced by a
  later receipt's name) and flags the message ``operator_unknown``.
* Flags (README "Acceptance policy"): the request's ``flags`` (e.g. ``number_unlisted``),
  an MO source's number flags and ``operator_unknown``, sorted. They never drop an event.
* Price: the first priced receipt sets ``price_total`` / ``price_per_sms`` / ``currency``; it is
  never changed afterwards (duplicates carry the same price).
* Receipt before request: the record is held (``has_request`` false, contribution null) and
  merged when the request arrives. An ``orphan`` event (sent by the worker's timer) marks a held
  record whose ``first_event_at`` is at least ``orphan_ttl`` older than the stream time ``as_of``.
  A request arriving later clears the flag.
* Counters are replay-safe: ``receipts`` counts receipts that changed the record (a duplicate or
  a replay is no change, hence no new version); ``duplicates`` is left at 0 here because a
  stream processor cannot tell a webhook retry from its own replay after a crash without extra
  state - duplicates are counted downstream from ``message_events`` (identity topic/partition/
  offset). ``clicks`` is the number of distinct clicks ``(clicked_at, url)``, passed in by the
  worker from its click-identity table as ``distinct_clicks`` and applied as a maximum.
* Replies (:mod:`streams.replies`): a ``reply`` control event from the pair matcher sets
  ``replied``, ``replied_at`` and the counts ``reply_count`` (MOs answering the outbound) and
  ``opt_out_count`` (of those, stop keywords); all reset when it says not replied.
* Inbound MOs get their own record (direction INBOUND, ``has_request`` true: the MO is its own
  defining record; ``country`` = country of the MO's source number).

A record of the wrong direction for an event (an outbound event for an inbound umid or the
reverse) raises :class:`~smsflow.errors.ValidationError`; the worker dead-letters it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from smsflow.contribution import contribution
from smsflow.errors import ValidationError
from smsflow.input_kinds import INPUT_KINDS
from smsflow.numbers import classify
from smsflow.operators import (
    OPERATOR_UNKNOWN,
    canonical_name,
    is_unresolved,
    operator_of_mcc_mnc,
)

__all__ = [
    "EVENT_TIME_FIELD",
    "KINDS",
    "apply",
    "derive_state",
    "event_time",
    "new_state",
    "number_country",
    "receipt_operator",
]

KINDS = ("request", "receipt", "inbound", "survey", "otp", "click", "reply", "orphan")
#: field of each input kind that carries its event time (stream time, first_event_at)
EVENT_TIME_FIELD = {k.event: k.time_field for k in INPUT_KINDS}
_FINAL_RANK = {"delivered": 0, "undelivered": 1, "rejected": 2}
_STAGE_AT = {stage: f"{stage}_at" for stage in (
    "queued", "sent", "delivered", "undelivered", "rejected", "read")}
_REQUEST_FIELDS = (
    "subaccount_id",
    "batch_id",
    "client_message_id",
    "client_batch_id",
    "campaign_id",
    "origin",
    "source",
    "destination",
    "text",
    "encoding",
    "country",
)
_RECEIPT_FILL = ("batch_id", "client_message_id", "client_batch_id", "subaccount_id", "source",
                 "destination", "mcc", "mnc")
#: fields that are bookkeeping, not content: they never make a change on their own
_NOT_CONTENT = ("version", "contribution", "previous_contribution")

_EMPTY: dict[str, Any] = {
    "umid": "",
    "version": 0,
    "direction": "OUTBOUND",
    "has_request": False,
    "orphan": False,
    "subaccount_id": None,
    "batch_id": None,
    "client_message_id": None,
    "client_batch_id": None,
    "campaign_id": None,
    "origin": None,
    "source": None,
    "destination": None,
    "text": None,
    "encoding": None,
    "sms_count": 0,
    "country": None,
    "operator": None,
    "mcc": None,
    "mnc": None,
    "verification": False,
    "state": None,
    "detail": None,
    "error_code": None,
    "error_message": None,
    "price_total": None,
    "price_per_sms": None,
    "currency": None,
    "queued_at": None,
    "rejected_at": None,
    "sent_at": None,
    "delivered_at": None,
    "undelivered_at": None,
    "read_at": None,
    "first_event_at": None,
    "receipts": 0,
    "duplicates": 0,
    "converted": False,
    "converted_at": None,
    "replied": False,
    "replied_at": None,
    "reply_count": 0,
    "opt_out_count": 0,
    "survey_answered": False,
    "clicked": False,
    "clicks": 0,
    "contribution": None,
    "previous_contribution": None,
    "flags": [],
}


def new_state(umid: str, direction: str = "OUTBOUND") -> dict[str, Any]:
    """An empty record (version 0: not yet a real version) for ``umid``."""
    return {**_EMPTY, "umid": umid, "direction": direction}


def event_time(kind: str, event: dict[str, Any]) -> dt.datetime | None:
    """The event time of an input event (None for control events)."""
    f = EVENT_TIME_FIELD.get(kind)
    return event.get(f) if f else None


@lru_cache(maxsize=65536)
def number_country(number: str | None) -> str | None:
    """ISO alpha-2 country of an E.164 number (of its calling code when libphonenumber does not
    list its range, :func:`smsflow.numbers.classify`), None when it has none."""
    return classify(number).country if number else None


def _min(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


def derive_state(s: dict[str, Any]) -> str | None:
    """The current state from the stage times (order-insensitive, see module docs)."""
    if s["read_at"] is not None:
        return "read"
    best: tuple[dt.datetime, int, str] | None = None
    for name, rank in _FINAL_RANK.items():
        at = s[_STAGE_AT[name]]
        if at is not None and (best is None or (at, rank) > best[:2]):
            best = (at, rank, name)
    if best is not None:
        return best[2]
    if s["sent_at"] is not None:
        return "sent"
    return "queued" if s["queued_at"] is not None else None


def receipt_operator(r: dict[str, Any]) -> str | None:
    """What a receipt says the operator is: the name of its MCC/MNC when the table lists it,
    else its operator name, else the ``"<mcc>-<mnc>"`` stand-in, else None."""
    mcc, mnc, name = r.get("mcc"), r.get("mnc"), r.get("operator") or None
    if mcc and mnc:
        op = operator_of_mcc_mnc(mcc, mnc)
        return name if name and is_unresolved(op, mcc, mnc) else op
    return name


def _with_flags(s: dict[str, Any], *extra: str) -> list[str]:
    """The sorted flags of ``s`` plus ``extra``, ``operator_unknown`` as the operator is now."""
    flags = {f for f in s["flags"] if f != OPERATOR_UNKNOWN} | set(extra)
    if is_unresolved(s["operator"], s["mcc"], s["mnc"]):
        flags.add(OPERATOR_UNKNOWN)
    return sorted(flags)


def _apply_request(s: dict[str, Any], r: dict[str, Any]) -> None:
    if s["has_request"]:
        return  # the first request seen wins; duplicates change nothing
    for f in _REQUEST_FIELDS:
        if r.get(f) is not None:
            s[f] = r[f]
    s["sms_count"] = int(r.get("sms_count") or s["sms_count"])
    s["verification"] = bool(r.get("verification"))
    if r.get("operator"):
        s["operator"] = r["operator"]
    s["flags"] = _with_flags(s, *(r.get("flags") or ()))
    at = r["submitted_at"]
    s["queued_at"] = at  # authoritative: the message's day
    if r.get("status") == "REJECTED":
        old_at = s["rejected_at"]
        s["rejected_at"] = _min(old_at, at)
        if old_at is None or at < old_at:  # the platform's reason becomes the error message
            s["_stage_receipt"] = ("rejected", None, None, r.get("status_description"))
    s["has_request"] = True
    s["orphan"] = False


def _apply_receipt(s: dict[str, Any], r: dict[str, Any]) -> None:
    for f in _RECEIPT_FILL:
        if s[f] is None and r.get(f) is not None:
            s[f] = r[f]
    if not s["sms_count"] and r.get("sms_count"):
        s["sms_count"] = int(r["sms_count"])
    said = receipt_operator(r)
    if said is not None and (s["operator"] is None
                             or is_unresolved(s["operator"], s["mcc"], s["mnc"])):
        s["operator"] = said  # never over the request's operator (authoritative)
    if s["price_total"] is None and r.get("price_total") is not None:
        s["price_total"] = r["price_total"]
        s["price_per_sms"] = r.get("price_per_sms")
        s["currency"] = r.get("currency")
    stage, at = r["state"], r["status_at"]
    field = _STAGE_AT[stage]
    if stage == "queued" and s["has_request"]:
        return  # the request's answer time is the queued time
    old_at = s[field]
    s[field] = _min(old_at, at)
    if old_at is None or at < old_at:
        # this receipt is now the earliest of its stage: it owns the stage's detail
        s["_stage_receipt"] = (stage, r.get("detail"), r.get("error_code"), r.get("error_message"))


def _apply_inbound(s: dict[str, Any], m: dict[str, Any]) -> None:
    if s["has_request"]:
        return
    s["has_request"] = True
    for f in ("subaccount_id", "source", "destination", "encoding", "price_total",
              "price_per_sms", "currency"):
        s[f] = m.get(f)
    s["text"] = m.get("body")
    s["sms_count"] = int(m.get("sms_count") or 0)
    facts = classify(m["source"]) if m.get("source") else None
    s["country"] = facts.country if facts else None
    s["flags"] = _with_flags(s, *(facts.flags if facts else ()))


def _check_direction(old: dict[str, Any] | None, kind: str) -> str:
    if kind in ("reply", "orphan") and old is not None:
        return str(old["direction"])  # control events: apply() ignores them on inbound records
    want = "INBOUND" if kind == "inbound" else "OUTBOUND"
    if old is not None and old["direction"] != want:
        raise ValidationError(
            f"umid {old['umid']} is an {old['direction']} message; a {kind} event does not fit"
        )
    return want


def apply(
    old: dict[str, Any] | None,
    kind: str,
    event: dict[str, Any],
    *,
    orphan_ttl: dt.timedelta = dt.timedelta(hours=48),
) -> dict[str, Any] | None:
    """The new MessageState after ``event`` of ``kind`` (see :data:`KINDS`), or None if unchanged.

    ``event`` is the decoded input record; control kinds carry ``{"replied": bool,
    "replied_at": datetime | None, "reply_count": int, "opt_out_count": int}`` (reply; the
    counts default to 0) and ``{"as_of": datetime}`` (orphan); a click
    carries ``distinct_clicks`` (int) next to the UrlClick fields. Raises
    :class:`~smsflow.errors.ValidationError` for an event that cannot belong to the umid's
    record (wrong direction, unknown kind); the caller dead-letters it.
    """
    direction = _check_direction(old, kind)
    if kind in ("reply", "orphan") and (old is None or direction == "INBOUND"):
        return None  # control events only ever refine an existing outbound record
    s = dict(old) if old is not None else new_state(event["umid"], direction)
    at = event_time(kind, event)
    if at is not None:
        s["first_event_at"] = _min(s["first_event_at"], at)
    if kind == "request":
        _apply_request(s, event)
    elif kind == "receipt":
        _apply_receipt(s, event)
    elif kind == "inbound":
        _apply_inbound(s, event)
    elif kind == "survey":
        s["survey_answered"] = True
    elif kind == "otp":
        s["converted"] = True
        s["converted_at"] = _min(s["converted_at"], event["converted_at"])
    elif kind == "click":
        s["clicked"] = True
        s["clicks"] = max(s["clicks"], int(event.get("distinct_clicks") or 1))
    elif kind == "reply":
        s["replied"] = bool(event["replied"])
        s["replied_at"] = event["replied_at"] if s["replied"] else None
        s["reply_count"] = int(event.get("reply_count") or 0) if s["replied"] else 0
        s["opt_out_count"] = int(event.get("opt_out_count") or 0) if s["replied"] else 0
    elif kind == "orphan":
        first = s["first_event_at"]
        if (not s["has_request"] and not s["orphan"] and first is not None
                and first + orphan_ttl <= event["as_of"]):
            s["orphan"] = True
    else:
        raise ValidationError(f"unknown event kind {kind!r}")
    stage_receipt = s.pop("_stage_receipt", None)
    if direction == "OUTBOUND" and s["operator"] is not None and (
            old is None or s["operator"] != old["operator"] or s["country"] != old["country"]):
        # the one place operator values are normalised; in a fixed country canonical names map
        # to themselves, so the result does not depend on the order of events
        s["operator"] = canonical_name(s["operator"], s["country"])
    if kind == "receipt":
        s["flags"] = _with_flags(s)
    if direction == "OUTBOUND":
        s["state"] = derive_state(s)
        if stage_receipt is not None and stage_receipt[0] == s["state"]:
            s["detail"], s["error_code"], s["error_message"] = stage_receipt[1:]
        elif old is not None and old["state"] != s["state"] and stage_receipt is None:
            # the state moved without a receipt of that stage (e.g. a REJECTED request)
            s["detail"] = s["error_code"] = s["error_message"] = None
    # s is a copy of old whose bookkeeping fields (_NOT_CONTENT) are still old's here, so the
    # whole-dict comparison (C speed) is the comparison of the content fields
    if old is not None and s == old:
        return None
    if kind == "receipt":
        s["receipts"] = s["receipts"] + 1
    s["version"] = (old["version"] if old is not None else 0) + 1
    s["previous_contribution"] = old["contribution"] if old is not None else None
    s["contribution"] = contribution(s)
    return s
