"""Browser-test fixtures: one simulated pipeline, dashboard servers, headless Debian Chromium.

The data goes through the real pipeline (simulator -> Kafka -> ``smsflow run``); the dashboard
runs as ``smsflow dashboard`` in its own process and gets every report through the ops API of
that run (the run owns the chDB directory). A second dashboard serves an empty database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.config import SimConfig
from simulator.produce import produce_events
from simulator.simulation import Simulation, simulate
from smsflow.config import Settings
from smsflow.topics import ensure_topics
from tests.e2e.harness import SMSFLOW, Pipeline, free_port, settings_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSER_MESSAGES = 2000
# alert thresholds for 2000 messages over 3 days (the alerts panel needs some alerts to show)
BROWSER_ALERTS = ("interval_s = 3600\nwindow_s = 3600\ndelivery_min_volume = 5\n"
                  "latency_min_samples = 5\npending_min_volume = 5\nerror_min_count = 2\n"
                  "error_jump = \"5\"\nlatency_p95_s = \"30\"\n")


def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a fresh thread: Playwright's sync API keeps an event loop on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@dataclass
class Server:
    """A ``smsflow dashboard`` subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_dashboard(settings: Settings, log: Path, timeout: float = 60.0) -> Server:
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [*SMSFLOW, "dashboard", "--port", str(port)], env=settings_env(settings),
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dashboard exited {proc.returncode}: {log.read_text()[-800:]}")
        try:
            if httpx.get(url + "api/meta", timeout=5).status_code == 200:
                return Server(proc, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"dashboard not up in {timeout}s: {log.read_text()[-800:]}")


def _settings(kafka_bootstrap: str, home: Path) -> Settings:
    tag = uuid.uuid4().hex[:10]
    alerts_file = home / f"browser-{tag}.alerts.toml"
    alerts_file.write_text(BROWSER_ALERTS)
    s = Settings(
        alerts_file=alerts_file,
        home=home / f"browser-{tag}",
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"b{tag}.",
        clickhouse_database="smsflow",
        partitions=6,
        webhook_port=free_port(),
        health_port=free_port(),
        sink_batch_size=2000,
        sink_batch_ms=300,
    )
    s.home.mkdir(parents=True, exist_ok=True)
    return s


@pytest.fixture(scope="session")
def sim() -> Simulation:
    return simulate(SimConfig(messages=BROWSER_MESSAGES, seed=20260815))


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, test_home: Path, sim: Simulation) -> Iterator[Pipeline]:
    """``smsflow run`` loaded with the simulation, caught up."""
    settings = _settings(kafka_bootstrap, test_home)
    off_loop(ensure_topics, settings)
    p = Pipeline(settings)
    p.start()
    try:
        off_loop(asyncio.run, produce_events(settings, sim.events, bad=[], progress=False))
        p.wait_caught_up(int(sim.truth["messages"]), timeout=300)
        yield p
    finally:
        if p.proc is not None and p.proc.poll() is None:
            assert p.stop() == 0, p.tail()


@pytest.fixture(scope="module")
def dashboard(pipeline: Pipeline) -> Iterator[Server]:
    """``smsflow dashboard`` reading through the ops API of the loaded pipeline."""
    server = start_dashboard(pipeline.settings, pipeline.settings.home / "dashboard.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def empty_dashboard(kafka_bootstrap: str, test_home: Path) -> Iterator[Server]:
    """``smsflow dashboard`` on a fresh, empty chDB it opens itself (no pipeline runs)."""
    settings = _settings(kafka_bootstrap, test_home)
    server = start_dashboard(settings, settings.home / "dashboard.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser is a CI failure
            pytest.fail(f"{CHROMIUM} missing although .ci/run installs it")
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh page that records every HTTP status >= 500 it sees (there must be none)."""
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.server_errors = []
    pg.on("response", lambda r: r.status >= 500 and pg.server_errors.append((r.status, r.url)))
    pg.set_default_timeout(30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    yield pg
    ctx.close()
    assert pg.server_errors == [], pg.server_errors
