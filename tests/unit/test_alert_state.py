"""Alert state transitions (pending -> firing -> resolved), instants, the signed payload."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from producers.webhook_guard import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_ok
from shell.alert_webhook import payload, signed_request
from sinks.alert_state import step
from sinks.alerts import Condition, instants
from smsflow.config import Settings

T0 = dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC)
Q = dt.timedelta(minutes=15)


def _c(key: str = "DE/Telekom", value: str = "40.00") -> Condition:
    return Condition("delivery_rate_operator", key, Decimal(value), Decimal("66.75"), "x")


def test_fires_at_once_and_resolves_with_start_and_end() -> None:
    rows = step([], [_c()], T0, for_s=0)
    assert [(r.state, r.started_at, r.fired_at, r.ended_at) for r in rows] == [
        ("firing", T0, T0, None)]
    again = step(rows, [_c(value="35.00")], T0 + Q, for_s=0)
    assert len(again) == 1 and again[0].state == "firing" and again[0].started_at == T0
    assert again[0].value == Decimal("35.00")  # one instance, updated: deduplicated
    gone = step(again, [], T0 + 2 * Q, for_s=0)
    assert [(r.state, r.started_at, r.fired_at, r.ended_at) for r in gone] == [
        ("resolved", T0, T0, T0 + 2 * Q)]


def test_pending_until_for_elapsed() -> None:
    rows = step([], [_c()], T0, for_s=1800)
    assert rows[0].state == "pending" and rows[0].fired_at is None
    rows = step(rows, [_c()], T0 + Q, for_s=1800)
    assert rows[0].state == "pending"
    rows = step(rows, [_c()], T0 + 2 * Q, for_s=1800)
    assert rows[0].state == "firing" and rows[0].fired_at == T0 + 2 * Q
    blip = step(step([], [_c()], T0, for_s=1800), [], T0 + Q, for_s=1800)
    assert blip[0].state == "resolved" and blip[0].fired_at is None


def test_keys_are_independent() -> None:
    rows = step([], [_c("DE/Telekom"), _c("DE/O2")], T0, for_s=0)
    rows = step(rows, [_c("DE/O2")], T0 + Q, for_s=0)
    assert {(r.key, r.state) for r in rows} == {("DE/Telekom", "resolved"), ("DE/O2", "firing")}


def test_instants_are_aligned_to_the_interval() -> None:
    got = instants(T0 + dt.timedelta(minutes=7), T0 + dt.timedelta(minutes=45), 900)
    assert got == [T0 + Q, T0 + 2 * Q, T0 + 3 * Q]
    assert instants(T0, T0, 900) == []


def test_webhook_payload_is_signed_like_the_receiver_checks(tmp_path: object) -> None:
    rows = step([], [_c()], T0, for_s=0)
    body = payload(rows)
    alert = json.loads(body)["alerts"][0]
    assert alert["state"] == "firing" and alert["value"] == "40.00"
    assert alert["started_at"] == "2024-03-02T12:00:00.000000Z"
    settings = Settings(alert_webhook_secret="s3cret")
    headers = signed_request(settings, body, now=1_700_000_000)
    assert signature_ok(b"s3cret", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER],
                        window_s=300, now=1_700_000_000)
    assert not signature_ok(b"other", body, headers[TIMESTAMP_HEADER],
                            headers[SIGNATURE_HEADER], window_s=300, now=1_700_000_000)
