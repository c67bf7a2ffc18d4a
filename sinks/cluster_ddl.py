"""ClickHouse cluster mode: the single-node migrations rewritten for ``SMSFLOW_CLICKHOUSE_CLUSTER``.

Every migration statement (whatever numbered files exist) is first put in the engine's
canonical one-line form (``formatQuerySingleLine``), then rewritten:

- ``CREATE TABLE t (...) ENGINE = XMergeTree(args) ...`` becomes
  ``t_local ON CLUSTER c`` with ``ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/
  {table}', '{replica}', args)`` (``non_replicated_deduplication_window`` becomes
  ``replicated_deduplication_window``), plus ``t ON CLUSTER c AS t_local ENGINE =
  Distributed(c, db, t_local, cityHash64(key))``. The sharding key is ``umid`` when the sorting
  key holds it, else the whole sorting key: rows with one identity (a message's versions, an
  event's topic/partition/offset) always land on one shard, so ``FINAL`` there collapses them
  and the report SQL, which names ``t``, runs unchanged on the Distributed tables.
- ``CREATE VIEW`` and ``DROP VIEW`` get ``ON CLUSTER`` (a view reads the Distributed tables).
- ``ALTER TABLE t cmds``: on ``t_local ON CLUSTER``; column commands also on ``t`` (the
  Distributed table must know the columns).
- ``DROP TABLE t``: both tables.
- ``CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s ...``: ``v ON CLUSTER`` writing to
  ``t_local`` and reading every table it names as ``<name>_local``: on each replica it sees the
  blocks inserted into that replica's ``s_local`` (the Distributed insert put them there) and
  its target shares their sharding (both keys hold ``umid``).
- ``ALTER TABLE v MODIFY QUERY SELECT ...`` (a materialized view's new query): ``v ON
  CLUSTER``, reading ``<name>_local`` like its ``CREATE``.
- ``EXCHANGE TABLES a AND b`` (a table rebuilt with another key): the local tables, ``ON
  CLUSTER``; each Distributed table keeps reading the local table of its name, which now holds
  the other data.
- ``INSERT INTO t SELECT ...``: unchanged, run once (it writes and reads the Distributed
  tables).

Anything else raises :class:`~smsflow.errors.ClickHouseError`
naming the statement: cluster mode must be extended before such a migration ships (the unit
test parses every rewritten statement of every migration with the engine).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from smsflow.errors import ClickHouseError

__all__ = ["LOCAL_SUFFIX", "cluster_statements", "split_top_level"]

LOCAL_SUFFIX = "_local"
_CREATE_TABLE = re.compile(
    r"^CREATE TABLE (IF NOT EXISTS )?(`?[\w.]+`?) \((?P<body>.*)\) "
    r"ENGINE = (?P<engine>\w*MergeTree)(?P<rest>.*)$",
    re.S,
)
_CREATE_VIEW = re.compile(r"^CREATE VIEW (IF NOT EXISTS )?(`?[\w.]+`?) (AS .*)$", re.S)
# the canonical form puts the command in parentheses
_MODIFY_QUERY = re.compile(r"^ALTER TABLE (`?[\w.]+`?) \(MODIFY QUERY (.*)\)$", re.S)
_ALTER = re.compile(r"^ALTER TABLE (`?[\w.]+`?) (?P<cmds>.*)$", re.S)
_DROP = re.compile(r"^DROP TABLE (IF EXISTS )?(`?[\w.]+`?)(.*)$", re.S)
_DROP_VIEW = re.compile(r"^DROP VIEW (IF EXISTS )?(`?[\w.]+`?)$", re.S)
_CREATE_MV = re.compile(
    r"^CREATE MATERIALIZED VIEW (IF NOT EXISTS )?(`?[\w.]+`?) TO (`?[\w.]+`?) AS (.*)$", re.S
)
_FROM = re.compile(r"\bFROM (`?)(\w+)\1(?=[\s)]|$)")
_INSERT = re.compile(r"^INSERT INTO ", re.S)
_EXCHANGE = re.compile(r"^EXCHANGE TABLES (`?[\w.]+`?) AND (`?[\w.]+`?)$", re.S)
_COLUMN_CMD = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN ")


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """``(index, character, depth after it)`` of each character of ``text[start:]`` outside
    quotes; the depth counts open parentheses and brackets."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        else:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            yield i, ch, depth
        i += 1


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside parentheses, brackets and quotes (stripped parts)."""
    parts: list[str] = []
    start = 0
    for i, ch, depth in _unquoted(text):
        if ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesised group opening at ``text[start]``."""
    for i, ch, depth in _unquoted(text, start):
        if ch == ")" and depth == 0:
            return i + 1
    raise ClickHouseError(f"unbalanced parentheses in: {text[:120]}")


