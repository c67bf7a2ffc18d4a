"""The alert webhook: each alert transition POSTed as signed JSON to ``alert_webhook_url``.

Signed as the webhook receiver checks its senders (:mod:`producers.webhook_guard`)::

    X-Smsflow-Timestamp: <unix seconds>
    X-Smsflow-Signature: sha256=<hex HMAC-SHA256(alert_webhook_secret, f"{timestamp}." + body)>

The body is ``{"alerts": [...]}``, each alert with rule, key, state (firing or resolved),
value and threshold as exact decimal strings, and event times ISO-8601 UTC with microseconds.
A failed delivery is logged and counted (``smsflow_alert_webhook_failures``), not retried:
the alert state itself lives in ClickHouse (``smsflow alerts history``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import httpx

from producers.webhook_guard import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sinks.alert_state import AlertState
from sinks.render import jsonable
from smsflow.config import Settings

__all__ = ["payload", "send_alerts", "signed_request"]

log = logging.getLogger("smsflow.alerts")


def payload(transitions: Sequence[AlertState]) -> bytes:
    """The JSON body for ``transitions`` (keys sorted: the same alerts, the same bytes)."""
    alerts: list[dict[str, Any]] = [
        {k: jsonable(v) for k, v in asdict(s).items()} for s in transitions
    ]
    return json.dumps({"alerts": alerts}, sort_keys=True, separators=(",", ":")).encode()


def signed_request(settings: Settings, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers of one delivery: JSON content type, and the signature when a secret is set."""
    headers = {"Content-Type": "application/json"}
    if settings.alert_webhook_secret is not None:
        ts = str(int(time.time() if now is None else now))
        secret = settings.alert_webhook_secret.get_secret_value().encode()
        headers[TIMESTAMP_HEADER] = ts
        headers[SIGNATURE_HEADER] = sign(secret, ts, body)
    return headers


def send_alerts(settings: Settings, transitions: Sequence[AlertState]) -> bool:
    """POST ``transitions`` to the webhook (nothing when no URL or none); True when sent."""
    if not settings.alert_webhook_url or not transitions:
        return False
    body = payload(transitions)
    try:
        resp = httpx.post(settings.alert_webhook_url, content=body,
                          headers=signed_request(settings, body), timeout=10.0)
        resp.raise_for_status()
    except httpx.HTTPError as e:
        log.warning("alert webhook %s failed: %s", settings.alert_webhook_url, e)
        return False
    return True
