"""Micro-benchmark: our own per-record code, the worker's (decode / + apply / + MessageState
encode) and the sink's (records -> rows).

    .venv/bin/python -m bench.codec                          # this tree, encoder A/B
    git worktree add /tmp/base 2aa825e
    .venv/bin/python -m bench.codec --baseline /tmp/base     # old tree vs this one

A simulation's input records (``--messages``, all kinds, every fault) are encoded as the
producers do, then run through the umid agent's pure steps in a loop, without Kafka or Faust:
``codec.decode_as`` -> ``streams.state.apply`` (a dict as the table) -> the ``messages``
table's value serializer (``streams.faust_codecs`` ``smsflow-state``). Figures are CPU microseconds
per input event (process time, the best of ``--repeat`` loops over all events; each step
timed on its own with the previous step's output as input; ``encode/version`` per state
written). ``sink/record``: the sink's ``_Sink.take`` over the input records and the
MessageState records of that run (Kafka records as the consumer gives them), then its
``messages`` rows (``_Sink._message_rows``), per record: what the sink's consumer loop spends
besides aiokafka and ClickHouse. Each measurement runs in a subprocess with ``PYTHONPATH``
set to the tree measured; the arms alternate (A B, B A, ...) ``--rounds`` times so that both
see the same load. Without ``--baseline`` arm A is this tree with fastavro writing
MessageState (the path the generated writer replaced). Prints figures and ratios; asserts
nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("decode", "apply", "encode", "total", "encode/version", "sink/record")


def measure(messages: int, seed: int, repeat: int, fastavro_only: bool) -> dict[str, float]:
    """us/event of each step with the code importable here (run in the measured tree)."""
    from schemas import get_codec
    try:  # an older tree's own simulator first (`simulator` would be this tree's, installed)
        from producers.simulator import (  # type: ignore[import-not-found]
            SCHEMA_OF,
            SimConfig,
            simulate,
        )
    except ImportError:  # the simulator package (issue 22)
        from simulator.simulation import SCHEMA_OF, SimConfig, simulate
    import streams

    # the measured tree's Faust codecs (streams/codec.py before issue 22), chosen by file: the
    # installed tree's finder would supply a module the measured tree lacks
    here = Path(streams.__file__).parent
    state_codec = importlib.import_module(
        "streams.faust_codecs" if (here / "faust_codecs.py").exists() else "streams.codec")
    from streams.state import apply

    try:
        from smsflow.input_kinds import BY_NAME
        kinds = {name: k.event for name, k in BY_NAME.items()}
    except ImportError:  # a tree from before the registry (A/B against an older commit)
        from streams.agents import INPUT_KINDS  # type: ignore[attr-defined]
        kinds = {attr: kind for attr, (kind, _) in INPUT_KINDS.items()}

    print(f"measuring {state_codec.__file__}", file=sys.stderr)
    codec = get_codec(None)
    if fastavro_only:
        import schemas.codec

        schemas.codec._compiled = lambda name: None  # type: ignore[attr-defined]
    dumps = state_codec._StateCodec(codec)._dumps
    events = [(kinds[topic], SCHEMA_OF[topic], codec.encode(SCHEMA_OF[topic], record))
              for topic, _, record in simulate(SimConfig(messages=messages, seed=seed)).events]

    n = len(events)

    def timed(fn: Any, items: list[Any]) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            fn(items)
            best = min(best, time.process_time() - t0)
        return best * 1e6

    def decode_all(items: list[tuple[str, str, bytes]]) -> None:
        for _, schema, data in items:
            codec.decode_as(schema, data)

    decoded = []
    for kind, schema, data in events:
        record = codec.decode_as(schema, data)
        decoded.append((kind, {**record, "distinct_clicks": 1} if kind == "click" else record))
    states: list[dict[str, Any]] = []

    def apply_all(items: list[tuple[str, dict[str, Any]]]) -> None:
        table: dict[str, Any] = {}
        states.clear()
        for kind, record in items:
            umid = record["umid"]
            new = apply(table.get(umid), kind, record)
            if new is not None:
                table[umid] = new
                states.append(new)

    def encode_all(items: list[dict[str, Any]]) -> None:
        for state in items:
            dumps(state)

    dec, app = timed(decode_all, events) / n, timed(apply_all, decoded) / n
    enc = timed(encode_all, states)
    records = _sink_records(events, [dumps(state) for state in states])
    sinks = iter([_new_sink() for _ in range(repeat)])  # built outside the timed loop
    sink = timed(lambda rs: _sink_all(next(sinks), rs), records) / len(records)
    return {"decode": dec, "apply": app, "encode": enc / n, "total": dec + app + enc / n,
            "encode/version": enc / len(states), "events": float(n), "sink/record": sink}


class _Record(NamedTuple):
    """What the sink reads of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int


