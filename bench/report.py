"""Figures of ``python -m bench all``: percentiles, the rich table and the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["machine", "percentile", "print_table", "write_json"]

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def machine(kafka_version: str) -> dict[str, Any]:
    """Core count and the versions in use."""

    def v(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(), "kafka": kafka_version,
            **{d: v(d) for d in ("faust-streaming", "aiokafka", "chdb", "fastavro")},
        },
    }


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("events/s", "rows/s"):
        return f"{value:,.0f}"
    if unit in ("MiB", "CPU s"):
        return f"{value:,.1f}"
    if unit in ("ms", "us"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.3f}"
    return str(value)


def print_table(result: dict[str, Any]) -> None:
    """One row per figure: name, value, unit, and smsflow / ceiling where there is one."""
    table = Table(title=f"smsflow bench all ({result['input']['messages']:,} messages, "
                        f"{result['input']['events']:,} events, "
                        f"{result['machine']['cpus_usable']} cores)")
    for col in ("figure", "value", "unit", "note"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for name, value, unit, note in result["rows"]:
        table.add_row(name, _fmt(value, unit), unit, note)
    Console(width=max(110, Console().width)).print(table)


def write_json(result: dict[str, Any]) -> Path:
    """Write ``result`` to ``bench/results/all-<UTC time>.json``; return the path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"all-{stamp}.json"
    body = {k: v for k, v in result.items() if k != "rows"}
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path
