"""Talk to a running ``smsflow run`` through its ops API (<ops_host>:<health_port>).

Sends the ops token (``SMSFLOW_OPS_TOKEN`` or ``<home>/ops.token``) when one exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from shell.pidfile import running_pid
from smsflow.clickhouse import Result
from smsflow.config import Settings
from smsflow.errors import SmsflowError
from smsflow.http_guard import client_token, is_loopback

__all__ = ["OpsClient", "running_pid"]


class OpsClient:
    """Synchronous client of the ops API; errors raise :class:`SmsflowError` with one line."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        host = settings.ops_host
        if host in ("0.0.0.0", "::") or is_loopback(host):  # listening everywhere or loopback
            host = "127.0.0.1"
        self.base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.health_port}"
        self._settings = settings
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base, timeout=timeout, auth=self._bearer)

    def _bearer(self, request: httpx.Request) -> httpx.Request:
        """Add the token; read when first there (``run`` writes it on its first start)."""
        if self._token is None:
            self._token = client_token(self._settings)
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def close(self) -> None:
        self._http.close()

    def _json(self, resp: httpx.Response) -> Any:
        try:
            body = resp.json()
        except ValueError:
            body = {"error": resp.text[:200]}
        if resp.status_code >= 400 and "error" in body:
            raise SmsflowError(body["error"])
        return body

    def _get(self, path: str, **params: Any) -> Any:
        try:
            return self._json(self._http.get(path, params=params))
        except httpx.HTTPError as e:
            raise SmsflowError(f"smsflow run at {self.base} does not answer: {e}") from e

    def health(self) -> tuple[bool, dict[str, Any]]:
        try:
            resp = self._http.get("/health")
        except httpx.HTTPError:
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
            resp = self._http.get(f"/api/reports/{name}", params={**params, "format": fmt})
        except httpx.HTTPError as e:
            raise SmsflowError(f"smsflow run at {self.base} does not answer: {e}") from e
        if resp.status_code >= 400:
            self._json(resp)
        return resp.text

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            return self._json(self._http.post(path, json=body))
        except httpx.HTTPError as e:
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
