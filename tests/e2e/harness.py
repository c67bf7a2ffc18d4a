"""Run the real pipeline (``smsflow run``: worker + sink + receiver + ops API) in subprocesses.

Every pipeline gets its own home, chDB directory, topic prefix and ports, on the session's
real broker. Reports come through the ops API and the ``smsflow report`` CLI, exactly as a
user gets them; the test process never opens the pipeline's chDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shell.kafka_stats import KafkaStats
from shell.ops_client import OpsClient
from smsflow import consumers
from smsflow.config import Settings

__all__ = ["Pipeline", "free_port", "settings_env"]

SMSFLOW = [sys.executable, "-m", "smsflow"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _read_tail(path: Path, n: int) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"SMSFLOW_{name.upper()}"] = str(value)
    env["SMSFLOW_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap
    return env


#: log lines a stuck pipeline is diagnosed from: crashes, smsflow's own loggers (the
#: worker's stats line every 10 s), and the rebalances with their recovery steps
_OWN = re.compile(r" level=CRITICAL | logger=smsflow| msg=Setting newly assigned"
                  r"| msg=Revoking| Recovery\]: (Seek|Resuming|Worker ready)")


def _distinct(lines: Iterable[str]) -> list[str]:
    """``lines`` with a repeated message (same logger and first 80 characters) kept once, at
    its last occurrence (Faust repeats its slow-stream error for every partition)."""
    last: dict[str, str] = {}
    for ln in lines:
        key = ln.partition(" logger=")[2][:80]
        last.pop(key, None)
        last[key] = ln
    return list(last.values())


class Pipeline:
    """One ``smsflow run`` process group for a test."""

    def __init__(self, settings: Settings, workers: int = 1) -> None:
        self.settings = settings
        self.workers = workers  # `run --workers N` (explicit: the default depends on the host)
        self.env = settings_env(settings)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.home / "run.log"
        self.client = OpsClient(settings)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 120.0) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [*SMSFLOW, "run", "--workers", str(self.workers)], env=self.env, stdout=fh,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            ok, body = self.client.health()
            if ok:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"smsflow run exited {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"smsflow run not healthy in {timeout}s: {body} {self.tail()}")
            time.sleep(0.5)

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM and wait: the clean stop flushes and commits; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.client.close()
        return code

    def kill(self) -> None:
        """SIGKILL the run process (sink and receiver die with it; the workers follow)."""
        assert self.proc is not None
        children = self.child_pids()
        self.proc.kill()
        self.proc.wait(30)
        self._wait_no_child(children)

    def child_pids(self) -> list[int]:
        """Pids of the child processes ``run`` reports (the workers)."""
        _, body = self.client.health()
        comps = body.get("components", {}).values()
        return [int(c["pid"]) for c in comps if isinstance(c, dict) and c.get("pid")]

    def _wait_no_child(self, pids: list[int], timeout: float = 30.0) -> None:
        """Children get SIGTERM through PR_SET_PDEATHSIG; wait until they are gone."""
        deadline = time.monotonic() + timeout
        marker = f"--datadir {self.settings.home}/worker-"
        while time.monotonic() < deadline:
            alive = subprocess.run(
                ["pgrep", "-f", marker], capture_output=True, check=False
            ).stdout.strip()
            if not alive and not any(_running(pid) for pid in pids):
                return
            time.sleep(0.3)
        subprocess.run(["pkill", "-9", "-f", marker], check=False)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def worker_pid(self) -> int:
        pid = self.running_worker_pid()
        assert pid, f"no worker running: {self.client.health()[1]}"
        return pid

    def running_worker_pid(self) -> int | None:
        """The worker's pid while ``run`` reports it healthy, else None (e.g. restarting)."""
        return self.running_pid("worker-0")

    def running_pid(self, component: str) -> int | None:
        """The pid of a child of ``run`` (``worker-0``, ``worker-1``) while ``run`` is healthy."""
        ok, body = self.client.health()
        pid = body.get("components", {}).get(component, {}).get("pid")
        return int(pid) if ok and pid else None

    def kill_worker(self) -> int:
        """SIGKILL the Faust worker; ``run`` restarts it. Returns the killed pid."""
        pid = self.worker_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def tail(self, n: int = 2000) -> str:
        """The end of ``run.log`` and the warnings and last lines of each child's log."""
        parts = [_read_tail(self.log, n)]
        for child in sorted((self.settings.home / "logs").glob("*.log")):
            text = _read_tail(child, 400_000)
            lines = text.splitlines()
            parts.append(f"--- {child.name}: critical, own and rebalance lines ---")
            parts.extend(ln[:400] for ln in [ln for ln in lines if _OWN.search(ln)][-40:])
            parts.append(f"--- {child.name}: last warnings/errors (repeats once) ---")
            parts.extend(ln[:400] for ln in _distinct(
                ln for ln in lines if " level=WARNING " in ln or " level=ERROR " in ln)[-30:])
            parts.append(f"--- {child.name}: last lines ---")
            parts.extend(ln[:400] for ln in lines[-8:])
        return "\n".join(parts)

    # ------------------------------------------------------------------ progress
    def progress(self) -> dict[str, Any]:
        return self.client.progress()

    def caught_up(self, p: dict[str, Any], messages: int) -> bool:
        """``/progress`` body ``p``: every consumer group at lag 0, ``messages`` landed."""
        lag = p.get("lag", {})
        return (
            len(lag) == len(consumers.groups(self.settings))
            and all(v == 0 for v in lag.values())
            and p.get("messages_landed") == messages
        )

    def wait_caught_up(self, messages: int, timeout: float = 600.0) -> dict[str, Any]:
        """Until every group has no lag and ``messages`` outbound messages landed (stable)."""
        deadline = time.monotonic() + timeout
        stable, last = 0, {}
        while time.monotonic() < deadline:
            try:
                p = self.progress()
            except Exception as e:  # broker restarting, ops API busy: try again
                last = {"error": repr(e)}
                time.sleep(1)
                continue
            last = p
            stable = stable + 1 if self.caught_up(p, messages) else 0
            if stable >= 3:
                return p
            time.sleep(1)
        raise AssertionError(
            f"not caught up in {timeout}s: {last}\nper partition (committed, end) of the "
            f"worker's group: {self.worker_partition_lag()}\n{self.tail()}"
        )

    def worker_partition_lag(self) -> dict[str, tuple[int, int]] | str:
        """Partitions the worker's group has not committed to the end (diagnostics)."""

        async def read() -> dict[str, tuple[int, int]]:
            stats = KafkaStats(self.settings)
            await stats.start()
            try:
                group = consumers.worker(self.settings).group
                return await stats.partition_lag(group, self.settings.topics.worker_owned())
            finally:
                await stats.stop()

        try:
            return asyncio.run(read())
        except Exception as e:  # diagnostics only: never hide the real failure
            return f"unavailable: {e!r}"

    # ------------------------------------------------------------------ results
    def report_csv(self, name: str, *args: str) -> list[list[str]]:
        """Rows (without the header) of ``smsflow report NAME ARGS --format csv``."""
        proc = subprocess.run(
            [*SMSFLOW, "report", name, *args, "--format", "csv"],
            env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        rows = list(csv.reader(io.StringIO(proc.stdout)))
        return rows[1:]

    def report_header(self, name: str) -> list[str]:
        proc = subprocess.run(
            [*SMSFLOW, "report", name, "--format", "csv"],
            env=self.env, capture_output=True, text=True, timeout=120, check=True,
        )
        return next(csv.reader(io.StringIO(proc.stdout)))

    def sql(self, text: str) -> list[tuple[Any, ...]]:
        return self.client.sql(text).rows
