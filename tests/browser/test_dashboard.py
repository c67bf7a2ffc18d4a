"""The dashboard in headless Chromium over a database loaded through the real pipeline.

Every number on the page is compared with the simulator's ground truth or with the output of
``smsflow report``; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import time
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from babel.numbers import get_currency_precision

from dashboard.queries import money_info
from producers.bodies import WEBHOOKS, parse_body
from producers.send import SendProducer
from simulator.simulation import Simulation
from sinks.table_fit import money_for_table
from tests.browser.conftest import ARTIFACTS, Server, off_loop
from tests.e2e import expect
from tests.e2e.harness import SMSFLOW, Pipeline
from tests.integration.test_webhooks import DLR

pytestmark = pytest.mark.browser


def tiles_expected(truth: dict[str, Any], subaccount: str | None = None) -> dict[str, str]:
    """Tile texts computed from truth.json (one subaccount's daily rows when given)."""
    rows = [r for r in truth["daily"] if subaccount in (None, r["subaccount_id"])]
    total = sum(int(r["total"]) for r in rows)
    delivered = sum(int(r["delivered"]) for r in rows)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        for cur, amount in r["cost"].items():
            cost[cur] += Decimal(amount)
    countries = {r["country"] for r in rows if r["country"] and int(r["total"]) > 0}
    return {
        "tile-total": str(total),
        "tile-rate": f"{expect.rate(delivered, total)} %",
        # the currency's usual decimals (EUR 2), rounded half-up; the exact sum in the title
        "tile-cost": " + ".join(
            f"{cost[c].quantize(Decimal('0.01'), ROUND_HALF_UP)} {c}" for c in sorted(cost)),
        "tile-countries": str(len(countries)),
    }


# money columns of the reports and of the message search: shown in the currency's decimals
MONEY = ("Cost", "Cost per Part", "Average Cost", "Cost per Delivered", "cost")


def rounded(amount: str, currency: str) -> str:
    """``amount`` half-up to the currency's usual decimals (CLDR via Babel: EUR 2, JPY 0,
    KWD 3), each amount of a ``;``-separated cell in its own currency."""
    if not amount:
        return amount
    amounts, codes = amount.split(";"), currency.split(";")
    assert len(amounts) == len(codes), (amount, currency)
    return ";".join(
        format(Decimal(a).quantize(Decimal(1).scaleb(-get_currency_precision(c)), ROUND_HALF_UP),
               "f") for a, c in zip(amounts, codes, strict=True))


def as_shown(columns: list[str], rows: list[list[str]]) -> list[list[str]]:
    """Text rows as the page's tables show them: money rounded, everything else as is."""
    cur = next(i for i, c in enumerate(columns) if c.lower() == "currency")
    return [[rounded(v, r[cur]) if c in MONEY else v for c, v in zip(columns, r, strict=True)]
            for r in rows]


def money_titles(columns: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The tooltips of a table's cells: the exact amount on money cells, none elsewhere."""
    return [[v if c in MONEY and v else "" for c, v in zip(columns, r, strict=True)]
            for r in rows]


def table_titles(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.title))")


def tiles(page: Any) -> dict[str, str]:
    return {t: page.locator(f"#{t}").inner_text() for t in (
        "tile-total", "tile-rate", "tile-cost", "tile-countries")}


def wait_ready(page: Any) -> None:
    page.wait_for_function("document.body.dataset.state === 'ready'")


def table_rows(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def busiest(truth: dict[str, Any]) -> str:
    totals: Counter[str] = Counter()
    for r in truth["daily"]:
        totals[r["subaccount_id"]] += int(r["total"])
    return totals.most_common(1)[0][0]


def cli_csv(p: Pipeline, *args: str) -> bytes:
    proc = subprocess.run([*SMSFLOW, "report", "daily", *args, "--format", "csv"],
                          env=p.env, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_tiles_charts_and_tables_equal_truth(
    page: Any, dashboard: Server, sim: Simulation
) -> None:
    truth = sim.truth
    page.goto(dashboard.url)
    wait_ready(page)
    assert tiles(page) == tiles_expected(truth)
    assert tiles(page)["tile-total"] == str(truth["dashboard"]["total"])
    assert tiles(page)["tile-countries"] == str(truth["dashboard"]["countries"])
    assert page.locator("#tile-cost").get_attribute("title") == " + ".join(
        f"{v} {c}" for c, v in sorted(truth["dashboard"]["cost"].items()))  # full precision
    assert page.locator("#empty").is_hidden()
    assert page.locator("#error").is_hidden()
    columns = {n: httpx.get(f"{dashboard.url}api/reports/{n}", timeout=60).json()["columns"]
               for n in ("daily", "conversions", "countries")}
    # money in the currency's decimals, the exact truth (8 decimals) as each cell's tooltip
    for name, want in [("daily", expect.daily(truth)),
                       ("conversions", expect.conversions(truth))]:
        assert table_rows(page, f"#table-{name}") == as_shown(columns[name], want), name
        assert table_titles(page, f"#table-{name}") == money_titles(columns[name], want), name
    shown = table_rows(page, "#table-countries")
    active = [i for i, r in enumerate(shown) if int(r[2]) > 0]
    want = expect.countries(truth)
    assert [shown[i] for i in active] == as_shown(columns["countries"], want)
    titles = table_titles(page, "#table-countries")
    assert [titles[i] for i in active] == money_titles(columns["countries"], want)
    days = len(truth["dashboard"]["per_day"])
    for chart in ("chart-count", "chart-cost"):
        assert page.locator(f"#{chart} rect.bar").count() == days
    assert page.locator("#chart-rate circle.dot").count() == days
    bars = page.eval_on_selector_all("#chart-count rect title", "ts => ts.map(t => t.textContent)")
    assert bars == [f"{d['day']}: {d['total']}" for d in truth["dashboard"]["per_day"]]
    page.screenshot(path=str(ARTIFACTS / "dashboard-all.png"), full_page=True)


def test_subaccount_filter_equals_that_subaccounts_truth(
    page: Any, dashboard: Server, sim: Simulation
) -> None:
    truth = sim.truth
    sub = busiest(truth)
    page.goto(dashboard.url)
    wait_ready(page)
    before = tiles(page)
    page.fill("#subaccount", sub)
    page.click("#apply")
    wait_ready(page)
    page.wait_for_function(
        f"document.getElementById('tile-total').textContent !== '{before['tile-total']}'"
    )
    expected = tiles_expected(truth, sub)
    assert tiles(page) == expected
    assert int(expected["tile-total"]) < int(before["tile-total"])
    daily = httpx.get(f"{dashboard.url}api/reports/daily", timeout=60).json()["columns"]
    assert table_rows(page, "#table-daily") == as_shown(daily, expect.daily(truth, sub))
    assert f"subaccount={sub}" in page.url
    page.screenshot(path=str(ARTIFACTS / "dashboard-subaccount.png"), full_page=True)

    # a one-day custom period: the day's row of the truth
    day = truth["dashboard"]["per_day"][0]
    page.fill("#subaccount", "")
    page.fill("#from", day["day"])
    page.fill("#to", day["day"])
    page.click("#apply")
    wait_ready(page)
    page.wait_for_function(
        f"document.getElementById('tile-total').textContent === '{day['total']}'"
    )
    assert page.locator("#tile-rate").inner_text() == f"{day['delivery_rate']} %"
    assert page.locator("#period").input_value() == "custom"


def test_csv_download_equals_report_cli(
    page: Any, dashboard: Server, pipeline: Pipeline, sim: Simulation
) -> None:
    truth = sim.truth
    sub = busiest(truth)
    first, last = truth["meta"]["first_day"], truth["meta"]["last_day"]
    for query, args in [
        ("", ()),
        (f"?subaccount={sub}&from={first}&to={last}",
         ("--subaccount", sub, "--from", first, "--to", last)),
    ]:
        page.goto(dashboard.url + query)
        wait_ready(page)
        with page.expect_download() as info:
            page.click("#daily-csv")
        download = info.value
        assert download.suggested_filename == "daily.csv"
        path = ARTIFACTS / f"daily{'-filtered' if query else ''}.csv"
        download.save_as(path)
        assert path.read_bytes() == cli_csv(pipeline, *args)


def test_campaign_detail_and_message_search(
    page: Any, dashboard: Server, sim: Simulation
) -> None:
    truth = sim.truth
    page.goto(dashboard.url)
    wait_ready(page)
    assert page.locator("#campaign-count").inner_text() == f"({len(truth['campaigns'])})"
    first = page.locator("#table-campaigns tbody tr").first
    name = first.locator("td").first.inner_text()
    first.click()
    detail = page.locator("#campaign-detail")
    assert detail.is_visible()
    want = expect.campaigns(truth)[name]
    got = [detail.locator(f"dd[data-field='{f}']").inner_text()
           for f in ("Total", "Delivered", "Delivery Rate", "Cost", "Currency")]
    assert got == want

    requests = [r for k, _u, r in sim.events if k == "requests"]
    req = requests[len(requests) // 2]
    page.fill("#search-q", req["umid"])
    page.click("#search-go")
    box = page.locator("#message-detail")
    box.locator("dd[data-field='umid']").wait_for()
    assert box.locator("dd[data-field='umid']").inner_text() == req["umid"]
    assert box.locator("dd[data-field='destination']").inner_text() == req["destination"]
    assert box.locator("dd[data-field='subaccount_id']").inner_text() == req["subaccount_id"]
    assert box.locator("#timeline tbody tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-message.png"), full_page=True)

    same_dest = sorted(r["umid"] for r in requests if r["destination"] == req["destination"])
    page.fill("#search-q", req["destination"])
    page.click("#search-go")
    page.wait_for_function(
        f"document.getElementById('search-status').textContent.includes("
        f"'{len(same_dest)} message(s) match')"
    )
    assert sorted(r[0] for r in table_rows(page, "#table-logs")) == same_dest

    with_client_id = [r for r in requests if r.get("client_message_id")]
    if with_client_id:
        cid = with_client_id[0]
        page.fill("#search-q", cid["client_message_id"])
        page.click("#search-go")
        page.wait_for_function(
            f"document.querySelector(\"#message-detail dd[data-field='umid']\")"
            f"?.textContent === '{cid['umid']}'"
        )


def test_every_money_cell_is_the_apis_value_rounded(page: Any, dashboard: Server) -> None:
    """Each table's money cells: the API's exact value half-up to the currency's decimals, the
    exact value as the tooltip; every other cell as the API gives it."""
    urls = {f"table-{n}": f"api/reports/{n}" for n in (
        "daily", "countries", "campaigns", "conversions")}
    urls["table-logs"] = "api/reports/logs?limit=200"
    api = {t: httpx.get(dashboard.url + u, timeout=60).json() for t, u in urls.items()}
    page.goto(dashboard.url)
    wait_ready(page)
    checked = 0
    for table, res in api.items():
        cells = _cells(res)
        money = [c for c in res["columns"] if c in MONEY]
        assert money and cells, table
        assert table_rows(page, f"#{table}") == as_shown(res["columns"], cells), table
        assert table_titles(page, f"#{table}") == money_titles(res["columns"], cells), table
        exact = [v for r in cells for c, v in zip(res["columns"], r, strict=True)
                 if c in money and v]
        assert any(len(v.split(".")[-1]) == 8 for v in exact), table  # the API: full precision
        checked += len(exact)
    assert checked > 100
    dash = httpx.get(dashboard.url + "api/reports/dashboard", timeout=60).json()
    total = dict(zip(dash["columns"], dash["rows"][-1], strict=True))
    assert page.locator("#tile-cost").inner_text() == " + ".join(
        f"{rounded(a, c)} {c}" for a, c in zip(
            total["Cost"].split(";"), total["Currency"].split(";"), strict=True))
    # the message search table rounds its cost column the same way
    logs = api["table-logs"]
    umid = logs["rows"][0][logs["columns"].index("Message ID")]
    page.fill("#search-q", umid)
    page.click("#search-go")
    page.wait_for_function(
        "document.getElementById('search-status').textContent.startsWith('1 message')")
    found = httpx.get(f"{dashboard.url}api/messages", params={"q": umid}, timeout=60).json()
    assert table_rows(page, "#table-logs") == as_shown(found["columns"], _cells(found))
    assert table_titles(page, "#table-logs") == money_titles(found["columns"], _cells(found))


def test_money_digits_equal_the_terminals(page: Any, empty_dashboard: Server) -> None:
    """The page's rounding (app.js) gives the digits of ``smsflow report`` tables
    (``money_for_table``) with the decimals the API sends, also for JPY, KWD and PKR (where
    Chromium's own Intl data says 0 decimals and the terminal's CLDR data 2)."""
    cases = [("1913.02409780", "EUR"), ("1913.02500000", "EUR"), ("0.00499999", "EUR"),
             ("1.50000000", "JPY"), ("2.49999999", "JPY"), ("1.00050000", "KWD"),
             ("1.00049999", "KWD"), ("12.34500000", "PKR"), ("-0.00400000", "EUR"),
             ("-2.50000000", "JPY"), ("1.50000000;2.50000000", "JPY;KWD"),
             ("0.12500000;7.99950000", "EUR;KWD"), ("99999999999.99500000", "EUR"),
             ("3.14159265", ""), ("", "EUR")]
    res = {"columns": ["Cost", "Currency"], "types": [], "rows": [list(c) for c in cases]}
    decimals = money_info(res)["decimals"]
    assert decimals == {"EUR": 2, "JPY": 0, "KWD": 3, "PKR": 2}
    page.goto(empty_dashboard.url)
    wait_ready(page)
    shown = page.evaluate("([cases, d]) => cases.map(([a, c]) => moneyText(a, c, d))",
                          [cases, decimals])
    assert shown == [money_for_table(a, c) for a, c in cases]
    assert shown[:8] == ["1913.02", "1913.03", "0.00", "2", "2", "1.001", "1.000", "12.35"]


def test_invalid_filters_show_an_error_not_a_500(page: Any, dashboard: Server) -> None:
    cases = [
        ("?country=ZZZ", "country must be an ISO 3166 alpha-2 code (two letters), got 'ZZZ'"),
        ("?from=2024-13-45", "from wants a date YYYY-MM-DD, got '2024-13-45'"),
        ("?from=2024-02-01&to=2024-01-01", "--from 2024-02-01 is after --to 2024-01-01"),
    ]
    for query, message in cases:
        page.goto(dashboard.url + query)
        page.wait_for_function("document.body.dataset.state === 'error'")
        assert page.locator("#error").inner_text() == message
        assert page.locator("#content").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "dashboard-invalid-filter.png"), full_page=True)
    page.click("#reset")
    wait_ready(page)
    page.fill("#search-q", "x" * 200)
    page.click("#search-go")
    page.wait_for_function("document.getElementById('error').textContent.startsWith('search')")
    assert page.locator("#error").inner_text() == (
        "search must be printable text of at most 128 characters"
    )


def test_empty_database_shows_the_empty_state(page: Any, empty_dashboard: Server) -> None:
    page.goto(empty_dashboard.url)
    wait_ready(page)
    assert page.locator("#empty").is_visible()
    assert tiles(page) == {
        "tile-total": "0", "tile-rate": "0.00 %", "tile-cost": "0.00",
        "tile-countries": "0",
    }
    assert page.locator("#error").is_hidden()
    assert page.locator("#table-daily").inner_text() == "No rows."
    page.screenshot(path=str(ARTIFACTS / "dashboard-empty.png"), full_page=True)
    page.fill("#search-q", "+441234567890")
    page.click("#search-go")
    page.wait_for_function("document.getElementById('search-status').textContent.startsWith('0')")


def test_dashboard_mounted_in_run(page: Any, pipeline: Pipeline, sim: Simulation) -> None:
    page.goto(f"http://127.0.0.1:{pipeline.settings.health_port}/dashboard/")
    wait_ready(page)
    assert tiles(page) == tiles_expected(sim.truth)
    assert "smsflow run (in process)" in page.locator("#source").inner_text()


def _dead_letter_counts(p: Pipeline) -> dict[tuple[str, str, str], int]:
    res = p.client.report("deadletters")
    return {(r[0], r[1], r[2]): int(r[3]) for r in res.rows}


def _wait_dead_letters(p: Pipeline, want: dict[tuple[str, str, str], int]) -> None:
    deadline = time.monotonic() + 120
    while (got := _dead_letter_counts(p)) != want:
        assert time.monotonic() < deadline, f"dead letters {got}, want {want}\n{p.tail()}"
        time.sleep(1)


async def _bad_input(p: Pipeline) -> None:
    """Receiver dead letters (malformed JSON, bad umid) and a receipt the worker refuses
    (keyed by another umid)."""
    base = f"http://127.0.0.1:{p.settings.webhook_port}/webhooks"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for body in ('{"payload": ', "not json"):
            assert (await client.post("/dlr", content=body)).status_code == 400
        assert (await client.post("/inbound", json={"payload": {"umid": "x"}})).status_code == 400
    record = parse_body(WEBHOOKS["dlr"], DLR.encode(), now=dt.datetime.now(dt.UTC))
    async with SendProducer(p.settings, ack_timeout=10) as producer:
        await producer.send(p.settings.topics.receipts, "DeliveryReceipt",
                            b"00000000-0000-4000-8000-000000000000", record)


def _cli(p: Pipeline, *args: str) -> str:
    proc = subprocess.run([*SMSFLOW, "deadletters", *args], env=p.env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_dead_letter_panel_equals_report_cli_and_metrics(
    page: Any, dashboard: Server, pipeline: Pipeline
) -> None:
    p = pipeline
    t = p.settings.topics
    off_loop(asyncio.run, _bad_input(p))
    want = {("receiver", t.receipts, "malformed-json"): 2,
            ("receiver", t.inbound, "missing-umid"): 1,
            ("worker", t.receipts, "key-mismatch"): 1}
    _wait_dead_letters(p, want)

    api = httpx.get(dashboard.url + "api/reports/deadletters", timeout=30).json()
    page.goto(dashboard.url)
    wait_ready(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-deadletters.png"), full_page=True)
    shown = table_rows(page, "#table-deadletters")
    assert shown == [[str(v) for v in row] for row in api["rows"]]
    assert {(r[0], r[1], r[2]): int(r[3]) for r in shown} == want
    cli = list(csv.reader(io.StringIO(_cli(p, "list", "--format", "csv"))))
    assert cli[0][:4] == ["Component", "Topic", "Reason", "Dead Letters"]
    assert {(r[0], r[1], r[2]): int(r[3]) for r in cli[1:]} == want
    metrics = httpx.get(f"http://127.0.0.1:{p.settings.health_port}/metrics", timeout=30).text
    for (component, topic, reason), n in want.items():
        line = (f'smsflow_dead_letters_by_reason{{component="{component}",reason="{reason}",'
                f'topic="{topic}"}} {float(n)}')
        assert line in metrics, metrics

    # replay with the real worker: the record still fails and goes back to the dead letters;
    # a second replay leaves it there (no loop), every count stays
    assert "replayed 1 record(s)" in _cli(p, "replay", "--reason", "key-mismatch")
    again = {**want, ("worker", t.receipts, "key-mismatch"): 2}
    _wait_dead_letters(p, again)
    second = _cli(p, "replay", "--reason", "key-mismatch")
    assert "replayed 0 record(s)" in second and "replayed before" in second
    assert "failed again after a replay" in second
    time.sleep(3)
    assert _dead_letter_counts(p) == again


# ------------------------------------------------------------- delivery-quality panels (19)
def _cells(res: dict[str, Any]) -> list[list[str]]:
    """API rows as the page's tables show them (null as empty)."""
    return [["" if v is None else str(v) for v in row] for row in res["rows"]]


def _titles(page: Any, chart: str) -> list[str]:
    return page.eval_on_selector_all(f"#{chart} rect title", "ts => ts.map(t => t.textContent)")


def _wait_alerts(p: Pipeline, dashboard: Server, sim: Simulation) -> dict[str, Any]:
    """Re-evaluate the whole span now that everything landed (run's alerts file: low
    thresholds), then the alert instances the dashboard's API lists."""
    first = dt.datetime.combine(sim.config.first_day, dt.time(), tzinfo=dt.UTC)
    until = first + dt.timedelta(days=sim.config.days, hours=12)
    resp = p.client._post("/api/alerts/evaluate", {"since": first.isoformat(),
                                                   "until": until.isoformat()})
    assert "transitions" in resp
    res = httpx.get(dashboard.url + "api/alerts", timeout=30).json()
    assert res["rows"], "the low thresholds of the browser tests raise some alerts"
    return res


def test_quality_panels_equal_the_report_api(
    page: Any, pipeline: Pipeline, dashboard: Server, sim: Simulation
) -> None:
    alerts = _wait_alerts(pipeline, dashboard, sim)
    api = {n: httpx.get(f"{dashboard.url}api/reports/{n}", timeout=60).json()
           for n in ("latency", "pending", "errors", "replies")}
    page.goto(dashboard.url)
    wait_ready(page)
    for name in ("latency", "pending", "errors", "replies"):
        assert api[name]["rows"], name
        assert table_rows(page, f"#table-{name}") == _cells(api[name]), name
    assert table_rows(page, "#table-alerts") == _cells(alerts)
    state = alerts["columns"].index("State")
    open_ = sum(1 for r in alerts["rows"] if r[state] != "resolved")
    metrics = httpx.get(f"http://127.0.0.1:{pipeline.settings.health_port}/metrics",
                        timeout=30).text
    firing = [ln for ln in metrics.splitlines() if ln.startswith("smsflow_alert_firing{")]
    assert len(firing) == open_  # one series per open alert, as the panel counts them
    assert "smsflow_alert_evaluated_timestamp_seconds" in metrics
    assert page.locator("#alert-count").inner_text() == (
        f"({open_} open, {len(alerts['rows'])} in all)")
    # charts: one bar per API row, its title the API's number
    pend = api["pending"]
    assert _titles(page, "chart-coverage") == [f"{r[0]}: {r[3]}" for r in pend["rows"][:-1]]
    lat = api["latency"]
    last = lat["rows"][-1][0]
    p95 = lat["columns"].index("Submit-Delivered p95 (s)")
    assert _titles(page, "chart-latency") == [
        f"{r[1]}/{r[2]}: {r[p95] if r[p95] is not None else 0}"
        for r in lat["rows"] if r[0] == last]
    ages = ["< 1 h", "1-6 h", "6-24 h", "24-48 h", "Expired"]
    total = dict(zip(pend["columns"], pend["rows"][-1], strict=True))
    assert pend["rows"][-1][0] == "Total"
    assert _titles(page, "chart-ageing") == [f"{a}: {total[a]}" for a in ages]
    rep = api["replies"]
    assert _titles(page, "chart-replies") == [f"{r[0]}/{r[1]}: {r[4]}" for r in rep["rows"]]
    optouts = rep["columns"].index("Opt-outs")
    assert _titles(page, "chart-optouts") == [
        f"{r[0]}/{r[1]}: {r[optouts]}" for r in rep["rows"]]
    err = sorted(api["errors"]["rows"], key=lambda r: -r[5])[:12]
    assert sorted(_titles(page, "chart-errors")) == sorted(
        f"{r[1]} {r[3] if r[3] is not None else ''}".strip() + f": {r[5]}" for r in err)
    page.screenshot(path=str(ARTIFACTS / "dashboard-quality.png"), full_page=True)


def test_quality_panels_follow_the_filters(
    page: Any, dashboard: Server, sim: Simulation
) -> None:
    country = "DE"
    want = {n: httpx.get(f"{dashboard.url}api/reports/{n}?country={country}", timeout=60).json()
            for n in ("latency", "pending", "errors")}
    page.goto(f"{dashboard.url}?country={country}&period=all")
    wait_ready(page)
    for name, res in want.items():
        assert res["rows"], name
        assert table_rows(page, f"#table-{name}") == _cells(res), name
    assert {r[1] for r in table_rows(page, "#table-latency")} == {country}
