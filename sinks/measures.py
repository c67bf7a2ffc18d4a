"""Exact report arithmetic: rates and averages with Decimal ROUND_HALF_UP, costs per currency.

Money never passes through float. A cost is kept per currency (:class:`CostByCurrency`);
rows of different currencies are never added together.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CostByCurrency", "average", "money_str", "rate"]

_RATE = Decimal("0.01")
_MONEY = Decimal("0.00000001")


def rate(part: int, whole: int) -> Decimal:
    """``100 * part / whole`` rounded half-up to 2 decimals; ``0.00`` when ``whole`` is 0."""
    if whole == 0:
        return Decimal("0.00")
    return (Decimal(100) * Decimal(part) / Decimal(whole)).quantize(_RATE, ROUND_HALF_UP)


def average(amount: Decimal, count: int) -> Decimal:
    """``amount / count`` rounded half-up to 8 decimals; ``0E-8`` when ``count`` is 0."""
    if count == 0:
        return Decimal(0).quantize(_MONEY)
    return (Decimal(amount) / Decimal(count)).quantize(_MONEY, ROUND_HALF_UP)


def money_str(amount: Decimal) -> str:
    """Money with exactly 8 fractional digits (``0.04465920``)."""
    return format(Decimal(amount).quantize(_MONEY), "f")


class CostByCurrency:
    """Sums of cost per currency. Currency ``''`` (unpriced) is kept only if its cost is not 0.

    A currency whose cost sums to 0 is still listed when chargeable messages were priced in it
    (``priced_messages``), so a free message shows its currency with cost 0.
    """

    def __init__(self) -> None:
        self._sums: dict[str, Decimal] = {}

    def add(self, currency: str, amount: Decimal, *, priced_messages: int = 0) -> None:
        if currency == "" and amount == 0:
            return
        if amount == 0 and priced_messages <= 0:
            return
        self._sums[currency] = self._sums.get(currency, Decimal(0)) + Decimal(amount)

    def merge(self, other: CostByCurrency) -> None:
        for cur, amount in other._sums.items():
            self._sums[cur] = self._sums.get(cur, Decimal(0)) + amount

    def items(self) -> list[tuple[str, Decimal]]:
        return sorted((c, a.quantize(_MONEY)) for c, a in self._sums.items())

    def as_dict(self) -> dict[str, str]:
        return {c: money_str(a) for c, a in self.items()}

    def currency(self) -> str:
        """Currencies as one cell: ``EUR``, or ``EUR;USD`` when several."""
        return ";".join(c for c, _ in self.items())

    def cost(self) -> str:
        """Costs as one cell parallel to :meth:`currency` (``0.00000000`` when none)."""
        items = self.items()
        if not items:
            return money_str(Decimal(0))
        return ";".join(money_str(a) for _, a in items)

    def average(self, count: int) -> str:
        """Per-currency average over ``count`` messages, parallel to :meth:`currency`."""
        items = self.items()
        if not items:
            return money_str(Decimal(0))
        return ";".join(money_str(average(a, count)) for _, a in items)

