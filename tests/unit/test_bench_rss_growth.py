"""The soak's leak check (`bench.e2e.Throughput.rss_growth`) on RSS series of known shape."""

from __future__ import annotations

import pytest

from bench.e2e import Throughput

_SAW = (0, 90_000, -60_000, 40_000, -90_000, 70_000)  # KiB: +-10 % of 800 MiB-ish, per second


def _run(rss: list[tuple[float, int, int]]) -> Throughput:
    return Throughput(events=0, messages=0, produce_s=0.0, worker_s=0.0, e2e_s=0.0,
                      sink_rows=0, sink_records=0, worker_cpu_s=0.0, run_cpu_s=0.0, rss=rss)


def _series(seconds: int, level: float, leak_per_s: float) -> list[tuple[float, int, int]]:
    """1-s samples: a start-up ramp over the first fifth, then ``level`` KiB growing by
    ``leak_per_s`` KiB a second, with `run`'s saw on top (the worker's column flat)."""
    out = []
    for s in range(1, seconds + 1):
        ramp = min(1.0, s / (seconds / 5))
        run = level * ramp + leak_per_s * s + _SAW[s % len(_SAW)]
        out.append((float(s), int(run), 600_000))
    return out


def test_a_saw_that_does_not_grow_passes_where_one_sample_each_failed() -> None:
    # 157 s: the quarter's sample lands in a trough (s=40: -90,000), the end on a crest
    t = _run(_series(157, 800_000, 0.0))
    assert t.rss_growth_samples()["run"] == pytest.approx(890_000 / 710_000)  # 1.25: "leak"
    growth = t.rss_growth()
    assert growth["run"] == pytest.approx(1.0, abs=0.02)
    assert growth["worker"] == 1.0


@pytest.mark.parametrize("leak", [0.15, 0.30])
def test_a_leak_of_more_than_a_tenth_over_the_run_is_caught(leak: float) -> None:
    # the level grows by ``leak`` of itself over the run, under the same saw
    seconds = 160
    t = _run(_series(seconds, 800_000, 800_000 * leak / seconds))
    growth = t.rss_growth()["run"]
    # the line sees the growth from a quarter to the end: 3/4 of ``leak`` on the level there
    assert growth == pytest.approx((1 + leak) / (1 + leak / 4), abs=0.02)
    assert growth > 1.1


def test_too_short_a_run_has_no_figure() -> None:
    t = _run(_series(5, 800_000, 0.0))
    assert t.rss_growth() == {"run": None, "worker": None}
    assert t.rss_growth_samples() == {"run": None, "worker": None}
