"""The alert rules' SQL on chDB, exactly: hand-made message rows with known rates, shares,
latencies and pending counts; every condition's value and threshold to the cent."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sinks.alert_state import evaluate, history
from sinks.alerts import conditions
from sinks.migrate import migrate
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import AlertRules, Settings

pytestmark = pytest.mark.integration

T = dt.datetime(2024, 3, 8, 12, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def _msg(country: str, operator: str, queued: dt.datetime, *, delivered_s: float | None = None,
         failed_s: float | None = None, code: int | None = None) -> dict[str, Any]:
    return {
        "umid": str(uuid.uuid4()), "version": 1, "direction": "OUTBOUND", "has_request": True,
        "counted": True, "day": queued.date().isoformat(), "country": country,
        "operator": operator, "state": "delivered" if delivered_s is not None else "sent",
        "queued_at": queued,
        "delivered_at": None if delivered_s is None else queued + delivered_s * S,
        "undelivered_at": None if failed_s is None else queued + failed_s * S,
        "error_code": code, "cost": "0",
    }


def _spread(n: int, end: dt.datetime, span_s: int = 1800) -> list[dt.datetime]:
    """n submission times inside [end - span_s, end)."""
    return [end - span_s * S + (i * span_s // n) * S for i in range(n)]


@pytest.fixture(scope="module")
def ch(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    home = tmp_path_factory.mktemp("alertsql")
    tag = uuid.uuid4().hex[:8]
    c = connect(Settings(home=home, clickhouse_path=chdb_path,
                         clickhouse_database=f"test_alertsql{tag}"))
    migrate(c)
    rows = []
    day = dt.timedelta(days=1)
    # DE/Telekom now: 50 delivered, 50 failed with 34; a day earlier: 90 delivered, 10 with 1
    for i, q in enumerate(_spread(100, T)):
        rows.append(_msg("DE", "Telekom", q, delivered_s=10) if i % 2 else
                    _msg("DE", "Telekom", q, failed_s=10, code=34))
    for i, q in enumerate(_spread(100, T - day)):
        rows.append(_msg("DE", "Telekom", q, delivered_s=10) if i % 10 else
                    _msg("DE", "Telekom", q, failed_s=10, code=1))
    # a message delivered only after the window's end does not count as delivered
    rows.append(_msg("DE", "Telekom", T - 60 * S, delivered_s=120))
    # GB/EE: 60 delivered 200.5 s after submission, before t (no baseline: no rate rules)
    rows += [_msg("GB", "EE", q, delivered_s=200.5) for q in _spread(60, T - 201 * S, 1500)]
    # FR/SFR submitted 1 h before the window's end: 60 final, 40 still pending at t
    rows += [_msg("FR", "SFR", q, delivered_s=30 if i < 60 else None)
             for i, q in enumerate(_spread(100, T - 3600 * S))]
    c.insert("messages", rows)
    c.insert("dead_letters", [
        {"topic": "dl", "partition": 0, "offset": i, "component": "worker", "reason": "x",
         "error": "", "source_topic": "t", "key": "", "payload": "", "payload_bytes": 0,
         "failed_at": T - (i + 1) * S} for i in range(61)
    ])
    yield c
    c.command(f"DROP DATABASE IF EXISTS {c.database}")


def test_every_rule_exactly(ch: ClickHouse) -> None:
    got = [(c.rule, c.key, c.value, c.threshold) for c in conditions(ch, T, AlertRules())]
    assert got == [
        ("dead_letters", "all", Decimal("12.20"), Decimal(10)),
        ("delivery_rate_country", "DE", Decimal("49.50"), Decimal("67.50")),
        ("delivery_rate_operator", "DE/Telekom", Decimal("49.50"), Decimal("67.50")),
        ("error_code_share", "DE/Telekom/34", Decimal("49.50"), Decimal("10.00")),
        ("latency_p95", "GB/EE", Decimal("200.500000"), Decimal(180)),
        ("receipts_pending", "FR/SFR", Decimal("40.00"), Decimal(30)),
    ]


def test_thresholds_decide(ch: ClickHouse) -> None:
    rules = AlertRules(delivery_drop=Decimal("0.5"), latency_p95_s=Decimal("200.5"),
                       pending_share=Decimal(40), error_jump=Decimal(50),
                       dead_letters_per_min=Decimal("12.2"), delivery_min_volume=101)
    assert conditions(ch, T, rules) == []


def test_state_over_instants(ch: ClickHouse) -> None:
    rules = AlertRules()
    done = evaluate(ch, rules, T + dt.timedelta(hours=3), since=T - dt.timedelta(minutes=1))
    fired = {(t.rule, t.key) for t in done if t.state == "firing"}
    assert ("latency_p95", "GB/EE") in fired
    rows = {(r["Rule"], r["Key"]): r for r in history(ch).dicts()}
    lat = rows[("latency_p95", "GB/EE")]
    # at 12:15 only the 27 messages submitted from 11:45 are in the window: < 50 samples
    assert (lat["State"], lat["Started"], lat["Ended"]) == ("resolved", T, T + 15 * 60 * S)


def test_cli_evaluate_list_history(ch: ClickHouse, chdb_path: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shell.cli import app

    env = {"SMSFLOW_HOME": str(tmp_path), "SMSFLOW_CLICKHOUSE_PATH": str(chdb_path),
           "SMSFLOW_CLICKHOUSE_DATABASE": ch.database}
    runner = CliRunner()
    ch.command("TRUNCATE TABLE alert_states")  # test_state_over_instants evaluated T already
    since = (T - S).isoformat()
    res = runner.invoke(app, ["alerts", "evaluate", "--since", since, "--at", T.isoformat()],
                        env=env)
    assert res.exit_code == 0, res.output
    assert "6 alert transitions" in res.output
    res = runner.invoke(app, ["alerts", "list", "--format", "csv"], env=env)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "Rule,Key,State,Value,Threshold,Started,Fired,Ended,Detail"
    assert {ln.split(",")[1] for ln in lines[1:]} >= {"DE/Telekom", "FR/SFR"}
    at = (T + dt.timedelta(minutes=15)).isoformat()
    res = runner.invoke(app, ["alerts", "evaluate", "--since", since, "--at", at], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["alerts", "list"], env=env)
    assert res.exit_code == 0 and "DE/Telekom" not in res.output  # all resolved at 12:15
    res = runner.invoke(app, ["alerts", "history", "--since", T.isoformat(), "--format",
                              "json"], env=env)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    lat = next(r for r in rows if r["Key"] == "GB/EE")
    assert (lat["State"], lat["Started"], lat["Ended"]) == (
        "resolved", "2024-03-08T12:00:00.000000Z", "2024-03-08T12:15:00.000000Z")
    res = runner.invoke(app, ["alerts", "history", "--since", "soon"], env=env)
    assert res.exit_code == 1
