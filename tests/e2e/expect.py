"""Expected report rows computed from the simulator's ground truth (truth.json).

Each function returns the rows a report must show, as lists of strings in the report's
column order, so tests compare the CSV output exactly (counts, rates, cost to 8 decimals).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["campaigns", "conversions", "countries", "daily", "dashboard", "money", "rate"]

COUNTS = ("total", "sent", "chargeable", "delivered", "undelivered", "rejected", "received",
          "segments", "inbound")


def rate(part: int, whole: int) -> str:
    if whole == 0:
        return "0.00"
    return str((Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def money(cost: dict[str, str]) -> tuple[str, str]:
    """(Cost, Currency) cells: amounts ';'-separated per currency, 0 when nothing was priced."""
    if not cost:
        return "0.00000000", ""
    cur = sorted(cost)
    return ";".join(f"{Decimal(cost[c]):.8f}" for c in cur), ";".join(cur)


def _sum(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, Any]]:
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[f] for f in key)
        acc = out.setdefault(k, {**{c: 0 for c in COUNTS}, "cost": defaultdict(Decimal)})
        for c in COUNTS:
            acc[c] += int(r[c])
        for cur, amount in r["cost"].items():
            acc["cost"][cur] += Decimal(amount)
    return out


def _cost(acc: dict[str, Any]) -> dict[str, str]:
    return {c: str(v) for c, v in acc["cost"].items()}


def daily(truth: dict[str, Any], subaccount: str | None = None) -> list[list[str]]:
    """Rows of ``report daily`` (optionally for one subaccount), by day."""
    rows = [r for r in truth["daily"] if subaccount in (None, r["subaccount_id"])]
    out = []
    for (day,), a in sorted(_sum(rows, ("day",)).items()):
        cost, cur = money(_cost(a))
        out.append([
            day, str(a["total"]), str(a["sent"]), str(a["chargeable"]), str(a["delivered"]),
            str(a["undelivered"]), str(a["rejected"]), str(a["received"]),
            rate(a["delivered"], a["total"]), cost, cur, str(a["inbound"]),
        ])
    return out


def dashboard(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report dashboard`` without the Destination Countries of the day rows."""
    d = truth["dashboard"]
    out = []
    for p in d["per_day"]:
        cost, cur = money(p["cost"])
        out.append([p["day"], str(p["total"]), str(p["delivered"]), p["delivery_rate"], cost, cur,
                    p["average_cost"]])
    cost, cur = money(d["cost"])
    out.append(["Total", str(d["total"]), str(d["delivered"]), d["delivery_rate"], cost, cur])
    return out


def countries(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report countries`` with outbound traffic, by (country, operator)."""
    out = []
    for (country, operator), a in sorted(_sum(truth["daily"], ("country", "operator")).items()):
        if a["total"] == 0:
            continue
        cost, cur = money(_cost(a))
        out.append([
            country, operator, str(a["total"]), str(a["sent"]), str(a["delivered"]),
            str(a["undelivered"]), str(a["rejected"]), rate(a["delivered"], a["total"]),
            str(a["segments"]), cost, cur,
        ])
    return out


def campaigns(truth: dict[str, Any]) -> dict[str, list[str]]:
    """campaign -> [Total, Delivered, Delivery Rate, Cost, Currency]."""
    out = {}
    for c in truth["campaigns"]:
        cost, cur = money(c["cost"])
        out[c["campaign_id"]] = [str(c["total"]), str(c["delivered"]), c["delivery_rate"], cost,
                                 cur]
    return out


def conversions(truth: dict[str, Any]) -> list[list[str]]:
    out = []
    for c in truth["conversions"]:
        cost, cur = money(c["cost"])
        out.append([c["day"], str(c["verification_sent"]), str(c["converted"]),
                    c["conversion_rate"], cost, cur])
    return out
