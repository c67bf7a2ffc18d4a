"""The cross-site rules of ``smsflow.http_guard.refusal`` (no server needed)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from smsflow.http_guard import GuardPolicy, is_loopback, refusal

LOCAL = GuardPolicy(frozenset({"localhost", "127.0.0.1", "::1"}), "tok", require_token=False)
EXPOSED = GuardPolicy(frozenset({"localhost", "127.0.0.1", "::1", "10.0.0.5"}), "tok",
                      require_token=True)


def status(policy: GuardPolicy, method: str = "GET", path: str = "/api/reports/daily",
           **headers: str) -> int | None:
    h = {"host": "127.0.0.1:8081", **{k.replace("_", "-"): v for k, v in headers.items()}}
    r = refusal(policy, method, path, Headers(headers=h))
    return None if r is None else r[0]


def test_hosts() -> None:
    assert status(LOCAL) is None
    assert status(LOCAL, host="[::1]:8081") is None
    assert status(LOCAL, host="localhost") is None
    assert status(LOCAL, host="evil.example:8081") == 403
    assert status(LOCAL, host="127.0.0.1.evil.example:8081") == 403
    assert status(LOCAL, host="") == 403


def test_origin_and_fetch_metadata() -> None:
    assert status(LOCAL, origin="http://127.0.0.1:8081") is None
    assert status(LOCAL, origin="http://127.0.0.1:8082") == 403
    assert status(LOCAL, origin="http://localhost:8081") == 403  # another origin, same machine
    assert status(LOCAL, sec_fetch_site="same-origin", sec_fetch_mode="cors") is None
    assert status(LOCAL, sec_fetch_site="same-site", sec_fetch_mode="cors") == 403
    assert status(LOCAL, sec_fetch_site="cross-site", sec_fetch_mode="no-cors") == 403
    assert status(LOCAL, sec_fetch_site="cross-site", sec_fetch_mode="navigate") is None
    assert status(LOCAL, "POST", sec_fetch_site="cross-site", sec_fetch_mode="navigate",
                  content_type="application/json") == 403


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", ""])
def test_post_needs_json(ctype: str) -> None:
    assert status(LOCAL, "POST", "/api/sql", content_type=ctype) == 415
    assert status(LOCAL, "POST", "/api/sql", content_type="application/json; charset=utf-8"
                  ) is None


def test_token() -> None:
    assert status(LOCAL, authorization="Bearer tok") is None
    assert status(LOCAL, authorization="Bearer nope") == 401
    assert status(EXPOSED) == 401
    assert status(EXPOSED, path="/health") is None
    assert status(EXPOSED, authorization="Bearer tok") is None
    assert status(EXPOSED, host="10.0.0.5:8081", authorization="tok") == 401


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
    assert not is_loopback("evil.localhost")
