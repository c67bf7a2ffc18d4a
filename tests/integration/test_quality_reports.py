"""Delivery-quality reports (issue 9) against the simulator's ground truth, exactly.

One simulation goes through the real broker, a real ``smsflow worker`` subprocess and the real
sink into ClickHouse (module fixture); every report is then compared row by row with the truth
computed from the simulator's own per-message facts (latency percentiles included).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.quality_truth import quality_truth
from simulator.simulation import SimConfig, simulate
from sinks.reports import Filters, run_report
from tests.e2e import expect
from tests.integration.loaded import Loaded, load_simulation, report_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loaded(kafka_bootstrap: str, test_home: Path, chdb_path: Path) -> Iterator[Loaded]:
    """A 2000-message simulation with every fault, through broker, worker and sink."""
    sim = simulate(SimConfig(messages=2000, seed=4242))
    settings, ch, _ = load_simulation(sim, prefix="q", kafka_bootstrap=kafka_bootstrap,
                                        test_home=test_home, chdb_path=chdb_path)
    yield settings, ch, sim
    ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


def test_latency_percentiles_equal_truth(loaded: Loaded) -> None:
    _, ch, sim = loaded
    got = report_csv(ch, "latency")
    assert got == expect.latency(sim.truth)
    assert len(got) > 50
    assert sum(int(r[3]) for r in got) > 1500 and sum(int(r[7]) for r in got) > 1500
    # per subaccount (filter) and one country: truth recomputed on that subset
    sub = sim.messages[0].subaccount_id
    mine = [m for m in sim.messages if m.subaccount_id == sub and m.country == "US"]
    want = expect.latency(quality_truth(mine, [], at=None))
    assert report_csv(ch, "latency", subaccount=sub, country="us") == want and want


def test_pending_buckets_at_several_reference_times(loaded: Loaded) -> None:
    _, ch, sim = loaded
    end = dt.datetime.fromisoformat(sim.truth["pending"]["at"])
    assert report_csv(ch, "pending", at=end) == expect.pending(sim.truth["pending"])
    first = dt.datetime.combine(sim.config.first_day, dt.time(), dt.UTC)
    buckets_seen = [0] * 5
    for at in (first + dt.timedelta(hours=30), first + dt.timedelta(hours=50, minutes=7), end):
        want = quality_truth(sim.messages, sim.inbound, at=at)["pending"]
        got = report_csv(ch, "pending", at=at)
        assert got == expect.pending(want), at
        buckets_seen = [a + int(b) for a, b in zip(buckets_seen, got[-1][5:10], strict=True)]
    assert all(buckets_seen), buckets_seen  # every age bucket was exercised
    one = sim.truth["pending"]["operators"][-1]["operator"]
    rows = report_csv(ch, "pending", at=end, operator=one)
    assert rows[0][0] == one and rows[1][0] == "Total" and rows[0][1:] == rows[1][1:]


def test_errors_equal_truth(loaded: Loaded) -> None:
    _, ch, sim = loaded
    got = report_csv(ch, "errors")
    assert got == expect.errors(sim.truth)
    assert {r[2] for r in got} == {"rejected", "undelivered"}
    assert any(r[3] == "" and r[4] == "Invalid destination number" for r in got)
    de = [r for r in expect.errors(sim.truth) if r[0] == "DE"]
    assert report_csv(ch, "errors", country="DE") == de and de


def test_replies_and_opt_outs_equal_truth(loaded: Loaded) -> None:
    _, ch, sim = loaded
    got = report_csv(ch, "replies")
    assert got == expect.replies(sim.truth)
    assert sum(int(r[5]) for r in got) == sum(1 for mo in sim.inbound if mo.reply_to)
    assert sum(int(r[6]) for r in got) == sum(1 for mo in sim.inbound if mo.opt_out) > 0


def test_countries_and_daily_roll_ups_equal_truth(loaded: Loaded) -> None:
    _, ch, sim = loaded
    assert [r for r in report_csv(ch, "countries") if int(r[2]) > 0] == expect.countries(sim.truth)
    assert report_csv(ch, "daily") == expect.daily(sim.truth)


def test_timeline_marks_duplicates_in_time_order(loaded: Loaded) -> None:
    _, ch, sim = loaded
    sample = expect.timeline_sample(sim.messages)
    assert len(sample) == 30
    for m in sample:
        expect.check_timeline(run_report(ch, "timeline", Filters(umid=m.umid)).dicts(), m)


def test_cli_csv_headers_and_at_option(loaded: Loaded) -> None:
    settings, _, sim = loaded
    from shell.cli import app

    env = {"SMSFLOW_CLICKHOUSE_PATH": str(settings.chdb_path),
           "SMSFLOW_CLICKHOUSE_DATABASE": settings.clickhouse_database,
           "SMSFLOW_HOME": str(settings.home)}
    runner = CliRunner()
    headers = {
        "latency": "Date,Country,Operator,Submit-Sent Samples,Submit-Sent p50 (s),"
                   "Submit-Sent p95 (s),Submit-Sent p99 (s),Submit-Delivered Samples,"
                   "Submit-Delivered p50 (s),Submit-Delivered p95 (s),Submit-Delivered p99 (s)",
        "pending": "Operator,Sent,Final Receipt,DLR Coverage,Pending,< 1 h,1-6 h,6-24 h,"
                   "24-48 h,Expired,Queued",
        "errors": "Country,Operator,Status,Error Code,Error Message,Messages,Operator Total,"
                  "Share",
        "replies": "Subaccount,Sender,Outbound,Replied,Reply Rate,Replies,Opt-outs",
    }
    for name, header in headers.items():
        res = runner.invoke(app, ["report", name, "--format", "csv"], env=env)
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[0] == header
    at = sim.truth["pending"]["at"]
    res = runner.invoke(app, ["report", "pending", "--at", at, "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    total = json.loads(res.output)[-1]
    assert total["Operator"] == "Total"
    assert total["Pending"] == sim.truth["pending"]["total"]["pending"]
    assert total["DLR Coverage"] == sim.truth["pending"]["total"]["coverage"]
    res = runner.invoke(app, ["report", "pending", "--at", "yesterday"], env=env)
    assert res.exit_code == 1
    assert "--at wants an ISO-8601 time" in str(res.exception)
