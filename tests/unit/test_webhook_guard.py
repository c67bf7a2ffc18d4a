"""Receiver guards without a server: signatures, replay window, token, token bucket."""

from __future__ import annotations

import hashlib
import hmac

from producers.webhook_guard import TokenBucket, sign, signature_ok, token_ok

KEY = b"k"
BODY = b'{"a": 1}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    want = hmac.new(KEY, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, 1700000000, BODY) == f"sha256={want}"


def test_signature_checks() -> None:
    ts, now = "1700000000", 1700000000.0
    sig = sign(KEY, ts, BODY)
    assert signature_ok(KEY, BODY, ts, sig, window_s=300, now=now)
    assert signature_ok(KEY, BODY, ts, sig.removeprefix("sha256="), window_s=300, now=now)
    assert signature_ok(KEY, BODY, ts, sig, window_s=300, now=now + 300)
    assert not signature_ok(KEY, BODY, ts, sig, window_s=300, now=now + 301)  # replay
    assert not signature_ok(KEY, BODY, ts, sig, window_s=300, now=now - 301)  # future
    assert not signature_ok(KEY, BODY + b" ", ts, sig, window_s=300, now=now)
    assert not signature_ok(b"other", BODY, ts, sig, window_s=300, now=now)
    for bad_ts in (None, "", "-1", "1e9", "\u0661\u0667" + "\u0660" * 8, "9" * 20):
        assert not signature_ok(KEY, BODY, bad_ts, sig, window_s=300, now=now)
    assert not signature_ok(KEY, BODY, ts, None, window_s=300, now=now)
    assert not signature_ok(KEY, BODY, ts, "sha256=zz", window_s=300, now=now)


def test_token() -> None:
    assert token_ok(b"s3cret", "s3cret")
    assert not token_ok(b"s3cret", None) and not token_ok(b"s3cret", "s3cre")


def test_token_bucket_refills_at_its_rate() -> None:
    t = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: t[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.5  # the next token in half a second
    t[0] = 0.5
    assert bucket.take() == 0.0 and bucket.take() == 0.5
    t[0] = 100.0  # never more than the burst saved up
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]
    assert TokenBucket(0, 1).take() == 0.0  # rate 0: no limit
