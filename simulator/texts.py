"""Message bodies for the traffic simulator: OTPs, notifications, promotions, surveys, long texts.

The mix exercises segment counting: plain GSM 03.38, GSM extension characters (``€ [ ] ~``),
texts that need UCS2 (Hindi, Portuguese ``ã``, emoji), multi-part texts and texts longer than
10 parts (truncated by the platform).
"""

from __future__ import annotations

import random

__all__ = ["TextKind", "inbound_text", "make_text", "short_url"]

TextKind = str  # "otp" | "notify" | "reminder" | "promo" | "survey" | "long"

_NAMES = ("Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Giulia", "Hana", "Ivan", "Jonas",
          "Kofi", "Lena", "Maria", "Nikhil", "Olu", "Priya", "Rafael", "Sofia", "Tom", "Wei")
_URL_CHARS = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def short_url(rng: random.Random) -> str:
    """A short tracking URL as the platform's link shortener writes it."""
    return "https://sms.to/" + "".join(rng.choice(_URL_CHARS) for _ in range(6))


def _otp(brand: str, country: str, rng: random.Random) -> str:
    code = str(rng.randrange(10**6)).zfill(6)
    if country == "IN" and rng.random() < 0.3:
        return f"{brand}: आपका सत्यापन कोड {code} है। इसे किसी के साथ साझा न करें।"
    if country == "BR" and rng.random() < 0.5:
        return f"{brand}: seu código de verificação é {code}. Não o compartilhe."
    if country == "DE" and rng.random() < 0.5:
        return f"{brand}: Ihr Bestätigungscode lautet {code}. Gültig für 10 Minuten."
    return f"{code} is your {brand} verification code. It expires in 10 minutes. Do not share it."


def _notify(brand: str, country: str, rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    order = rng.randrange(100000, 999999)
    if rng.random() < 0.5:
        return (f"Hi {name}, your {brand} order #{order} has shipped and arrives "
                f"{rng.choice(('tomorrow', 'on Monday', 'within 3 days'))}. "
                f"Track it: {short_url(rng)}")
    amount = f"{rng.randrange(5, 900)}.{rng.randrange(100):02d}"
    return (f"{brand}: payment of €{amount} received for order [{order}]. "
            f"Receipt: {short_url(rng)}")


def _reminder(brand: str, country: str, rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    day = rng.choice(("Mon", "Tue", "Wed", "Thu", "Fri"))
    time = f"{rng.randrange(8, 18):02d}:{rng.choice(('00', '15', '30', '45'))}"
    if country == "DE":
        return (f"Hallo {name}, Erinnerung an Ihren Termin bei {brand} am {day} um {time}. "
                f"Antworten Sie JA zur Bestätigung oder STOP zur Abmeldung.")
    return (f"Hi {name}, reminder: your {brand} appointment is on {day} at {time}. "
            f"Reply YES to confirm, NO to reschedule or STOP to opt out.")


def _promo(brand: str, country: str, rng: random.Random) -> str:
    pct = rng.choice((10, 15, 20, 25, 30, 40, 50))
    body = (f"{brand} flash sale: {pct}% off everything until midnight! "
            f"Use code SAVE{pct} at checkout ~ free delivery over €50. {short_url(rng)}")
    if rng.random() < 0.2:
        body = "🔥 " + body + " 🛍️"
    if rng.random() < 0.3:
        body += (" New arrivals every week: shoes, bags, jackets and more in our app. "
                 "Reply STOP to opt out.")
    return body


def _survey(brand: str, country: str, rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    return (f"Hi {name}, thanks for choosing {brand}. How did we do? "
            f"Tell us in 30 seconds: {short_url(rng)}")


def _long(brand: str, country: str, rng: random.Random) -> str:
    legs = rng.randrange(3, 26)
    ucs2 = rng.random() < 0.3
    lines = []
    for i in range(legs):
        flight = f"{rng.choice(('SQ', 'LH', 'BA', 'AF'))}{rng.randrange(10, 999)}"
        if ucs2:
            lines.append(f"航段{i + 1}: {flight} 登机口 {rng.randrange(1, 60)} "
                         f"起飞 {rng.randrange(24):02d}:{rng.randrange(60):02d}")
        else:
            lines.append(f"Leg {i + 1}: flight {flight} departs {rng.randrange(24):02d}:"
                         f"{rng.randrange(60):02d} from gate {rng.randrange(1, 60)}, "
                         f"seat {rng.randrange(1, 40)}{rng.choice('ABCDEF')} [confirmed].")
    return f"{brand} itinerary: " + " ".join(lines)


_MAKERS = {"otp": _otp, "notify": _notify, "reminder": _reminder, "promo": _promo,
           "survey": _survey, "long": _long}


def make_text(kind: TextKind, brand: str, country: str, rng: random.Random) -> str:
    """A body of ``kind`` for a brand and destination country."""
    return _MAKERS[kind](brand, country, rng)


_REPLIES = ("YES", "Yes please", "OK thanks", "No", "What time again?", "Confirmed 👍",
            "Can I move it to Friday?", "Ευχαριστώ πολύ", "Who is this?")
_STRANGER = ("Hello?", "Is this the help line?", "My parcel did not arrive", "Balance",
             "INFO", "Olá, preciso de ajuda")


def inbound_text(rng: random.Random, *, reply: bool, opt_out: bool) -> str:
    """Body of an MO: an opt-out keyword (case and spaces varied), a reply or a stranger's text."""
    if opt_out:
        word = rng.choice(("STOP", "Stop", " stop ", "UNSUBSCRIBE", "Cancel", "end", "QUIT",
                           "StopAll"))
        return word
    return rng.choice(_REPLIES if reply else _STRANGER)
