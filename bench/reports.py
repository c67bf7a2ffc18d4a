"""Report latency at scale: synthetic data in a temporary home, every report timed in-process.

    .venv/bin/python -m bench.reports --messages 10000000

Loads ``--messages`` messages shaped like the simulator's output (30 days, 20 subaccounts,
15 countries x 3 operators; per message ~1.1 ``messages`` rows (unmerged versions), ~2.7
``daily_deltas`` rows (a version's contribution, its retraction and the next one) and ~3.3
``message_events`` rows) with ``INSERT ... SELECT FROM numbers()`` into chDB in a temporary
SMSFLOW_HOME, applies the migrations, rolls the closed days up (``sinks.rollup.refresh``) and
prints one line per report, ``report NAME QUERY_SECONDS cpu=CPU_SECONDS`` (medians of
``--repeat`` runs of ``sinks.reports.run_report``, start-up excluded; CPU of the whole process,
chDB's threads included: steadier than wall time on a busy machine), then
``table NAME ROWS BYTES`` (active parts, on disk) and the peak RSS. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sinks.filters import Filters
from sinks.migrate import migrate
from sinks.reports import REPORTS, run_report
from sinks.rollup import refresh
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import load_settings

CHUNK = 1_000_000
DAYS = 30
BASE = "toDateTime64('2024-01-01 00:00:00', 6, 'UTC')"

# one message per number n: its attributes as SQL expressions of n (deterministic)
_ATTRS = f"""
    number AS n,
    lower(leftPad(hex(sipHash64(n)), 16, '0')) AS h,
    lower(leftPad(hex(n), 16, '0')) AS l,
    toUUID(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-4', substring(h, 14, 3),
                  '-8', substring(l, 2, 3), '-', substring(l, 5, 12))) AS umid,
    if(n % 12 = 5, 'INBOUND', 'OUTBOUND') AS direction,
    {BASE} + toIntervalMicrosecond(intDiv(toUInt128(n) * {DAYS * 86_400_000_000},
                                          {{total:UInt64}}))
        AS at,
    toDate(at) AS day,
    concat('SubAccount-', toString(sipHash64(n, 1) % 20)) AS subaccount_id,
    sipHash64(n, 2) % 45 AS co,
    ['SG','MY','ID','TH','PH','VN','IN','GB','DE','FR','US','BR','MX','ZA','AU'][
        intDiv(co, 3) + 1] AS country,
    concat(country, '-Op', toString(co % 3)) AS operator,
    ['HTTP_API', 'SMPP', 'MCS'][sipHash64(n, 3) % 3 + 1] AS origin,
    if(sipHash64(n, 4) % 10 = 0, 'UCS2', 'GSM7') AS encoding,
    if(sipHash64(n, 5) % 10 = 0, concat('campaign-', toString(sipHash64(n, 6) % 200)), '')
        AS campaign_id,
    if(sipHash64(n, 1) % 20 < 4, 'USD', 'EUR') AS currency,
    toUInt16(1 + (sipHash64(n, 7) % 10 = 0)) AS sms_count,
    sipHash64(n, 8) % 100 AS r,
    multiIf(r < 80, 'delivered', r < 87, 'undelivered', r < 90, 'rejected', r < 97, 'sent',
            'queued') AS state,
    concat('65', toString(80000000 + sipHash64(n, 9) % 1000000)) AS phone,
    toDecimal64(0.0421, 8) * sms_count AS price,
    if(state = 'rejected', toDecimal64(0, 8), price) AS cost,
    at + toIntervalMillisecond(500 + sipHash64(n, 10) % 20000) AS sent_time,
    sent_time + toIntervalMillisecond(1000 + sipHash64(n, 11) % 600000) AS final_time
"""

MESSAGES = f"""
INSERT INTO messages (umid, version, direction, has_request, orphan, counted, day,
    subaccount_id, campaign_id, origin, source, destination, encoding, sms_count, country,
    operator, mcc, mnc, verification, state, error_code, error_message, price_total,
    price_per_sms, currency, cost, queued_at, rejected_at, sent_at, delivered_at,
    undelivered_at, first_event_at, receipts, replied, opt_out, flags, reply_count,
    opt_out_count)
