"""Bad environments give a one-line error naming the problem and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SMSFLOW = str(Path(sys.executable).parent / "smsflow")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    e.update({"SMSFLOW_HOME": str(tmp_path / "home"), **env})
    return subprocess.run(
        [SMSFLOW, *args], capture_output=True, text=True, env=e, timeout=60, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_no_java(tmp_path: Path) -> None:
    proc = run(["infra", "up"], tmp_path, JAVA_HOME=str(tmp_path / "no-jdk"))
    assert_one_line_error(proc, "Java not found")


def test_taken_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run(["infra", "up"], tmp_path, SMSFLOW_KAFKA_PORT=str(port))
    assert_one_line_error(proc, f"port {port}", "taken")


def test_status_when_down(tmp_path: Path) -> None:
    proc = run(["infra", "status"], tmp_path)
    assert proc.returncode == 1
    assert "kafka down" in proc.stdout


def test_help_lists_commands(tmp_path: Path) -> None:
    proc = run(["--help"], tmp_path)
    assert proc.returncode == 0
    assert "infra" in proc.stdout


def test_unreachable_clickhouse_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(["db", "migrate"], tmp_path, SMSFLOW_CLICKHOUSE_URL=f"http://127.0.0.1:{port}/")
    assert_one_line_error(proc, f"cannot reach ClickHouse at 127.0.0.1:{port}")


def test_worker_with_unreachable_broker(tmp_path: Path) -> None:
    """`smsflow worker` (the process `run` supervises) ends on one error line, no traceback."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(["worker", "--no-web"], tmp_path, SMSFLOW_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot reach Kafka at 127.0.0.1:{port}"), proc.stderr


def test_report_on_a_database_behind_the_schema(tmp_path: Path) -> None:
    """A database migrated by an older smsflow (before the view the daily report reads): the
    missing migrations are named, not the engine's "unknown table" message."""
    from sinks.migrate import available

    older = tmp_path / "older"
    older.mkdir()
    needed = min(m.version for m in available() if "daily_totals" in m.path.read_text())
    for m in available():
        if m.version < needed:
            (older / m.path.name).write_text(m.path.read_text())
    script = ("import sys; from pathlib import Path; from sinks.migrate import migrate; "
              "from smsflow.clickhouse import connect; from smsflow.config import load_settings; "
              "migrate(connect(load_settings()), Path(sys.argv[1]))")
    e = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    e["SMSFLOW_HOME"] = str(tmp_path / "home")
    subprocess.run([sys.executable, "-c", script, str(older)], env=e, check=True, timeout=120)
    proc = run(["report", "daily"], tmp_path)
    assert_one_line_error(proc, f"lacks schema migration(s) {needed}", "smsflow db migrate")
