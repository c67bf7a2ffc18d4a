"""Report arithmetic and output formats (no ClickHouse)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from sinks.measures import CostByCurrency, average, money_str, rate
from sinks.render import cell, to_csv, to_json
from sinks.reports import DAILY_HEADER, Filters, load_query
from smsflow.clickhouse import Result
from smsflow.errors import ValidationError


def test_rate_rounds_half_up_exactly() -> None:
    assert rate(2, 3) == Decimal("66.67")
    assert rate(1, 8) == Decimal("12.50")
    assert rate(1, 800) == Decimal("0.13")  # 0.125: half-up, not banker's 0.12
    assert rate(5, 2000) == Decimal("0.25")
    assert rate(1, 1600) == Decimal("0.06")  # 0.0625
    assert rate(0, 0) == Decimal("0.00") and str(rate(0, 0)) == "0.00"
    assert str(rate(7, 7)) == "100.00"


def test_average_and_money_have_eight_decimals() -> None:
    assert average(Decimal("0.00000001"), 2) == Decimal("0.00000001")  # 0.000000005 -> up
    assert average(Decimal("1"), 3) == Decimal("0.33333333")
    assert str(average(Decimal("0"), 0)) == "0E-8" and money_str(average(Decimal(0), 0)) == (
        "0.00000000"
    )
    assert money_str(Decimal("0.0446592")) == "0.04465920"
    assert money_str(Decimal("119.97")) == "119.97000000"


def test_cost_by_currency_keeps_currencies_apart() -> None:
    c = CostByCurrency()
    c.add("", Decimal(0), priced_messages=5)  # unpriced messages: no currency
    c.add("EUR", Decimal("0.10000000"), priced_messages=1)
    c.add("EUR", Decimal("0.20000000"), priced_messages=2)
    assert (c.currency(), c.cost(), c.average(4)) == ("EUR", "0.30000000", "0.07500000")
    c.add("USD", Decimal("1"), priced_messages=1)
    assert (c.currency(), c.cost()) == ("EUR;USD", "0.30000000;1.00000000")
    assert c.as_dict() == {"EUR": "0.30000000", "USD": "1.00000000"}
    empty = CostByCurrency()
    empty.add("EUR", Decimal(0), priced_messages=0)  # e.g. inbound rows: no outbound cost
    assert (empty.currency(), empty.cost(), empty.items()) == ("", "0.00000000", [])
    free = CostByCurrency()
    free.add("EUR", Decimal(0), priced_messages=1)
    assert (free.currency(), free.cost()) == ("EUR", "0.00000000")


def _daily() -> Result:
    return Result(
        list(DAILY_HEADER),
        ["Date", *["Int64"] * 7, "Decimal(5, 2)", "String", "String", "Int64", "Int64",
         "Decimal(5, 2)", "String"],
        [(dt.date(2024, 1, 2), 3, 2, 2, 1, 1, 1, 0, rate(1, 3), "0.08931840", "EUR", 4, 4,
          Decimal("1.33"), "0.02232960")],
    )


def test_daily_csv_header_and_row_are_exact() -> None:
    assert to_csv(_daily()) == (
        "Date,Total,Sent,Total Chargeable,Delivered,Undelivered,Rejected,Received,"
        "Delivery Rate,Cost,Currency,Inbound,Parts,Parts per Message,Cost per Part\n"
        "2024-01-02,3,2,2,1,1,1,0,33.33,0.08931840,EUR,4,4,1.33,0.02232960\n"
    )


def test_json_output_keeps_exact_strings_and_ints() -> None:
    assert json.loads(to_json(_daily())) == [{
        "Date": "2024-01-02", "Total": 3, "Sent": 2, "Total Chargeable": 2, "Delivered": 1,
        "Undelivered": 1, "Rejected": 1, "Received": 0, "Delivery Rate": "33.33",
        "Cost": "0.08931840", "Currency": "EUR", "Inbound": 4, "Parts": 4,
        "Parts per Message": "1.33", "Cost per Part": "0.02232960",
    }]


def test_cells() -> None:
    ts = dt.datetime(2020, 12, 22, 1, 24, 30, 603089, tzinfo=dt.UTC)
    assert cell(ts) == "2020-12-22T01:24:30.603089Z"
    assert cell(None) == "" and cell(True) == "true" and cell(Decimal("1E+1")) == "10"
    assert cell(["a", None]) == '["a", null]'
    csv_text = to_csv(Result(["a", "b"], ["String", "String"], [("x,y", 'say "hi"')]))
    assert csv_text == 'a,b\n"x,y","say ""hi"""\n'


def test_filters_bind_parameters() -> None:
    at = dt.datetime(2024, 1, 3, tzinfo=dt.UTC)
    p = Filters(country="sg", date_from=dt.date(2024, 1, 2), at=at).params()
    assert p == {"subaccount": "", "country": "SG", "operator": "", "limit": 1000,
                 "date_from": dt.date(2024, 1, 2), "date_to": dt.date(2149, 6, 6),
                 "at_us": 1704240000000000,
                 "since_us": 0, "until_us": 2**62}
    p = Filters(since=at, until=at + dt.timedelta(microseconds=1)).params()
    assert (p["since_us"], p["until_us"]) == (1704240000000000, 1704240000000001)
    umid = "9E09AC86-BD74-5465-851D-1EB5A5FDBB9A"
    assert Filters(umid=umid).params()["umid"] == umid.lower()
    with pytest.raises(ValidationError, match="not a umid"):
        Filters(umid="nope").params()
    with pytest.raises(ValidationError, match="after"):
        Filters(date_from=dt.date(2024, 2, 1), date_to=dt.date(2024, 1, 1)).params()


def test_every_report_query_filters_the_same_way() -> None:
    for name in ("daily", "dashboard", "countries", "campaigns", "conversions", "engage",
                 "clicks", "logs", "latency", "pending", "errors", "replies"):
        sql = load_query(name)
        for p in ("{date_from:Date}", "{date_to:Date}", "{subaccount:String}",
                  "{country:String}", "{operator:String}"):
            assert p in sql, (name, p)
    with pytest.raises(ValidationError):
        load_query("nope")