SELECT umid, version, direction, true, false, true, day, subaccount_id, campaign_id, origin,
    if(direction = 'INBOUND', phone, 'Brand'), if(direction = 'INBOUND', 'Brand', phone),
    encoding, sms_count, country, operator, '525', toString(co % 3), r % 7 = 0,
    if(version = 1 AND direction = 'OUTBOUND', 'queued', if(direction = 'INBOUND', 'received',
        state)),
    if(state = 'undelivered' AND version > 1, toInt32(r % 5 + 1), NULL),
    multiIf(version = 1, '', state = 'undelivered', concat('error ', toString(r % 5 + 1)),
            state = 'rejected', 'blocked destination', ''),
    if(direction = 'OUTBOUND', price, NULL), if(direction = 'OUTBOUND', toDecimal64(0.0421, 8),
        NULL), currency, if(direction = 'OUTBOUND', cost, toDecimal64(0, 8)),
    if(direction = 'OUTBOUND', at, NULL),
    if(state = 'rejected' AND version > 1, sent_time, NULL),
    if(state IN ('sent', 'delivered', 'undelivered') AND version > 1 AND r % 4 != 0,
       sent_time, NULL),
    if(state = 'delivered' AND version > 1, final_time, NULL),
    if(state = 'undelivered' AND version > 1, final_time, NULL),
    at, toUInt32(version - 1), r % 50 = 0,
    if(direction = 'INBOUND' AND r % 10 = 0, 'STOP', ''), if(r = 99, ['number_unlisted'], []),
    if(direction = 'OUTBOUND' AND r % 50 = 0, toUInt32(1 + sipHash64(n, 12) % 3), 0),
    if(direction = 'OUTBOUND' AND r % 50 = 0 AND sipHash64(n, 13) % 10 = 0, 1, 0)
FROM (SELECT {_ATTRS} FROM numbers({{start:UInt64}}, {{count:UInt64}}))
ARRAY JOIN if(n % 10 = 0 AND direction = 'OUTBOUND', [1, 2], [2]) AS version
"""

# a version's contribution (+1), the retraction of the previous one (-1) and the new one
DELTAS = f"""
INSERT INTO daily_deltas (day, subaccount_id, country, operator, origin, encoding, campaign_id,
    currency, umid, version, total, received, sent, delivered, undelivered, rejected,
    chargeable, segments, verification_sent, replies, inbound, cost, event_at, hour)
SELECT day, subaccount_id, country, operator, origin, encoding, campaign_id,
    if(final, currency, ''), umid, toUInt64(if(final OR sign < 0, 2, 1)) AS version,
    sign * (direction = 'OUTBOUND') AS total,
    sign * (direction = 'OUTBOUND' AND NOT final) AS received,
    sign * (final AND direction = 'OUTBOUND' AND state IN ('sent', 'delivered', 'undelivered'))
        AS sent,
    sign * (final AND direction = 'OUTBOUND' AND state = 'delivered') AS delivered,
    sign * (final AND direction = 'OUTBOUND' AND state = 'undelivered') AS undelivered,
    sign * (final AND direction = 'OUTBOUND' AND state = 'rejected') AS rejected,
    sign * (direction = 'OUTBOUND' AND state != 'rejected') AS chargeable,
    sign * sms_count * (direction = 'OUTBOUND') AS segments,
    sign * (direction = 'OUTBOUND' AND r % 7 = 0) AS verification_sent,
    sign * (direction = 'INBOUND') AS replies,
    sign * (direction = 'INBOUND') AS inbound,
    if(final AND direction = 'OUTBOUND', sign * cost, toDecimal64(0, 8)),
    if(final, final_time, at), toHour(at)
FROM (SELECT {_ATTRS} FROM numbers({{start:UInt64}}, {{count:UInt64}}))
ARRAY JOIN
    if(direction = 'OUTBOUND' AND r < 90, [1, -1, 1], [1]) AS sign,
    if(direction = 'OUTBOUND' AND r < 90, [false, false, true], [true]) AS final
"""

EVENTS = f"""
INSERT INTO message_events (umid, topic, partition, offset, kind, event_at, subaccount_id,
    state, error_code, error_message, payload, kafka_timestamp)
