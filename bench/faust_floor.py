"""The framework's own floor: a Faust agent that only decodes the input records.

``python -m bench.faust_floor --events N --out FILE`` (run as a subprocess by ``bench all``,
settings from ``SMSFLOW_*`` like the worker) starts an app made by
:func:`streams.app.create_app` - the worker's consumer, producer, buffer and commit settings,
uvloop - under its own consumer group, with one agent over the six input topics that decodes
every record with ``schemas.get_codec`` (``stream.events()``, like the umid agent) and does
nothing else: no table, no sends. When ``N`` records were decoded it writes the seconds from
the first record to the N-th to ``FILE`` and the process stops. smsflow's worker cannot be
faster than this on the same machine; the gap to the aiokafka ceiling is Faust's per-event path.
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from schemas import get_codec
from smsflow.config import load_settings
from streams.app import LOGGING_CONFIG, WorkerOptions, create_app

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faust_floor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True, help="records to decode")
    parser.add_argument("--out", type=Path, required=True, help="file for the seconds taken")
    args = parser.parse_args(argv)
    import faust

    settings = load_settings()
    codec = get_codec(settings)
    logging.config.dictConfig(LOGGING_CONFIG)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    datadir = Path(tempfile.mkdtemp(prefix="smsflow-faust-floor-"))
    app = create_app(settings, WorkerOptions(datadir=datadir),
                     app_id=f"{settings.topic_prefix}faust-floor-{int(time.time())}")
    topic = app.topic(*settings.topics.inputs(), key_serializer="raw", value_serializer="raw")
    seen, started = 0, 0.0

    @app.agent(topic, concurrency=1)
    async def decode_only(stream: Any) -> None:
        nonlocal seen, started
        async for event in stream.events():
            if seen == 0:
                started = time.perf_counter()
            codec.decode(event.message.value)
            seen += 1
            if seen == args.events:
                # written whole, then renamed: the parent polls for the file and reads it at once
                part = args.out.with_suffix(".part")
                part.write_text(f"{time.perf_counter() - started:.6f}\n")
                part.replace(args.out)

    del decode_only
    faust.Worker(app, loglevel="WARNING", loop=loop, logging_config=LOGGING_CONFIG,
                 redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
