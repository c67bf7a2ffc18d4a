"""Avro contracts of smsflow (``schemas/v1/*.avsc``) and their wire encodings.

Use :func:`get_codec` and the names in :data:`SCHEMA_NAMES`; schemas know nothing of Kafka.
"""

from schemas.codec import (
    SCHEMA_NAMES,
    Codec,
    RegistryCodec,
    SingleObjectCodec,
    get_codec,
    load_schema,
)

__all__ = [
    "SCHEMA_NAMES",
    "Codec",
    "RegistryCodec",
    "SingleObjectCodec",
    "get_codec",
    "load_schema",
]