SELECT umid, ['requests', 'receipts', 'receipts', 'receipts'][k], toUInt16(n % 6),
    n * 4 + k, ['SendRequest', 'StatusReceipt', 'StatusReceipt', 'StatusReceipt'][k],
    at + toIntervalMillisecond(k * 900), subaccount_id, if(k = 1, 'queued', state), NULL, '',
    concat('{{"umid":"', toString(umid), '","state":"', state, '","subAccountId":"',
           subaccount_id, '","destination":"', phone, '"}}'),
    toDateTime64(at, 3, 'UTC')
FROM (SELECT {_ATTRS} FROM numbers({{start:UInt64}}, {{count:UInt64}}))
ARRAY JOIN range(1, toUInt8(if(n % 10 < 3, 5, 4))) AS k
"""

TABLES = ("messages", "daily_deltas", "daily_rollup", "message_events")


def load(ch: ClickHouse, total: int) -> dict[str, float]:
    """Insert ``total`` synthetic messages; seconds spent per table (progress on stderr)."""
    spent = dict.fromkeys(("messages", "daily_deltas", "message_events"), 0.0)
    t0 = time.perf_counter()
    for start in range(0, total, CHUNK):
        if start:
            print(f"loaded {start:,} of {total:,} messages "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        params = {"start": start, "count": min(CHUNK, total - start), "total": total}
        for table, sql in (("messages", MESSAGES), ("daily_deltas", DELTAS),
                           ("message_events", EVENTS)):
            t0 = time.perf_counter()
            ch.command(sql, params)
            spent[table] += time.perf_counter() - t0
    return spent


def time_reports(
    ch: ClickHouse, repeat: int, filters: Filters, names: list[str]
) -> dict[str, tuple[float, float]]:
    """Median wall seconds and median CPU seconds (every thread of this process: chDB runs
    in it) of each report."""
    umid = str(ch.query("SELECT umid FROM messages LIMIT 1").scalar())
    out = {}
    for name in names:
        f = Filters(**{**filters.__dict__, "umid": umid}) if name in (
            "message", "timeline") else filters
        wall, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            run_report(ch, name, f)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[name] = (statistics.median(wall), statistics.median(cpu))
    return out


def table_sizes(ch: ClickHouse) -> list[tuple[str, int, int]]:
    res = ch.query(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts "
        "WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table"
    )
    return [(t, int(r), int(b)) for t, r, b in res.rows]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000, help="messages to load")
    ap.add_argument("--repeat", type=int, default=3, help="runs per report (median printed)")
    ap.add_argument("--subaccount", default="SubAccount-3",
                    help="also time every report filtered to it ('' skips that pass)")
    ap.add_argument("--reports", default=",".join(REPORTS),
                    help="comma-separated reports to time (default: all)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="use (and keep) this SMSFLOW_HOME; load only when it is empty")
    args = ap.parse_args()
    names = [n for n in args.reports.split(",") if n]
    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-reports-"))
    os.environ["SMSFLOW_HOME"] = str(home)
    settings = load_settings()
    ch = connect(settings)
    migrate(ch)
    if not ch.query("SELECT count() FROM messages").scalar():
        t0 = time.perf_counter()
        spent = load(ch, args.messages)
        print(f"load {args.messages} messages {time.perf_counter() - t0:.1f} s "
              + " ".join(f"{k}={v:.1f}s" for k, v in spent.items()), flush=True)
    t0 = time.perf_counter()
    rolled = refresh(ch, settings.rollup_open_days, settings.rollup_open_hours)
    print(f"rollup refresh {time.perf_counter() - t0:.2f} s (through {rolled})", flush=True)
    for name, (seconds, cpu) in time_reports(ch, args.repeat, Filters(), names).items():
        print(f"report {name} {seconds:.3f} cpu={cpu:.3f}", flush=True)
    if args.subaccount:
        filtered = Filters(subaccount=args.subaccount)
        for name, (seconds, cpu) in time_reports(ch, args.repeat, filtered, names).items():
            print(f"report {name}[subaccount] {seconds:.3f} cpu={cpu:.3f}", flush=True)
    for table, rows, size in table_sizes(ch):
        print(f"table {table} {rows} {size}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    if args.keep is None:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"home {home}")


if __name__ == "__main__":
    main()
