"""The local Apache Kafka broker: fetched with Maven, started with ``java``, KRaft single node.

``up`` fetches the broker jars once into ``<cache_dir>/kafka-<version>/lib`` (outside git), formats
storage under ``<home>/kafka`` on first start, starts the broker in the background (log file,
pid file), waits until it answers and creates the project's topics. ``down`` stops only the
process recorded in the pid file, and only if it is the broker started from that directory.

With ``kafka_sasl_scram`` (``SMSFLOW_KAFKA_SASL_SCRAM=true``) the broker also listens with
SASL_PLAINTEXT / SCRAM-SHA-512 on ``kafka_sasl_port``; the user ``kafka_sasl_username`` (default
``smsflow``) with ``kafka_sasl_password`` is created when storage is formatted (StorageTool
``--add-scram``), or with ``kafka-configs`` (ConfigCommand) on storage formatted before.
Inter-broker and controller traffic stay on the PLAINTEXT / CONTROLLER listeners on 127.0.0.1.

Failures (no Java, no Maven, a taken port, a broker that dies at start) raise
:class:`~smsflow.errors.InfraError` with a one-line message naming the problem.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from smsflow.config import Settings
from smsflow.errors import InfraError

__all__ = ["Broker", "BrokerStatus", "Cluster", "ensure_jars", "find_java", "local_clusters"]

POM = Path(__file__).parent / "kafka" / "pom.xml"
MAIN_CLASS = "kafka.Kafka"


def find_java() -> str:
    """Path of a ``java`` of version 17 or newer, from JAVA_HOME or PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise InfraError("Java not found: install a JDK 17+ (e.g. apt-get install openjdk-17-jdk)")
    out = subprocess.run(
        [candidate, "-version"], capture_output=True, text=True, check=False
    ).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < 17:
        raise InfraError(f"Java 17+ required, found: {out.splitlines()[0] if out else '?'}")
    return candidate


def ensure_jars(settings: Settings, *, quiet: bool = True) -> Path:
    """Fetch the Kafka broker jars with Maven unless cached; return the lib directory."""
    lib = settings.cache_dir / f"kafka-{settings.kafka_version}" / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise InfraError("Maven (mvn) not found: it fetches the Kafka jars; apt-get install maven")
    lib.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn, "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-Dkafka.version={settings.kafka_version}",
        f"-DoutputDirectory={lib}", "-DincludeScope=runtime",
    ]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise InfraError(f"Maven could not fetch Kafka {settings.kafka_version}: {' '.join(tail)}")
    if not any(lib.glob(f"kafka_2.13-{settings.kafka_version}.jar")):
        raise InfraError(f"Maven ran but kafka_2.13-{settings.kafka_version}.jar is missing")
    marker.write_text(settings.kafka_version)
    return lib


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    answering: bool
    log_file: Path

    def line(self) -> str:
        if self.running:
            state = "up" if self.answering else "starting (not answering yet)"
            return f"kafka {state}: pid {self.pid}, {self.bootstrap}, log {self.log_file}"
        return f"kafka down ({self.bootstrap}); log {self.log_file}"


