"""Analyst SQL (``/api/sql``, ``smsflow sql``, the dashboard): read-only, enforced by the engine.

Every statement runs under ClickHouse's ``readonly=1`` applied by our side
(:meth:`~smsflow.clickhouse.ClickHouse.query` with ``read_only=True``: a chDB connection of its
own whose session has it, or a URL setting of the request to a server), so the text can neither
change data or schema nor lift the setting (``SETTINGS readonly=0`` and ``SET`` are refused).

``readonly`` leaves gaps, found with chDB 26.9: the scalar ``file('/etc/passwd')`` reads files,
``INTO OUTFILE`` writes them (chDB writes it in our process), ``SYSTEM STOP MERGES`` and
``KILL QUERY`` run. So the statement is first parsed by the engine
itself: ``formatQuerySingleLine`` (the text passed hex-encoded as a parameter, never spliced)
refuses syntax errors and several statements and returns the one statement without comments; its
``EXPLAIN AST`` must be a SELECT, SHOW, DESCRIBE or EXISTS without ``INTO OUTFILE`` or
``FORMAT``, and name no function that is one of the engine's table functions
(``system.table_functions``) other than the few that only compute (:data:`SAFE_TABLE_FUNCTIONS`).
The query that runs is the engine's own formatting of the statement.

Our own report SQL (dashboard, ``/api/reports``) runs read-only too, through :class:`ReadOnly`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from smsflow.clickhouse import ClickHouse, Result
from smsflow.errors import ValidationError

__all__ = ["SAFE_TABLE_FUNCTIONS", "ReadOnly", "check_statement", "run_read_only"]

# table functions that read nothing outside the database (scalar ``format`` shares a name)
SAFE_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateseries",
    "generaterandom", "values", "view", "merge", "null", "format",
})
_STATEMENTS = {
    "SelectWithUnionQuery": "SELECT",
    "ShowTables": "SHOW TABLES",
    "DescribeQuery": "DESCRIBE",
    "ExistsTableQuery": "EXISTS",
    "ShowCreateTableQuery": "SHOW CREATE TABLE",
}
_FUNCTION = re.compile(r"^\s*Function (\S+)")
_KIND = re.compile(r"^(\S+)")
_TOP = re.compile(r"^ \S")  # a child of the statement's root node


def check_statement(ast: list[str], table_functions: frozenset[str]) -> None:
    """Refuse what ``EXPLAIN AST`` lines show beyond a read-only query (ValidationError)."""
    m = _KIND.match(ast[0]) if ast else None
    root = m.group(1) if m else "?"
    if root not in _STATEMENTS:
        raise ValidationError(
            f"only read-only queries are allowed here ({', '.join(_STATEMENTS.values())}); "
            f"got {root}. Change the schema with `smsflow db`."
        )
    top = [line.strip() for line in ast[1:] if _TOP.match(line)]
    if any(t.startswith("Literal ") for t in top):
        raise ValidationError("INTO OUTFILE is not allowed here")
    if root == "SelectWithUnionQuery" and any(t.startswith("Identifier ") for t in top):
        raise ValidationError("FORMAT is not allowed here (smsflow chooses the output format)")
    denied = table_functions - SAFE_TABLE_FUNCTIONS
    for line in ast:
        f = _FUNCTION.match(line)
        if f and f.group(1).lower() in denied:
            raise ValidationError(
                f"function {f.group(1)}() reaches files, the network or the host; "
                "not allowed here"
            )


_TABLE_FUNCTIONS: dict[str, frozenset[str]] = {}  # per backend type: the engine's list


def _table_functions(ch: ClickHouse) -> frozenset[str]:
    key = type(ch).__name__
    if key not in _TABLE_FUNCTIONS:
        res = ch.query("SELECT name FROM system.table_functions", read_only=True)
        _TABLE_FUNCTIONS[key] = frozenset(str(r[0]).lower() for r in res.rows)
    return _TABLE_FUNCTIONS[key]


def run_read_only(ch: ClickHouse, text: str) -> Result:
    """Rows of one analyst statement, run read-only; refusals raise ValidationError."""
    if not text.strip():
        raise ValidationError("empty SQL")
    canonical = ch.query(  # hex: no escaping rules of parameter values to get wrong
        "SELECT formatQuerySingleLine(unhex({q:String}))", {"q": text.encode().hex()},
        read_only=True,
    ).scalar()
    explained = ch.query(f"EXPLAIN AST {canonical}", read_only=True)
    check_statement([str(r[0]) for r in explained.rows], _table_functions(ch))
    return ch.query(str(canonical), read_only=True)


class ReadOnly:
    """A :class:`ClickHouse` whose queries all run under ``readonly=1`` and that cannot write."""

    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch
        self.database = ch.database

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        raise ValidationError("this connection is read-only; change the schema with `smsflow db`")

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True
    ) -> Result:
        return self.ch.query(sql, params, read_only=True)

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, dedup_token: str | None = None
    ) -> None:
        raise ValidationError("this connection is read-only")

    def close(self) -> None:
        """The wrapped connection belongs to whoever opened it."""
