"""Cross-site refusal for the ops API of ``smsflow run`` and the dashboard (not the webhooks).

A web page open in the analyst's browser can send "simple" requests to 127.0.0.1 (a text/plain
POST needs no CORS preflight), and DNS rebinding lets it read GET answers under its own name.
:class:`HttpGuard` (ASGI middleware) refuses, with a JSON ``{"error": ...}``:

- 403 a ``Host`` that is not the bound address, ``localhost``, ``127.0.0.1``, ``[::1]`` or a
  name in ``SMSFLOW_OPS_ALLOWED_HOSTS`` (DNS rebinding);
- 403 a request whose ``Origin`` is not this server's own (``http://<Host>``), and one that
  the browser marks ``Sec-Fetch-Site: cross-site``/``same-site`` (except a link opened in a tab);
  clients without those headers (curl, httpx) pass;
- 415 a POST that is not ``application/json`` (no simple cross-origin form/text POST);
- 401 without ``Authorization: Bearer <token>`` when the server listens on anything but loopback
  (``/health`` stays open for probes), or with a wrong token anywhere.

The token is ``SMSFLOW_OPS_TOKEN`` or the file ``<home>/ops.token`` (mode 0600), written on the
first start on loopback; our clients send it when it exists. A server that would listen on a
non-loopback address without a token refuses to start (:class:`~smsflow.errors.ConfigError`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsflow.config import Settings
from smsflow.errors import ConfigError

if TYPE_CHECKING:  # starlette is imported by the server side (HttpGuard), not by the clients
    from starlette.datastructures import Headers

__all__ = ["GuardPolicy", "HttpGuard", "client_token", "is_loopback", "refusal", "token_path"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
OPEN_PATHS = frozenset({"/health"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_path(settings: Settings) -> Path:
    return settings.home / "ops.token"


def _read_token_file(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    token = path.read_text().strip()
    return token or None


def client_token(settings: Settings) -> str | None:
    """The token our clients send (settings first, then the token file), if any."""
    if settings.ops_token is not None:
        return settings.ops_token.get_secret_value()
    return _read_token_file(token_path(settings))


@dataclass(frozen=True)
class GuardPolicy:
    """What :class:`HttpGuard` accepts for a server bound to ``bind_host``."""

    allowed_hosts: frozenset[str]
    token: str | None
    require_token: bool

    @classmethod
    def for_server(cls, settings: Settings, bind_host: str) -> GuardPolicy:
        """The policy of a server on ``bind_host``; writes the token file on a first start.

        Raises :class:`ConfigError` (one line) for a non-loopback address without a token.
        """
        token = client_token(settings)
        loopback = is_loopback(bind_host)
        if token is None and not loopback:
            raise ConfigError(
                f"refusing to listen on {bind_host} without a token: set SMSFLOW_OPS_TOKEN "
                f"or write one to {token_path(settings)} (mode 0600), or listen on 127.0.0.1"
            )
        if token is None:
            token = _create_token_file(token_path(settings))
        extra = {h.strip().lower() for h in settings.ops_allowed_hosts.split(",") if h.strip()}
        hosts = LOOPBACK_NAMES | {bind_host.strip("[]").lower()} | extra
        return cls(frozenset(hosts), token, require_token=not loopback)


def _create_token_file(path: Path) -> str:
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return _read_token_file(path) or token
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.rsplit(":", 1)[0].lower()


def refusal(
    policy: GuardPolicy, method: str, path: str, headers: Headers
) -> tuple[int, str] | None:
    """``(status, message)`` when the request must be refused, else None."""
    host = headers.get("host", "")
    if _hostname(host) not in policy.allowed_hosts:
        return 403, (
            f"host {host!r} is not served here (add it to SMSFLOW_OPS_ALLOWED_HOSTS if it is "
            "a name of this machine)"
        )
    origin = headers.get("origin")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return 403, f"cross-origin request from {origin!r} refused"
    if headers.get("sec-fetch-site") in ("cross-site", "same-site") and not (
        headers.get("sec-fetch-mode") == "navigate" and method == "GET"
    ):
        return 403, "cross-site request refused"
    if method not in _SAFE_METHODS:
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return 415, f"send JSON (Content-Type: application/json), not {ctype or 'no type'!r}"
    sent = headers.get("authorization")
    if policy.token and path not in OPEN_PATHS and (policy.require_token or sent is not None):
        if not hmac.compare_digest((sent or "").encode(), f"Bearer {policy.token}".encode()):
            return 401, "a valid token is required: Authorization: Bearer <token> (ops.token)"
    return None


class HttpGuard:
    """ASGI middleware applying :func:`refusal` to every HTTP request."""

    def __init__(self, app: Any, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            from starlette.datastructures import Headers
            from starlette.responses import JSONResponse

            refused = refusal(
                self.policy, scope["method"], scope["path"], Headers(scope=scope)
            )
            if refused is not None:
                status, message = refused
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = JSONResponse({"error": message}, status_code=status, headers=headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
