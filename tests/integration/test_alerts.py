"""Alerts against simulated incidents (issue 19), through broker, worker, sink and chDB.

A simulation with three incidents (an operator's delivery collapse, a latency spike, an
error-code burst) and one of the same size without any go through the real pipeline parts
(:func:`tests.integration.loaded.load_simulation`); the alert rules are then evaluated over
the whole span in event time, as a replay of history. Ground truth:
:func:`simulator.incidents.expected_alerts`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from producers.webhook_guard import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_ok
from shell.alerting import Alerting
from simulator.incidents import expected_alerts, parse_incident
from simulator.simulation import SimConfig, simulate
from sinks.alert_state import history
from smsflow.clickhouse import ClickHouse
from tests.integration.loaded import load_simulation

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MESSAGES, SEED = 24_000, 5
INCIDENTS = ("errors:DE/O2@33+2", "collapse:DE/Vodafone@36+2", "latency:DE/Telekom@39+2")
# volumes for a 24k-message simulation (defaults suit real traffic: 100 per window)
RULES = {"delivery_min_volume": 40, "latency_min_samples": 40, "pending_min_volume": 40,
         "error_min_count": 10, "pending_share": 40}
SECRET = "alert-hook-secret"


def _config(incidents: tuple[str, ...]) -> SimConfig:
    return SimConfig(messages=MESSAGES, seed=SEED, days=2, countries=("DE",),
                     incidents=tuple(parse_incident(i) for i in incidents))


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


def _replay(ch: ClickHouse, settings: Any, cfg: SimConfig, url: str = "") -> Alerting:
    alerts_file = settings.home / "alerts.toml"
    alerts_file.write_text("".join(f"{k} = {v}\n" for k, v in RULES.items()))
    settings = settings.model_copy(update={
        "alerts_file": alerts_file, "alert_webhook_url": url,
        "alert_webhook_secret": SecretStr(SECRET) if url else None,
    })
    settings.__dict__.pop("alert_rules", None)
    alerting = Alerting(settings, ch)
    first = dt.datetime.combine(cfg.first_day, dt.time(), tzinfo=dt.UTC)
    alerting.evaluate(until=first + dt.timedelta(days=cfg.days, hours=6), since=first)
    return alerting


def _instances(ch: ClickHouse) -> list[dict[str, Any]]:
    return history(ch).dicts()


@pytest.fixture(scope="module")
def incident_run(kafka_bootstrap: str, test_home: Path, chdb_path: Path,
                 hook: str) -> Iterator[tuple[ClickHouse, Alerting, SimConfig]]:
    cfg = _config(INCIDENTS)
    settings, ch, _ = load_simulation(simulate(cfg), prefix="al", kafka_bootstrap=kafka_bootstrap,
                                      test_home=test_home, chdb_path=chdb_path)
    alerting = _replay(ch, settings, cfg, hook)
    yield ch, alerting, cfg
    ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


def test_each_incident_fires_within_one_interval_and_resolves(incident_run: Any) -> None:
    ch, alerting, cfg = incident_run
    rules = alerting.settings.alert_rules
    want = expected_alerts(cfg.incidents, cfg.first_day, interval_s=rules.interval_s,
                           window_s=rules.window_s)
    got = _instances(ch)
    for w in want:
        mine = [a for a in got if (a["Rule"], a["Key"]) == (w["rule"], w["key"])]
        assert mine, (w, got)
        first = min(mine, key=lambda a: a["Started"])
        last = max(mine, key=lambda a: a["Started"])
        assert w["start"] < first["Fired"] <= w["fire_by"], (w, first)
        assert len(mine) == 1, mine  # firing at every evaluation until it ended
        assert last["State"] == "resolved" and w["end"] < last["Ended"] <= w["resolve_by"], last
    for a in got:  # nothing else: only the incidents' own country, while they last
        assert any(a["Key"].startswith(w["may_prefix"]) and w["start"] < a["Started"]
                   and (a["Ended"] or a["Started"]) <= w["may_until"] for w in want), a


def test_replaying_history_raises_the_same_alerts(incident_run: Any) -> None:
    ch, alerting, cfg = incident_run
    before = _instances(ch)
    first = dt.datetime.combine(cfg.first_day, dt.time(), tzinfo=dt.UTC)
    alerting.evaluate(until=first + dt.timedelta(days=cfg.days, hours=6), since=first)
    assert _instances(ch) == before


def test_webhook_got_every_transition_signed(incident_run: Any) -> None:
    ch, _, _ = incident_run
    posted = []
    for headers, body in _Hook.received:
        assert signature_ok(SECRET.encode(), body, headers[TIMESTAMP_HEADER],
                            headers[SIGNATURE_HEADER], window_s=300)
        posted += json.loads(body)["alerts"]
    fired = {(a["rule"], a["key"], a["started_at"]) for a in posted if a["state"] == "firing"}
    resolved = {(a["rule"], a["key"]) for a in posted if a["state"] == "resolved"}
    instances = _instances(ch)
    assert len(fired) >= len(instances) > 0  # a replay posts them again
    assert {(a["Rule"], a["Key"]) for a in instances} == resolved


def test_incident_free_traffic_raises_none(kafka_bootstrap: str, test_home: Path,
                                           chdb_path: Path) -> None:
    cfg = _config(())
    settings, ch, _ = load_simulation(simulate(cfg), prefix="aq", kafka_bootstrap=kafka_bootstrap,
                                      test_home=test_home, chdb_path=chdb_path)
    try:
        _replay(ch, settings, cfg)
        assert _instances(ch) == []
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")
