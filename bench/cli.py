"""CLI start-up (issue 18): wall seconds of ``smsflow report`` and ``smsflow sql`` on an
empty migrated database, chDB opened by the command (local) and through a running
``smsflow run`` (its ops API).

    .venv/bin/python -m bench.cli                       # local, then through a run
    .venv/bin/python -m bench.cli --no-run --repeat 9   # local only (no broker)
    .venv/bin/python -m bench.cli --baseline /tmp/base  # A/B: an older tree vs this one

Every timing is one ``python -m smsflow ...`` subprocess (fork to exit, output discarded),
as a user runs it; the runs of each command alternate between the arms. Prints one line per
command, path and arm: median and min of ``--repeat`` runs, and whether the command imported
chdb (one extra run with ``-X importtime``). The run (``--no-run`` skips it) gets a
temporary Kafka broker and free ports, like ``python -m bench all``; both are stopped at the
end. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: list[tuple[str, list[str]]] = [
    ("report daily --format csv", ["report", "daily", "--format", "csv"]),
    ("report dashboard", ["report", "dashboard"]),
    ('sql "SELECT 1"', ["sql", "SELECT 1"]),
]


def _argv(tree: Path, args: list[str], importtime: bool = False) -> list[str]:
    return [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "smsflow",
            *args]


def _env(base: dict[str, str], tree: Path) -> dict[str, str]:
    """``base`` with the tree's packages first (the cwd is the tree too: ``-m`` puts it first)."""
    return {**base, "PYTHONPATH": str(tree), "COLUMNS": "100"}


def run_once(tree: Path, args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command; raises with its stderr when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(_argv(tree, args), cwd=tree, env=_env(env, tree),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"smsflow {' '.join(args)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
    return seconds


def imports_chdb(tree: Path, args: list[str], env: dict[str, str]) -> bool:
    proc = subprocess.run(_argv(tree, args, importtime=True), cwd=tree, env=_env(env, tree),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return any(line.rsplit("|", 1)[-1].strip() == "chdb"
               for line in proc.stderr.decode(errors="replace").splitlines())


def measure(path: str, arms: dict[str, Path], env: dict[str, str], repeat: int) -> None:
    """Time every command in every arm (alternating) and print one line per command x arm."""
    for label, args in COMMANDS:
        for tree in arms.values():
            run_once(tree, args, env)  # warm the page cache; not counted
        times: dict[str, list[float]] = {arm: [] for arm in arms}
        for _ in range(repeat):
            for arm, tree in arms.items():
                times[arm].append(run_once(tree, args, env))
        for arm, tree in arms.items():
            chdb = "yes" if imports_chdb(tree, args, env) else "no"
            print(f"{label:<26} {path:<6} {arm:<4} {statistics.median(times[arm]):>7.3f} "
                  f"{min(times[arm]):>7.3f}  {chdb}", flush=True)


def _local(arms: dict[str, Path], repeat: int, tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    env["SMSFLOW_HOME"] = str(tmp / "local")
    subprocess.run(_argv(ROOT, ["db", "migrate"]), cwd=ROOT, env=_env(env, ROOT),
                   stdout=subprocess.DEVNULL, check=True)
    measure("local", arms, env, repeat)


def _through_run(arms: dict[str, Path], repeat: int, tmp: Path) -> None:
    from infra.broker import Broker
    from smsflow.config import Settings
    from tests.e2e.harness import Pipeline, free_port

    base = Settings(home=tmp / "kafka", kafka_port=free_port(),
                    kafka_controller_port=free_port(), kafka_heap="512m")
    broker = Broker(base)
    pipe: Pipeline | None = None
    try:
        print("starting a temporary Kafka broker and smsflow run ...", file=sys.stderr,
              flush=True)
        broker.up()
        settings = Settings(
            home=tmp / "run", bootstrap_servers=broker.bootstrap,
            topic_prefix=f"benchcli{uuid.uuid4().hex[:8]}.", webhook_port=free_port(),
            health_port=free_port(), worker_web_port=free_port(),
        )
        pipe = Pipeline(settings)
        pipe.start()
        measure("run", arms, pipe.env, repeat)
    finally:
        if pipe is not None:
            pipe.stop()
        broker.down()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cli",
                                 description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per command and arm "
                    "(default 5; one more before, not counted, warms the page cache)")
    ap.add_argument("--no-run", action="store_true",
                    help="local only: no broker, no smsflow run")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also time this tree (arm A; e.g. git worktree add /tmp/base HEAD~1 "
                         "or git archive | tar -x); this tree is arm B")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    arms = {"B": ROOT}
    if args.baseline is not None:
        if not (args.baseline / "shell" / "cli.py").is_file():
            ap.error(f"--baseline {args.baseline}: no smsflow tree there (shell/cli.py)")
        arms = {"A": args.baseline.resolve(), "B": ROOT}
    tmp = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    print(f"{'command':<26} {'path':<6} {'arm':<4} {'median':>7} {'min':>7}  chdb")
    try:
        _local(arms, args.repeat, tmp)
        if not args.no_run:
            _through_run(arms, args.repeat, tmp)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
