"""Faust codecs: table values and internal records encoded the way the rest of smsflow reads them.

* ``smsflow-state``: a ``MessageState`` dict <-> Avro bytes of ``schemas.get_codec(settings)``.
  The ``messages`` table uses it for its changelog, which *is* the message-state topic, so the
  state write and the derived output are one record.
* ``smsflow-json``: compact JSON for the ``clicks`` side table (click identities).
* ``smsflow-pairs``: the ``pairs`` table's values, JSON in the schema of
  :mod:`streams.internal_records`; a value written in the old one-letter form is read as the
  new form (recovery from an old changelog, an old RocksDB store).

A changelog record that does not decode raises :class:`~smsflow.errors.SchemaError` (Faust
then stops recovery: the message-state topic is written only by this worker).
"""

from __future__ import annotations

import json
from typing import Any

from faust.serializers import codecs

from schemas import Codec, get_codec
from smsflow.config import Settings
from streams.internal_records import decode_pair_value, sorted_json

__all__ = ["JSON_CODEC", "PAIRS_CODEC", "STATE_CODEC", "register_codecs"]

STATE_CODEC = "smsflow-state"
JSON_CODEC = "smsflow-json"
PAIRS_CODEC = "smsflow-pairs"


class _StateCodec(codecs.Codec):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self._codec = codec

    def _dumps(self, obj: Any) -> bytes:
        # the writer generated from MessageState.avsc (schemas/compiled_writer.py) takes the
        # state as apply() made it: no copy, no tuple notation for the Contribution unions
        return self._codec.encode("MessageState", obj)

    def _loads(self, s: bytes) -> Any:
        return self._codec.decode_as("MessageState", s)


class _JsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return sorted_json(obj)

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)


class _PairsCodec(_JsonCodec):
    def _loads(self, s: bytes) -> Any:
        return decode_pair_value(s)


def register_codecs(settings: Settings) -> None:
    """Register the codecs in Faust's registry (idempotent; the last settings win)."""
    codecs.register(STATE_CODEC, _StateCodec(get_codec(settings)))
    codecs.register(JSON_CODEC, _JsonCodec())
    codecs.register(PAIRS_CODEC, _PairsCodec())
