"""SendProducer and `smsflow produce requests` against the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from producers.send import SendProducer
from schemas import get_codec
from shell.produce_cli import register
from smsflow.config import Settings
from tests.integration.kafka_records import consume, count_records

pytestmark = pytest.mark.integration

app = typer.Typer()  # only this package's commands: the root CLI imports every package
register(app)

U = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(10)]


async def test_send_request_and_dead_letter(settings: Settings) -> None:
    async with SendProducer(settings) as producer:
        record, meta = await producer.send_request(
            {
                "umid": U[1],
                "destination": "+6591234567",
                "text": "Your code is 1234",
                "subAccountId": "acme",
                "verification": True,
                "submittedAt": "2024-03-01T12:00:00.1234567Z",
            }
        )
        await producer.dead_letter("producer", "row 3: bad", payload=b"raw", reason="invalid")
    assert meta.topic == settings.topics.requests
    (msg,) = await consume(settings, settings.topics.requests, 1)
    assert (msg.key, msg.partition, msg.offset) == (U[1].encode(), meta.partition, meta.offset)
    codec = get_codec(settings)
    name, got = codec.decode(msg.value)
    assert name == "SendRequest" and got == record
    assert (got["sms_count"], got["country"], got["operator"]) == (1, "SG", "SingTel")
    assert got["submitted_at"] == dt.datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    (dead,) = await consume(settings, settings.topics.dead_letter, 1)
    letter = codec.decode_as("DeadLetter", dead.value)
    assert (letter["component"], letter["reason"], letter["error"], letter["payload"]) == (
        "producer",
        "invalid",
        "row 3: bad",
        b"raw",
    )


def _run_cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("SMSFLOW_BOOTSTRAP_SERVERS", settings.kafka_bootstrap)
    monkeypatch.setenv("SMSFLOW_TOPIC_PREFIX", settings.topic_prefix)
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_produce_jsonl_file(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    rows = [
        json.dumps({"umid": U[1], "destination": "+6591234567", "text": "one"}),
        json.dumps({"umid": U[2], "destination": "123", "text": "bad number"}),
        json.dumps(
            {"umid": U[3], "destination": "4915112345678", "text": "Привет", "source": "Shop"}
        ),
        '{"umid": "' + U[4] + '", "destination": ',
        "",
        json.dumps(
            {
                "umid": U[5],
                "destination": "+6591234567",
                "text": "x" * 200,
                "encoding": "GSM7",
                "subAccountId": "other",
            }
        ),
        json.dumps({"destination": "+6591234567", "text": "Привет", "encoding": "GSM7"}),
        json.dumps({"umid": U[7], "destination": "+12025550308", "text": "hi", "origin": "SMPP"}),
        json.dumps(
            {
                "umid": U[8],
                "destination": "+6591234567",
                "text": "sched",
                "scheduled": "2099-01-01T00:00:00Z",
            }
        ),
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    # default (acceptance policy): an odd destination or encoding is kept and flagged; only
    # rows that cannot be decoded or built (bad JSON, a rule the record itself breaks) go to
    # the dead-letter topic
    code, out, err = _run_cli(
        settings, monkeypatch, "produce", "requests", str(path), "--subaccount", "acme"
    )
    assert code == 0, err
    assert out.startswith("produced 6, invalid 2 in ")
    assert "row 2:" not in err and "row 7:" not in err
    assert "row 4: not valid JSON: " in err
    assert "row 9: scheduled: more than 7 days ahead of submission" in err

    async def check() -> None:
        codec = get_codec(settings)
        msgs = await consume(settings, settings.topics.requests, 6)
        got = {m.key.decode(): codec.decode_as("SendRequest", m.value) for m in msgs}
        summary = {
            (k if k in U else "new"): (
                r["subaccount_id"],
                r["encoding"],
                r["sms_count"],
                r["country"],
                r["origin"],
                r["flags"],
            )
            for k, r in got.items()
        }
        assert summary == {
            U[1]: ("acme", "GSM7", 1, "SG", "HTTP_API", []),
            U[2]: ("acme", "GSM7", 1, None, "HTTP_API", ["number_invalid"]),
            U[3]: ("acme", "UCS2", 1, "DE", "HTTP_API", []),
            U[5]: ("other", "GSM7", 2, "SG", "HTTP_API", []),
            "new": ("acme", "UCS2", 1, "SG", "HTTP_API", ["encoding_mismatch"]),
            U[7]: ("acme", "GSM7", 1, "US", "SMPP", []),
        }
        letters = await consume(settings, settings.topics.dead_letter, 2)
        dead = sorted(
            (codec.decode_as("DeadLetter", m.value) for m in letters), key=lambda d: d["error"]
        )
        assert [d["error"].split(":")[0] for d in dead] == ["row 4", "row 9"]
        # dead-letter copies follow the PII policy: message text removed, the rest kept
        payloads = [d["payload"] for d in dead]
        assert payloads[0] == rows[3].encode()  # not JSON, no text field: kept byte for byte
        assert json.loads(payloads[1]) == {
            "umid": U[8], "destination": "+6591234567", "text": "[text removed: 5 chars]",
            "scheduled": "2099-01-01T00:00:00Z",
        }
        assert {(d["component"], d["reason"], d["topic"]) for d in dead} == {
            ("producer", "invalid", settings.topics.requests)
        }
        assert await count_records(settings, settings.topics.dead_letter) == 2

    asyncio.run(check())

    # --strict: our own services check before sending; those rows are refused as before
    strict = make_settings()
    code, out, err = _run_cli(
        strict, monkeypatch, "produce", "requests", str(path), "--subaccount", "acme", "--strict"
    )
    assert code == 0, err
    assert out.startswith("produced 4, invalid 4 in ")
    assert "row 2: destination: not a valid phone number: '123'" in err
    assert "row 7: text: encoding GSM7 requested but text has non-GSM character 'П'" in err


def test_produce_csv_file(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    path = tmp_path / "requests.csv"
    path.write_text(
        "umid,destination,text,subAccountId,clientMessageId,verification\n"
        f'{U[1]},+6591234567,"Hello, ""world""",acme,c1,true\n'
        f'{U[2]},+6591234567,"two\nlines",acme,,false\n'
        f"{U[3]},+65,bad,acme,,\n"
        f"{U[4]},+6591234567,too many,acme,,,extra\n",
        encoding="utf-8",
    )
    code, out, err = _run_cli(settings, monkeypatch, "produce", "requests", str(path))
    assert code == 0, err
    # the impossible number '+65' is kept, flagged (acceptance policy); a broken row is not
    assert out.startswith("produced 3, invalid 1 in ")
    assert "row 6: more fields than the header" in err

    async def check() -> None:
        codec = get_codec(settings)
        msgs = await consume(settings, settings.topics.requests, 3)
        got = {m.key.decode(): codec.decode_as("SendRequest", m.value) for m in msgs}
        assert (got[U[3]]["destination"], got[U[3]]["country"], got[U[3]]["flags"]) == (
            "+65", None, ["number_invalid"])
        assert (got[U[1]]["text"], got[U[1]]["client_message_id"], got[U[1]]["verification"]) == (
            'Hello, "world"',
            "c1",
            True,
        )
        assert (got[U[2]]["text"], got[U[2]]["verification"]) == ("two\nlines", False)
        letters = await consume(settings, settings.topics.dead_letter, 1)
        payloads = sorted(codec.decode_as("DeadLetter", m.value)["payload"] for m in letters)
        assert payloads == [f"{U[4]},+6591234567,too many,acme,,,extra".encode()]

    asyncio.run(check())


def test_produce_fails_with_one_line_when_broker_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"destination": "+6591234567", "text": "x", "subAccountId": "a"}))
    monkeypatch.setenv("SMSFLOW_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = CliRunner().invoke(app, ["produce", "requests", str(path)])
    assert result.exit_code != 0
    assert "cannot reach Kafka at 127.0.0.1:1" in str(result.exception)


def test_header_with_unknown_column_is_refused(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.csv"
    path.write_text("destination,txt\n+6591234567,hi\n")
    monkeypatch.setenv("SMSFLOW_BOOTSTRAP_SERVERS", settings.kafka_bootstrap)
    monkeypatch.setenv("SMSFLOW_TOPIC_PREFIX", settings.topic_prefix)
    result = CliRunner().invoke(app, ["produce", "requests", str(path)])
    assert str(result.exception) == "CSV header has unknown columns: txt"

    async def check() -> None:
        assert await count_records(settings, settings.topics.requests) == 0

    asyncio.run(check())
