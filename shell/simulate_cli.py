"""``smsflow simulate``: realistic SMS traffic with its ground truth, to files and/or Kafka."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer
from rich.console import Console

from smsflow.errors import ConfigError

__all__ = ["register"]

err = Console(stderr=True)


def simulate_command(
    messages: int = typer.Option(10_000, "--messages", "-n", help="Outbound messages."),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed: same seed, same bytes."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for events + truth."),
    days: int = typer.Option(3, "--days", help="Days of traffic (ending on a seed-fixed day)."),
    produce: bool = typer.Option(False, "--produce", help="Also produce every event to Kafka."),
    bad_records: int = typer.Option(
        0, "--bad-records", help="Invalid records appended per input kind (dead-letter tests)."
    ),
    smpp_control: int | None = typer.Option(
        None, "--smpp-control", metavar="PORT",
        help="With --produce: MO and receipts (--smpp-share) go over SMPP via the test SMSC "
        "(smsflow smsc) with this control port, to the bound smsflow smpp bridge.",
    ),
    smpp_share: float = typer.Option(
        1.0, "--smpp-share",
        help="With --smpp-control: share of receipts sent over SMPP (per receipt, from the "
        "seed; the truth follows what SMPP carries), the others to Kafka.",
    ),
    unlisted_share: float = typer.Option(
        0.0, "--unlisted-share",
        help="Share of destinations in ranges libphonenumber does not list (kept, flagged).",
    ),
    incident: list[str] = typer.Option(
        [], "--incident", help="KIND:CC/OPERATOR@H+K (or KIND:CC@H+K), repeatable: collapse, "
        "latency or errors for K hours from hour H (e.g. collapse:DE/Vodafone@36+2).",
    ),
    countries: str = typer.Option(
        "", "--countries", help="Only these destination countries (e.g. DE,GB)."
    ),
) -> None:
    """Generate traffic over several days and the exact analytics it must produce.

    Writes OUT/events/<kind>.jsonl (delivery order), OUT/truth.json, OUT/messages.jsonl and
    OUT/inbound.jsonl; with --produce also sends every event to the input topics (key = umid),
    with --smpp-control MO and a share of the receipts as deliver_sm through the test SMSC
    instead (the truth follows the receipts' channel; an SMPP MO's time is its arrival).
    Fails with a one-line error for bad options, an unwritable OUT or an unreachable broker.
    """
    from simulator.simulation import SimConfig, produce_events, simulate, write_simulation
    from smsflow.config import load_settings

    if out is None and not produce:
        raise ConfigError("nothing to do: give --out DIR and/or --produce")
    settings = load_settings() if produce else None
    from simulator.incidents import parse_incident

    config = SimConfig(messages=messages, seed=seed, days=days, bad_records=bad_records,
                       unlisted_share=unlisted_share,
                       smpp_receipt_share=smpp_share if smpp_control is not None else 0.0,
                       incidents=tuple(parse_incident(i) for i in incident),
                       countries=tuple(c.strip().upper() for c in countries.split(",")
                                       if c.strip()))
    t0 = time.monotonic()
    sim = simulate(config, progress=True)
    t_gen = time.monotonic() - t0
    counts = sim.counts()
    dash = sim.truth["dashboard"]
    err.print(
        f"simulated {messages} messages over {days} days "
        f"({config.first_day} .. {config.last_day}) in {t_gen:.1f}s: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    cost = ", ".join(f"{v} {c}" for c, v in dash["cost"].items()) or "0"
    err.print(
        f"truth: total {dash['total']}, delivered {dash['delivered']} "
        f"({dash['delivery_rate']}%), cost {cost}, orphans {sim.truth['orphans']}, "
        f"invalid {sum(sim.truth['invalid'].values())}"
    )
    if out is not None:
        t1 = time.monotonic()
        write_simulation(sim, out, progress=True)
        err.print(f"wrote {out}/events, truth.json, messages.jsonl in {time.monotonic() - t1:.1f}s")
    if settings is not None:
        t2 = time.monotonic()
        from simulator.smpp import deliver_specs, mo_spec

        def by_smpp(i: int, kind: str) -> bool:
            return smpp_control is not None and (i in sim.smpp or kind == "inbound")

        direct = [e for i, e in enumerate(sim.events) if not by_smpp(i, e[0])]
        produced = asyncio.run(produce_events(settings, direct, bad=sim.bad, progress=True))
        if smpp_control is not None:
            specs = [(k, sim.smpp[i] if i in sim.smpp else mo_spec(rec))
                     for i, (k, _, rec) in enumerate(sim.events) if by_smpp(i, k)]
            over = asyncio.run(deliver_specs(smpp_control, specs))
            produced.update({f"{k} (SMPP)": v for k, v in over.items()})
        err.print(
            f"produced {sum(produced.values())} records to {settings.kafka_bootstrap} in "
            f"{time.monotonic() - t2:.1f}s: " + ", ".join(f"{k} {v}" for k, v in produced.items())
        )


def register(app: typer.Typer) -> None:
    """Add ``smsflow simulate`` to the root CLI."""
    app.command("simulate")(simulate_command)
