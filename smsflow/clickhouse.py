"""One small ClickHouse interface with two backends: chDB (embedded, default) and a server.

Both run the same DDL and SQL. Queries take ClickHouse's own ``{name:Type}`` parameters; results
come back as :class:`Result` with Python values (``Decimal`` for Decimal columns, aware UTC
``datetime`` for DateTime64, ``date`` for Date) parsed from the same JSON format on both
backends. Inserts send ``JSONEachRow`` bytes, optionally with an insert deduplication token.

chDB allows one process per data directory: whatever owns it must serve the queries.
Errors raise :class:`~smsflow.errors.ClickHouseError` (``retryable`` when the server is
unreachable, so a sink can back off instead of dropping data).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson

from smsflow.config import Settings
from smsflow.errors import ClickHouseError

__all__ = [
    "CLUSTER_INSERT_SETTINGS",
    "CLUSTER_QUERY_SETTINGS",
    "ChdbBackend",
    "ClickHouse",
    "Result",
    "ServerBackend",
    "close_embedded",
    "connect",
    "encode_rows",
]

_FMT = "JSONCompactEachRowWithNamesAndTypes"
# the read-only chDB session: output settings first, then readonly=1 (which freezes them)
_RO_SESSION = ("SET output_format_json_quote_64bit_integers=0", "SET readonly=1")
READ_ONLY_SETTINGS = {"readonly": 1}


def _engine_message(e: BaseException) -> str:
    """The first line of an engine error, without chDB's repeated ``Code: N. DB::Exception:``."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    return re.sub(r"^(Code: \d+\. DB::Exception: )+", "", text)[:500]


@dataclass(frozen=True)
class Result:
    """Rows of a query with column names and ClickHouse type names."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class ClickHouse(Protocol):
    """What the rest of smsflow needs from ClickHouse."""

    database: str

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, read_only: bool = False
    ) -> Result:
        """Rows of ``sql``; ``read_only`` runs it under ClickHouse's ``readonly=1``."""
        ...

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        dedup_token: str | None = None,
    ) -> None: ...

    def another(self) -> ClickHouse:
        """A connection another thread may use while this one is busy (same database)."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------ encoding
def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    raise TypeError(f"cannot encode {type(v).__name__} for ClickHouse")


def _orjson_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    raise TypeError(f"cannot encode {type(v).__name__} for ClickHouse")


#: how ClickHouse reads the datetimes of :func:`encode_rows` (RFC 3339 with their UTC offset)
#: ``input_format_parallel_parsing`` off: the sink's inserts are small (a batch of at most
#: ``sink_batch_size`` records, per table); splitting their JSON among parser threads only
#: added thread hand-offs, which cost most when the cores are busy (chDB, 2026-12-01:
#: a 20-row insert median 47 -> 27 ms, p90 104 -> 36 ms; 3,000 rows 65 -> 40 ms)
INSERT_SETTINGS = {"date_time_input_format": "best_effort", "input_format_parallel_parsing": 0}
#: with SMSFLOW_CLICKHOUSE_CLUSTER (Distributed tables): a report whose IN/JOIN subquery reads
#: another Distributed table (clicks, engage, logs) is refused under the default
#: distributed_product_mode 'deny' (code 288); 'global' runs such a subquery once on the
#: initiator and ships its result to the shards, right whatever the sharding key
CLUSTER_QUERY_SETTINGS: dict[str, Any] = {"distributed_product_mode": "global"}
#: an insert into a Distributed table returns only when every shard has the rows, so the
#: sink commits offsets after its rows are stored and its deduplication token reaches the
#: shards' Replicated tables (not the background distribution queue)
CLUSTER_INSERT_SETTINGS: dict[str, Any] = {"insert_distributed_sync": 1}


def encode_rows(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as JSONEachRow bytes (Decimal as exact strings, datetimes as RFC 3339 with their
    offset, read with :data:`INSERT_SETTINGS`). orjson, not json with a ``default`` hook: the
    sink's inserts spent 60% of their time here (70 -> 12 us per row, bench.sink rows)."""
    dumps, default = orjson.dumps, _orjson_default
    return b"".join([dumps(r, default=default) + b"\n" for r in rows])