class Broker:
    """A KRaft node (broker and controller) on 127.0.0.1 owned by this project directory.

    Alone (the default) it is a single-node cluster in ``<home>/kafka`` on ``kafka_port`` /
    ``kafka_controller_port``; :class:`Cluster` makes several, each with its ``node_id``, ports,
    directory and the shared list of controller voters.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        settings: Settings,
        *,
        node_id: int = 1,
        ports: tuple[int, int] | None = None,
        voters: str | None = None,
        directory: Path | None = None,
        cluster_size: int = 1,
    ) -> None:
        self.settings = settings
        self.node_id = node_id
        self.client_port, self.controller_port = ports or (
            settings.kafka_port, settings.kafka_controller_port
        )
        self.voters = voters or f"{node_id}@{self.host}:{self.controller_port}"
        self.cluster_size = cluster_size
        self.cluster_id: str | None = None  # a Cluster sets one id for all its nodes
        self.dir = (directory or settings.home / "kafka").resolve()
        self.data_dir = self.dir / "data"
        self.props = self.dir / "server.properties"
        self.log4j = self.dir / "log4j.properties"
        self.log_file = self.dir / "broker.log"
        self.pid_file = self.dir / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.client_port}"

    # ----------------------------------------------------------------------------- state
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and MAIN_CLASS in _cmdline(pid) and str(self.props) in _cmdline(pid):
            return pid
        return None

    def status(self) -> BrokerStatus:
        pid = self.pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self.bootstrap,
            answering=pid is not None and port_open(self.host, self.client_port),
            log_file=self.log_file,
        )

    # ----------------------------------------------------------------------------- config
    def _scram_user(self) -> tuple[str, str] | None:
        s = self.settings
        if not s.kafka_sasl_scram:
            return None
        if s.kafka_sasl_password is None:
            raise InfraError(
                "SMSFLOW_KAFKA_SASL_SCRAM=true needs SMSFLOW_KAFKA_SASL_PASSWORD (or _FILE) "
                "for the SCRAM user"
            )
        return s.kafka_sasl_username or "smsflow", s.kafka_sasl_password.get_secret_value()

    def _scram_spec(self) -> str:
        user = self._scram_user()
        assert user is not None
        name, password = user
        if any(c in name + password for c in ',[]="'):
            raise InfraError("SCRAM user name and password may not contain , [ ] = or \"")
        return f"SCRAM-SHA-512=[name={name},password={password}]"

    def _sasl_props(self, props: dict[str, str]) -> None:
        s = self.settings
        sasl = f"SASL_PLAINTEXT://{self.host}:{s.kafka_sasl_port}"
        props["listeners"] += f",{sasl}"
        props["advertised.listeners"] += f",{sasl}"
        props["listener.security.protocol.map"] += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        props["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
        props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )

    def _write_config(self) -> None:
        s = self.settings
        self.dir.mkdir(parents=True, exist_ok=True)
        internal_rf = str(min(3, self.cluster_size))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "listeners": (
                f"PLAINTEXT://{self.host}:{self.client_port},"
                f"CONTROLLER://{self.host}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.client_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(s.partitions),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": internal_rf,
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": internal_rf,
            "transaction.state.log.min.isr": str(min(2, self.cluster_size)),
            "default.replication.factor": internal_rf,
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "log.cleaner.enable": "true",
            "message.max.bytes": str(8 * 1024 * 1024),
        }
        if s.kafka_sasl_scram:
            self._sasl_props(props)
        self.props.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log4j.write_text(
            "log4j.rootLogger=INFO, file\n"
            "log4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.File={self.log_file}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n"
        )

    def _java_cmd(self, java: str, lib: Path, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            *shlex.split(self.settings.kafka_jvm_options),
            f"-Dlog4j.configuration=file:{self.log4j}",
            "-cp",
            f"{lib}/*",
            main,
            *args,
        ]

    def _format(self, java: str, lib: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = self.cluster_id or new_cluster_id()
        # "--cluster-id=ID", not "-t ID": one id in 64 starts with "-" and the tool's argument
        # parser then takes it for an option (CI failed on it once)
        args = ["format", f"--cluster-id={cluster_id}", "-c", str(self.props)]
        user = self._scram_user()
        if user is not None:
            args += ["--add-scram", self._scram_spec()]
        cmd = self._java_cmd(java, lib, "kafka.tools.StorageTool", *args)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out = f"{proc.stdout}{proc.stderr}".strip()
            if user is not None:
                out = out.replace(user[1], "***")
            raise InfraError(f"formatting Kafka storage failed: {out}")
        if user is not None:
            (self.dir / "scram.user").write_text(user[0])

    def _ensure_scram_user(self, java: str, lib: Path) -> None:
        """Create the SCRAM user on storage formatted without it (kafka-configs)."""
        user = self._scram_user()
        marker = self.dir / "scram.user"
        if user is None or (marker.exists() and marker.read_text() == user[0]):
            return
        cmd = self._java_cmd(
            java, lib, "kafka.admin.ConfigCommand", "--bootstrap-server", self.bootstrap,
            "--alter", "--entity-type", "users", "--entity-name", user[0],
            "--add-config", f"SCRAM-SHA-512=[password={user[1]}]",
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out = f"{proc.stdout}{proc.stderr}".strip().replace(user[1], "***")
            raise InfraError(f"creating the SCRAM user failed: {out[-300:]}")
        marker.write_text(user[0])

    # ----------------------------------------------------------------------------- actions
    def up(self, *, timeout: float = 60.0) -> BrokerStatus:
        """Start the broker unless it already runs; wait until it answers."""
        proc = self.start()
        return self.wait_started(proc, timeout=timeout)

    def start(self) -> subprocess.Popen[bytes] | None:
        """Spawn the broker process (None when it already runs); do not wait for it."""
        if self.status().running:
            return None
        java = find_java()
        ports = [self.client_port, self.controller_port]
        if self.settings.kafka_sasl_scram:
            ports.append(self.settings.kafka_sasl_port)
        for port in ports:
            if port_open(self.host, port):
                raise InfraError(
                    f"port {port} on {self.host} is taken by another process; "
                    "set SMSFLOW_KAFKA_PORT / SMSFLOW_KAFKA_CONTROLLER_PORT or stop it"
                )
        lib = ensure_jars(self.settings)
        self._write_config()
        self._format(java, lib)
        out = open(self.dir / "broker.stdout", "ab")
        proc = subprocess.Popen(
            self._java_cmd(java, lib, MAIN_CLASS, str(self.props)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.dir,
        )
        out.close()
        self.pid_file.write_text(str(proc.pid))
        return proc

    def wait_started(
        self, proc: subprocess.Popen[bytes] | None, *, timeout: float = 60.0
    ) -> BrokerStatus:
        """Wait until the broker spawned by :meth:`start` logged its start and answers."""
        if proc is None:
            self._wait_answering(timeout)
            return self.status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InfraError(
                    f"Kafka broker exited with code {proc.returncode} at start; "
                    f"see {self.dir / 'broker.stdout'} and {self.log_file}"
                )
            if port_open(self.host, self.client_port) and self._started_logged():
                self._ensure_scram_user(find_java(), ensure_jars(self.settings))
                return self.status()
            time.sleep(0.2)
        raise InfraError(f"Kafka broker did not answer within {timeout:.0f}s; see {self.log_file}")

    def _started_logged(self) -> bool:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 200_000))
                return b"Kafka Server started" in fh.read()
        except OSError:
            return False

    def _wait_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.client_port):
            if time.monotonic() > deadline:
                raise InfraError(f"Kafka broker did not answer within {timeout:.0f}s")
            time.sleep(0.2)

    def down(self, *, timeout: float = 30.0, kill: bool = False) -> bool:
        """Stop the broker this directory started; True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            try:  # reap if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        self.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Delete the broker's data (only when it is down)."""
        if self.pid() is not None:
            raise InfraError("refusing to wipe a running broker's data; run `smsflow infra down`")
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """``kafka_brokers`` local KRaft nodes, each broker and controller (3 nodes: 3 voters).

    One node is exactly :class:`Broker` as before (``<home>/kafka``); several live in
    ``<home>/kafka-cluster/node-<id>`` on the ports of ``Settings.local_broker_ports()``, share
    one cluster id, and replicate the internal topics ``min(3, n)`` times (min ISR 2).
    """

    def __init__(self, settings: Settings, brokers: int | None = None) -> None:
        n = brokers or settings.kafka_brokers
        if brokers and brokers != settings.kafka_brokers:
            settings = settings.model_copy(update={"kafka_brokers": brokers})
        self.settings = settings
        if n == 1:
            self.dir = (settings.home / "kafka").resolve()
            self.nodes = [Broker(settings)]
            return
        if settings.kafka_sasl_scram:
            raise InfraError("the local SCRAM listener is for one broker; unset "
                             "SMSFLOW_KAFKA_SASL_SCRAM or SMSFLOW_KAFKA_BROKERS")
        self.dir = (settings.home / "kafka-cluster").resolve()
        ports = settings.local_broker_ports()
        voters = ",".join(f"{i + 1}@{Broker.host}:{c}" for i, (_, c) in enumerate(ports))
        self.nodes = [
            Broker(settings, node_id=i + 1, ports=p, voters=voters,
                   directory=self.dir / f"node-{i + 1}", cluster_size=n)
            for i, p in enumerate(ports)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.nodes)

    def node(self, node_id: int) -> Broker:
        return self.nodes[node_id - 1]

    def up(self, *, timeout: float = 120.0) -> list[BrokerStatus]:
        """Start every node that is down (all at once: a quorum needs a majority of voters)
        and wait until each answers."""
        if len(self.nodes) > 1:
            self.dir.mkdir(parents=True, exist_ok=True)
            id_file = self.dir / "cluster.id"
            if not id_file.exists():
                id_file.write_text(new_cluster_id())
            for b in self.nodes:
                b.cluster_id = id_file.read_text().strip()
        procs = [b.start() for b in self.nodes]
        started = [b.wait_started(p, timeout=timeout)
                   for b, p in zip(self.nodes, procs, strict=True)]
        if len(self.nodes) > 1:
            self._wait_registered(timeout)
        return started

    def _wait_registered(self, timeout: float) -> None:
        """Wait until *every* node's metadata lists every node: a node answers before the
        controller has it, each node learns the others from the metadata log on its own, and a
        topic of replication factor N is refused by a node that lists fewer than N."""
        import asyncio

        from aiokafka.client import AIOKafkaClient

        async def view(address: str) -> int:
            client = AIOKafkaClient(bootstrap_servers=address)  # bootstraps from that node
            try:
                await client.bootstrap()
                return len(client.cluster.brokers())
            finally:
                await client.close()

        async def listed() -> int:
            return min(await asyncio.gather(*(view(n.bootstrap) for n in self.nodes)))

        deadline, seen = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            try:
                seen = asyncio.run(listed())
            except Exception:  # a node still starting: ask again
                seen = 0
            if seen >= len(self.nodes):
                return
            time.sleep(0.5)
        raise InfraError(f"a node lists {seen} of {len(self.nodes)} brokers after "
                         f"{timeout:.0f}s; see {self.nodes[0].log_file}")

    def status(self) -> list[BrokerStatus]:
        return [b.status() for b in self.nodes]

    def down(self, *, kill: bool = False) -> bool:
        """Stop every node; True if any was running."""
        return any([b.down(kill=kill) for b in self.nodes])

    def wipe(self) -> None:
        for b in self.nodes:
            b.wipe()
        if len(self.nodes) > 1:
            shutil.rmtree(self.dir, ignore_errors=True)


def local_clusters(settings: Settings) -> list[Cluster]:
    """The single broker and a cluster recorded under <home>/kafka-cluster (for ``down``)."""
    found = [Cluster(settings, 1)]
    recorded = settings.home / "kafka-cluster"
    n = len(list(recorded.glob("node-*"))) if recorded.is_dir() else 0
    if n > 1:
        found.append(Cluster(settings, n))
    elif settings.kafka_brokers > 1:
        found.append(Cluster(settings))
    return found
