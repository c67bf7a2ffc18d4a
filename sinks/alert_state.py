"""Alert state over evaluations: pending -> firing -> resolved, one instance per episode.

An instance is identified by (rule, key, started_at); :func:`step` is the pure transition
function from the open instances and the conditions found at instant ``t`` to the rows to
write. :func:`evaluate` runs it at each instant, reading through the read-only path and
writing ``alert_states`` (migration 0006). Rows carry event times only, so evaluating the same
history twice writes the same rows, which collapse (deduplicated by identity, latest
``evaluated_at`` wins).

A marker row (rule ``__evaluated__``) keeps the last evaluated instant, so a periodic
evaluator continues where it stopped; ``since`` evaluates a range afresh (no open alert at
its start), e.g. to replay history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from sinks.alerts import Condition, conditions, instants
from smsflow.clickhouse import ClickHouse, Result
from smsflow.config import AlertRules
from smsflow.read_only_sql import ReadOnly

__all__ = ["MARKER", "AlertState", "evaluate", "history", "history_sql", "last_evaluated",
           "open_states", "step"]

MARKER = "__evaluated__"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_COLUMNS = ("rule, key, started_at, state, fired_at, ended_at, value, threshold, detail, "
            "evaluated_at")


@dataclass(frozen=True)
class AlertState:
    """One alert instance as stored (``state``: pending, firing or resolved)."""

    rule: str
    key: str
    started_at: dt.datetime
    state: str
    fired_at: dt.datetime | None
    ended_at: dt.datetime | None
    value: Decimal
    threshold: Decimal
    detail: str
    evaluated_at: dt.datetime


def step(
    open_: Sequence[AlertState], found: Sequence[Condition], t: dt.datetime, for_s: int
) -> list[AlertState]:
    """Rows to write at instant ``t``: new instances for new conditions, updates of open ones
    (pending becomes firing once true for ``for_s``), and resolutions of open instances whose
    condition is gone (a pending one that never fired resolves without ``fired_at``)."""
    now = {(c.rule, c.key): c for c in found}
    out = []
    seen = set()
    for s in open_:
        seen.add((s.rule, s.key))
        c = now.get((s.rule, s.key))
        if c is None:
            out.append(replace(s, state="resolved", ended_at=t, evaluated_at=t))
            continue
        fires = (t - s.started_at).total_seconds() >= for_s
        out.append(replace(
            s, state="firing" if fires else "pending",
            fired_at=s.fired_at or (t if fires else None),
            value=c.value, threshold=c.threshold, detail=c.detail, evaluated_at=t,
        ))
    for key, c in now.items():
        if key in seen:
            continue
        fires = for_s == 0
        out.append(AlertState(c.rule, c.key, t, "firing" if fires else "pending",
                              t if fires else None, None, c.value, c.threshold, c.detail, t))
    return out


def _states(res: Result) -> list[AlertState]:
    return [AlertState(**row) for row in res.dicts()]


def open_states(ch: ClickHouse) -> list[AlertState]:
    """Instances not resolved yet (latest row of each)."""
    return _states(ReadOnly(ch).query(
        f"SELECT {_COLUMNS} FROM alert_states FINAL "
        f"WHERE state != 'resolved' AND rule != '{MARKER}' ORDER BY rule, key, started_at"
    ))


def last_evaluated(ch: ClickHouse) -> dt.datetime | None:
    """The last instant a periodic evaluation covered, if any."""
    res = ReadOnly(ch).query(
        f"SELECT max(evaluated_at) FROM alert_states FINAL WHERE rule = '{MARKER}' "
        "HAVING count() > 0"
    )
    return res.scalar()


def _literal(at: dt.datetime) -> str:
    return f"toDateTime64('{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def history_sql(
    since: dt.datetime | None = None, until: dt.datetime | None = None, *,
    open_only: bool = False,
) -> str:
    """The read-only statement of :func:`history` (times as literals of datetimes, so it can
    go through the ops API's ``/api/sql``)."""
    where = [f"rule != '{MARKER}'"]
    if open_only:
        where.append("state != 'resolved'")
    if since is not None:
        where.append(f"started_at >= {_literal(since)}")
    if until is not None:
        where.append(f"started_at < {_literal(until)}")
    return (
        "SELECT rule AS `Rule`, key AS `Key`, state AS `State`, value AS `Value`, "
        "threshold AS `Threshold`, started_at AS `Started`, fired_at AS `Fired`, "
        "ended_at AS `Ended`, detail AS `Detail` "
        f"FROM alert_states FINAL WHERE {' AND '.join(where)} "
        "ORDER BY started_at DESC, rule, key"
    )


def history(
    ch: ClickHouse, since: dt.datetime | None = None, until: dt.datetime | None = None,
    *, open_only: bool = False,
) -> Result:
    """Alert instances started in ``[since, until)`` (all when None), newest first."""
    return ReadOnly(ch).query(history_sql(since, until, open_only=open_only))


def _row(s: AlertState) -> dict[str, object]:
    return asdict(s)


def evaluate(
    ch: ClickHouse, rules: AlertRules, until: dt.datetime, since: dt.datetime | None = None,
) -> list[AlertState]:
    """Evaluate every instant up to ``until`` after ``since`` (default: the last evaluated
    instant, else one interval before ``until``); write the rows; return the transitions
    (instances that started firing or resolved), in time order."""
    fresh = since is not None
    if since is None:
        since = last_evaluated(ch) or until - dt.timedelta(seconds=rules.interval_s)
    open_ = [] if fresh else open_states(ch)
    transitions: list[AlertState] = []
    for t in instants(since, until, rules.interval_s):
        rows = step(open_, conditions(ch, t, rules), t, rules.for_s)
        marker = AlertState(MARKER, "", _EPOCH, "resolved", None, None, Decimal(0),
                            Decimal(0), "", t)
        ch.insert("alert_states", [_row(r) for r in [*rows, marker]])
        before = {(s.rule, s.key, s.started_at): s.state for s in open_}
        transitions += [r for r in rows if r.state != before.get(
            (r.rule, r.key, r.started_at)) and r.state in ("firing", "resolved")
            and r.fired_at is not None]
        open_ = [r for r in rows if r.state != "resolved"]
    return transitions
