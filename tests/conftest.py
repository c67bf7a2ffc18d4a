"""Shared fixtures: a live Kafka broker and a ClickHouse, both real.

Broker, in order of preference:
1. ``KAFKA_BOOTSTRAP_SERVERS`` when set (an existing broker);
2. a Docker engine through testcontainers, when one answers;
3. the project's own local broker (``infra.broker``: jars fetched with Maven, started with java)
   in a temporary directory on free ports, stopped at the end of the session.

ClickHouse: the server at ``SMSFLOW_CLICKHOUSE_URL`` when set, else chDB in a temporary directory
(one per test process, since chDB serves one directory per process); every test gets its own
database. Each test that needs topics gets a unique topic prefix, so tests never share data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.broker import Broker
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from smsflow.topics import ensure_topics

_NOTES: list[str] = []
_HOMES: list[Path] = []  # the session's test_home: every process a test starts lives under it


def _outliving(base: Path) -> list[tuple[int, str]]:
    """smsflow processes (pid, command) whose ``SMSFLOW_HOME`` lies under ``base``."""
    found: list[tuple[int, str]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        home = next((e[len(b"SMSFLOW_HOME="):] for e in env if e.startswith(b"SMSFLOW_HOME=")), b"")
        if "smsflow" in cmd and home.decode(errors="replace").startswith(str(base)):
            found.append((int(proc.name), cmd.strip()[:100]))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a process a test started outlives it (a leak eats CI's CPU)."""
    for base in _HOMES:
        left = _outliving(base)
        for pid, cmd in left:
            _NOTES.append(f"[leak] pid {pid} outlived the tests, killed: {cmd}")
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if left:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real broker and ClickHouse the run used (CI output shows it)."""
    for note in _NOTES:
        terminalreporter.write_line(note)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(
            ["docker", "info"], capture_output=True, timeout=10, check=False
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("smsflow-home")
    _HOMES.append(home)
    return home


_LOCAL_BROKER: list[Broker] = []


@pytest.fixture(scope="session")
def kafka_bootstrap(test_home: Path) -> Iterator[str]:
    """Bootstrap servers of a live broker for the whole test session."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        _NOTES.append(f"[kafka] existing broker KAFKA_BOOTSTRAP_SERVERS={env}")
        yield env
        return
    if os.environ.get("SMSFLOW_TEST_DOCKER", "1") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.2").with_kraft() as kc:
            bootstrap = kc.get_bootstrap_server()
            _NOTES.append(f"[kafka] testcontainers broker at {bootstrap}")
            yield bootstrap
        return
    settings = Settings(
        home=test_home,
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        kafka_heap="768m",
    )
    broker = Broker(settings)
    st = broker.up()
    _LOCAL_BROKER.append(broker)
    jars = settings.cache_dir / f"kafka-{settings.kafka_version}" / "lib"
    _NOTES.append(
        f"[kafka] local Apache Kafka {settings.kafka_version} started from jars in {jars}: "
        f"{st.line()}"
    )
    try:
        yield broker.bootstrap
    finally:
        broker.down()


@pytest.fixture(scope="session")
def local_broker(kafka_bootstrap: str) -> Broker | None:
    """The project's own broker when the session started one (for restart tests), else None."""
    return _LOCAL_BROKER[0] if _LOCAL_BROKER else None


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def make_settings(
    kafka_bootstrap: str, test_home: Path, chdb_path: Path
) -> Callable[..., Settings]:
    """Factory: settings with a unique topic prefix and database, topics created on demand."""

    def factory(create_topics: bool = True, **overrides: object) -> Settings:
        tag = uuid.uuid4().hex[:10]
        values: dict[str, object] = {
            "home": test_home / f"run-{tag}",
            "bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"t{tag}.",
            "clickhouse_path": chdb_path,
            "clickhouse_database": f"test_{tag}",
            "partitions": 6,
        }
        values.update(overrides)
        s = Settings(**values)  # type: ignore[arg-type]
        s.home.mkdir(parents=True, exist_ok=True)
        if create_topics:
            ensure_topics(s)
        return s

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def clickhouse(chdb_path: Path) -> Iterator[ClickHouse]:
    """A ClickHouse with a fresh database (chDB unless SMSFLOW_CLICKHOUSE_URL is set)."""
    s = Settings(clickhouse_path=chdb_path, clickhouse_database=f"test_{uuid.uuid4().hex[:10]}")
    ch = connect(s)
    note = f"[clickhouse] {type(ch).__name__}"
    if note not in _NOTES:
        _NOTES.append(note)
    try:
        yield ch
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")
        ch.close()
