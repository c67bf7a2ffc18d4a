"""ClickHouse cluster mode: every migration statement, rewritten ON CLUSTER, is parsed by the
engine (chDB's formatQuery and EXPLAIN AST). No ClickHouse server or cluster runs here, so this
checks the DDL's syntax and shape, not its execution (README, "Scale-out")."""

from __future__ import annotations

import re

import pytest

from sinks.cluster_ddl import cluster_statements, split_top_level
from sinks.migrate import _LEDGER, available, canonical_sql, planned_statements
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
        assert rewritten and rewritten != [original]
        for stmt in rewritten:
            ast = _ast(clickhouse, stmt)
            parsed += 1
            assert f"ON CLUSTER {CLUSTER}" in stmt, stmt
            assert not ast[0].startswith("Select"), ast[:2]
            if m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)_local ", stmt):
                assert "ENGINE = Replicated" in stmt and "'{replica}'" in stmt, stmt[-300:]
                assert "non_replicated_deduplication_window" not in stmt
                created[m.group(1)] = stmt
            elif m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER", stmt):
                assert f"AS {m.group(1)}_local ENGINE = Distributed({CLUSTER}, " in stmt, stmt
                distributed[m.group(1)] = stmt
        if m := re.match(r"ALTER TABLE (\w+) ", canonical_sql(clickhouse, original)):
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


def test_statement_it_cannot_rewrite_is_refused(clickhouse: ClickHouse) -> None:
    with pytest.raises(ClickHouseError, match="cannot rewrite"):
        cluster_statements(
            "CREATE MATERIALIZED VIEW v TO t AS SELECT 1 AS x", CLUSTER, "smsflow",
            lambda s: canonical_sql(clickhouse, s),
        )
    with pytest.raises(ClickHouseError, match="plain names"):
        cluster_statements("DROP TABLE t", "a; DROP", "smsflow", lambda s: s)
