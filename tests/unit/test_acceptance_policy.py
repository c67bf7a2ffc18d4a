"""Acceptance policy (issue 17): number facts, canonical operator names, the simulator's
unlisted destinations and its default output left byte for byte as it was."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest

from producers.requests import send_request_record, validate_request
from simulator.simulation import SimConfig, simulate, write_simulation
from smsflow.numbers import NUMBER_INVALID, NUMBER_UNLISTED, classify
from smsflow.operators import canonical_name, is_unresolved, operator_of_mcc_mnc

# sha256 of events/* of SimConfig(messages=400, seed=11, bad_records=1), identical before
# issue 17 (commit 2aa825e): the option off must not change one byte of the traffic
DEFAULT_EVENTS_SHA256 = "8e9fcc0c2c52df0d014c6988144e810a57f38cb5be13a8beb2bc64f8d183ae9b"


def test_classify_keeps_what_libphonenumber_does_not_list() -> None:
    assert classify("+6591234567").flags == ()
    unlisted = classify("4912345678901")
    assert (unlisted.e164, unlisted.country, unlisted.operator, unlisted.flags) == (
        "+4912345678901", "DE", None, (NUMBER_UNLISTED,))
    assert not phonenumbers.is_valid_number(phonenumbers.parse(unlisted.e164))
    # shared calling codes: the code's main region
    assert classify("+447700900123").country == "GB"
    assert classify("+12025550100").country == "US"
    for bad in ("", "abc", "+49123", "+999123456789"):
        assert (classify(bad).country, classify(bad).flags) == (None, (NUMBER_INVALID,)), bad


@pytest.mark.parametrize(
    ("mcc", "mnc", "name"),
    [("724", "02", "TIM"), ("310", "410", "AT&T"), ("310", "260", "T-Mobile"),
     ("208", "15", "Free"), ("724", "31", "Oi")],  # Oi: no longer operating, still named
)
def test_mcc_mnc_to_the_operators_name(mcc: str, mnc: str, name: str) -> None:
    assert operator_of_mcc_mnc(mcc, mnc) == name
    assert not is_unresolved(name, mcc, mnc)


def test_unknown_mcc_mnc_stays_a_stand_in() -> None:
    assert operator_of_mcc_mnc("999", "77") == "999-77"
    assert is_unresolved("999-77", "999", "77")


@pytest.mark.parametrize(
    ("name", "country", "canonical"),
    [
        ("TIM", "BR", "TIM"),
        ("tim", "BR", "TIM"),
        ("T-Mobile USA", "US", "T-Mobile"),
        ("Free Mobile", "FR", "Free"),
        ("Singtel", "SG", "SingTel"),
        ("Reliance", "IN", "Reliance"),  # a brand of its own, not Jio
        ("Reliance Jio", "IN", "Jio"),  # renamed (RENAMED)
        ("Three", "GB", "3"),  # libphonenumber says "3" for some ranges, "Three" for others
        ("T-Mobile", "DE", "Telekom"),
        ("Idea", "IN", "Vi India"),
        ("Vodafone", "IN", "Vi India"),
        ("Vodafone", "DE", "Vodafone"),
        ("Acme Mobile", "DE", "Acme Mobile"),  # unknown: kept
        ("tim", None, "tim"),  # no country: kept
    ],
)
def test_canonical_names(name: str, country: str | None, canonical: str) -> None:
    assert canonical_name(name, country) == canonical
    assert canonical_name(canonical, country) == canonical  # canonical names are fixed points


def test_renamed_networks_end_as_a_brand_of_their_country() -> None:
    from smsflow.operators import RENAMED, _table

    by_country = _table()[1]
    for (country, _), brand in RENAMED.items():
        assert brand in {b for b, _ in by_country[country]}, (country, brand)
        assert canonical_name(brand, country) == brand


def test_canonical_names_are_fixed_points_in_every_country() -> None:
    # what makes the worker's normalisation at every event order-independent
    from smsflow.operators import _table

    by_code, by_country = _table()
    for country, entries in by_country.items():
        for brand, operator in entries:
            for name in (brand, operator):
                once = canonical_name(name, country)
                assert canonical_name(once, country) == once, (country, name, once)
    assert by_code


def test_unlisted_share_gives_flagged_destinations_like_our_producer() -> None:
    sim = simulate(SimConfig(messages=1500, seed=5, unlisted_share=0.2))
    requests = {r["umid"]: r for k, _, r in sim.events if k == "requests"}
    flagged = [m for m in sim.messages if m.request_flags]
    assert 0.15 * 1500 < len(flagged) < 0.25 * 1500
    assert Counter(m.country for m in flagged).keys() <= {"DE", "FR", "IN", "BR", "SG", "NG"}
    for m in flagged:
        r = requests[m.umid]
        again = send_request_record(validate_request({
            "destination": r["destination"], "text": r["text"], "subAccountId": "x",
            "encoding": r["requested_encoding"]}))
        assert (r["country"], r["operator"], r["flags"]) == (
            again["country"], again["operator"], again["flags"]) == (
            m.country, None, [NUMBER_UNLISTED])
    assert sim.truth["flags"]["number_unlisted"] == len(flagged) + sum(
        NUMBER_UNLISTED in mo.flags for mo in sim.inbound)


def test_default_simulation_events_are_unchanged(tmp_path: Path) -> None:
    write_simulation(simulate(SimConfig(messages=400, seed=11, bad_records=1)), tmp_path)
    h = hashlib.sha256()
    for p in sorted((tmp_path / "events").iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    assert h.hexdigest() == DEFAULT_EVENTS_SHA256
