"""``python -m bench all --messages N``: ceilings and smsflow end to end (see bench/README.md).

Exits 1 with a one-line error when a measurement fails (the broker and pipeline are stopped).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("all", help="ceilings + smsflow throughput, latency and RSS in one run")
    a.add_argument("--messages", type=int, default=20_000,
                   help="messages of the throughput simulation (default 20000)")
    a.add_argument("--latency-messages", type=int, default=None,
                   help="messages of the paced latency simulation (default messages / 4)")
    a.add_argument("--seed", type=int, default=3, help="simulation seed (default 3)")
    a.add_argument("--days", type=int, default=3,
                   help="days of traffic the throughput simulation spans (default 3); a soak "
                        "longer than SMSFLOW_STATE_RETENTION_HOURS shows the worker's state "
                        "being forgotten")
    a.add_argument("--latency-rate", type=float, default=None,
                   help="events/s of the latency run (default: half the measured end-to-end "
                        "rate); a fixed rate compares latency across code versions")
    a.add_argument("--sim-times", action="store_true",
                   help="keep the simulations' own times (2024, days of traffic in seconds) "
                        "instead of times near the wall clock")
    a.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be >= 1")
    if args.latency_rate is not None and args.latency_rate <= 0:
        parser.error("--latency-rate must be > 0")
    if not 1 <= args.days <= 366:
        parser.error("--days must be between 1 and 366")
    from bench.all import run_all

    try:
        run_all(args.messages, args.seed, args.latency_messages or max(500, args.messages // 4),
                keep=args.keep, latency_rate=args.latency_rate, days=args.days,
                sim_times=args.sim_times)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as e:
        print(f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
