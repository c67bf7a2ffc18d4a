"""Replies: an inbound MO that answers an outbound message marks that outbound ``replied``.

Rule (deterministic, independent of arrival order): an outbound O and an MO M belong to the
same *pair* when ``M.source == O.destination`` and ``M.destination == O.source`` (numbers
compared without a leading '+'). M answers the most recent outbound of its pair submitted at or
before M was received, provided ``O.submitted_at <= M.received_at <= O.submitted_at + window``
(ties on submitted_at: the larger umid). O is replied when at least one MO answers it;
``replied_at`` is the earliest such MO, ``reply_count`` the number of MOs that answer it and
``opt_out_count`` how many of those are opt-outs (the MO's text is a stop keyword,
:func:`smsflow.privacy.opt_out_keyword`; the umid join flags the MO on its pair event, from the
text of the MO's state, so a duplicate MO is one MO and keeps its flag). Because the result
is a function of the *sets* of outbounds and MOs of the pair, an outbound whose request
arrives late can take a reply over from an older outbound (which is then un-replied): the
final records are the same whatever the order; the counts too (an MO counts for the one
outbound it answers, so an outbound taking a reply over takes its counts with it).

Data flow (two hops, both idempotent): the umid agent sends every send request that has a
sender id and every MO to the internal *pairs* topic keyed by the pair; the pair agent keeps
the pair's outbounds/MOs in the ``pairs`` table and sends a ``reply`` control event, keyed by
the outbound umid, back to the umid table for every outbound whose status (replied,
replied_at, counts) changed. When an event changes nothing in the pair (a duplicate or a
replay after a crash), it re-sends the status of every outbound of the pair, so a control
event lost in a crash is re-created.

The records (pair events, the pair value, ``reply`` control events) and their wire form:
:mod:`streams.internal_records`.

Retention: with ``SMSFLOW_STATE_RETENTION_HOURS`` > 0 a pair drops its outbounds and MOs past
the retention limit when an event changes it, and sends no control event for them (their
message states are forgotten by then, :mod:`streams.forgetting`). A pair that never changes
again keeps its last value (one small JSON value per (destination, sender) pair).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.internal_records import OUTBOUND, PairValue, Side, empty_pair

__all__ = [
    "PairValue",
    "compute_counts",
    "compute_replies",
    "match_mos",
    "merge_pair",
    "pair_key",
    "replies_and_counts",
    "reply_targets",
]

def _norm(number: str) -> str:
    return number.strip().lstrip("+")


def pair_key(handset: str | None, sender: str | None) -> bytes | None:
    """Key of the (handset number, sender id) pair; None unless both are numbers.

    For an outbound: ``pair_key(destination, source)``; for an MO: ``pair_key(source,
    destination)``.
    """
    if not handset or not sender:
        return None
    h, s = _norm(handset), _norm(sender)
    if not h.isdigit() or not s.isdigit():
        return None  # an alphanumeric sender id cannot receive an MO: no pair
    return f"{h}|{s}".encode()


def match_mos(
    outbounds: dict[str, int], mos: dict[str, int], window_us: int
) -> dict[str, str]:
    """``{MO umid: outbound umid it answers}`` for a pair (MOs answering none left out)."""
    ordered = sorted((t, u) for u, t in outbounds.items())
    matched: dict[str, str] = {}
    for mo, mo_t in mos.items():
        best: str | None = None
        for t, u in ordered:
            if t > mo_t:
                break
            best = u if mo_t - t <= window_us else None
        if best is not None:
            matched[mo] = best
    return matched


def replies_and_counts(
    outbounds: dict[str, int], mos: dict[str, int], opt_outs: Iterable[str],
    window_us: int,
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """``({outbound umid: replied_at}, {replied outbound umid: [MOs answering it, of those
    opt-outs]})`` for a pair (times in epoch microseconds), from one :func:`match_mos`."""
    flagged = set(opt_outs)
    replied: dict[str, int] = {}
    counts: dict[str, list[int]] = {}
    for mo, best in match_mos(outbounds, mos, window_us).items():
        mo_t = mos[mo]
        prev = replied.get(best)
        replied[best] = mo_t if prev is None else min(prev, mo_t)
        c = counts.setdefault(best, [0, 0])
        c[0] += 1
        c[1] += mo in flagged
    return replied, counts


def compute_replies(
    outbounds: dict[str, int], mos: dict[str, int], window_us: int
) -> dict[str, int]:
    """``{outbound umid: replied_at}`` for a pair (:func:`replies_and_counts`)."""
    return replies_and_counts(outbounds, mos, (), window_us)[0]


def compute_counts(
    outbounds: dict[str, int], mos: dict[str, int], opt_outs: Iterable[str],
    window_us: int,
) -> dict[str, list[int]]:
    """``{replied outbound umid: [MOs answering it, of those opt-outs]}`` for a pair
    (:func:`replies_and_counts`)."""
    return replies_and_counts(outbounds, mos, opt_outs, window_us)[1]


def merge_pair(
    old: PairValue | None, side: Side, umid: str, at: int, window_us: int,
    oldest: int | None = None, opt_out: bool = False,
) -> PairValue | None:
    """The pair after adding an outbound (``side="outbound"``) or an MO (``"inbound"``; an
    opt-out when ``opt_out``); None if unchanged.

    An MO is an opt-out when any of its events says so (a union: the same result in any
    order). A value without ``counts`` (written before them) is always recomputed, so a
    duplicate event re-sends correct counts.

    ``oldest`` (the retention limit, :meth:`streams.forgetting.Retention.limit`): entries
    before it are dropped from the new pair, so a pair's value stays bounded; no event still
    to come can pair with them (the limit stays a horizon, longer than the reply window, behind
    the event time of every input not read yet)."""
    cur: PairValue = old or empty_pair()
    flagged = set(cur.get("opt_outs") or ())
    new_flag = side != OUTBOUND and opt_out and umid not in flagged
    if cur[side].get(umid) == at and not new_flag and "counts" in cur:
        return None
    outbound, inbound = dict(cur["outbound"]), dict(cur["inbound"])
    (outbound if side == OUTBOUND else inbound)[umid] = at
    if new_flag:
        flagged.add(umid)
    if oldest is not None:
        outbound = {u: t for u, t in outbound.items() if t >= oldest}
        inbound = {u: t for u, t in inbound.items() if t >= oldest}
    flagged &= inbound.keys()
    replies, counts = replies_and_counts(outbound, inbound, flagged, window_us)
    return {"outbound": outbound, "inbound": inbound, "replies": replies,
            "opt_outs": sorted(flagged), "counts": counts}


def reply_targets(
    old: PairValue | None, new: PairValue | None, current: PairValue, since: int | None = None
) -> list[tuple[str, bool, int | None, int, int]]:
    """``(outbound umid, replied, replied_at, reply_count, opt_out_count)`` control events to
    send, sorted by umid.

    After a change: the outbounds whose status changed. Without a change: every outbound of
    the pair submitted at or after ``since`` (re-sent so a crash between the pair write and the
    control events heals; older ones are past the retention horizon).
    """
    r_new, c_new = current["replies"], current.get("counts") or {}
    if new is None:
        umids: Any = [u for u, t in current["outbound"].items() if since is None or t >= since]
    else:
        r_old = old["replies"] if old else {}
        c_old = (old.get("counts") or {}) if old else {}
        umids = {u for u in set(r_old) | set(r_new) | set(c_old) | set(c_new)
                 if (r_old.get(u) != r_new.get(u) or c_old.get(u) != c_new.get(u))
                 and u in current["outbound"]}  # not dropped
    out: list[tuple[str, bool, int | None, int, int]] = []
    for u in sorted(umids):
        n, k = c_new.get(u) or (0, 0)
        out.append((u, u in r_new, r_new.get(u), n, k))
    return out
