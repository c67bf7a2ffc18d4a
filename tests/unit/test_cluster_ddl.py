"""ClickHouse cluster mode: every migration statement, rewritten ON CLUSTER, is parsed by the
engine (chDB's formatQuery and EXPLAIN AST). No ClickHouse server or cluster runs here, so this
checks the DDL's syntax and shape, not its execution (README, "Scale-out")."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sinks.cluster_ddl import cluster_statements, split_top_level
from sinks.migrate import _LEDGER, available, canonical_sql, planned_statements
from sinks.reports import REPORTS
from smsflow.clickhouse import ClickHouse
from smsflow.errors import ClickHouseError

CLUSTER = "analytics"


def _ast(ch: ClickHouse, stmt: str) -> list[str]:
    formatted = str(ch.query(
        "SELECT formatQuery(unhex({q:String}))", {"q": stmt.encode().hex()}
    ).scalar())
    assert formatted.strip()
    return [str(r[0]) for r in ch.query(f"EXPLAIN AST {stmt}").rows]


def _sorting_key(create_local: str) -> list[str]:
    m = re.search(r" ORDER BY (\((.*?)\)|(\w+))( |$)", create_local)
    assert m, create_local
    return split_top_level(m.group(2)) if m.group(2) else [m.group(3)]


def test_every_migration_statement_rewritten_and_parsed(clickhouse: ClickHouse) -> None:
    statements = [st for m in available() for st in m.statements()] + [_LEDGER]
    created: dict[str, str] = {}
    distributed: dict[str, str] = {}
    parsed = 0
    for original in statements:
        rewritten = planned_statements(clickhouse, original, CLUSTER)
        assert rewritten
        if rewritten[0].startswith("INSERT INTO "):  # run once, on the Distributed tables
            assert rewritten == [canonical_sql(clickhouse, original)]
            _ast(clickhouse, rewritten[0])
            continue
        assert rewritten != [original]
        for stmt in rewritten:
            ast = _ast(clickhouse, stmt)
            parsed += 1
            assert f"ON CLUSTER {CLUSTER}" in stmt, stmt
            if stmt.startswith("CREATE MATERIALIZED VIEW"):  # local tables on each replica
                assert re.search(r" TO \w+_local AS ", stmt), stmt
                assert not re.search(r"FROM (?!\w+_local\b)", stmt), stmt
            assert not ast[0].startswith("Select"), ast[:2]
            if m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)_local ", stmt):
                assert "ENGINE = Replicated" in stmt and "'{replica}'" in stmt, stmt[-300:]
                assert "non_replicated_deduplication_window" not in stmt
                created[m.group(1)] = stmt
            elif m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER", stmt):
                assert f"AS {m.group(1)}_local ENGINE = Distributed({CLUSTER}, " in stmt, stmt
                distributed[m.group(1)] = stmt
        if original.startswith("EXCHANGE TABLES"):  # the data of the local tables
            assert re.fullmatch(rf"EXCHANGE TABLES \w+_local AND \w+_local ON CLUSTER {CLUSTER}",
                                rewritten[0]) and len(rewritten) == 1, rewritten
        elif " (MODIFY QUERY " in canonical_sql(clickhouse, original):  # a view: no _local
            [stmt] = rewritten
            assert not re.search(r"FROM (?!\w+_local\b)", stmt), stmt
        elif m := re.match(r"ALTER TABLE (\w+) ", canonical_sql(clickhouse, original)):
            assert [st.split(" ON CLUSTER")[0] for st in rewritten] == [
                f"ALTER TABLE {m.group(1)}_local", f"ALTER TABLE {m.group(1)}"
            ], rewritten
    assert parsed >= 2 * len(created) > 0
    assert set(created) == set(distributed) >= {"messages", "daily_deltas", "message_events"}
    for table, stmt in distributed.items():
        shard = re.search(r"cityHash64\((.*)\)\)$", stmt)
        assert shard, stmt
        key = _sorting_key(created[table])
        # one identity's rows meet on one shard: the sharding key is part of the sorting key
        assert set(split_top_level(shard.group(1))) <= set(key), (table, shard.group(1), key)
        if "umid" in key:
            assert shard.group(1) == "umid", table


def test_alter_column_goes_to_both_tables(clickhouse: ClickHouse) -> None:
    out = cluster_statements(
        "ALTER TABLE messages ADD COLUMN IF NOT EXISTS x UInt8, MODIFY TTL day + INTERVAL 1 DAY",
        CLUSTER, "smsflow", lambda s: canonical_sql(clickhouse, s),
    )
    assert out[0].startswith(f"ALTER TABLE messages_local ON CLUSTER {CLUSTER} ADD COLUMN")
    assert "MODIFY TTL" in out[0]
    assert out[1] == f"ALTER TABLE messages ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS `x` UInt8"
    for stmt in out:
        _ast(clickhouse, stmt)


def test_materialized_view_reads_and_writes_the_local_tables(clickhouse: ClickHouse) -> None:
    [out] = cluster_statements(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS f TO t AS SELECT umid FROM messages "
        "WHERE NOT counted OR umid IN (SELECT umid FROM t)", CLUSTER, "smsflow",
        lambda s: canonical_sql(clickhouse, s),
    )
    assert out == (f"CREATE MATERIALIZED VIEW IF NOT EXISTS f ON CLUSTER {CLUSTER} TO t_local "
                   "AS SELECT umid FROM messages_local WHERE (NOT counted) OR (umid IN "
                   "(SELECT umid FROM t_local))")


def test_materialized_view_query_change_reads_the_local_tables(clickhouse: ClickHouse) -> None:
    [out] = cluster_statements(
        "ALTER TABLE f MODIFY QUERY SELECT umid FROM messages "
        "WHERE umid IN (SELECT umid FROM t WHERE umid IN (SELECT umid FROM messages))",
        CLUSTER, "smsflow", lambda s: canonical_sql(clickhouse, s),
    )
    assert out == (f"ALTER TABLE f ON CLUSTER {CLUSTER} MODIFY QUERY SELECT umid FROM "
                   "messages_local WHERE umid IN (SELECT umid FROM t_local WHERE umid IN "
                   "(SELECT umid FROM messages_local))")
    _ast(clickhouse, out)


def test_statement_it_cannot_rewrite_is_refused(clickhouse: ClickHouse) -> None:
    with pytest.raises(ClickHouseError, match="cannot rewrite"):
        cluster_statements(
            "CREATE FUNCTION f AS (x) -> x + 1", CLUSTER, "smsflow",
            lambda s: canonical_sql(clickhouse, s),
        )
    with pytest.raises(ClickHouseError, match="plain names"):
        cluster_statements("DROP TABLE t", "a; DROP", "smsflow", lambda s: s)


# The reports on Distributed tables: chDB reads a cluster definition from config.xml in its
# working directory (once per process, hence a subprocess). The cluster's two shards are
# unreachable addresses, so a query that the engine accepts fails only when it connects: that
# proves the report SQL is analysed and planned against the Distributed tables, not its rows.
_PROBE = r'''
import json, re, sys
from pathlib import Path
from sinks.migrate import available, migrate, planned_statements
from sinks.reports import REPORTS, Filters, run_report
from smsflow.clickhouse import CLUSTER_INSERT_SETTINGS, CLUSTER_QUERY_SETTINGS, ChdbBackend

mode = sys.argv[1]
local = ChdbBackend(Path("data"), "x")  # single-node tables stand in for the shards' <t>_local
migrate(local)
dist = ChdbBackend(Path("data"), "d")
statements = [s for m in available() for s in m.statements()]
# tables a migration builds and drops again (a rebuild with another key): no shard has them
gone = {m.group(1) for s in statements if (m := re.match(r"DROP TABLE IF EXISTS (\w+)", s))}
for st in statements:
    for out in planned_statements(local, st, "analytics"):
        created = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ", out)
        if created and created.group(1) in gone:
            continue
        if " ENGINE = Distributed(" in out or re.match("(CREATE|DROP) VIEW", out):
            out = re.sub(r" AS (\w+)_local ENGINE", r" AS x.\1 ENGINE", out)
            out = re.sub(r"(Distributed\(analytics, x, \w+)_local,", r"\1,", out)
            dist.command(out.replace(" ON CLUSTER analytics", ""))

class Cluster:
    """The report queries as ServerBackend sends them in cluster mode (or without its settings)."""
    database = "d"
    def query(self, sql, params=None, *, read_only=False):
        extra = CLUSTER_QUERY_SETTINGS if mode == "cluster" else {}
        tail = ", ".join(f"{k} = '{v}'" for k, v in extra.items())
        return dist.query(sql + (f"\nSETTINGS {tail}" if tail else ""), params)

out = {}
for name in REPORTS:
    one = name in ("message", "timeline")
    f = Filters(umid="00000000-0000-0000-0000-000000000001") if one else Filters()
    try:
        run_report(Cluster(), name, f)
        out[name] = "ran"
    except Exception as e:
        out[name] = str(e).splitlines()[0][:300]
extra = CLUSTER_INSERT_SETTINGS if mode == "cluster" else {}
tail = ", ".join(f"{k} = {v}" for k, v in extra.items())
try:
    dist.command("INSERT INTO d.clicks (umid, clicked_at, short_url) "
                 + (f"SETTINGS {tail} " if tail else "")
                 + "VALUES ('00000000-0000-0000-0000-000000000001', now64(6), 's.l/x')")
    out["<insert>"] = "queued"
except Exception as e:
    out["<insert>"] = str(e).splitlines()[0][:300]
print(json.dumps(out))
'''


def _probe(tmp_path: Path, mode: str) -> dict[str, str]:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "config.xml").write_text(
        "<clickhouse><remote_servers><analytics>"
        + "".join(f"<shard><replica><host>127.0.0.{i}</host><port>{port}</port></replica>"
                  "</shard>" for i in (1, 2))
        + "</analytics></remote_servers></clickhouse>"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], cwd=tmp_path, capture_output=True, text=True,
        timeout=600, check=False, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


_UNREACHABLE = re.compile(r"All connection tries failed|NETWORK_ERROR|Connection refused")


def test_every_report_is_planned_on_the_distributed_tables(tmp_path: Path) -> None:
    got = _probe(tmp_path, "cluster")
    assert set(got) == {*REPORTS, "<insert>"}
    wrong = {name: err for name, err in got.items() if not _UNREACHABLE.search(err)}
    assert not wrong, wrong  # every report reached the shards: analysed and planned
    # the insert waited for the shards (CLUSTER_INSERT_SETTINGS) instead of being queued


def test_without_the_cluster_settings_reports_are_refused(tmp_path: Path) -> None:
    """The settings are what makes the difference (the default distributed_product_mode)."""
    got = _probe(tmp_path, "plain")
    denied = {name for name, err in got.items() if "Double-distributed" in err}
    assert denied >= {"clicks", "engage"}, got
    assert got["<insert>"] == "queued", got
