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

from smsflow.clickhouse import ClickHouse
from smsflow.errors import ClickHouseError

__all__ = ["Migration", "applied_versions", "available", "migrate", "split_statements"]

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


def applied_versions(ch: ClickHouse) -> dict[int, dt.datetime]:
    """Applied migration versions with their time (creates the ledger table if missing)."""
    ch.command(_LEDGER)
    res = ch.query("SELECT version, applied_at FROM schema_migrations FINAL ORDER BY version")
    return {int(v): at for v, at in res.rows}


def migrate(ch: ClickHouse, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the missing migrations in order; return those applied now (empty when current)."""
    done = applied_versions(ch)
    applied: list[Migration] = []
    for mig in available(directory):
        if mig.version in done:
            continue
        for stmt in mig.statements():
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
