"""Simulated incidents (issue 19) and the ground truth of the alerts they must raise.

An incident hits the messages to one country (and operator, as the reports name it)
submitted from hour ``start_hour`` (counted from the first simulated day's 00:00 UTC) for
``hours`` hours:

- ``collapse``: ``share`` (0.9) of the messages that would be delivered are undelivered
  instead (error codes as usual): the operator's delivery rate collapses.
- ``latency``: final receipts come ``delay_s`` (300) after submission or later: a latency
  spike (seen as soon as the slow messages are delivered: ``delay_s`` must stay well under
  the evaluation interval for it to fire within one).
- ``errors``: ``share`` (0.5) of the messages fail with ``error_code`` (34): an error-code
  burst.

Text form (``smsflow simulate --incident``): ``KIND:CC[/OPERATOR]@H+K``, e.g.
``collapse:DE/Vodafone@36+2``.

:func:`expected_alerts` is the ground truth: the (rule, key) that must be firing at every
evaluation instant from one evaluation interval after the start until the end, and must be
resolved one window plus the incident's delay plus an interval after the end (its last
messages leave the window); other alerts
may fire on the incident's country only while it lasts (a collapsed operator also raises its
error codes' shares, a slow one its delivery rate by the window's end).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from smsflow.errors import ConfigError
from smsflow.operators import canonical_name

__all__ = ["KINDS", "Incident", "expected_alerts", "parse_incident"]

KINDS = ("collapse", "latency", "errors")
_RULE = {"collapse": "delivery_rate_operator", "latency": "latency_p95",
         "errors": "error_code_share"}
_TEXT = re.compile(r"^(\w+):([A-Z]{2})(?:/([^@]+))?@(\d+)\+(\d+)$")


@dataclass(frozen=True)
class Incident:
    """One incident; see the module docstring."""

    kind: str
    country: str
    start_hour: int
    hours: int
    operator: str = ""  # operator (report name or an old one); "" = all of the country
    share: float = 0.0  # 0: the kind's default (collapse 0.9, errors 0.5)
    delay_s: int = 300
    error_code: int = 34

    def __post_init__(self) -> None:
        if self.share == 0.0:
            object.__setattr__(self, "share", 0.5 if self.kind == "errors" else 0.9)
        if self.kind not in KINDS:
            raise ConfigError(f"incident kind must be one of {', '.join(KINDS)}, "
                              f"not {self.kind!r}")
        if self.start_hour < 0 or self.hours < 1:
            raise ConfigError("incident needs start_hour >= 0 and hours >= 1")
        if not 0 < self.share <= 1:
            raise ConfigError(f"incident share must be in (0, 1], not {self.share}")

    def hits(self, country: str | None, operator: str | None, submitted_us: int,
             start_us: int) -> bool:
        """True when a message to ``country``/``operator`` submitted then is affected."""
        if country != self.country:
            return False
        if self.operator and (operator is None or canonical_name(operator, country)
                              != canonical_name(self.operator, country)):
            return False  # by the report's operator name: DE 'Eplus' numbers are O2's too
        hour = 3600 * 1_000_000
        begin = start_us + self.start_hour * hour
        return begin <= submitted_us < begin + self.hours * hour

    def key(self) -> str:
        """The alert key of the operator (as reports name it) or country."""
        if not self.operator:
            return self.country
        return f"{self.country}/{canonical_name(self.operator, self.country)}"


def parse_incident(text: str) -> Incident:
    """``KIND:CC[/OPERATOR]@H+K`` as an :class:`Incident`; ConfigError when malformed."""
    m = _TEXT.match(text.strip())
    if not m:
        raise ConfigError(f"incident wants KIND:CC[/OPERATOR]@H+K (e.g. "
                          f"collapse:DE/Vodafone@36+2), got {text!r}")
    kind, country, operator, start, hours = m.groups()
    return Incident(kind, country, int(start), int(hours), operator or "")


def expected_alerts(incidents: tuple[Incident, ...], first_day: dt.date, *, interval_s: int,
                    window_s: int) -> list[dict[str, Any]]:
    """Per incident: the rule and key that must fire, by when it must fire and by when it must
    be resolved (event times), and the key prefix other alerts may carry meanwhile."""
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
    out = []
    for inc in incidents:
        begin = start + dt.timedelta(hours=inc.start_hour)
        end = begin + dt.timedelta(hours=inc.hours)
        key = inc.key()
        if inc.kind == "errors":
            key = f"{key}/{inc.error_code}"
        lag = dt.timedelta(seconds=inc.delay_s if inc.kind == "latency" else 0)
        rule = _RULE[inc.kind] if inc.operator else _RULE[inc.kind].replace(
            "_operator", "_country")
        out.append({
            "kind": inc.kind, "rule": rule, "key": key,
            "start": begin, "end": end,
            "fire_by": begin + dt.timedelta(seconds=interval_s),
            "resolve_by": end + lag + dt.timedelta(seconds=window_s + interval_s),
            "may_prefix": inc.country,
            "may_until": end + lag + dt.timedelta(seconds=window_s + interval_s),
        })
    return out
