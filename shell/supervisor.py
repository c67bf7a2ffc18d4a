"""Child processes of ``smsflow run``: started, watched, restarted, stopped.

A child gets SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``), so a SIGKILLed
``smsflow run`` never leaves an orphan worker behind. A child that exits unexpectedly is
restarted with a back-off; ``stop()`` sends SIGTERM, waits, then SIGKILLs.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "smsflow_command"]

log = logging.getLogger("shell.supervisor")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def smsflow_command(*args: str) -> list[str]:
    """The command line that runs ``smsflow ARGS`` with this interpreter."""
    return [sys.executable, "-m", "smsflow", *args]


@dataclass
class Child:
    """One supervised child process (e.g. the Faust worker)."""

    name: str
    argv: list[str]
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    first_backoff: float = 1.0  # seconds before the first restart (SMSFLOW_RESTART_BACKOFF_SECONDS)
    restarts: int = 0
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    _stopping: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.returncode is None else None

    async def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab")  # noqa: ASYNC230 - quick local open, handed to the child
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, **self.env},
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        self.started_at = time.monotonic()
        log.info("started %s pid=%s log=%s", self.name, self.proc.pid, self.log_file)

    async def watch(self) -> None:
        """Restart the child whenever it exits, until :meth:`stop` is called."""
        backoff = self.first_backoff
        while not self._stopping:
            if self.proc is None:
                await self.start()
            assert self.proc is not None
            code = await self.proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            ran = time.monotonic() - self.started_at
            backoff = self.first_backoff if ran > 30 else min(backoff * 2, 30.0)
            log.warning(
                "%s exited with %s after %.1fs; restart %d in %.0fs",
                self.name, code, ran, self.restarts, backoff,
            )
            await asyncio.sleep(backoff)
            if not self._stopping:
                await self.start()

    async def stop(self, grace: float = 30.0) -> int | None:
        self._stopping = True
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            log.warning("%s did not stop within %.0fs; killing it", self.name, grace)
            self.proc.kill()
            return await self.proc.wait()