def _sorting_key(rest: str) -> list[str]:
    m = re.search(r" ORDER BY ", rest)
    if not m:
        raise ClickHouseError("a MergeTree table without ORDER BY cannot be sharded")
    i = m.end()
    if rest[i] == "(":
        return split_top_level(rest[i + 1:_balanced(rest, i) - 1])
    return [rest[i:].split(" ", 1)[0]]


def _unquote(name: str) -> str:
    return name.replace("`", "")


def cluster_statements(
    statement: str, cluster: str, database: str, canonical: Callable[[str], str]
) -> list[str]:
    """The cluster-mode statements for one single-node migration statement.

    ``canonical`` returns the engine's one-line form of a statement (formatQuerySingleLine).
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", cluster) or not re.fullmatch(r"[A-Za-z_]\w*", database):
        raise ClickHouseError(f"cluster and database must be plain names: {cluster!r}, "
                              f"{database!r}")
    text = canonical(statement).strip()
    on = f"ON CLUSTER {cluster}"
    if m := _CREATE_TABLE.match(text):
        ine, name = m.group(1) or "", _unquote(m.group(2))
        local = f"{name}{LOCAL_SUFFIX}"
        rest = m.group("rest")
        args = ""
        if rest.startswith("("):
            end = _balanced(rest, 0)
            args, rest = rest[1:end - 1], rest[end:]
        engine_args = ", ".join(
            ["'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'",
             *split_top_level(args)]
        )
        rest = rest.replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        )
        key = _sorting_key(rest)
        shard = "umid" if "umid" in key else ", ".join(key)
        return [
            f"CREATE TABLE {ine}{local} {on} ({m.group('body')}) "
            f"ENGINE = Replicated{m.group('engine')}({engine_args}){rest}",
            f"CREATE TABLE {ine}{name} {on} AS {local} "
            f"ENGINE = Distributed({cluster}, {database}, {local}, cityHash64({shard}))",
        ]
    if m := _CREATE_VIEW.match(text):
        return [f"CREATE VIEW {m.group(1) or ''}{m.group(2)} {on} {m.group(3)}"]
    if m := _DROP_VIEW.match(text):
        return [f"DROP VIEW {m.group(1) or ''}{m.group(2)} {on}"]
    if m := _CREATE_MV.match(text):
        target = f"{_unquote(m.group(3))}{LOCAL_SUFFIX}"
        select = _FROM.sub(lambda f: f"FROM {f.group(2)}{LOCAL_SUFFIX}", m.group(4))
        return [f"CREATE MATERIALIZED VIEW {m.group(1) or ''}{m.group(2)} {on} TO {target} "
                f"AS {select}"]
    if _INSERT.match(text):
        return [text]
    if m := _EXCHANGE.match(text):  # the data; each Distributed table keeps its local name
        a, b = (f"{_unquote(m.group(i))}{LOCAL_SUFFIX}" for i in (1, 2))
        return [f"EXCHANGE TABLES {a} AND {b} {on}"]
    if m := _MODIFY_QUERY.match(text):  # a materialized view's query, like its CREATE
        select = _FROM.sub(lambda f: f"FROM {f.group(2)}{LOCAL_SUFFIX}", m.group(2))
        return [f"ALTER TABLE {m.group(1)} {on} MODIFY QUERY {select}"]
    if m := _ALTER.match(text):
        name = _unquote(m.group(1))
        commands = [
            c[1:-1].strip() if c.startswith("(") and _balanced(c, 0) == len(c) else c
            for c in split_top_level(m.group("cmds"))
        ]
        out = [f"ALTER TABLE {name}{LOCAL_SUFFIX} {on} {', '.join(commands)}"]
        column = [c for c in commands if _COLUMN_CMD.match(c)]
        if column:
            out.append(f"ALTER TABLE {name} {on} {', '.join(column)}")
        return out
    if m := _DROP.match(text):
        ie, name = m.group(1) or "", _unquote(m.group(2))
        return [f"DROP TABLE {ie}{name} {on}{m.group(3)}",
                f"DROP TABLE {ie}{name}{LOCAL_SUFFIX} {on}{m.group(3)}"]
    raise ClickHouseError(
        f"cluster mode cannot rewrite this migration statement (extend sinks/cluster_ddl.py): "
        f"{text[:160]}"
    )
