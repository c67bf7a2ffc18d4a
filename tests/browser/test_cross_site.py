"""Issue 17: a web page of another origin gets nothing from the ops API or the dashboard.

A page served from another port on 127.0.0.1 (another origin) runs ``fetch()`` against the ops
API of a real ``smsflow run`` and against a standalone ``smsflow dashboard``: a text/plain POST
of DDL to ``/api/sql`` (a "simple" request, no preflight), the same as ``no-cors``, a JSON POST
(preflighted) and GETs of a report. No table may change and the page may read no response.
A name that resolves to loopback (``evil.localhost``, DNS rebinding's end state) gets 403.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smsflow.topics import ensure_topics
from tests.browser.conftest import Server, _settings, off_loop, start_dashboard
from tests.browser.test_dashboard import wait_ready
from tests.e2e.harness import Pipeline, free_port

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html><title>evil</title><script>
async function attempt(label, url, init) {
  try {
    const r = await fetch(url, init);
    const text = await r.text();
    return label + " READ " + r.status + " type=" + r.type + " " + text.slice(0, 200);
  } catch (e) {
    return label + " BLOCKED";
  }
}
window.attack = async (base) => {
  const ddl = "CREATE TABLE zz (x UInt8) ENGINE=Memory";
  return [
    await attempt("text", base + "/api/sql", {method: "POST", body: ddl,
                  headers: {"Content-Type": "text/plain"}}),
    await attempt("nocors", base + "/api/sql", {method: "POST", body: "DROP TABLE clicks",
                  mode: "no-cors", headers: {"Content-Type": "text/plain"}}),
    await attempt("json", base + "/api/sql", {method: "POST",
                  body: JSON.stringify({sql: ddl}),
                  headers: {"Content-Type": "application/json"}}),
    await attempt("report", base + "/api/reports/daily", {}),
    await attempt("dash", base + "/dashboard/api/reports/daily", {}),
    await attempt("dashapi", base + "/api/meta", {}),
  ];
};
</script>"""


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, test_home: Path) -> Iterator[Pipeline]:
    """``smsflow run`` on an empty database (its ops API and dashboard are the targets)."""
    settings = _settings(kafka_bootstrap, test_home)
    off_loop(ensure_topics, settings)
    p = Pipeline(settings)
    p.start()
    try:
        yield p
    finally:
        if p.proc is not None and p.proc.poll() is None:
            assert p.stop() == 0, p.tail()


@pytest.fixture(scope="module")
def standalone(run: Pipeline) -> Iterator[Server]:
    server = start_dashboard(run.settings, run.settings.home / "dashboard.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def evil_origin() -> Iterator[str]:
    """A page on another port of 127.0.0.1: another origin."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ATTACK.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _tables(p: Pipeline) -> set[str]:
    return {r[0] for r in p.sql("SHOW TABLES")}


def _attack(page: Any, evil: str, target: str) -> tuple[list[str], list[tuple[str, int]]]:
    """What the page could read, and the statuses the server answered (seen by the browser)."""
    seen: list[tuple[str, int]] = []

    def on_response(r: Any) -> None:
        if r.url.startswith(target):
            seen.append((f"{r.request.method} {r.url}", r.status))

    page.on("response", on_response)
    page.goto(evil)
    results = list(page.evaluate("base => window.attack(base)", target))
    page.remove_listener("response", on_response)
    return results, seen


def test_cross_origin_page_reads_and_changes_nothing(
    page: Any, run: Pipeline, standalone: Server, evil_origin: str
) -> None:
    before = _tables(run)
    assert "clicks" in before and "zz" not in before
    targets = [f"http://127.0.0.1:{run.settings.health_port}", standalone.url.rstrip("/")]
    for target in targets:
        results, answered = _attack(page, evil_origin, target)
        assert len(results) == 6
        for r in results:  # unreadable: a network error or an opaque answer
            assert r.endswith("BLOCKED") or " READ 0 type=opaque " in r + " ", (target, r)
        assert answered and all(status in (403, 415) for _, status in answered), answered
    assert _tables(run) == before
    # the same requests from our own client (no Origin) work: the guard is not a wall
    assert run.sql("SELECT 1") == [(1,)]


def test_rebound_name_is_refused(page: Any, run: Pipeline, standalone: Server) -> None:
    port = run.settings.health_port
    for url in (f"http://evil.localhost:{port}/dashboard/",
                standalone.url.replace("127.0.0.1", "evil.localhost")):
        resp = page.goto(url)
        assert resp is not None and resp.status == 403, url
        assert "not served here" in page.content()


def test_same_origin_dashboard_still_works(page: Any, run: Pipeline) -> None:
    """The mounted dashboard's own fetches (same origin, also as localhost) pass the guard."""
    for host in ("127.0.0.1", "localhost"):
        page.goto(f"http://{host}:{run.settings.health_port}/dashboard/")
        wait_ready(page)
        assert page.locator("#error").is_hidden()
