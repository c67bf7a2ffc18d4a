"""The dashboard's FastAPI app: the static front end at ``/`` and a JSON API under ``/api/``.

- ``GET /api/meta``: data source and filter choices (subaccounts, countries, operators, days).
- ``GET /api/reports/{name}?subaccount=&country=&operator=&from=&to=&limit=&format=json|csv``:
  a named report (``sinks.reports``) as ``{"columns", "types", "rows", "money"}``, or as the
  CSV file ``smsflow report NAME --format csv`` prints (byte for byte). Rows keep money exact
  (8 decimals); ``money`` (``null`` without money columns) names the money columns, their
  currency column and each currency's usual decimals, for tables and tiles to round half-up to
  the digits ``smsflow report`` shows in a terminal.
- ``GET /api/alerts?state=open|all``: alert instances as ``smsflow alerts history`` lists them.
- ``GET /api/messages?q=``: messages whose umid, destination or clientMessageId equals ``q``
  (with ``money`` as for reports).
- ``GET /api/messages/{umid}``: every field of one message and its input-event timeline.

Bad filter values answer 400 ``{"error": reason}``; an unknown umid 404; a data source that
cannot answer (ClickHouse or the pipeline down) 503. The app never answers 500.
The OpenAPI description is at ``/api/openapi.json`` (interactive docs at ``/api/docs``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from dashboard.queries import OPTIONS_SQL, money_info, parse_filters, search_sql
from dashboard.source import ReportSource
from sinks.reports import REPORTS, Filters
from smsflow.errors import SmsflowError, ValidationError

__all__ = ["REPORT_NAMES", "create_app"]

STATIC = Path(__file__).parent / "static"
REPORT_NAMES = tuple(n for n in REPORTS if n not in ("message", "timeline"))
log = logging.getLogger("smsflow.dashboard")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(source: ReportSource) -> FastAPI:
    """The dashboard over ``source``; mountable under a prefix (links are relative)."""
    app = FastAPI(
        title="smsflow dashboard",
        description="SMS analytics: the reports of `smsflow report` as JSON and CSV.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(ValidationError)
    async def bad_request(_: Request, e: ValidationError) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(SmsflowError)
    async def unavailable(_: Request, e: SmsflowError) -> JSONResponse:
        return _error(503, f"data source did not answer: {e}")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("dashboard request failed")
        return _error(503, f"dashboard could not answer: {type(e).__name__}: {e}")

    def filters(
        subaccount: str | None, country: str | None, operator: str | None,
        date_from: str | None, date_to: str | None, limit: str | None,
    ) -> Filters:
        return parse_filters(subaccount, country, operator, date_from, date_to, limit)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/") + "/"
        html = (STATIC / "index.html").read_text().replace("__BASE__", base)
        return HTMLResponse(html)

    @app.get("/api/meta")
    async def meta() -> dict[str, Any]:
        """Data source, report names and filter choices (empty lists on an empty database)."""
        res = await asyncio.to_thread(source.sql, OPTIONS_SQL)
        row = dict(zip(res["columns"], res["rows"][0], strict=True)) if res["rows"] else {}
        empty = not row or int(row["keys"]) == 0
        return {
            "source": source.describe(),
            "reports": list(REPORT_NAMES),
            "subaccounts": [] if empty else row["subaccounts"],
            "countries": [] if empty else row["countries"],
            "operators": [] if empty else row["operators"],
            "first_day": None if empty else row["first_day"],
            "last_day": None if empty else row["last_day"],
        }

    @app.get("/api/reports/{name}", response_model=None)
    async def report(
        name: str,
        subaccount: str | None = Query(None, description="Only this subAccountId."),
        country: str | None = Query(None, description="Destination country, ISO alpha-2."),
        operator: str | None = Query(None, description="Only this operator."),
        date_from: str | None = Query(None, alias="from", description="First UTC day."),
        date_to: str | None = Query(None, alias="to", description="Last UTC day (inclusive)."),
        limit: str | None = Query(None, description="Most rows (logs only), default 1000."),
        format: str = Query("json", description="json, or csv for a file download."),
    ) -> dict[str, Any] | Response:
        """One report with the filters (``format=csv``: the CSV file of ``smsflow report``)."""
        if name not in REPORT_NAMES:
            raise ValidationError(f"no report named {name!r}; known: {', '.join(REPORT_NAMES)}")
        if format not in ("json", "csv"):
            raise ValidationError(f"format must be json or csv, got {format!r}")
        f = filters(subaccount, country, operator, date_from, date_to, limit)
        if format == "csv":
            text = await asyncio.to_thread(source.report_csv, name, f)
            return Response(
                text.encode(), media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        res = await asyncio.to_thread(source.report, name, f)
        return {**res, "money": money_info(res)}

    @app.get("/api/alerts")
    async def alerts(
        state: str = Query("all", description="open (pending or firing) or all."),
    ) -> dict[str, Any]:
        """Alert instances (``smsflow alerts history``), newest first."""
        from sinks.alert_state import history_sql

        if state not in ("open", "all"):
            raise ValidationError(f"state must be open or all, got {state!r}")
        return await asyncio.to_thread(source.sql, history_sql(open_only=state == "open"))

    @app.get("/api/messages")
    async def search(
        q: str = Query("", description="umid, destination number or clientMessageId."),
    ) -> dict[str, Any]:
        """Messages whose umid, destination or clientMessageId equals ``q`` (at most 100)."""
        res = await asyncio.to_thread(source.sql, search_sql(q))
        return {**res, "money": money_info(res)}

    @app.get("/api/messages/{umid}", response_model=None)
    async def message(umid: str) -> dict[str, Any] | JSONResponse:
        """Every field of one message's current record and its input-event timeline."""
        f = Filters(umid=umid)
        f.params()  # a bad umid is a 400
        record = await asyncio.to_thread(source.report, "message", f)
        if not record["rows"]:
            return _error(404, f"no message {umid}")
        timeline = await asyncio.to_thread(source.report, "timeline", f)
        fields = dict(zip(record["columns"], record["rows"][0], strict=True))
        return {"umid": fields.get("umid", umid), "fields": fields, "timeline": timeline}

    return app
