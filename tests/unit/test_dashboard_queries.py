"""Dashboard request parsing: filters and message search (no servers)."""

from __future__ import annotations

import datetime as dt

import pytest

from dashboard.queries import parse_filters, search_sql, sql_literal
from sinks.reports import Filters
from smsflow.errors import ValidationError


def test_filters_parsed_and_normalised() -> None:
    f = parse_filters(" acme ", "de", "O2", "2024-01-01", "2024-01-31", "50")
    assert f == Filters(subaccount="acme", country="DE", operator="O2",
                        date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 31), limit=50)
    assert parse_filters() == Filters()
    assert parse_filters("", "", "", "", "", "") == Filters()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"country": "DEU"}, "country must be an ISO 3166 alpha-2 code (two letters), got 'DEU'"),
        ({"country": "1X"}, "country must be an ISO 3166 alpha-2 code (two letters), got '1X'"),
        ({"date_from": "2024-02-30"}, "from wants a date YYYY-MM-DD, got '2024-02-30'"),
        ({"date_to": "yesterday"}, "to wants a date YYYY-MM-DD, got 'yesterday'"),
        ({"date_from": "2024-02-02", "date_to": "2024-02-01"},
         "--from 2024-02-02 is after --to 2024-02-01"),
        ({"limit": "0"}, "limit must be between 1 and 100000, got 0"),
        ({"limit": "ten"}, "limit must be a whole number, got 'ten'"),
        ({"subaccount": "a\x00b"}, "subaccount must be printable text of at most 128 characters"),
        ({"operator": "o" * 129}, "operator must be printable text of at most 128 characters"),
    ],
)
def test_bad_filters_have_clear_errors(args: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_filters(**args)
    assert str(e.value) == message


def test_sql_literal_escapes_quotes_and_backslashes() -> None:
    assert sql_literal("it's") == "'it\\'s'"
    assert sql_literal("a\\'; DROP TABLE x; --") == "'a\\\\\\'; DROP TABLE x; --'"


def test_search_matches_umid_destination_and_client_id() -> None:
    sql = search_sql("9E09AC86-BD74-5465-851D-1EB5A5FDBB9A")
    assert "umid = toUUID('9e09ac86-bd74-5465-851d-1eb5a5fdbb9a') OR " in sql
    assert "client_message_id = '9E09AC86-BD74-5465-851D-1EB5A5FDBB9A'" in sql
    sql = search_sql("+4917012345")
    assert "toUUID" not in sql
    assert "destination IN ('+4917012345', '4917012345')" in sql
    assert "client_message_id = 'x\\'y'" in search_sql("x'y")


@pytest.mark.parametrize("term", ["", "   ", "x" * 129, "a\nb"])
def test_search_rejects_empty_or_oversized_terms(term: str) -> None:
    with pytest.raises(ValidationError):
        search_sql(term)


def test_money_info_names_money_columns_and_the_terminals_decimals() -> None:
    from dashboard.queries import money_info

    res = {"columns": ["Date", "Cost", "Currency", "Average Cost"], "types": [],
           "rows": [["2024-01-01", "1.50000000;2.50000000", "JPY;KWD", "0.1;0.2"],
                    ["2024-01-02", "1.00500000", "EUR", "0.5"],
                    ["2024-01-03", "0.00000000", "PKR", "0"],
                    ["2024-01-04", "", "", ""]]}
    assert money_info(res) == {"columns": ["Cost", "Average Cost"], "currency": "Currency",
                               "decimals": {"EUR": 2, "JPY": 0, "KWD": 3, "PKR": 2}}
    search = {"columns": ["message_id", "cost", "currency"], "types": [], "rows": []}
    assert money_info(search) == {"columns": ["cost"], "currency": "currency", "decimals": {}}
    assert money_info({"columns": ["Cost"], "types": [], "rows": [["1"]]}) is None
    assert money_info({"columns": ["Total", "Currency"], "types": [], "rows": []}) is None
