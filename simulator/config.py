"""Configuration of the traffic simulator (every rate of every fault is a field)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from simulator.incidents import Incident
from smsflow.errors import ConfigError
from smsflow.input_kinds import INPUT_KINDS, NAMES

__all__ = ["KINDS", "SCHEMA_OF", "SimConfig"]

# input kinds in the registry's order: file names under DIR/events and Settings.topics attributes
KINDS: tuple[str, ...] = NAMES
SCHEMA_OF: dict[str, str] = {k.name: k.schema for k in INPUT_KINDS}


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Same values -> byte-identical events and truth.

    Rates are probabilities in [0, 1] applied per message (or per receipt for duplicates).
    The traffic ends on a day derived from the seed (never the wall clock) and spans ``days``.
    Raises :class:`~smsflow.errors.ConfigError` for out-of-range values.
    """

    messages: int = 1000
    seed: int = 1
    days: int = 3
    bad_records: int = 0  # invalid records appended per input kind
    currency: str = "EUR"
    reply_window_hours: float = 24.0
    orphan_ttl_hours: float = 48.0
    # outcomes
    reject_rate: float = 0.03
    invalid_destination_share: float = 0.2  # of rejects: destination that is not a number
    stay_queued_rate: float = 0.01  # accepted, never a receipt
    sent_only_rate: float = 0.03  # a 'sent' receipt, never a final one
    undelivered_rate: float = 0.07
    read_rate: float = 0.04  # of delivered
    late_receipt_rate: float = 0.01  # final receipt 24-47 h after submission
    unpriced_sent_rate: float = 0.3  # 'sent' receipts without price (final ones always have it)
    ported_rate: float = 0.05  # receipts name another operator than the number's range
    # destinations in ranges libphonenumber does not list (is_valid_number False) in countries
    # whose calling code is one region's; the platform accepts them (0: none, default output)
    unlisted_share: float = 0.0
    # receipts the platform sends over SMPP (per receipt, from the seed; their copies too):
    # their records are what an SMPP receipt carries (simulator.smpp.smpp_record), the truth follows
    smpp_receipt_share: float = 0.0
    # faults
    duplicate_rate: float = 0.05  # receipts re-posted by webhook retries (identical copies)
    out_of_order_rate: float = 0.03  # final receipt delivered before the 'sent' one
    receipt_before_request_rate: float = 0.02  # request delivered after its first receipt
    orphan_rate: float = 0.002  # umids with receipts but no request (first day only)
    # engagement
    reply_rate: float = 0.2  # of delivered two-way messages (sent from a virtual number)
    opt_out_share: float = 0.15  # of replies
    unrelated_inbound_rate: float = 0.01  # per message: MOs answering nothing
    otp_conversion_rate: float = 0.7  # of delivered verification messages
    otp_duplicate_rate: float = 0.1  # feedback posted twice
    survey_response_rate: float = 0.3  # of delivered survey invitations
    click_rate: float = 0.2  # of delivered messages with a short URL
    # incidents (issue 19: alert ground truth) and destinations limited to some countries
    incidents: tuple[Incident, ...] = ()
    countries: tuple[str, ...] = ()  # ISO codes of world.COUNTRIES; () = all

    def __post_init__(self) -> None:
        if self.messages < 0:
            raise ConfigError(f"messages must be >= 0, not {self.messages}")
        if not 1 <= self.days <= 366:
            raise ConfigError(f"days must be between 1 and 366, not {self.days}")
        if self.bad_records < 0:
            raise ConfigError(f"bad_records must be >= 0, not {self.bad_records}")
        if not 0 < self.reply_window_hours <= 72:
            raise ConfigError("reply_window_hours must be in (0, 72]")
        for f in fields(self):
            if f.name.endswith(("_rate", "_share")):
                v = getattr(self, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"{f.name} must be between 0 and 1, not {v}")
        from simulator.world import COUNTRY_BY_CODE, DELIVERY_ERRORS

        for inc in self.incidents:
            if inc.kind == "errors" and inc.error_code not in {e[0] for e in DELIVERY_ERRORS}:
                raise ConfigError(f"incident error_code {inc.error_code} is not simulated "
                                  f"(known: {', '.join(str(e[0]) for e in DELIVERY_ERRORS)})")

        unknown = [c for c in self.countries if c not in COUNTRY_BY_CODE]
        if unknown:
            raise ConfigError(f"countries not simulated: {', '.join(unknown)} (known: "
                              f"{', '.join(COUNTRY_BY_CODE)})")
        if self.reject_rate + self.stay_queued_rate + self.sent_only_rate + \
                self.undelivered_rate > 1.0:
            raise ConfigError("reject, stay_queued, sent_only and undelivered rates exceed 1")

    @property
    def last_day(self) -> dt.date:
        """Last day of traffic: fixed by the seed (a day of 2024)."""
        return dt.date(2024, 1, 1) + dt.timedelta(days=self.seed % 366)

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)
