"""The one mapping of delivery-receipt status between the platform's two channels.

A webhook receipt states ``state`` / ``detail`` / ``errorCode`` / ``errorMessage`` itself
(formats.md section 2); an SMPP receipt says ``stat:`` / ``err:`` in its text or the TLVs
``message_state`` (0x0427) and ``network_error_code`` (0x0423). Both end as the same
``DeliveryReceipt`` fields through this module:

=========================  ============  ==========================================
SMPP stat (message_state)  state         detail
=========================  ============  ==========================================
ENROUTE (1), ACCEPTD (6)   sent          none
UNKNOWN (7)                sent          none (not final: a later receipt decides)
DELIVRD (2)                delivered     none (SMPP does not say recipient/operator)
EXPIRED (3), DELETED (4),  undelivered   from the error code (table below), else
UNDELIV (5)                              ``undelivered_to_recipient``
REJECTD (8), SKIPPED (9)   rejected      from the error code, else none
=========================  ============  ==========================================

Error codes are the platform's (``errorCode``); :data:`PLATFORM_ERRORS` gives each its message
and detail. The webhook path uses :func:`complete_status` to fill ``detail`` /
``errorMessage`` a body leaves out; the simulator draws its undelivered receipts from the same
table and encodes them back to ``stat`` / ``err`` with :func:`smpp_stat`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "MESSAGE_STATES",
    "PLATFORM_ERRORS",
    "STATS",
    "PlatformError",
    "Status",
    "complete_status",
    "smpp_stat",
    "status_of",
]


class PlatformError(NamedTuple):
    code: int
    message: str
    detail: str


# (errorCode, errorMessage, detail) the platform reports with undelivered receipts
PLATFORM_ERRORS: dict[int, PlatformError] = {
    e.code: e
    for e in (
        PlatformError(1, "Unknown subscriber", "undelivered_to_recipient"),
        PlatformError(11, "Absent subscriber (handset switched off)", "undelivered_to_recipient"),
        PlatformError(13, "Roaming not allowed", "undelivered_to_recipient"),
        PlatformError(21, "SMS memory capacity exceeded", "undelivered_to_recipient"),
        PlatformError(34, "Filtered by operator (spam)", "rejected_by_operator"),
        PlatformError(36, "Destination barred by operator", "rejected_by_operator"),
    )
}

# SMPP 3.4 receipt stat words -> platform state
STATS: dict[str, str] = {
    "ENROUTE": "sent",
    "ACCEPTD": "sent",
    "UNKNOWN": "sent",
    "DELIVRD": "delivered",
    "EXPIRED": "undelivered",
    "DELETED": "undelivered",
    "UNDELIV": "undelivered",
    "REJECTD": "rejected",
    "SKIPPED": "rejected",
}
# SMPP 3.4 message_state TLV values (5.3.2.35) -> stat word
MESSAGE_STATES: dict[int, str] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
    9: "SKIPPED",
}


class Status(NamedTuple):
    state: str
    detail: str | None
    error_code: int | None
    error_message: str | None


def complete_status(
    state: str, detail: str | None, error_code: int | None, error_message: str | None
) -> Status:
    """The status with ``detail`` / ``error_message`` of a known error code filled in when
    missing (values given are kept as they are)."""
    known = PLATFORM_ERRORS.get(error_code) if error_code is not None else None
    if state in ("undelivered", "rejected"):
        if known is not None:
            detail = detail or known.detail
            error_message = error_message or known.message
        elif state == "undelivered":
            detail = detail or "undelivered_to_recipient"
    return Status(state, detail, error_code, error_message)


def status_of(stat: str, error_code: int | None) -> Status:
    """The platform status of an SMPP ``stat`` word (any case) and error code (0 = none);
    ValueError for a word SMPP 3.4 does not define."""
    word = stat.strip().upper()
    if word not in STATS:
        raise ValueError(f"unknown receipt stat {stat[:20]!r}")
    state = STATS[word]
    code = error_code or None
    if state in ("sent", "delivered"):
        return Status(state, None, None, None)
    return complete_status(state, None, code, None)


def smpp_stat(state: str) -> str:
    """The ``stat`` word an SMSC sends for a platform state (``read`` is a delivered handset's
    later event: DELIVRD; ``queued`` is ACCEPTD)."""
    return {
        "queued": "ACCEPTD",
        "sent": "ENROUTE",
        "delivered": "DELIVRD",
        "read": "DELIVRD",
        "undelivered": "UNDELIV",
        "rejected": "REJECTD",
    }[state]
