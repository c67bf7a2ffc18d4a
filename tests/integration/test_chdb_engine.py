"""How `smsflow.clickhouse.connect` starts the embedded engine (chDB)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PROBE = (
    "from smsflow.clickhouse import connect\n"
    "from smsflow.config import load_settings\n"
    "ch = connect(load_settings())\n"
    "print(ch.query(\"SELECT value FROM system.server_settings \"\n"
    "               \"WHERE name = 'os_threads_nice_value_merge_mutate'\").rows[0][0])\n"
)


@pytest.mark.parametrize(("nice", "expected"), [(None, "10"), ("3", "3"), ("0", "0")])
def test_merges_run_at_the_configured_nice_value(tmp_path: Path, nice: str | None,
                                                 expected: str) -> None:
    # a process of its own: chDB starts one engine per process, with its startup settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    env["SMSFLOW_HOME"] = str(tmp_path)
    if nice is not None:
        env["SMSFLOW_CLICKHOUSE_MERGE_NICE"] = nice
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
