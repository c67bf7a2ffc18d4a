"""Pure functions from decoded Kafka records to ClickHouse rows, and insert dedup tokens.

No I/O here: the sink (:mod:`sinks.sink`) decodes a record with the codec, asks
:func:`rows_for_record` which rows of which tables it becomes, and the writer inserts them.
A record that lacks a field its table needs raises :class:`~smsflow.errors.SchemaError`
(``reason="unusable"``); the sink counts it (and dead-letters derived records).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from sinks.deadletters import Decoder, dead_letter_row
from smsflow.config import Settings
from smsflow.contribution import delta_rows
from smsflow.errors import SchemaError
from smsflow.input_kinds import INPUT_KINDS
from smsflow.privacy import Privacy, opt_out_keyword

__all__ = [
    "EVENT_TIME_FIELD",
    "TABLES",
    "TopicRoute",
    "click_row",
    "conversion_row",
    "dedup_token",
    "event_row",
    "message_row",
    "routes",
    "rows_for_record",
    "survey_row",
]

# Insert order of a flush. Every table is identity-keyed and the offsets are committed after
# the last one, so the order is not for exactness: `messages` (the message log, what a user
# looks for first) goes first, so its rows are visible the soonest.
TABLES = (
    "messages",
    "message_events",
    "conversions",
    "survey_responses",
    "clicks",
    "daily_deltas",
    "dead_letters",
)

# The field of each input schema that carries the event's own time.
EVENT_TIME_FIELD = {k.schema: k.time_field for k in INPUT_KINDS}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DEFAULT_PRIVACY = Privacy()
_ZERO = Decimal("0E-8")
#: orjson writes an aware datetime itself (4 us per record less than through ``default``), as
#: ``_json_default`` does when it is UTC with microseconds: ``...T10:11:12.345678Z``
_PAYLOAD_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
_EXACT_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
#: a time of day not followed by ``.ffffffZ"``: orjson wrote some other datetime (no
#: microseconds, another offset, naive), or a string only looks like one
_NOT_UTC_MICROS = re.compile(rb'T\d\d:\d\d:\d\d(?!\.\d{6}Z")')

_MESSAGE_STRINGS = (
    "subaccount_id", "batch_id", "client_message_id", "client_batch_id", "campaign_id", "origin",
    "source", "destination", "text", "encoding", "country", "operator", "mcc", "mnc", "state",
    "detail", "error_message", "currency",
)
_MESSAGE_TIMES = (
    "queued_at", "rejected_at", "sent_at", "delivered_at", "undelivered_at", "read_at",
    "first_event_at", "converted_at", "replied_at",
)
_MESSAGE_INTS = (
    "sms_count", "receipts", "duplicates", "clicks", "reply_count", "opt_out_count",
)
_MESSAGE_FLAGS = (
    "has_request", "orphan", "verification", "converted", "replied", "survey_answered", "clicked",
)


class TopicRoute:
    """What the sink expects on one topic: its role and the Avro schema name."""

    __slots__ = ("derived", "role", "schema")

    def __init__(self, role: str, schema: str, derived: bool) -> None:
        self.role = role
        self.schema = schema
        self.derived = derived

    def __repr__(self) -> str:
        return f"TopicRoute({self.role!r}, {self.schema!r}, derived={self.derived})"


def routes(settings: Settings) -> dict[str, TopicRoute]:
    """Topic name -> route for every topic the sink consumes (derived and input topics)."""
    t = settings.topics
    return {
        t.message_state: TopicRoute("message_state", "MessageState", True),
        **{k.topic(t): TopicRoute(k.name, k.schema, False) for k in INPUT_KINDS},
        t.dead_letter: TopicRoute("dead_letter", "DeadLetter", False),
    }


def _need(rec: Mapping[str, Any], field: str) -> Any:
    value = rec.get(field)
    if value is None:
        raise SchemaError(f"record has no {field}", reason="unusable")
    return value


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def message_row(rec: Mapping[str, Any], privacy: Privacy | None = None) -> dict[str, Any]:
    """``messages`` row of a MessageState record (the version is the ReplacingMergeTree version).

    ``day``/``cost``/``counted`` come from the contribution; without one (request not seen yet)
    the row counts nowhere and ``day`` is the day of the first event. Text and numbers follow
    ``privacy`` (default: the safe policy): ``text`` is '' unless text storage is on,
    ``text_length`` (characters) and ``opt_out`` (the stop keyword, else '') are always kept.
    """
    privacy = privacy or _DEFAULT_PRIVACY
    contribution = rec.get("contribution")
    row: dict[str, Any] = {
        "umid": _need(rec, "umid"),
        "version": int(_need(rec, "version")),
        "direction": _need(rec, "direction"),
    }
    for f in _MESSAGE_FLAGS:
        row[f] = bool(rec.get(f))
    for f in _MESSAGE_STRINGS:
        row[f] = _s(rec.get(f))
    for f in _MESSAGE_INTS:
        row[f] = int(rec.get(f) or 0)
    text = _s(rec.get("text"))
    row["text"] = privacy.text(text)
    row["text_length"] = len(text)
    row["opt_out"] = opt_out_keyword(text)
    row["source"] = privacy.phone(row["source"])
    row["destination"] = privacy.phone(row["destination"])
    for f in _MESSAGE_TIMES:
        row[f] = rec.get(f)
    row["error_code"] = rec.get("error_code")
    row["flags"] = list(rec.get("flags") or ())
    row["price_total"] = rec.get("price_total")
    row["price_per_sms"] = rec.get("price_per_sms")
    if contribution is not None:
        row["counted"] = True
        row["day"] = contribution["day"]
        row["cost"] = contribution["cost"]
    else:
        first = next((rec[f] for f in _MESSAGE_TIMES if rec.get(f) is not None), _EPOCH)
        row["counted"] = False
        row["day"] = first.astimezone(dt.UTC).date()
        row["cost"] = _ZERO
    return row


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    raise TypeError(f"cannot encode {type(v).__name__} as JSON")


def payload_json(rec: Mapping[str, Any]) -> str:
    """Compact JSON of a record, keys sorted, non-ASCII kept; datetimes as UTC ``...Z`` with
    microseconds, money as decimal strings (what ``json.dumps(..., sort_keys=True,
    ensure_ascii=False, separators=(",", ":"), default=_json_default)`` gives, 4x faster).
    A payload where orjson's own datetimes could differ is encoded again with every datetime
    through ``_json_default``."""
    out = orjson.dumps(rec, default=_json_default, option=_PAYLOAD_OPTIONS)
    if _NOT_UTC_MICROS.search(out):
        out = orjson.dumps(rec, default=_json_default, option=_EXACT_OPTIONS)
    return out.decode()


@lru_cache(maxsize=1 << 12)  # the records of one fetch share their milliseconds often
def _kafka_time(timestamp_ms: int | None) -> dt.datetime:
    if timestamp_ms is None or timestamp_ms < 0:
        return _EPOCH
    return _EPOCH + dt.timedelta(milliseconds=timestamp_ms)


def event_row(
    schema: str,
    rec: Mapping[str, Any],
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None = None,
    privacy: Privacy | None = None,
) -> dict[str, Any]:
    """``message_events`` row of an input record (identity: topic, partition, offset); the
    ``payload`` JSON carries the record under ``privacy`` (default: text removed)."""
    privacy = privacy or _DEFAULT_PRIVACY
    if schema == "SendRequest":
        state = str(_need(rec, "status")).lower()
    else:
        state = _s(rec.get("state"))
    return {
        "umid": _need(rec, "umid"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "kind": schema,
        "event_at": _need(rec, EVENT_TIME_FIELD[schema]),
        "subaccount_id": _s(rec.get("subaccount_id")),
        "state": state,
        "error_code": rec.get("error_code"),
        "error_message": _s(rec.get("error_message")),
        "payload": payload_json(privacy.record(rec)),
        "kafka_timestamp": _kafka_time(timestamp_ms),
    }


def conversion_row(
    rec: Mapping[str, Any], *, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """``conversions`` row of an OtpFeedback record."""
    return {
        "umid": _need(rec, "umid"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "subaccount_id": _s(rec.get("subaccount_id")),
        "converted_at": _need(rec, "converted_at"),
    }


def survey_row(
    rec: Mapping[str, Any], *, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """``survey_responses`` row of a SurveyResponse record (answers as Nested arrays)."""
    variables = rec.get("template_variables") or []
    answers = rec.get("answers") or []
    return {
        "umid": _need(rec, "umid"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "survey_id": _need(rec, "survey_id"),
        "survey_started_at": rec.get("survey_started_at"),
        "survey_submitted_at": _need(rec, "survey_submitted_at"),
        "template_variables.name": [_s(v.get("name")) for v in variables],
        "template_variables.value": [v.get("value") for v in variables],
        "answers.question_id": [_s(a.get("question_id")) for a in answers],
        "answers.answer_id": [a.get("answer_id") for a in answers],
        "answers.question": [_s(a.get("question")) for a in answers],
        "answers.answer": [a.get("answer") for a in answers],
    }


def click_row(rec: Mapping[str, Any], *, topic: str, partition: int, offset: int) -> dict[str, Any]:
    """``clicks`` row of a UrlClick record."""
    return {
        "umid": _need(rec, "umid"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "clicked_at": _need(rec, "clicked_at"),
        "url": _s(rec.get("url")),
        "short_url": _s(rec.get("short_url")),
        "user_agent": _s(rec.get("user_agent")),
    }


_INPUT_TABLE = {
    "OtpFeedback": ("conversions", conversion_row),
    "SurveyResponse": ("survey_responses", survey_row),
    "UrlClick": ("clicks", click_row),
}


def rows_for_record(
    schema: str,
    rec: Mapping[str, Any],
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None = None,
    privacy: Privacy | None = None,
    decode: Decoder | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The ``(table, row)`` pairs one decoded record becomes.

    MessageState -> messages and its daily_deltas rows (contribution - previous contribution
    per report key, :func:`smsflow.contribution.delta_rows`); DeadLetter -> dead_letters (its
    binary payload shown through ``decode``, :mod:`sinks.deadletters`); every input record ->
    message_events, plus conversions / survey_responses / clicks for those kinds. Unknown
    schema names raise :class:`SchemaError` with ``reason="wrong-schema"``.
    Text and numbers follow ``privacy`` (default: the safe policy).
    """
    if schema == "MessageState":
        # delta_rows gives rows of the table's shape (the contribution's fields are non-null)
        deltas = [("daily_deltas", d) for d in delta_rows(rec)]
        return [("messages", message_row(rec, privacy)), *deltas]
    if schema == "DeadLetter":
        return [("dead_letters", dead_letter_row(
            rec, topic=topic, partition=partition, offset=offset,
            privacy=privacy or _DEFAULT_PRIVACY, decode=decode,
        ))]
    if schema not in EVENT_TIME_FIELD:
        raise SchemaError(f"the sink has no table for {schema} records", reason="wrong-schema")
    out = [
        (
            "message_events",
            event_row(
                schema, rec, topic=topic, partition=partition, offset=offset,
                timestamp_ms=timestamp_ms, privacy=privacy,
            ),
        )
    ]
    extra = _INPUT_TABLE.get(schema)
    if extra is not None:
        table, build = extra
        out.append((table, build(rec, topic=topic, partition=partition, offset=offset)))
    return out


def dedup_token(table: str, ranges: Mapping[tuple[str, int], tuple[int, int]]) -> str:
    """Insert deduplication token of one table's rows of a batch.

    A pure function of the table and the Kafka offset ranges ``{(topic, partition): (first,
    last)}`` the rows came from: re-sending the same batch (retry after an error whose outcome
    is unknown) carries the same token, so ClickHouse stores it once.
    """
    canon = ";".join(
        f"{topic}/{partition}/{first}-{last}"
        for (topic, partition), (first, last) in sorted(ranges.items())
    )
    digest = hashlib.sha256(f"{table}|{canon}".encode()).hexdigest()[:32]
    return f"{table}-{digest}"
