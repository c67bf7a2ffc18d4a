"""Issue 18, CLI start-up: reading through a running ``smsflow run`` loads neither the engine
nor heavy clients, and the ops client speaks the ops API with the standard library.

Start-up seconds are measured by ``python -m bench.cli``, not asserted here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shell.ops_client import OpsClient
from smsflow.config import Settings
from smsflow.errors import SmsflowError

# a stand-in for the ops API of `smsflow run` (its command line names it so: the pid file check
# of shell.pidfile wants "smsflow" and " run"); prints its port, answers two requests' shapes
STUB = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def _send(self, ctype, body):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send("text/csv; charset=utf-8", b"Date,Total\\n2024-01-02,7\\n")

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send("application/json",
                   json.dumps({"columns": ["x"], "types": ["UInt8"], "rows": [[42]]}).encode())

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
HEAVY = ("chdb", "pyarrow", "pandas", "httpx", "rich", "starlette", "fastapi", "faust",
         "aiokafka")


@pytest.fixture
def stub_run(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a CLI command that finds a `smsflow run` (the stub) in its home."""
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", STUB, "smsflow", "run"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        (home / "run.pid").write_text(f"{proc.pid}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
        yield {**env, "SMSFLOW_HOME": str(home), "SMSFLOW_HEALTH_PORT": port}
    finally:
        proc.kill()
        proc.wait(10)


def _imported(stderr: str) -> set[str]:
    """Top-level packages named by ``python -X importtime`` lines."""
    return {line.rsplit("|", 1)[-1].strip().split(".")[0]
            for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(("args", "expected"), [
    (["report", "daily", "--format", "csv"], "Date,Total\n2024-01-02,7\n"),
    (["sql", "SELECT 42 AS x", "--format", "csv"], "x\n42\n"),
])
def test_reading_through_a_run_imports_no_engine_nor_heavy_client(
    stub_run: dict[str, str], args: list[str], expected: str
) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "smsflow", *args],
                          env=stub_run, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == expected
    assert sorted(_imported(proc.stderr) & set(HEAVY)) == []


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.seen.append({"method": self.command, "path": self.path,
                          "auth": self.headers.get("Authorization"),
                          "type": self.headers.get("Content-Type"),
                          "body": self.rfile.read(n) if n else b""})

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/api/reports/nope"):
            self._answer(404, {"error": "no report named 'nope'"})
        else:
            self._answer(200, {"columns": ["a"], "types": ["Int64"], "rows": [[1]]})

    def do_POST(self) -> None:
        self._record()
        self._answer(400, {"error": "only read-only queries are allowed here"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def test_ops_client_sends_filters_token_and_json(
    recorder: tuple[int, list[dict[str, Any]]], tmp_path: Path
) -> None:
    port, seen = recorder
    client = OpsClient(Settings(home=tmp_path, health_port=port, ops_token=SecretStr("t0k")))
    res = client.report("daily", subaccount="Sub 1", country="", date_from=None)
    assert (res.columns, res.types, res.rows) == (["a"], ["Int64"], [(1,)])
    assert seen[0] == {"method": "GET", "path": "/api/reports/daily?subaccount=Sub+1",
                       "auth": "Bearer t0k", "type": None, "body": b""}
    with pytest.raises(SmsflowError, match=r"^only read-only queries are allowed here$"):
        client.sql("DROP TABLE messages")
    assert seen[1]["method"] == "POST" and seen[1]["type"] == "application/json"
    assert json.loads(seen[1]["body"]) == {"sql": "DROP TABLE messages"}
    with pytest.raises(SmsflowError, match=r"^no report named 'nope'$"):
        client.report_text("nope", "csv")
    assert seen[2]["path"] == "/api/reports/nope?format=csv"
    assert client.health() == (True, {"columns": ["a"], "types": ["Int64"], "rows": [[1]]})


def test_ops_client_names_a_run_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OpsClient(Settings(home=tmp_path, health_port=port))
    assert client.health() == (False, {})
    with pytest.raises(SmsflowError, match=rf"^smsflow run at http://127.0.0.1:{port} does "
                       r"not answer: \[Errno 111\] Connection refused$"):
        client.sql("SELECT 1")