def _strip(t: str, wrapper: str) -> str | None:
    if t.startswith(wrapper + "(") and t.endswith(")"):
        return t[len(wrapper) + 1 : -1]
    return None


def _utc_datetime(v: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(v)).replace(tzinfo=dt.UTC)


def _date(v: Any) -> dt.date:
    return dt.date.fromisoformat(str(v))


def _decimal(v: Any) -> Decimal:
    return v if type(v) is Decimal else Decimal(str(v))


Converter = Callable[[Any], Any] | None  # None: the JSON value as it is


def _converter(t: str) -> Converter:
    """How a JSON value of ClickHouse type ``t`` becomes a Python value (None stays None);
    resolved once per column, not per value: a report's rows spent more time in the type
    dispatch than in the query (1,260 latency rows: 80-86 ms -> 16-18 ms)."""
    for w in ("Nullable", "LowCardinality", "SimpleAggregateFunction"):
        inner = _strip(t, w)
        if inner is not None:
            if w == "SimpleAggregateFunction":
                inner = inner.split(",", 1)[1].strip()
            return _converter(inner)
    inner = _strip(t, "Array")
    if inner is not None:
        item = _converter(inner)
        if item is None:
            return None
        return lambda v: None if v is None else [item(x) for x in v]  # item keeps None
    if t.startswith("Decimal"):
        c: Callable[[Any], Any] = _decimal
    elif t.startswith(("UInt", "Int")):
        c = int
    elif t.startswith("Float"):
        c = float
    elif t.startswith("DateTime"):
        c = _utc_datetime
    elif t in ("Date", "Date32"):
        c = _date
    elif t == "Bool":
        c = bool
    else:
        return None
    return lambda v: None if v is None else c(v)


def parse_result(data: bytes) -> Result:
    """Rows of a ``JSONCompactEachRowWithNamesAndTypes`` answer as Python values (one JSON
    document per line; raw newlines cannot occur inside a JSON string)."""
    lines = [line for line in data.decode().split("\n") if line]
    if len(lines) < 2:
        return Result([], [], [])
    columns = json.loads(lines[0])
    types = json.loads(lines[1])
    raw = json.loads(f"[{','.join(lines[2:])}]", parse_float=Decimal)
    convs = [_converter(t) for t in types]
    rows = [tuple([v if c is None else c(v) for c, v in zip(convs, r, strict=True)])
            for r in raw]
    return Result(columns, types, rows)


