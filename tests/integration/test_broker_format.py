"""The local broker's storage format with the real Kafka StorageTool."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from infra import broker
from infra.broker import Broker, ensure_jars, find_java
from smsflow.config import Settings


def test_format_takes_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one random id in 64 starts with "-"; passed as "-t ID" the tool took it for an option
    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
    cluster_id = base64.urlsafe_b64encode(dashed.bytes).decode().rstrip("=")
    assert cluster_id.startswith("-")
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: dashed)
    settings = Settings(home=tmp_path)  # type: ignore[call-arg]
    b = Broker(settings)
    b._write_config()
    b._format(find_java(), ensure_jars(settings))
    assert f"cluster.id={cluster_id}" in (b.data_dir / "meta.properties").read_text()
