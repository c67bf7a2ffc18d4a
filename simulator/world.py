"""Static world of the traffic simulator: countries, operators, prices, subaccounts, texts.

Numbers are drawn from real mobile ranges (national prefixes) and kept only when
:func:`producers.phone.parse_destination` accepts them, so every destination validates with
phonenumbers exactly as the platform's enrichment would see it. Operators carry their real
MCC/MNC so receipts look like the platform's (and SMPP TLVs 0x1503/0x1504).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

from producers.dlr_status import PLATFORM_ERRORS
from producers.phone import NumberInfo, parse_destination
from simulator.config import SimConfig
from smsflow.errors import ValidationError
from smsflow.numbers import NUMBER_UNLISTED, classify

__all__ = [
    "COUNTRIES",
    "COUNTRY_BY_CODE",
    "DELIVERY_ERRORS",
    "OPT_OUT_WORDS",
    "REJECT_REASONS",
    "SUBACCOUNTS",
    "UNLISTED_COUNTRIES",
    "Country",
    "Network",
    "NumberPool",
    "Recipient",
    "Recipients",
    "Subaccount",
]


@dataclass(frozen=True)
class Network:
    """A mobile operator: the name phonenumbers uses for its ranges, MCC and MNC."""

    name: str
    mcc: str
    mnc: str


@dataclass(frozen=True)
class Country:
    """A destination country: calling code, mobile prefixes, operators, price per SMS (EUR)."""

    code: str
    calling: str
    prefixes: tuple[str, ...]
    national_length: int
    networks: tuple[Network, ...]
    price: Decimal  # per SMS part, EUR, 7 decimals
    mo_price: Decimal  # per inbound part, EUR
    weight: float
    handset_dlr: bool = True  # False: operators report delivered_to_operator only

    def network(self, name: str | None) -> Network | None:
        for n in self.networks:
            if n.name == name:
                return n
        return None


def _nets(mcc: str, *pairs: tuple[str, str]) -> tuple[Network, ...]:
    return tuple(Network(name, mcc if "-" not in mnc else mnc.split("-")[0], mnc.split("-")[-1])
                 for name, mnc in pairs)


COUNTRIES: tuple[Country, ...] = (
    Country("DE", "49", ("151", "160", "170", "162", "172", "176", "179", "163", "177"), 11,
            _nets("262", ("T-Mobile", "01"), ("Vodafone", "02"), ("Eplus", "03"), ("O2", "07")),
            Decimal("0.0742350"), Decimal("0.0050000"), 0.20),
    Country("GB", "44", ("77", "78", "79", "74", "75"), 10,
            _nets("234", ("O2", "10"), ("Vodafone", "15"), ("Three", "20"), ("Lycamobile", "26"),
                  ("EE", "30"), ("Orange", "33")),
            Decimal("0.0351140"), Decimal("0.0040000"), 0.19),
    Country("FR", "33", ("6", "7"), 9,
            _nets("208", ("Orange France", "01"), ("SFR", "10"), ("Free Mobile", "15"),
                  ("Bouygues", "20")),
            Decimal("0.0689500"), Decimal("0.0045000"), 0.10),
    Country("US", "1", ("212", "415", "312", "646", "305", "206"), 10,
            _nets("310", ("T-Mobile USA", "260"), ("AT&T", "410"), ("Verizon", "311-480")),
            Decimal("0.0079125"), Decimal("0.0075000"), 0.15, handset_dlr=False),
    Country("IN", "91", ("98", "99", "97", "94", "70", "90"), 10,
            _nets("404", ("Airtel", "10"), ("Vodafone", "20"), ("Idea", "22"),
                  ("BSNL MOBILE", "34"), ("Aircel", "41"), ("Reliance Jio", "405-857"),
                  ("Tata Docomo", "405-025")),
            Decimal("0.0021789"), Decimal("0.0010000"), 0.12),
    Country("BR", "55", ("119", "219", "319", "519", "819"), 11,
            _nets("724", ("TIM", "02"), ("Claro", "05"), ("Vivo", "06"),
                  ("Brasil Telecom GSM", "16"), ("Oi", "31")),
            Decimal("0.0264512"), Decimal("0.0030000"), 0.08),
    Country("SG", "65", ("8", "9"), 8,
            _nets("525", ("SingTel", "01"), ("M1", "03"), ("StarHub", "05"), ("Simba", "10")),
            Decimal("0.0446592"), Decimal("0.0060000"), 0.07),
    Country("NG", "234", ("803", "806", "810", "813", "805", "807", "809", "802", "808"), 10,
            _nets("621", ("Airtel", "20"), ("MTN", "30"), ("Glo", "50"), ("9mobile", "60")),
            Decimal("0.0581237"), Decimal("0.0020000"), 0.09),
)
COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}
#: countries whose calling code belongs to them alone, so an unlisted number's country is
#: unambiguous (DE, FR, IN, BR, SG, NG; not +1 or +44)
UNLISTED_COUNTRIES: tuple[Country, ...] = tuple(
    c for c in COUNTRIES
    if phonenumbers.region_codes_for_country_code(int(c.calling)) == (c.code,)
)


@dataclass(frozen=True)
class Subaccount:
    """A customer sub-account: traffic share, sender ids, virtual numbers, what it sends."""

    id: str
    weight: float
    brand: str
    sender_ids: tuple[str, ...]
    virtual_countries: tuple[str, ...]  # countries of its two-way virtual numbers
    two_way_share: float  # share of its messages sent from a virtual number
    otp_share: float  # share of verification (OTP) messages
    campaign_share: float  # share sent by the MCS campaign tool
    batch_share: float  # share sent in HTTP batches
    smpp_share: float  # share sent over SMPP
    survey_share: float  # share of campaign messages that are survey invitations
    long_share: float  # share of long (multi-part, some > 10 parts) texts


SUBACCOUNTS: tuple[Subaccount, ...] = (
    Subaccount("acme-shop", 0.50, "ACME", ("ACME", "ACME Deals"), ("GB",), 0.08, 0.03,
               0.30, 0.30, 0.10, 0.10, 0.03),
    Subaccount("nordbank", 0.22, "NordBank", ("NordBank", "NB Secure"), (), 0.0, 0.75,
               0.02, 0.05, 0.40, 0.0, 0.01),
    Subaccount("medicare-clinics", 0.16, "MediCare", ("MediCare",), ("DE", "US"), 0.55, 0.05,
               0.15, 0.25, 0.05, 0.50, 0.02),
    Subaccount("tripgo", 0.12, "TripGo", ("TripGo",), ("SG",), 0.15, 0.10,
               0.10, 0.15, 0.20, 0.20, 0.12),
)

# (errorCode, errorMessage, detail) of undelivered receipts: the shared table
DELIVERY_ERRORS: tuple[tuple[int, str, str], ...] = tuple(
    (e.code, e.message, e.detail) for e in PLATFORM_ERRORS.values()
)
REJECT_REASONS: tuple[str, ...] = (
    "Insufficient credit",
    "Destination country not enabled for this sub-account",
    "Sender id not registered for the destination",
    "Message expired before it could be sent",
)
INVALID_DESTINATION = "Invalid destination number"
OPT_OUT_WORDS: tuple[str, ...] = ("STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL")


class NumberPool:
    """Distinct valid mobile numbers per country, drawn deterministically from ``rng``.

    Every number handed out is unique across the whole pool (destinations, strangers and
    virtual numbers never collide), and comes with its :class:`NumberInfo` enrichment.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def draw(self, country: Country) -> tuple[str, NumberInfo]:
        """A new valid number of ``country`` (raises RuntimeError if the ranges run dry)."""
        rng = self._rng
        for _ in range(1000):
            prefix = rng.choice(country.prefixes)
            rest = country.national_length - len(prefix)
            digits = prefix + str(rng.randrange(10**rest)).zfill(rest)
            number = "+" + country.calling + digits
            if number in self._seen:
                continue
            try:
                info = parse_destination(number)
            except ValidationError:
                continue
            if info.country != country.code:
                continue
            if info.operator is not None and country.network(info.operator) is None:
                continue  # a range carrier we have no MCC/MNC for (e.g. MVNO splits)
            self._seen.add(number)
            return number, info
        raise RuntimeError(f"cannot draw a valid {country.code} number")

    def draw_unlisted(self, country: Country) -> tuple[str, NumberInfo]:
        """A new number of ``country``'s calling code and national length that libphonenumber
        does not list (its :func:`~smsflow.numbers.classify` flag is number_unlisted)."""
        rng = self._rng
        for _ in range(1000):
            digits = str(rng.randrange(1, 10)) + str(
                rng.randrange(10 ** (country.national_length - 1))
            ).zfill(country.national_length - 1)
            number = "+" + country.calling + digits
            facts = classify(number)
            if number in self._seen or facts.flags != (NUMBER_UNLISTED,):
                continue
            if facts.country != country.code or facts.e164 != number:
                continue
            self._seen.add(number)
            return number, NumberInfo(number, facts.country, None)
        raise RuntimeError(f"cannot draw an unlisted {country.code} number")