def _param(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return _json_default(v)
    if isinstance(v, (dt.date, Decimal)):
        return str(v)
    return v


# ------------------------------------------------------------------------------ backends
_CHDB: dict[str, Any] = {}
_CHDB_LOCK = threading.Lock()


def _shared_session(path: Path, merge_nice: int = 0) -> tuple[threading.Lock, Any]:
    """The process's one chDB session (chDB serves a single data directory per process);
    the first call starts the engine, with ``merge_nice`` (see :class:`ChdbBackend`)."""
    with _CHDB_LOCK:
        if "session" in _CHDB:
            if _CHDB["path"] != path:
                raise ClickHouseError(
                    f"chDB is already open at {_CHDB['path']} in this process; "
                    f"it cannot also open {path} (one data directory per process)"
                )
            return _CHDB["lock"], _CHDB["session"]
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        try:
            # chDB passes a connection string's parameters to the engine as its startup
            # arguments (server settings among them)
            sess = session.Session(
                f"{path}?os_threads_nice_value_merge_mutate={merge_nice}" if merge_nice
                else str(path))
        except Exception as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
            raise ClickHouseError(f"cannot open chDB at {path}: {msg}") from e
        _CHDB.update(path=path, session=sess, lock=threading.Lock())
        return _CHDB["lock"], sess


def _read_only_session(path: Path) -> tuple[threading.Lock, Any]:
    """The process's second chDB connection (same directory) whose session has readonly=1."""
    _shared_session(path)
    with _CHDB_LOCK:
        if "ro" not in _CHDB:
            import chdb

            conn = chdb.connect(str(path))
            for stmt in _RO_SESSION:
                conn.query(stmt, "CSV")
            _CHDB.update(ro=conn, ro_lock=threading.Lock())
        return _CHDB["ro_lock"], _CHDB["ro"]


#: writable connections of :meth:`ChdbBackend.another`, beside the process's session: a
#: fixed pool, handed out in turn (each with its own lock, so sharing one is safe)
_OTHER_CONNECTIONS = 2


def _other_session(path: Path) -> tuple[threading.Lock, Any]:
    """One of the process's extra writable connections to its engine (same directory)."""
    _shared_session(path)
    with _CHDB_LOCK:
        pool: list[tuple[threading.Lock, Any]] = _CHDB.setdefault("others", [])
        turn = _CHDB.get("turn", 0)
        _CHDB["turn"] = turn + 1
        if len(pool) < _OTHER_CONNECTIONS:
            import chdb

            pool.append((threading.Lock(), chdb.connect(str(path))))
        return pool[turn % len(pool)]


class ChdbBackend:
    """Embedded ClickHouse (chDB) with data on disk; one process per directory."""

    def __init__(self, path: Path, database: str,
                 session: tuple[threading.Lock, Any] | None = None,
                 merge_nice: int = 0) -> None:
        """``merge_nice``: the nice value of the engine's merges while they run (ClickHouse's
        ``os_threads_nice_value_merge_mutate``; 0 = unchanged), given to the engine when this
        is the process's first backend (it starts the engine)."""
        self.path = Path(path).resolve()
        self.database = database
        if session is not None:  # another(): the database exists already
            self._lock, self._session = session
            return
        self._lock, self._session = _shared_session(self.path, merge_nice)
        try:
            with self._lock:
                self._session.query(f"CREATE DATABASE IF NOT EXISTS {database}", "CSV")
        except Exception as e:
            raise ClickHouseError(str(e).strip().splitlines()[0][:500]) from e

    def _run(self, sql: str, fmt: str, params: Mapping[str, Any] | None) -> bytes:
        p = {k: _param(v) for k, v in (params or {}).items()}
        try:
            with self._lock:
                self._session.query(f"USE {self.database}", "CSV")
                res = self._session.query(sql, fmt, params=p or None)
        except Exception as e:
            raise ClickHouseError(str(e).strip().splitlines()[0][:500]) from e
        return res.bytes() if res is not None else b""

    def _run_read_only(self, sql: str, params: Mapping[str, Any] | None) -> bytes:
        """``sql`` on a connection of its own whose session has ``readonly=1``.

        Settings are per connection in chDB, so the sink's connection keeps writing while this
        one cannot; ``readonly=1`` also forbids changing any setting, so no query text can lift
        it (``SETTINGS readonly=0`` or ``SET`` are refused by the engine).
        """
        p = {k: _param(v) for k, v in (params or {}).items()}
        try:
            lock, conn = _read_only_session(self.path)
            with lock:
                conn.query(f"USE {self.database}", "CSV")
                res = conn.query(sql, _FMT, params=p or None)
        except ClickHouseError:
            raise
        except Exception as e:
            raise ClickHouseError(_engine_message(e)) from e
        return res.bytes() if res is not None else b""

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, read_only: bool = False
    ) -> Result:
        if read_only:
            return parse_result(self._run_read_only(sql, params))
        return parse_result(
            self._run(sql + "\nSETTINGS output_format_json_quote_64bit_integers=0", _FMT, params)
        )

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, dedup_token: str | None = None
    ) -> None:
        if not rows:
            return
        settings = ", ".join(f"{k}='{v}'" for k, v in INSERT_SETTINGS.items())
        if dedup_token:
            settings += f", insert_deduplication_token='{dedup_token}'"
        body = encode_rows(rows).decode()
        self._run(f"INSERT INTO {table} SETTINGS {settings} FORMAT JSONEachRow\n{body}", "CSV",
                  None)

    def another(self) -> ChdbBackend:
        """A connection of its own to the process's engine (one engine per path), with its
        own lock: its statements run beside this one's, as a server's second client would."""
        return ChdbBackend(self.path, self.database, session=_other_session(self.path))

    def close(self) -> None:
        """The embedded engine stays open for the process (it cannot reopen another path)."""


