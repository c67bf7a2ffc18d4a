"""End-to-end fixtures: one simulation shared by the tests, one pipeline per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from simulator.config import SimConfig
from simulator.simulation import Simulation, simulate
from smsflow.config import Settings
from tests.e2e.harness import Pipeline, free_port

E2E_MESSAGES = 8000


@pytest.fixture(scope="session")
def sim() -> Simulation:
    """Traffic with every fault the simulator knows (duplicates, reordering, early receipts,
    orphans, replies, conversions, surveys, clicks)."""
    return simulate(SimConfig(messages=E2E_MESSAGES, seed=20261124))


@pytest.fixture(scope="session")
def sim_bad() -> Simulation:
    """Smaller traffic plus invalid records on every input topic."""
    return simulate(SimConfig(messages=3000, seed=7, bad_records=25))


@pytest.fixture
def pipeline_factory(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Pipeline]]:
    started: list[Pipeline] = []

    def factory(workers: int = 1, **overrides: object) -> Pipeline:
        values: dict[str, object] = {
            "clickhouse_path": None,  # <home>/clickhouse: the pipeline's own chDB
            "clickhouse_database": "smsflow",
            "webhook_port": free_port(),
            "health_port": free_port(),
            "sink_batch_size": 2000,
            "sink_batch_ms": 500,
        }
        values.update(overrides)
        p = Pipeline(make_settings(**values), workers=workers)
        started.append(p)
        return p

    yield factory
    for p in started:
        if p.proc is not None and p.proc.poll() is None:
            p.kill()
