"""Acceptance policy (issue 17): accepted events with odd fields are kept, flagged, counted.

A 3,000-message simulation in which 10% of the destinations are numbers in ranges
libphonenumber does not list (``--unlisted-share 0.10``) goes through the real broker, a real
``smsflow worker`` subprocess and the real sink into chDB; every report must equal the ground
truth exactly (those messages counted under the country of their calling code), the ``flags``
report must equal the expected flag counts, nothing may be dead-lettered, and every operator
must be one row (receipts with only MCC/MNC land under the operator's name).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.simulation import SimConfig, simulate
from tests.e2e import expect
from tests.integration.loaded import Loaded, load_simulation, report_csv
from tests.integration.workers import count_dead_letters

pytestmark = pytest.mark.integration

UNLISTED_SHARE = 0.10


@pytest.fixture(scope="module")
def loaded(kafka_bootstrap: str, test_home: Path, chdb_path: Path) -> Iterator[Loaded]:
    """3,000 messages, 10% to unlisted numbers, every fault, through broker, worker, sink."""
    sim = simulate(SimConfig(messages=3000, seed=1717, unlisted_share=UNLISTED_SHARE))
    settings, ch, _ = load_simulation(sim, prefix="a", kafka_bootstrap=kafka_bootstrap,
                                        test_home=test_home, chdb_path=chdb_path)
    yield settings, ch, sim
    ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


def test_the_scenario_has_unlisted_destinations(loaded: Loaded) -> None:
    _, _, sim = loaded
    unlisted = [m for m in sim.messages if "number_unlisted" in m.flags]
    assert 0.08 * 3000 < len(unlisted) < 0.12 * 3000
    assert {m.country for m in unlisted} <= {"DE", "FR", "IN", "BR", "SG", "NG"}
    assert all(m.country and not m.request_operator for m in unlisted)
    assert sum(m.state in ("delivered", "read") for m in unlisted) > 0.7 * len(unlisted)


def test_nothing_is_dead_lettered_and_every_message_is_kept(loaded: Loaded) -> None:
    settings, ch, sim = loaded
    assert asyncio.run(count_dead_letters(settings)) == {}
    wrong = expect.message_differences(ch.query(expect.MESSAGE_FIELDS_SQL).rows, sim.messages)
    assert not wrong, f"{len(wrong)} messages differ from the truth: {wrong[:10]}"


def test_every_report_equals_truth(loaded: Loaded) -> None:
    _, ch, sim = loaded
    truth = sim.truth
    assert report_csv(ch, "daily") == expect.daily(truth)
    dash = report_csv(ch, "dashboard")
    assert [r[:7] for r in dash[:-1]] == expect.dashboard(truth)[:-1]
    assert dash[-1][:6] == expect.dashboard(truth)[-1]
    assert dash[-1][7] == str(truth["dashboard"]["countries"])
    assert [r for r in report_csv(ch, "countries") if int(r[2]) > 0] == expect.countries(truth)
    campaigns = {r[0]: [r[3], r[5], r[8], r[9], r[10]] for r in report_csv(ch, "campaigns")}
    assert campaigns == expect.campaigns(truth)
    assert report_csv(ch, "conversions") == expect.conversions(truth)
    assert report_csv(ch, "latency") == expect.latency(truth)
    end = dt.datetime.fromisoformat(truth["pending"]["at"])
    assert report_csv(ch, "pending", at=end) == expect.pending(truth["pending"])
    assert report_csv(ch, "errors") == expect.errors(truth)
    assert report_csv(ch, "replies") == expect.replies(truth)


def test_flags_report_equals_expected_counts(loaded: Loaded) -> None:
    _, ch, sim = loaded
    want = sim.truth["flags"]
    everyone = [*sim.messages, *sim.inbound]  # MOs from those handsets are flagged too
    assert want["number_unlisted"] == sum("number_unlisted" in m.flags for m in everyone)
    assert sum("number_unlisted" in mo.flags for mo in sim.inbound) > 0
    assert report_csv(ch, "flags") == [[flag, str(n)] for flag, n in want.items()]
    # the usual filters: one country, recomputed from the per-message truth
    de = sum("number_unlisted" in m.flags for m in everyone if m.country == "DE")
    assert report_csv(ch, "flags", country="DE") == [["number_unlisted", str(de)]] and de


def test_one_row_per_operator(loaded: Loaded) -> None:
    _, ch, sim = loaded
    countries = report_csv(ch, "countries")
    rows = {(r[0], r[1]) for r in countries}
    assert not [r for r in countries if re.fullmatch(r"\d{3}-\d{2,3}", r[1])]
    # messages whose operator comes from receipts: some receipts carry only MCC/MNC (SMPP),
    # others the name; where the operator table knows the name they end as one row
    for country, mcc, mnc, name in (("BR", "724", "02", "TIM"), ("US", "310", "260", "T-Mobile"),
                                    ("FR", "208", "15", "Free"), ("US", "310", "410", "AT&T")):
        mine = [m for m in sim.messages if (m.country, m.mcc, m.mnc) == (country, mcc, mnc)
                and m.receipts and not m.request_operator]
        assert any(m.receipt_operator for m in mine), (country, mcc, mnc)
        assert any(not m.receipt_operator for m in mine), (country, mcc, mnc)
        assert {m.operator for m in mine} == {name}
        assert (country, name) in rows
        assert not [r for r in rows if r[0] == country and r[1] in (f"{mcc}-{mnc}", mcc + mnc)]
    assert len([r for r in countries if r[:2] == ["BR", "TIM"]]) == 1
    assert ("US", "T-Mobile USA") not in rows and ("FR", "Free Mobile") not in rows
    # renamed networks: libphonenumber's names of requests end as the table's brand
    assert ("GB", "3") in rows and ("GB", "Three") not in rows