def _sink_records(events: list[tuple[str, str, bytes]], states: list[bytes]) -> list[_Record]:
    """The sink's input: every input record on its topic, then every MessageState record."""
    from sinks.rows import routes
    from smsflow.config import load_settings

    by_schema = {r.schema: topic for topic, r in routes(load_settings()).items()}
    items = [*((schema, data) for _, schema, data in events),
             *(("MessageState", data) for data in states)]
    return [_Record(by_schema[schema], 0, i, b"", data, 1_700_000_000_000)
            for i, (schema, data) in enumerate(items)]


def _new_sink() -> Any:
    """A sink without ClickHouse: its consumer loop's per-record code only."""
    import asyncio

    from sinks.sink import _Sink
    from smsflow.config import load_settings

    return _Sink(load_settings(), None, asyncio.Event())  # type: ignore[arg-type]


def _sink_all(sink: Any, records: list[_Record]) -> None:
    for record in records:
        sink.take(record)
    sink._message_rows(sink.lanes["state"].batch)


def _run_arm(tree: Path, args: argparse.Namespace, fastavro_only: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", "--messages",
           str(args.messages), "--seed", str(args.seed), "--repeat", str(args.repeat)]
    if fastavro_only:
        cmd.append("--fastavro-only")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=tree)
    measured = out.stderr.split("measuring ", 1)[-1].split()[0]
    if not measured.startswith(str(tree)):
        raise SystemExit(f"error: measured {measured}, not the tree {tree}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec",
        description="CPU us per event of decode / apply / MessageState encode, A/B.")
    parser.add_argument("--messages", type=int, default=3000,
                        help="simulated messages (default 3000)")
    parser.add_argument("--seed", type=int, default=3, help="simulation seed (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="A/B pairs, alternating order (default 3)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="loops per step in one measurement, best kept (default 5)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="source tree of the old code (a git worktree); default: this "
                             "tree with fastavro writing MessageState")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fastavro-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # run as a script: its folder (bench/, with a streams.py) must not
        # shadow the measured tree's packages, which come from PYTHONPATH
        here = Path(__file__).resolve().parent
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
        print(json.dumps(measure(args.messages, args.seed, args.repeat, args.fastavro_only)))
        return 0
    if args.baseline is not None and not (args.baseline / "streams" / "state.py").exists():
        parser.error(f"--baseline {args.baseline}: not a smsflow source tree")
    old_tree = args.baseline or ROOT
    label_a = f"A {args.baseline}" if args.baseline else "A fastavro"
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    for i in range(args.rounds):
        for arm in ("AB" if i % 2 == 0 else "BA"):
            if arm == "A":
                runs["A"].append(_run_arm(old_tree, args, fastavro_only=args.baseline is None))
            else:
                runs["B"].append(_run_arm(ROOT, args, fastavro_only=False))
    events = int(runs["B"][0]["events"])
    print(f"{events} input events of {args.messages} messages, {args.rounds} rounds; "
          "CPU us/event, best / median")
    print(f"{'step':<14} {label_a[:22]:>22} {'B this tree':>22} {'B/A':>6}")
    for step in STEPS:
        a = [r[step] for r in runs["A"]]
        b = [r[step] for r in runs["B"]]
        print(f"{step:<14} {min(a):>10.1f} / {statistics.median(a):>9.1f} "
              f"{min(b):>10.1f} / {statistics.median(b):>9.1f} "
              f"{statistics.median(b) / statistics.median(a):>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
