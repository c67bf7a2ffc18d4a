"""Webhook receiver guards: shared-token and HMAC-SHA256 signature checks, and a rate limit.

Signature scheme (the platform side, or any sender, computes it the same way)::

    X-Smsflow-Timestamp: <unix seconds>
    X-Smsflow-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>

A timestamp further than ``webhook_signature_window_s`` from the receiver's clock is a replay
(or a badly skewed clock) and is refused like a wrong signature. Every comparison is
constant-time (:func:`hmac.compare_digest`). Failures return ``False``/a wait time, never
raise: the receiver answers 401 or 429 without details.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOKEN_HEADER",
    "TokenBucket",
    "sign",
    "signature_ok",
    "token_ok",
]

TOKEN_HEADER = "X-Smsflow-Token"
SIGNATURE_HEADER = "X-Smsflow-Signature"
TIMESTAMP_HEADER = "X-Smsflow-Timestamp"


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Smsflow-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def token_ok(expected: bytes, given: str | None) -> bool:
    """True when the shared token matches (constant-time)."""
    return hmac.compare_digest((given or "").encode(), expected)


def signature_ok(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    window_s: int,
    now: float | None = None,
) -> bool:
    """True when ``signature`` signs ``timestamp + "." + body`` and the timestamp is within
    ``window_s`` seconds of ``now``; False for anything missing, malformed, stale or wrong."""
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if len(timestamp) > 12:
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > window_s:
        return False
    given = signature.strip()
    if not given.startswith("sha256="):
        given = f"sha256={given}"
    return hmac.compare_digest(given.encode(), sign(secret, timestamp, body).encode())


class TokenBucket:
    """Rate limit: ``rate`` tokens per second, at most ``burst`` saved up.

    :meth:`take` returns 0.0 when a request may pass (a token was taken), else the seconds
    until the next token (the ``Retry-After`` hint). ``rate`` 0 disables the limit.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> float:
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate
