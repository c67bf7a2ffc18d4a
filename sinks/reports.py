"""Named report queries: ``run_report(ch, name, filters) -> Result``, a pure function.

The SQL of each report lives once in ``sinks/queries/<name>.sql`` with ClickHouse
``{name:Type}`` parameters; this module binds the :class:`Filters`, runs it and turns the raw
rows into the report's documented columns (rates and averages with Decimal ROUND_HALF_UP, costs
per currency). It opens nothing itself, so a process that owns the database (the sink, a
dashboard server) can serve reports with its own connection.

Cost cells: ``Cost`` holds the amount with 8 decimals and ``Currency`` its ISO code; when a
row has several currencies both cells list them ``;``-separated in the same order (amounts of
different currencies are never added). Bad filters raise :class:`ValidationError`; ClickHouse
failures raise :class:`ClickHouseError`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sinks.filters import Filters, load_query, query_result, query_rows
from sinks.measures import CostByCurrency, money_str, rate
from sinks.quality import QUALITY_REPORTS, ratio
from smsflow.clickhouse import ClickHouse, Result
from smsflow.errors import ValidationError

__all__ = ["DAILY_HEADER", "REPORTS", "Filters", "load_query", "run_report"]

DAILY_HEADER = [
    "Date", "Total", "Sent", "Total Chargeable", "Delivered", "Undelivered", "Rejected",
    "Received", "Delivery Rate", "Cost", "Currency", "Inbound",
    "Parts", "Parts per Message", "Cost per Part",
]
_query = query_rows


def _groups(rows: list[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in key), []).append(r)
    return out


def _sums(rows: list[dict[str, Any]], *fields: str) -> dict[str, int]:
    return {f: sum(int(r[f]) for r in rows) for f in fields}


def _costs(rows: list[dict[str, Any]]) -> CostByCurrency:
    """Cost per currency; a currency is listed when a chargeable message was priced in it."""
    costs = CostByCurrency()
    for r in rows:
        costs.add(r["currency"], r["cost"], priced_messages=int(r["chargeable"]))
    return costs


_INT = "Int64"
_RATE_T = "Decimal(5, 2)"


def _daily(ch: ClickHouse, f: Filters) -> Result:
    measures = ("total", "sent", "chargeable", "delivered", "undelivered", "rejected",
                "received", "inbound", "segments")
    rows = []
    for (day,), group in _groups(_query(ch, "daily", f), "day").items():
        s = _sums(group, *measures)
        c = _costs(group)
        if not any(s.values()) and not c.items():
            continue
        rows.append((
            day, s["total"], s["sent"], s["chargeable"], s["delivered"], s["undelivered"],
            s["rejected"], s["received"], rate(s["delivered"], s["total"]), c.cost(),
            c.currency(), s["inbound"], s["segments"], ratio(s["segments"], s["total"]),
            c.average(s["segments"]),
        ))
    types = ["Date", *[_INT] * 7, _RATE_T, "String", "String", _INT, _INT, _RATE_T, "String"]
    return Result(list(DAILY_HEADER), types, rows)


def _dashboard(ch: ClickHouse, f: Filters) -> Result:
    raw = _query(ch, "dashboard", f)
    rows: list[tuple[Any, ...]] = []

    def line(label: str, group: list[dict[str, Any]]) -> tuple[Any, ...] | None:
        s = _sums(group, "total", "delivered")
        c = _costs(group)
        if s["total"] == 0 and not c.items():
            return None
        countries = {r["country"] for r in group if r["country"] and int(r["total"]) > 0}
        return (label, s["total"], s["delivered"], rate(s["delivered"], s["total"]), c.cost(),
                c.currency(), c.average(s["total"]), len(countries))

    for (day,), group in _groups(raw, "day").items():
        row = line(day.isoformat(), group)
        if row is not None:
            rows.append(row)
    total = line("Total", raw) or ("Total", 0, 0, rate(0, 0), money_str(Decimal(0)), "",
                                   money_str(Decimal(0)), 0)
    rows.append(total)
    columns = ["Period", "Total SMS", "Delivered", "Delivery Rate", "Cost", "Currency",
               "Average Cost", "Destination Countries"]
    types = ["String", _INT, _INT, _RATE_T, "String", "String", "String", _INT]
    return Result(columns, types, rows)


def _countries(ch: ClickHouse, f: Filters) -> Result:
    measures = ("total", "sent", "delivered", "undelivered", "rejected", "segments")
    rows = []
    for (country, operator), group in _groups(
        _query(ch, "countries", f), "country", "operator"
    ).items():
        s = _sums(group, *measures)
        c = _costs(group)
        rows.append((country, operator, s["total"], s["sent"], s["delivered"], s["undelivered"],
                     s["rejected"], rate(s["delivered"], s["total"]), s["segments"], c.cost(),
                     c.currency(), c.average(s["delivered"]), ratio(s["segments"], s["total"])))
    columns = ["Country", "Operator", "Total", "Sent", "Delivered", "Undelivered", "Rejected",
               "Delivery Rate", "Segments", "Cost", "Currency", "Cost per Delivered",
               "Average Parts"]
    types = ["String", "String", *[_INT] * 5, _RATE_T, _INT, "String", "String", "String",
             _RATE_T]
    return Result(columns, types, rows)


def _campaigns(ch: ClickHouse, f: Filters) -> Result:
    measures = ("total", "sent", "delivered", "undelivered", "rejected")
    rows = []
    for (campaign,), group in _groups(_query(ch, "campaigns", f), "campaign_id").items():
        s = _sums(group, *measures)
        if s["total"] == 0:
            continue
        c = _costs(group)
        rows.append((campaign, min(r["first_day"] for r in group),
                     max(r["last_day"] for r in group), s["total"], s["sent"], s["delivered"],
                     s["undelivered"], s["rejected"], rate(s["delivered"], s["total"]),
                     c.cost(), c.currency()))
    columns = ["Campaign", "First Day", "Last Day", "Total", "Sent", "Delivered", "Undelivered",
               "Rejected", "Delivery Rate", "Cost", "Currency"]
    types = ["String", "Date", "Date", *[_INT] * 5, _RATE_T, "String", "String"]
    return Result(columns, types, rows)


def _conversions(ch: ClickHouse, f: Filters) -> Result:
    rows = []
    for (day,), group in _groups(_query(ch, "conversions", f), "day").items():
        s = _sums(group, "verification_sent", "converted")
        c = _costs(group)
        rows.append((day, s["verification_sent"], s["converted"],
                     rate(s["converted"], s["verification_sent"]), c.cost(), c.currency()))
    columns = ["Date", "Verification Sent", "Converted", "Conversion Rate", "Cost", "Currency"]
    return Result(columns, ["Date", _INT, _INT, _RATE_T, "String", "String"], rows)


def _engage(ch: ClickHouse, f: Filters) -> Result:
    rows = [
        (r["survey_id"], r["question_id"], r["question"], r["answer"], int(r["respondents"]),
         rate(int(r["respondents"]), int(r["survey_respondents"])), int(r["survey_respondents"]))
        for r in _query(ch, "engage", f)
    ]
    columns = ["Survey", "Question ID", "Question", "Answer", "Respondents", "Share",
               "Survey Respondents"]
    return Result(columns, ["String"] * 4 + [_INT, _RATE_T, _INT], rows)


def _clicks(ch: ClickHouse, f: Filters) -> Result:
    res = _query(ch, "clicks", f)
    columns = ["Date", "Subaccount", "Message ID", "Destination", "Short URL", "URL", "Clicks",
               "First Click", "Last Click"]
    rows = [tuple(r.values()) for r in res]
    types = ["Date", *["String"] * 5, _INT, "DateTime64(6, 'UTC')", "DateTime64(6, 'UTC')"]
    return Result(columns, types, rows)


def _logs(ch: ClickHouse, f: Filters) -> Result:
    res = query_result(ch, "logs", f)
    columns = ["Date", "Direction", "Subaccount", "Message ID", "Destination", "Source",
               "Origin", "Country", "Operator", "Cost", "Currency", "Status"]
    cost = res.columns.index("cost")
    rows = [(*r[:cost], money_str(r[cost]), *r[cost + 1:]) for r in res.rows]
    types = ["DateTime64(6, 'UTC')", *["String"] * 8, "String", "String", "String"]
    return Result(columns, types, rows)


def _deadletters(ch: ClickHouse, f: Filters) -> Result:
    rows = [
        (r["component"], r["source_topic"], r["reason"], int(r["dead_letters"]),
         r["first_failed"], r["last_failed"], r["latest_id"])
        for r in _query(ch, "deadletters", f)
    ]
    columns = ["Component", "Topic", "Reason", "Dead Letters", "First Failed", "Last Failed",
               "Latest ID"]
    time_t = "DateTime64(6, 'UTC')"
    return Result(columns, ["String"] * 3 + [_INT, time_t, time_t, "String"], rows)


def _passthrough(name: str) -> Callable[[ClickHouse, Filters], Result]:
    def run(ch: ClickHouse, f: Filters) -> Result:
        if f.umid is None:
            raise ValidationError(f"report {name} needs a umid")
        return ch.query(load_query(name), {"umid": f.params()["umid"]})

    return run


REPORTS: dict[str, Callable[[ClickHouse, Filters], Result]] = {
    "dashboard": _dashboard,
    "daily": _daily,
    "countries": _countries,
    "campaigns": _campaigns,
    "conversions": _conversions,
    "engage": _engage,
    "clicks": _clicks,
    "logs": _logs,
    "message": _passthrough("message"),
    "timeline": _passthrough("timeline"),
    "deadletters": _deadletters,
    **QUALITY_REPORTS,
}


def run_report(ch: ClickHouse, name: str, filters: Filters | None = None) -> Result:
    """Run report ``name`` with ``filters`` on ``ch``; rows in the report's documented columns.

    Raises :class:`ValidationError` for an unknown report or bad filters and
    :class:`~smsflow.errors.ClickHouseError` when the query fails (e.g. tables missing: run
    ``smsflow db migrate``).
    """
    run = REPORTS.get(name)
    if run is None:
        raise ValidationError(f"no report named {name!r}; known: {', '.join(REPORTS)}")
    return run(ch, filters or Filters())
