"""Talk to a running ``smsflow run`` through its ops API (<ops_host>:<health_port>).

Sends the ops token (``SMSFLOW_OPS_TOKEN`` or ``<home>/ops.token``) when one exists. Plain
HTTP with the standard library's :mod:`http.client`, one connection per request: httpx's
import (0.1-0.16 s) and its client's TLS context (~0.1 s) were a third of a ``smsflow report``
read through a run (issue 18; ``python -m bench.cli``).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
from typing import Any
from urllib.parse import urlencode

from shell.pidfile import running_pid
from smsflow.clickhouse import Result
from smsflow.config import Settings
from smsflow.errors import SmsflowError
from smsflow.http_guard import client_token, is_loopback

__all__ = ["OpsClient", "running_pid"]

# what a request can raise when the run does not answer (refused, reset, timed out, cut short)
_NO_ANSWER = (OSError, http.client.HTTPException)


class _Response:
    """Status and body of one answer."""

    def __init__(self, status_code: int, content: bytes, content_type: str) -> None:
        self.status_code = status_code
        self.content = content
        charset = content_type.partition("charset=")[2].split(";")[0].strip()
        self.text = content.decode(charset or "utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class OpsClient:
    """Synchronous client of the ops API; errors raise :class:`SmsflowError` with one line."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        host = settings.ops_host
        if host in ("0.0.0.0", "::") or is_loopback(host):  # listening everywhere or loopback
            host = "127.0.0.1"
        self.base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.health_port}"
        self._host, self._port = host, settings.health_port
        self._timeout = timeout
        self._settings = settings
        self._token: str | None = None

    def _request(
        self, method: str, path: str, params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> _Response:
        """One request; raises what :data:`_NO_ANSWER` names when the run does not answer."""
        if self._token is None:  # read when first there (``run`` writes it on its first start)
            self._token = client_token(self._settings)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = f"{path}?{urlencode(params)}" if params else path
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            return _Response(resp.status, resp.read(), resp.getheader("content-type") or "")
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing held between requests (kept for the callers' try/finally)."""

    def _json(self, resp: _Response) -> Any:
        try:
            body = resp.json()
        except ValueError:
            body = {"error": resp.text[:200]}
        if resp.status_code >= 400 and "error" in body:
            raise SmsflowError(body["error"])
        return body

    def _get(self, path: str, **params: Any) -> Any:
        try:
            return self._json(self._request("GET", path, params))
        except _NO_ANSWER as e:
            raise SmsflowError(f"smsflow run at {self.base} does not answer: {e}") from e

    def health(self) -> tuple[bool, dict[str, Any]]:
        try:
            resp = self._request("GET", "/health")
        except _NO_ANSWER:
            return False, {}
        return resp.status_code == 200, resp.json()

    def progress(self) -> dict[str, Any]:
        return self._get("/progress")  # type: ignore[no-any-return]

    def report(self, name: str, **filters: Any) -> Result:
        params = {k: str(v) for k, v in filters.items() if v not in (None, "")}
        return _result(self._get(f"/api/reports/{name}", **params))

    def report_text(self, name: str, fmt: str, **filters: Any) -> str:
        """A report rendered by the pipeline as ``csv`` or ``json`` text."""
        params = {k: str(v) for k, v in filters.items() if v not in (None, "")}
        try:
            resp = self._request("GET", f"/api/reports/{name}", {**params, "format": fmt})
        except _NO_ANSWER as e:
            raise SmsflowError(f"smsflow run at {self.base} does not answer: {e}") from e
        if resp.status_code >= 400:
            self._json(resp)
        return resp.text

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            return self._json(self._request("POST", path, body=body))
        except _NO_ANSWER as e:
            raise SmsflowError(f"smsflow run at {self.base} does not answer: {e}") from e

    def sql(self, text: str) -> Result:
        """Rows of one read-only statement (anything else answers 400: SmsflowError)."""
        return _result(self._post("/api/sql", {"sql": text}))

    def evaluate_alerts(
        self, until: dt.datetime | None, since: dt.datetime | None
    ) -> list[tuple[Any, ...]]:
        """Have the pipeline evaluate its alert rules (needs the token); the transitions."""
        body = self._post("/api/alerts/evaluate", {
            "until": until.isoformat() if until else None,
            "since": since.isoformat() if since else None,
        })
        return [tuple(r) for r in body["transitions"]]

    def table_online(self, table: str, online: bool) -> None:
        """ATTACH (``online``) or DETACH a table in the running pipeline (needs the token)."""
        self._post(f"/api/db/{'attach' if online else 'detach'}", {"table": table})


def _result(body: dict[str, Any]) -> Result:
    return Result(
        body["columns"], body.get("types", ["String"] * len(body["columns"])),
        [tuple(r) for r in body["rows"]],
    )