def _short(e: BaseException) -> str:
    """The telling part of a driver error (e.g. ``[Errno 111] Connection refused``)."""
    text = str(e)
    m = re.search(r"\[Errno -?\d+\][^)\"'\]]*", text)
    return m.group(0).strip() if m else (text.strip().splitlines() or ["?"])[0][:200]


class ServerBackend:
    """A ClickHouse server through clickhouse-connect (HTTP/HTTPS)."""

    def __init__(
        self, url: str, database: str, password: str | None = None, cluster: str | None = None
    ) -> None:
        import clickhouse_connect

        # the driver logs every failed request itself; errors reach callers as one line instead
        logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
        from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
        from clickhouse_connect.driver.exceptions import OperationalError

        self._args = (url, database, password, cluster)
        self._driver_error = DriverError
        self._operational = OperationalError
        self._query_settings = dict(CLUSTER_QUERY_SETTINGS) if cluster else {}
        self._insert_settings = {**INSERT_SETTINGS, **(CLUSTER_INSERT_SETTINGS if cluster else {})}
        u = urlparse(url)
        self.database = (u.path or "").strip("/") or database
        secure = u.scheme == "https"
        try:
            self._client = clickhouse_connect.get_client(
                host=u.hostname or "127.0.0.1",
                port=u.port or (8443 if secure else 8123),
                username=u.username or "default",
                password=u.password or password or "",
                secure=secure,
                connect_timeout=5,
            )
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self._client.database = self.database
        except Exception as e:
            raise ClickHouseError(
                f"cannot reach ClickHouse at {u.hostname}:{u.port}: {_short(e)}", retryable=True
            ) from e

    def _wrap(self, e: Exception) -> ClickHouseError:
        retryable = isinstance(e, self._operational)
        return ClickHouseError(str(e).strip().splitlines()[0][:500], retryable=retryable)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters={k: _param(v) for k, v in (params or {}).items()})
        except Exception as e:
            raise self._wrap(e) from e

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, read_only: bool = False
    ) -> Result:
        settings: dict[str, Any] = {
            **self._query_settings, "output_format_json_quote_64bit_integers": 0
        }
        if read_only:  # sent as URL parameters of this request: the query text cannot lift it
            settings.update(READ_ONLY_SETTINGS)
        try:
            data = self._client.raw_query(
                sql,
                parameters={k: _param(v) for k, v in (params or {}).items()},
                fmt=_FMT,
                settings=settings,
            )
        except Exception as e:
            raise self._wrap(e) from e
        return parse_result(data)

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, dedup_token: str | None = None
    ) -> None:
        if not rows:
            return
        settings: dict[str, Any] = dict(self._insert_settings)
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        try:
            self._client.raw_insert(
                table, insert_block=encode_rows(rows), settings=settings, fmt="JSONEachRow"
            )
        except Exception as e:
            raise self._wrap(e) from e

    def another(self) -> ServerBackend:
        """A client of its own: one client's session runs one query at a time."""
        return ServerBackend(*self._args)

    def close(self) -> None:
        self._client.close()


def close_embedded() -> None:
    """Close the process's chDB session (parts are on disk already); safe to call twice."""
    with _CHDB_LOCK:
        conns = [_CHDB.pop("ro", None), *(c for _, c in _CHDB.pop("others", [])),
                 _CHDB.pop("session", None)]
        _CHDB.clear()
    for conn in conns:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing at exit must not mask the exit code
                pass


def connect(settings: Settings) -> ClickHouse:
    """The server at ``SMSFLOW_CLICKHOUSE_URL`` when set, else chDB under the home directory."""
    if settings.clickhouse_url:
        secret = settings.clickhouse_password
        pw = secret.get_secret_value() if secret else None
        return ServerBackend(settings.clickhouse_url, settings.clickhouse_database, pw,
                             cluster=settings.clickhouse_cluster)
    return ChdbBackend(settings.chdb_path, settings.clickhouse_database,
                       merge_nice=settings.clickhouse_merge_nice)
