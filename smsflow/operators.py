"""One name per mobile operator: MCC/MNC and operator names to one canonical name.

The table is mcc-mnc-p1's ``p1_mnc`` (MCC+MNC -> brand, operator, countries; aggregated from
Wikipedia and ITU-T, pinned in pyproject.toml). Rules (README "Acceptance policy"):

* MCC/MNC the table lists -> its ``brand`` (724-02 -> ``TIM``); one it does not list stays
  ``"<mcc>-<mnc>"`` and the message is flagged ``operator_unknown``.
* A name -> the brand of the networks of the message's destination country whose brand or
  operator name equals it, ignoring case and punctuation (``Free Mobile`` ->
  ``Free``); failing that, whose brand or operator name it contains as whole words or is
  contained in (``T-Mobile USA`` -> ``T-Mobile``, ``O2`` -> ``O2 (UK)``). A name that matches
  no network, or networks of different brands (``Reliance Jio``: ``Reliance`` and ``Jio``),
  stays as it is: it is never guessed. The country alone is the context (not a receipt's MCC,
  which a ported number changes): with it fixed, a canonical name maps to itself, so the worker
  may normalise at every event and ends with the same name whatever the order of events.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import cache, lru_cache
from importlib import resources

__all__ = ["OPERATOR_UNKNOWN", "RENAMED", "canonical_name", "is_unresolved", "operator_of_mcc_mnc"]

OPERATOR_UNKNOWN = "operator_unknown"

_Entry = tuple[str, str]  # (brand, operator)


@cache
def _table() -> tuple[dict[str, _Entry], dict[str, list[_Entry]]]:
    """(mccmnc -> entry, country -> entries) of networks with a name."""
    raw = json.loads(resources.files("mcc_mnc_lut").joinpath("p1_mnc.json").read_text("utf-8"))
    by_code: dict[str, _Entry] = {}
    by_country: dict[str, list[_Entry]] = defaultdict(list)
    spelling: dict[str, str] = {}  # one spelling per brand (AIRCEL / Aircel): the first code's
    for code, value in sorted(raw[1].items()):
        first = value[0] if isinstance(value, list) else value
        brand = (first.get("brand") or first.get("operator") or "").strip()
        if not brand:  # networks no longer operating are kept: old receipts name them
            continue
        brand = spelling.setdefault(_words(brand), brand)
        entry = (brand, (first.get("operator") or "").strip())
        by_code[code] = entry
        for cc2 in first.get("cc2s") or ():
            by_country[cc2].append(entry)
    return by_code, dict(by_country)


@lru_cache(maxsize=4096)
def operator_of_mcc_mnc(mcc: str, mnc: str) -> str:
    """The brand of MCC/MNC, or ``"<mcc>-<mnc>"`` when the table does not list it."""
    entry = _table()[0].get(mcc.strip() + mnc.strip())
    return entry[0] if entry is not None else f"{mcc}-{mnc}"


def is_unresolved(operator: str | None, mcc: str | None, mnc: str | None) -> bool:
    """True when ``operator`` is the ``"<mcc>-<mnc>"`` stand-in of an unlisted network."""
    return operator is not None and mcc is not None and operator == f"{mcc}-{mnc}"


def _words(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def _contains(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (f" {b} " in f" {a} " or f" {a} " in f" {b} ")


#: (country, name in words) -> the table's brand, for networks whose libphonenumber name (what
#: requests carry) differs from the MCC/MNC table's (what receipts say) by more than spelling:
#: renamed or merged networks. Every target is a brand of that country's table (a unit test
#: checks), so canonical names stay fixed points.
RENAMED: dict[tuple[str, str], str] = {
    ("GB", "three"): "3",  # 234-20 Hutchison 3G UK; libphonenumber says both "3" and "Three"
    ("DE", "t mobile"): "Telekom",  # 262-01 Telekom Deutschland (T-Mobile until 2010)
    ("DE", "eplus"): "O2",  # 262-03 E-Plus, merged into Telefonica O2 (2014)
    ("IN", "reliance jio"): "Jio",  # 405-8xx Reliance Jio Infocomm
    ("IN", "vodafone"): "Vi India",  # 404-20/22 Vodafone Idea (merged 2018)
    ("IN", "idea"): "Vi India",
}


@lru_cache(maxsize=4096)
def canonical_name(name: str, country: str | None) -> str:
    """The canonical name of operator ``name`` among the networks of ``country``; ``name``
    itself when no country, no network or networks of several brands match."""
    entries = _table()[1].get(country or "", [])
    words = _words(name)
    if not words:
        return name
    renamed = RENAMED.get((country or "", words))
    if renamed is not None:
        return renamed
    brands = {b for b, o in entries if words in (_words(b), _words(o))}
    if not brands:
        brands = {b for b, o in entries
                  if _contains(words, _words(b)) or _contains(words, _words(o))}
    return brands.pop() if len(brands) == 1 else name