@dataclass(slots=True)
class Recipient:
    """A handset: its number, enrichment, country and the network it really is on."""

    number: str
    info: NumberInfo
    country: Country
    network: Network


class Recipients:
    """Destination numbers per country; known recipients are reused (half of the time, and
    always once the country has its share of distinct handsets)."""

    def __init__(self, pool: NumberPool, rng: random.Random, cfg: SimConfig) -> None:
        self.pool, self.rng, self.cfg = pool, rng, cfg
        self.by_country: dict[str, list[Recipient]] = {}
        weights = sum(c.weight for c in COUNTRIES)
        # distinct handsets per country: about one per eight messages (people get several)
        self.caps = {c.code: max(20, int(cfg.messages * c.weight / weights / 8))
                     for c in COUNTRIES}

    def new(self, country: Country) -> Recipient:
        number, info = self.pool.draw(country)
        net = country.network(info.operator)
        if net is None or self.rng.random() < self.cfg.ported_rate:
            net = self.rng.choice(country.networks)
        return Recipient(number, info, country, net)

    def unlisted(self, country: Country) -> Recipient:
        """A new handset whose number libphonenumber does not list, on one of the networks."""
        number, info = self.pool.draw_unlisted(country)
        return Recipient(number, info, country, self.rng.choice(country.networks))

    def pick(self, country: Country) -> Recipient:
        known = self.by_country.setdefault(country.code, [])
        if known and (len(known) >= self.caps[country.code] or self.rng.random() < 0.5):
            return self.rng.choice(known)
        r = self.new(country)
        known.append(r)
        return r
