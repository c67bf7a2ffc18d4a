"""Simulator incidents (issue 19): the option's text form and what each does to the traffic."""

from __future__ import annotations

import datetime as dt

import pytest

from simulator.incidents import Incident, expected_alerts, parse_incident
from simulator.simulation import SimConfig, simulate
from smsflow.errors import ConfigError


def test_parse_and_validate() -> None:
    assert parse_incident("collapse:DE/Vodafone@36+2") == Incident("collapse", "DE", 36, 2,
                                                                   "Vodafone")
    inc = parse_incident("errors:GB@5+1")
    assert (inc.operator, inc.share, inc.error_code, inc.key()) == ("", 0.5, 34, "GB")
    assert parse_incident("latency:DE/T-Mobile@1+1").key() == "DE/Telekom"  # report name
    for bad in ("collapse:DE", "boom:DE@1+1", "collapse:de@1+1", "collapse:DE@1+0"):
        with pytest.raises(ConfigError):
            parse_incident(bad)
    with pytest.raises(ConfigError, match="error_code 99"):
        SimConfig(incidents=(Incident("errors", "DE", 1, 1, error_code=99),))
    with pytest.raises(ConfigError, match="XX"):
        SimConfig(countries=("XX",))


def test_expected_alerts_windows() -> None:
    (w,) = expected_alerts((parse_incident("errors:DE/O2@33+2"),), dt.date(2024, 1, 5),
                           interval_s=900, window_s=1800)
    start = dt.datetime(2024, 1, 6, 9, tzinfo=dt.UTC)
    assert (w["rule"], w["key"], w["start"], w["fire_by"]) == (
        "error_code_share", "DE/O2/34", start, start + dt.timedelta(minutes=15))
    assert w["resolve_by"] == start + dt.timedelta(hours=2, minutes=45)


def test_incidents_change_only_their_operator_and_hours() -> None:
    incidents = ("collapse:DE/Vodafone@30+6", "latency:DE/Telekom@30+6", "errors:DE/O2@30+6")
    sim = simulate(SimConfig(messages=4000, seed=3, days=2, countries=("DE",),
                             incidents=tuple(parse_incident(i) for i in incidents)))
    begin = dt.datetime.combine(sim.config.first_day, dt.time(), tzinfo=dt.UTC)
    lo, hi = begin + dt.timedelta(hours=30), begin + dt.timedelta(hours=36)
    assert {m.country for m in sim.messages if m.country} == {"DE"}

    def final(op: str, inside: bool) -> list[object]:
        return [m for m in sim.messages if m.operator == op and m.state in (
            "delivered", "undelivered", "read") and (lo <= m.submitted_at < hi) == inside]

    def share(ms: list[object], pred: object) -> float:
        return sum(1 for m in ms if pred(m)) / len(ms)  # type: ignore[operator]

    failed = lambda m: m.state == "undelivered"  # noqa: E731
    assert share(final("Vodafone", True), failed) > 0.85
    assert share(final("Vodafone", False), failed) < 0.15
    code34 = lambda m: m.error_code == 34  # noqa: E731
    assert 0.4 < share(final("O2", True), code34) < 0.6
    assert share(final("O2", False), code34) < 0.05
    slow = [m for m in final("Telekom", True) if m.delivered_at is not None]
    assert slow and all((m.delivered_at - m.submitted_at).total_seconds() >= 300 for m in slow)
    assert sim.truth["meta"]["incidents"][0]["key"] == "DE/Vodafone"
