"""Structured log lines of the sink: one JSON object per line (``{"event": ..., ...}``)."""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["configure_logging", "line"]


def line(event: str, **fields: Any) -> str:
    """A log message as one compact JSON object: ``{"event": event, **fields}``."""
    return json.dumps({"event": event, **fields}, default=str, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr as ``<UTC time> <level> <json>`` (for the CLI entry points)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
