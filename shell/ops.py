"""The operations endpoint of ``smsflow run``: health, Prometheus metrics and a query API.

chDB serves one data directory per process and ``run`` owns it (the sink writes there), so
reports and ad-hoc SQL from other processes (``smsflow report``, ``smsflow sql``, the demo)
come through this API. It listens on SMSFLOW_OPS_HOST (127.0.0.1).

- ``GET /health``: 200 with each component's state when all are running, else 503.
- ``GET /metrics``: Prometheus text: records per topic (events in/out, dead letters, and
  ``smsflow_dead_letters_by_reason`` from the ``deadletters`` report),
  consumer lag per group, sink rows/batches/retries and batch latency, worker restarts.
- ``GET /api/reports/{name}?subaccount=&country=&operator=&from=&to=&limit=&umid=&at=``: a report
  (``deadletters`` also ``since=&until=``, ISO-8601 failure times)
  as ``{"columns": [...], "rows": [[...]]}`` (400 with a reason for bad filters).
- ``POST /api/sql`` with ``{"sql": "SELECT ..."}`` (application/json): its rows, same shape;
  read-only (``smsflow.read_only_sql``), 400 with the reason for anything else.
- ``POST /api/db/detach`` / ``/api/db/attach`` with ``{"table": NAME}``: take a table offline
  and back (maintenance, fault tests); only with the bearer token.
- ``POST /api/alerts/evaluate`` with ``{"until": ISO, "since": ISO}`` (both optional):
  evaluate alert rules now (``smsflow alerts evaluate``); only with the bearer token.
- ``/dashboard/``: the analytics web dashboard (package ``dashboard``) over this process's data.

Every request passes :class:`~smsflow.http_guard.HttpGuard` (Host, Origin, JSON, token).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from shell.kafka_stats import KafkaStats
from sinks.render import jsonable, result_json
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings
from smsflow.errors import SmsflowError
from smsflow.http_guard import GuardPolicy, HttpGuard
from smsflow.read_only_sql import ReadOnly, run_read_only

__all__ = ["OpsState", "create_ops_app"]


@dataclass
class OpsState:
    """What the ops endpoint reports on; filled in by ``smsflow run``."""

    settings: Settings
    ch: ClickHouse
    groups: dict[str, list[str]]
    components: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    sink_stats: Any = None  # sinks.sink.SinkStats, live
    worker_restarts: Callable[[], int] = lambda: 0
    started: float = field(default_factory=time.monotonic)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    kafka: KafkaStats | None = None
    last_offsets: dict[str, Any] = field(default_factory=dict)
    dead_letter_counts: list[tuple[str, str, str, int]] = field(default_factory=list)
    alerting: Any = None  # shell.alerting.Alerting, when run evaluates alerts


class _Collector:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    def collect(self) -> Any:
        s = self.state
        off = s.last_offsets
        topics = GaugeMetricFamily(
            "smsflow_topic_records", "Records written to each topic (end offsets).",
            labels=["topic"],
        )
        for t, n in off.get("end_offsets", {}).items():
            topics.add_metric([t], n)
        yield topics
        lag = GaugeMetricFamily(
            "smsflow_consumer_lag", "Records not yet committed per consumer group.",
            labels=["group"],
        )
        for g, n in off.get("lag", {}).items():
            lag.add_metric([g], n)
        yield lag
        dead = GaugeMetricFamily("smsflow_dead_letters", "Records in the dead-letter topic.")
        dead.add_metric([], off.get("end_offsets", {}).get(s.settings.topics.dead_letter, 0))
        yield dead
        by_reason = GaugeMetricFamily(
            "smsflow_dead_letters_by_reason",
            "Dead letters landed in ClickHouse per source component, original topic and reason.",
            labels=["component", "topic", "reason"],
        )
        for component, topic, reason, n in s.dead_letter_counts:
            by_reason.add_metric([component, topic, reason], n)
        yield by_reason
        restarts = CounterMetricFamily("smsflow_worker_restarts", "Worker restarts.")
        restarts.add_metric([], s.worker_restarts())
        yield restarts
        st = s.sink_stats
        if st is not None:
            rows = CounterMetricFamily(
                "smsflow_sink_rows", "Rows inserted into ClickHouse.", labels=["table"]
            )
            for table, n in st.rows.items():
                rows.add_metric([table], n)
            yield rows
            lat = GaugeMetricFamily(
                "smsflow_sink_last_batch_seconds", "Insert time of the last flushed batch."
            )
            lat.add_metric([], st.last_batch_seconds)
            yield lat
            summ = CounterMetricFamily(
                "smsflow_sink_batch_seconds", "Insert time of flushed batches (sum)."
            )
            summ.add_metric([], st.batch_seconds_sum)
            yield summ
            for name, value, doc in [
                ("smsflow_sink_records", st.records, "Kafka records consumed by the sink."),
                ("smsflow_sink_flushes", st.flushes, "Batches flushed to ClickHouse."),
                ("smsflow_sink_retries", st.retries, "ClickHouse insert retries."),
                ("smsflow_sink_commits", st.commits, "Kafka offset commits."),
            ]:
                c = CounterMetricFamily(name, doc)
                c.add_metric([], value)
                yield c


def create_ops_app(state: OpsState) -> FastAPI:
    """The ops API over ``state`` (see the module docstring)."""
    app = FastAPI(title="smsflow ops", docs_url=None, redoc_url=None)
    policy = GuardPolicy.for_server(state.settings, state.settings.ops_host)
    app.add_middleware(HttpGuard, policy=policy)
    state.registry.register(_Collector(state))  # type: ignore[arg-type]
    if state.alerting is not None:
        state.registry.register(state.alerting)

    async def refresh_offsets() -> None:
        if state.kafka is None:
            return
        s = state.settings
        grouped = [t for ts in state.groups.values() for t in ts]
        topics = list(dict.fromkeys([*s.topics.all(), *grouped]))  # + the worker's own topics
        stats = await state.kafka.read(topics, state.groups)
        state.last_offsets = {"end_offsets": stats.end_offsets, "lag": stats.lag}

    @app.get("/health")
    async def health() -> JSONResponse:
        comps = {name: fn() for name, fn in state.components.items()}
        ok = all(c.get("running") for c in comps.values())
        body = {
            "status": "ok" if ok else "degraded",
            "uptime_s": round(time.monotonic() - state.started, 1),
            "components": comps,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/progress")
    async def progress() -> JSONResponse:
        """Records produced to the inputs, processed by the worker, landed by the sink."""
        try:
            await refresh_offsets()
        except Exception as e:  # broker restarting: say so, do not fail the endpoint
            return JSONResponse({"error": f"kafka: {e}"}, status_code=503)
        try:
            rows = await asyncio.to_thread(  # the read-only session: never waits on the sink
                ReadOnly(state.ch).query,
                "SELECT count() FROM messages FINAL WHERE has_request AND direction = 'OUTBOUND'",
            )
        except SmsflowError as e:  # e.g. the table is detached: report, do not fail
            return JSONResponse({**state.last_offsets, "error": str(e)}, status_code=503)
        return JSONResponse({**state.last_offsets, "messages_landed": rows.scalar()})

    def refresh_dead_letters() -> None:
        from sinks.reports import run_report

        res = run_report(state.ch, "deadletters")
        state.dead_letter_counts = [(r[0], r[1], r[2], int(r[3])) for r in res.rows]

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        try:
            await refresh_offsets()
        except Exception:  # keep serving the last known offsets
            pass
        try:
            await asyncio.to_thread(refresh_dead_letters)
        except SmsflowError:  # ClickHouse busy or table missing: the last known counts
            pass
        return PlainTextResponse(
            generate_latest(state.registry).decode(), media_type="text/plain; version=0.0.4"
        )

    @app.get("/api/reports/{name}")
    async def report(name: str, request: Request) -> JSONResponse:
        from sinks.reports import Filters, run_report

        q = request.query_params
        try:
            filters = Filters.from_query(q)
            res = await asyncio.to_thread(run_report, ReadOnly(state.ch), name, filters)
        except (SmsflowError, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        fmt = q.get("format", "")
        if fmt in ("csv", "json"):  # rendered here, so the text equals a local `report`
            from sinks.render import to_csv, to_json

            text = to_csv(res) if fmt == "csv" else to_json(res) + "\n"
            return PlainTextResponse(text, media_type=f"text/{fmt}")
        return JSONResponse(result_json(res))

    @app.post("/api/sql")
    async def sql(request: Request) -> JSONResponse:
        body = await _json_body(request)
        text = body.get("sql") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return JSONResponse({"error": 'send {"sql": "SELECT ..."}'}, status_code=400)
        try:
            res = await asyncio.to_thread(run_read_only, state.ch, text)
        except SmsflowError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse(result_json(res))

    @app.post("/api/db/{action}")
    async def table_online(action: str, request: Request) -> JSONResponse:
        """DETACH/ATTACH one table of our database (the guard has checked a sent token)."""
        if "authorization" not in request.headers:
            return JSONResponse({"error": "this needs the bearer token"}, status_code=401)
        body = await _json_body(request)
        table = body.get("table") if isinstance(body, dict) else None
        if action not in ("detach", "attach") or not (
            isinstance(table, str) and _IDENTIFIER.fullmatch(table)
        ):
            return JSONResponse(
                {"error": 'POST /api/db/detach|attach with {"table": NAME}'}, status_code=400
            )
        try:
            await asyncio.to_thread(state.ch.command, f"{action.upper()} TABLE {table}")
        except SmsflowError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"table": table, "done": action})

    @app.post("/api/alerts/evaluate")
    async def alerts_evaluate(request: Request) -> JSONResponse:
        """Evaluate alerts now (``{"until": ISO, "since": ISO}``, both optional); with the
        token (it writes alert state)."""
        if "authorization" not in request.headers:
            return JSONResponse({"error": "this needs the bearer token"}, status_code=401)
        if state.alerting is None:
            return JSONResponse({"error": "alerts are not evaluated here"}, status_code=400)
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        try:
            times = {k: dt.datetime.fromisoformat(body[k]) if body.get(k) else None
                     for k in ("until", "since")}
        except (TypeError, ValueError):
            return JSONResponse({"error": "until/since want ISO-8601 times"}, status_code=400)
        try:
            done = await asyncio.to_thread(state.alerting.evaluate, times["until"],
                                           times["since"])
        except SmsflowError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"transitions": [[jsonable(v) for v in (
            t.rule, t.key, t.state, t.value, t.threshold, t.started_at, t.fired_at, t.ended_at,
        )] for t in done]})

    _mount_dashboard(app, state)
    return app


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _mount_dashboard(app: FastAPI, state: OpsState) -> None:
    """Serve the analytics dashboard at ``/dashboard`` over this process's ClickHouse."""
    try:
        from dashboard.app import create_app as create_dashboard
        from dashboard.source import LocalSource
    except ModuleNotFoundError as e:
        if e.name == "dashboard":  # installed without the dashboard package
            return
        raise
    source = LocalSource(ReadOnly(state.ch), "smsflow run (in process)")
    app.mount("/dashboard", create_dashboard(source))
