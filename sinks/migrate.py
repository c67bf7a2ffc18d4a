"""Versioned, idempotent DDL migrations (``sinks/migrations/NNNN_name.sql``).

Applied versions are recorded in the ``schema_migrations`` table. Running :func:`migrate`
again applies only what is missing; every statement is itself idempotent (``IF NOT EXISTS``),
so a migration interrupted half-way is simply re-run. A failing statement raises
:class:`~smsflow.errors.ClickHouseError` naming the migration; nothing is recorded for it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sinks.cluster_ddl import cluster_statements
from smsflow.clickhouse import ClickHouse
from smsflow.errors import ClickHouseError

__all__ = [
    "Migration", "applied_versions", "available", "canonical_sql", "migrate",
    "planned_statements", "split_statements",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version     UInt32,
    name        String,
    applied_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version number, name and SQL statements."""

    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text())


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: separated by lines holding only ``;``; comments dropped."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.strip() == ";":
            stmt = "\n".join(current).strip()
            if stmt:
                out.append(stmt)
            current = []
        elif not line.lstrip().startswith("--"):
            current.append(line)
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return out


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files in version order; a badly named ``.sql`` file is an error."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ClickHouseError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ClickHouseError(f"two migrations share a version number in {directory}")
    return found


def canonical_sql(ch: ClickHouse, statement: str) -> str:
    """The engine's one-line form of ``statement`` (parsed, not run)."""
    return str(ch.query(  # hex: no escaping rules of parameter values to get wrong
        "SELECT formatQuerySingleLine(unhex({q:String}))", {"q": statement.encode().hex()}
    ).scalar())


def planned_statements(ch: ClickHouse, statement: str, cluster: str | None) -> list[str]:
    """``statement`` as it runs: itself on one node, rewritten ON CLUSTER in cluster mode."""
    if not cluster:
        return [statement]
    return cluster_statements(statement, cluster, ch.database, lambda s: canonical_sql(ch, s))


def applied_versions(ch: ClickHouse, cluster: str | None = None) -> dict[int, dt.datetime]:
    """Applied migration versions with their time (creates the ledger table if missing)."""
    for stmt in planned_statements(ch, _LEDGER, cluster):
        ch.command(stmt)
    res = ch.query("SELECT version, applied_at FROM schema_migrations FINAL ORDER BY version")
    return {int(v): at for v, at in res.rows}


def migrate(
    ch: ClickHouse, directory: Path = MIGRATIONS_DIR, cluster: str | None = None
) -> list[Migration]:
    """Apply the missing migrations in order; return those applied now (empty when current).

    With ``cluster`` (``SMSFLOW_CLICKHOUSE_CLUSTER``) every statement runs ON CLUSTER with
    Replicated engines and Distributed tables (:mod:`sinks.cluster_ddl`).
    """
    done = applied_versions(ch, cluster)
    applied: list[Migration] = []
    for mig in available(directory):
        if mig.version in done:
            continue
        for stmt in (s for st in mig.statements() for s in planned_statements(ch, st, cluster)):
            try:
                ch.command(stmt)
            except ClickHouseError as e:
                raise ClickHouseError(
                    f"migration {mig.version:04d}_{mig.name} failed: {e}", retryable=e.retryable
                ) from e
        ch.insert(
            "schema_migrations",
            [{"version": mig.version, "name": mig.name, "applied_at": dt.datetime.now(dt.UTC)}],
        )
        applied.append(mig)
    return applied
