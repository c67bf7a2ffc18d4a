"""Issue 17: the ops API's SQL is read-only by the engine, cross-site requests get nothing.

The ops app of ``smsflow run`` (``create_ops_app``) over real chDB with the schema migrated,
spoken to over ASGI with the headers a browser or curl would send.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shell.ops import OpsState, create_ops_app
from sinks.migrate import migrate
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings
from smsflow.errors import ConfigError
from smsflow.http_guard import GuardPolicy, token_path
from tests.e2e.harness import SMSFLOW, settings_env

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1:8081"
PROBES = [  # the issue's three, as an analyst's text/plain POST
    "CREATE TABLE zz (x UInt8) ENGINE=Memory",
    "DROP TABLE messages",
    "SELECT * FROM file('/etc/passwd','LineAsString') LIMIT 2",
    "SELECT * FROM url('http://127.0.0.1:8080/health','LineAsString')",
]
REFUSED = [
    *PROBES,
    "INSERT INTO messages (umid) VALUES (generateUUIDv4())",
    "TRUNCATE TABLE messages",
    "ALTER TABLE messages DELETE WHERE 1",
    "DETACH TABLE messages",
    "SELECT 1; DROP TABLE messages",
    "SELECT count() FROM messages SETTINGS readonly=0",
    "SET readonly=0",
    "SELECT file('/etc/passwd')",
    "SELECT * FROM s3('http://127.0.0.1:1/bucket/x', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1:1', system.one)",
    "SELECT * FROM input('x UInt8')",
    "SELECT * FROM executable('x.sh', 'TSV', 'x UInt8')",
    "SELECT * FROM Python(p)",  # chDB: an object of the calling frame
    "SELECT 1 INTO OUTFILE '{outfile}'",
    "SELECT 1 FORMAT JSON",
    "SYSTEM STOP MERGES",
    "KILL QUERY WHERE 1",
]


@pytest.fixture
def ops(clickhouse: ClickHouse, tmp_path: Path) -> Iterator[tuple[TestClient, OpsState]]:
    migrate(clickhouse)
    settings = Settings(home=tmp_path / "home", clickhouse_database=clickhouse.database)
    state = OpsState(settings=settings, ch=clickhouse, groups={})
    with TestClient(create_ops_app(state), base_url=BASE) as client:
        yield client, state


def _tables(ch: ClickHouse) -> set[str]:
    res = ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {r[0] for r in res.rows}


@pytest.mark.parametrize("sql", [*PROBES, "SELECT 1 SETTINGS readonly=0"])
def test_backend_read_only_is_the_engines(clickhouse: ClickHouse, sql: str) -> None:
    """``query(read_only=True)`` alone (no statement check) refuses writes and table functions."""
    from smsflow.errors import ClickHouseError

    clickhouse.command("CREATE TABLE IF NOT EXISTS messages (x UInt8) ENGINE = Memory")
    with pytest.raises(ClickHouseError, match="readonly"):
        clickhouse.query(sql, read_only=True)
    assert _tables(clickhouse) == {"messages"}
    assert clickhouse.query("SELECT 1", read_only=True).scalar() == 1


@pytest.mark.parametrize("sql", PROBES)
def test_issue_probes_as_text_plain_are_refused(ops: Any, sql: str) -> None:
    client, state = ops
    before = _tables(state.ch)
    resp = client.post("/api/sql", content=sql, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415, resp.text
    assert "application/json" in resp.json()["error"]
    assert _tables(state.ch) == before


@pytest.mark.parametrize("sql", REFUSED)
def test_sql_is_read_only_by_the_engine(ops: Any, sql: str, tmp_path: Path) -> None:
    client, state = ops
    outfile = tmp_path / "out.txt"
    before = _tables(state.ch)
    resp = client.post("/api/sql", json={"sql": sql.format(outfile=outfile)})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]
    assert "root:" not in resp.text  # nothing of /etc/passwd
    assert _tables(state.ch) == before and "zz" not in before
    assert not outfile.exists()
    # the sink's connection in the same process still writes
    state.ch.command("CREATE TABLE IF NOT EXISTS probe (x UInt8) ENGINE = Memory")
    state.ch.insert("probe", [{"x": 1}])
    state.ch.command("DROP TABLE probe")


def test_read_queries_and_reports_still_answer(ops: Any) -> None:
    client, _ = ops
    for sql in ("SELECT count() FROM messages FINAL", "-- a comment\nSELECT 1 AS one;",
                "SHOW TABLES", "DESCRIBE TABLE messages", "EXISTS TABLE messages",
                "WITH 2 AS two SELECT two, number FROM numbers(2)"):
        resp = client.post("/api/sql", json={"sql": sql})
        assert resp.status_code == 200, (sql, resp.text)
    assert client.post("/api/sql", json={"sql": "SELECT 7"}).json()["rows"] == [[7]]
    for name in ("daily", "countries", "logs"):
        assert client.get(f"/api/reports/{name}").status_code == 200
    assert client.get("/dashboard/api/meta").status_code == 200
    assert client.post("/api/sql", json={"nope": 1}).status_code == 400
    assert client.post("/api/sql", content=b"{", headers={"Content-Type": "application/json"}
                       ).status_code == 400


@pytest.mark.parametrize("path", ["/api/reports/daily", "/dashboard/api/meta", "/metrics"])
def test_foreign_host_origin_and_site_are_refused(ops: Any, path: str) -> None:
    client, _ = ops
    cases = [
        {"Host": "evil.example:8081"},  # DNS rebinding: the attacker's name, our address
        {"Host": "evil.localhost:8081"},
        {"Origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"},
    ]
    for headers in cases:
        resp = client.get(path, headers=headers)
        assert resp.status_code == 403, (headers, resp.text)
        assert resp.json()["error"]
    resp = client.post("/api/sql", json={"sql": "SELECT 1"}, headers={"Origin": "http://x.test"})
    assert resp.status_code == 403
    ok = client.get(path, headers={"Origin": BASE, "Host": "127.0.0.1:8081"})
    assert ok.status_code == 200
    assert client.get(path, headers={"Host": "localhost:8081"}).status_code == 200
    assert client.get(path, headers={"Host": "[::1]:8081"}).status_code == 200


def test_token_file_and_wrong_token(ops: Any) -> None:
    client, state = ops
    path = token_path(state.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 32
    assert client.get("/api/reports/daily").status_code == 200  # loopback: optional
    bad = client.get("/api/reports/daily", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]
    good = client.get("/api/reports/daily", headers={"Authorization": f"Bearer {token}"})
    assert good.status_code == 200
    # maintenance needs the token even on loopback
    assert client.post("/api/db/detach", json={"table": "clicks"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/db/detach", json={"table": "x; DROP"}, headers=auth
                       ).status_code == 400
    assert client.post("/api/db/drop", json={"table": "clicks"}, headers=auth).status_code == 400
    # evaluating alerts writes alert state: the token too (and this state has no evaluator)
    assert client.post("/api/alerts/evaluate", json={}).status_code == 401
    assert client.post("/api/alerts/evaluate", json={}, headers=auth).status_code == 400


def test_non_loopback_needs_a_token(clickhouse: ClickHouse, tmp_path: Path) -> None:
    bare = Settings(home=tmp_path / "h1", ops_host="0.0.0.0")
    with pytest.raises(ConfigError, match="without a token"):
        GuardPolicy.for_server(bare, "0.0.0.0")
    assert not token_path(bare).exists()  # not generated for an exposed server
    settings = Settings(
        home=tmp_path / "h2", ops_host="0.0.0.0", ops_token="s3cret-token-x",
        ops_allowed_hosts="analytics.example", clickhouse_database=clickhouse.database,
    )
    state = OpsState(settings=settings, ch=clickhouse, groups={})
    migrate(clickhouse)
    with TestClient(create_ops_app(state), base_url="http://analytics.example:8081") as client:
        assert client.get("/health").status_code in (200, 503)  # probes need no token
        resp = client.get("/api/reports/daily")
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        auth = {"Authorization": "Bearer s3cret-token-x"}
        assert client.get("/api/reports/daily", headers=auth).status_code == 200


def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    path = token_path(settings)
    path.write_text("abc\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        GuardPolicy.for_server(settings, "127.0.0.1")


@pytest.mark.parametrize("argv", [["run"], ["dashboard", "--host", "0.0.0.0", "--port", "1"]])
def test_cli_refuses_to_listen_off_loopback_without_token(tmp_path: Path, argv: list[str]) -> None:
    env = settings_env(Settings(home=tmp_path / "home", ops_host="0.0.0.0"))
    proc = subprocess.run([*SMSFLOW, *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0], proc.stderr


def test_cli_sql_locally_is_read_only(tmp_path: Path) -> None:
    env = settings_env(Settings(home=tmp_path / "home"))
    env.pop("SMSFLOW_BOOTSTRAP_SERVERS", None)
    ok = subprocess.run([*SMSFLOW, "sql", "SELECT 41 + 1 AS x", "--format", "csv"], env=env,
                        capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0 and ok.stdout.splitlines() == ["x", "42"], ok.stderr
    bad = subprocess.run([*SMSFLOW, "sql", "CREATE TABLE zz (x UInt8) ENGINE = Memory"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "read-only" in bad.stderr, bad.stderr
    check = subprocess.run([*SMSFLOW, "sql", "EXISTS TABLE zz", "--format", "csv"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.stdout.splitlines()[-1] == "0", check.stderr


def test_cli_db_detach_needs_a_running_pipeline(tmp_path: Path) -> None:
    """A detach in a process of its own would be undone at the next chDB start: refused."""
    env = settings_env(Settings(home=tmp_path / "home"))
    proc = subprocess.run([*SMSFLOW, "db", "detach", "clicks"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "no `smsflow run` runs here" in proc.stderr, proc.stderr
