"""Every report on real ClickHouse, fed through the real broker and sink; exact rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sinks.reports import Filters, run_report
from sinks.sink import group_id, run_sink
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from tests.integration.sink_factory import (
    MessageSim,
    at,
    produce,
    scenario,
    state_items,
    wait_drained,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
D2, D3, D4 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)


def _inputs(settings: Settings, sims: list[MessageSim]) -> list[tuple[str, str, Any]]:
    t = settings.topics
    late, early = sims[0], sims[1]

    def survey(umid: str, answer: str, when: dt.datetime) -> dict[str, Any]:
        return {"umid": umid, "survey_id": "s-1", "survey_submitted_at": when,
                "answers": [{"question_id": "1", "question": "Happy?", "answer": answer}]}

    receipt = {"umid": late.umid, "state": "delivered", "status_at": at(3, 0, 5)}
    return [
        (t.receipts, late.umid, {**receipt, "state": "sent", "status_at": at(2, 23, 55)}),
        (t.receipts, late.umid, receipt),
        (t.receipts, late.umid, receipt),  # the platform's webhook retry
        (t.surveys, late.umid, survey(late.umid, "Yes", at(3, 2))),
        (t.surveys, late.umid, survey(late.umid, "Yes", at(3, 2))),  # duplicate post
        (t.surveys, early.umid, survey(early.umid, "No", at(4, 10))),
        (t.clicks, late.umid, {"umid": late.umid, "clicked_at": at(3, 1), "short_url": "s.l/x",
                               "url": "https://a.b/x"}),
        (t.clicks, late.umid, {"umid": late.umid, "clicked_at": at(3, 4), "short_url": "s.l/x",
                               "url": "https://a.b/x"}),
    ]


@pytest.fixture(scope="module")
async def loaded(
    kafka_bootstrap: str, test_home: Path, chdb_path: Path,
) -> AsyncIterator[tuple[Settings, ClickHouse, list[MessageSim]]]:
    """The sample messages and inputs through the broker and the sink, once for the module."""
    from smsflow.topics import create_topics

    tag = f"rep{int(time.time() * 1000) % 10**8}"
    settings = Settings(
        home=test_home / tag, bootstrap_servers=kafka_bootstrap, topic_prefix=f"{tag}.",
        clickhouse_path=chdb_path, clickhouse_database=f"test_{tag}", partitions=6,
        sink_batch_size=4, sink_batch_ms=50, sink_state_batch_ms=50,
    )
    await create_topics(settings)
    ch = connect(settings)
    sims = scenario()
    await produce(settings, state_items(settings, sims) + _inputs(settings, sims))
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    try:
        await wait_drained(settings, group_id(settings))
    finally:
        stop.set()
        await task
    yield settings, ch, sims
    ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


Loaded = tuple[Settings, ClickHouse, list[MessageSim]]


def rows(ch: ClickHouse, name: str, **filters: Any) -> list[tuple[Any, ...]]:
    return run_report(ch, name, Filters(**filters)).rows


async def test_daily_report_counts_late_receipts_on_the_send_day(loaded: Loaded) -> None:
    _, ch, _ = loaded
    assert rows(ch, "daily") == [
        (D2, 2, 1, 1, 1, 0, 1, 0, Decimal("50.00"), "0.04465920", "EUR", 0, 2, Decimal("1.00"),
         "0.02232960"),
        (D3, 0, 0, 0, 0, 0, 0, 0, Decimal("0.00"), "0.00000000", "", 1, 0, Decimal("0.00"),
         "0.00000000"),
        (D4, 2, 1, 2, 0, 1, 0, 1, Decimal("0.00"), "0.01000000", "EUR", 0, 4, Decimal("2.00"),
         "0.00250000"),
    ]
    assert rows(ch, "daily", subaccount="SA-2") == [
        (D2, 1, 0, 0, 0, 0, 1, 0, Decimal("0.00"), "0.00000000", "", 0, 1, Decimal("1.00"),
         "0.00000000"),
        (D4, 1, 0, 1, 0, 0, 0, 1, Decimal("0.00"), "0.00000000", "", 0, 3, Decimal("3.00"),
         "0.00000000"),
    ]
    assert rows(ch, "daily", country="us") == [
        (D4, 1, 1, 1, 0, 1, 0, 0, Decimal("0.00"), "0.01000000", "EUR", 0, 1, Decimal("1.00"),
         "0.01000000"),
    ]
    assert rows(ch, "daily", operator="SingTel", date_from=D2, date_to=D3) == [
        (D2, 1, 1, 1, 1, 0, 0, 0, Decimal("100.00"), "0.04465920", "EUR", 0, 1, Decimal("1.00"),
         "0.04465920"),
    ]
    assert rows(ch, "daily", date_from=D3, date_to=D3) == [
        (D3, 0, 0, 0, 0, 0, 0, 0, Decimal("0.00"), "0.00000000", "", 1, 0, Decimal("0.00"),
         "0.00000000"),
    ]


async def test_dashboard(loaded: Loaded) -> None:
    _, ch, _ = loaded
    res = run_report(ch, "dashboard", Filters())
    assert res.columns == ["Period", "Total SMS", "Delivered", "Delivery Rate", "Cost",
                           "Currency", "Average Cost", "Destination Countries"]
    assert res.rows == [
        ("2024-01-02", 2, 1, Decimal("50.00"), "0.04465920", "EUR", "0.02232960", 1),
        ("2024-01-04", 2, 0, Decimal("0.00"), "0.01000000", "EUR", "0.00500000", 2),
        ("Total", 4, 1, Decimal("25.00"), "0.05465920", "EUR", "0.01366480", 2),
    ]
    assert rows(ch, "dashboard", subaccount="nobody") == [
        ("Total", 0, 0, Decimal("0.00"), "0.00000000", "", "0.00000000", 0),
    ]


async def test_countries_campaigns_conversions(loaded: Loaded) -> None:
    _, ch, _ = loaded
    assert rows(ch, "countries") == [
        ("SG", "SingTel", 1, 1, 1, 0, 0, Decimal("100.00"), 1, "0.04465920", "EUR", "0.04465920",
         Decimal("1.00")),
        ("SG", "StarHub", 2, 0, 0, 0, 1, Decimal("0.00"), 4, "0.00000000", "", "0.00000000",
         Decimal("2.00")),
        ("US", "", 1, 1, 0, 1, 0, Decimal("0.00"), 1, "0.01000000", "EUR", "0.00000000",
         Decimal("1.00")),
    ]
    assert rows(ch, "campaigns") == [
        ("c-1", D2, D4, 2, 2, 1, 1, 0, Decimal("50.00"), "0.05465920", "EUR"),
    ]
    assert rows(ch, "campaigns", date_to=D3) == [
        ("c-1", D2, D2, 1, 1, 1, 0, 0, Decimal("100.00"), "0.04465920", "EUR"),
    ]
    assert rows(ch, "conversions") == [
        (D2, 1, 1, Decimal("100.00"), "0.04465920", "EUR"),
    ]


async def test_engage_clicks_logs(loaded: Loaded) -> None:
    _, ch, sims = loaded
    late, early = sims[0], sims[1]
    assert rows(ch, "engage") == [
        ("s-1", "1", "Happy?", "No", 1, Decimal("50.00"), 2),
        ("s-1", "1", "Happy?", "Yes", 1, Decimal("50.00"), 2),
    ]
    assert rows(ch, "engage", country="US") == [
        ("s-1", "1", "Happy?", "No", 1, Decimal("100.00"), 1),
    ]
    assert rows(ch, "clicks") == [
        (D2, "SA-1", late.umid, "+6591234567", "s.l/x", "https://a.b/x", 2, at(3, 1), at(3, 4)),
    ]
    logs = rows(ch, "logs")
    order = [sims[2], late, sims[5], early, sims[3], sims[4]]  # by send/receive time
    assert [r[3] for r in logs] == [m.umid for m in order]
    assert logs[1] == (at(2, 23, 50), "OUTBOUND", "SA-1", late.umid, "+6591234567", "smsflow",
                       "HTTP_API", "SG", "SingTel", "0.04465920", "EUR", "delivered")
    assert [r[11] for r in logs] == ["rejected", "delivered", "", "undelivered", "queued",
                                     "delivered"]
    assert len(rows(ch, "logs", limit=2)) == 2


async def test_message_record_and_timeline(loaded: Loaded) -> None:
    _, ch, sims = loaded
    late = sims[0]
    rec = run_report(ch, "message", Filters(umid=late.umid.upper())).dicts()
    assert len(rec) == 1
    r = rec[0]
    assert (str(r["umid"]), r["version"], r["state"], r["day"], r["cost"], r["converted"]) == (
        late.umid, 4, "delivered", D2, Decimal("0.0446592"), True,
    )
    assert r["delivered_at"] == at(3, 0, 5) and r["queued_at"] == at(2, 23, 50)
    timeline = run_report(ch, "timeline", Filters(umid=late.umid)).rows
    assert [(t[0], t[1], t[2], t[-1]) for t in timeline] == [  # last column: duplicate
        (at(2, 23, 55), "DeliveryReceipt", "sent", False),
        (at(3, 0, 5), "DeliveryReceipt", "delivered", False),
        (at(3, 0, 5), "DeliveryReceipt", "delivered", True),
        (at(3, 1), "UrlClick", "", False),
        (at(3, 2), "SurveyResponse", "", False),
        (at(3, 2), "SurveyResponse", "", True),
        (at(3, 4), "UrlClick", "", False),
    ]


async def test_cli_prints_the_documented_csv_and_json(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, _, _ = loaded
    from shell.cli import app

    env = {
        "SMSFLOW_CLICKHOUSE_PATH": str(settings.chdb_path),
        "SMSFLOW_CLICKHOUSE_DATABASE": settings.clickhouse_database,
    }
    runner = CliRunner()
    res = runner.invoke(app, ["report", "daily", "--format", "csv", "--to", "2024-01-02"],
                        env=env)
    assert res.exit_code == 0, res.output
    assert res.output == (
        "Date,Total,Sent,Total Chargeable,Delivered,Undelivered,Rejected,Received,"
        "Delivery Rate,Cost,Currency,Inbound,Parts,Parts per Message,Cost per Part\n"
        "2024-01-02,2,1,1,1,0,1,0,50.00,0.04465920,EUR,0,2,1.00,0.02232960\n"
    )
    res = runner.invoke(app, ["report", "conversions", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{
        "Date": "2024-01-02", "Verification Sent": 1, "Converted": 1,
        "Conversion Rate": "100.00", "Cost": "0.04465920", "Currency": "EUR",
    }]
    res = runner.invoke(app, ["report", "countries", "--wide"], env={**env, "COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "│ SG      │ StarHub  │     2 │" in res.output and "Average Parts" in res.output
    # tables show money in the currency's usual decimals (EUR 2); CSV above keeps all 8
    assert "│ 0.04 │ EUR " in res.output and "0.04465920" not in res.output
    res = runner.invoke(app, ["report", "countries"], env={**env, "COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    assert "more columns with --wide" in res.output
    res = runner.invoke(app, ["report", "message", loaded[2][0].umid], env=env)
    assert res.exit_code == 0, res.output
    assert "delivered" in res.output and "timeline" in res.output


def test_report_names_the_process_holding_chdb(tmp_path: Path) -> None:
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from smsflow.clickhouse import ChdbBackend\n"
         f"ChdbBackend({str(path)!r}, 'x')\n"
         "print('ready', flush=True)\n"
         "time.sleep(120)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        res = subprocess.run(
            [sys.executable, "-m", "smsflow", "report", "daily"], cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "SMSFLOW_CLICKHOUSE_PATH": str(path),
                 "HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: chDB directory {path.resolve()} is in use by pid "
                                f"{holder.pid} (")
    assert "ChdbBackend" in lines[-1]


def test_bad_filters_are_one_line_errors() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "smsflow", "report", "daily", "--from", "2024-13-01"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert (res.returncode, res.stderr.strip()) == (
        1, "error: --from wants a date YYYY-MM-DD, got '2024-13-01'"
    )
    # the same checks as the ops API and the dashboard (Filters.from_query): a country name
    # is an error, not an empty report
    res = subprocess.run(
        [sys.executable, "-m", "smsflow", "report", "daily", "--country", "Germany"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert (res.returncode, res.stderr.strip()) == (
        1, "error: country must be an ISO 3166 alpha-2 code (two letters), got 'Germany'"
    )



def test_final_is_applied_before_filters_on_mutable_columns(clickhouse: ClickHouse) -> None:
    """A receipt-first message moves from the receipt's day to the request's day: only the
    current version may match a date filter (FINAL before WHERE on non-key columns)."""
    from sinks.migrate import migrate
    from sinks.rows import message_row

    migrate(clickhouse)
    m = MessageSim(subaccount_id="SA-9")
    m.receipt("delivered", at(5, 1), price="0.05")  # seen first, day 5, counts nowhere
    m.request(at(4, 23))  # the request: the message belongs to day 4
    clickhouse.insert("messages", [message_row(m.states[0])])
    clickhouse.insert("messages", [message_row(m.states[1])])  # separate parts, unmerged
    d5 = dt.date(2024, 1, 5)
    assert clickhouse.query("SELECT count() FROM messages").scalar() == 2
    assert rows(clickhouse, "logs", date_from=d5, date_to=d5) == []
    got = rows(clickhouse, "logs", date_from=D4, date_to=D4)
    assert [(r[3], r[9], r[11]) for r in got] == [(m.umid, "0.05000000", "delivered")]
