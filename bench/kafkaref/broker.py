"""Real Apache Kafka brokers on loopback: one node or an n-node cluster, KRaft combined mode.

Each node runs `kafka.Kafka` (what bin/kafka-server-start.sh runs) with
process.roles=broker,controller, a generated server.properties, free 127.0.0.1 ports and
its data in a temporary directory. The quorum is dynamic (KIP-853): one node is formatted
with `kafka-storage format --standalone`, a cluster with `--initial-controllers`.
Start-up waits until a Kafka client sees every broker in Metadata; stop sends SIGTERM
(controlled shutdown), then SIGKILL after a grace period. The JVM uses Kafka's own server
defaults (-Xmx1G -Xms1G, G1) unless told otherwise, so benchmarks compare like with like.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from kafkaref.dist import java_command, kafka_cli, kafka_home
from kafkaref.procstat import MemoryStats, read_memory

# bin/kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS in Kafka 4.1.
SERVER_JVM_OPTS: tuple[str, ...] = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def kafka_uuid() -> str:
    """A random Kafka Uuid in its text form (URL-safe base64, no padding, no leading '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def die_with_parent() -> None:
    """Popen preexec_fn: the child gets SIGKILL when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_for_brokers(
    bootstrap: str,
    *,
    brokers: int = 1,
    timeout: float = 120.0,
    processes: Mapping[str, tuple[subprocess.Popen[bytes], Path]] | None = None,
) -> None:
    """Block until a Metadata response from `bootstrap` lists at least `brokers` brokers.

    Works for any Kafka-compatible broker (Apache Kafka, Millrace). `processes` maps a name
    to (process, log file): if one exits first, raise RuntimeError with the log's tail.
    """
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    seen = 0
    while time.monotonic() < deadline:
        for name, (proc, log) in (processes or {}).items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with status {proc.returncode} during start-up; "
                    f"log {log}:\n{_tail(log)}"
                )
        try:
            seen = len(admin.list_topics(timeout=2).brokers)
        except Exception:
            seen = 0
        if seen >= brokers:
            return
        time.sleep(0.25)
    logs = "".join(
        f"\n--- {name}: {log}\n{_tail(log)}" for name, (_, log) in (processes or {}).items()
    )
    raise TimeoutError(
        f"{bootstrap} not serving after {timeout:.0f}s ({seen}/{brokers} brokers seen){logs}"
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class KafkaNode:
    """One combined broker+controller process of a reference cluster."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    directory_id: str = field(default_factory=kafka_uuid)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def controller(self) -> str:
        return f"127.0.0.1:{self.controller_port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def memory(self) -> MemoryStats | None:
        return read_memory(self.process.pid) if self.alive() and self.process else None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


class KafkaCluster:
    """`n` Apache Kafka nodes in KRaft combined mode on loopback; a context manager."""

    def __init__(
        self,
        n: int = 3,
        *,
        heap: str = "1G",
        overrides: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        start_timeout: float = 180.0,
        keep_data: bool = False,
    ) -> None:
        if n < 1:
            raise ValueError("a Kafka cluster needs at least one node")
        self.n = n
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.start_timeout = start_timeout
        self.keep_data = keep_data
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kafkaref-"))
        self.cluster_id = kafka_uuid()
        self.nodes = [
            KafkaNode(i, free_port(), free_port(), self.workdir / f"node-{i}")
            for i in range(1, n + 1)
        ]

    # -- addresses -------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """bootstrap.servers for clients: every node's PLAINTEXT listener."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def controller_bootstrap(self) -> str:
        """For `--bootstrap-controller` (kafka-metadata-quorum, kafka-features...)."""
        return ",".join(node.controller for node in self.nodes)

    # -- configuration ---------------------------------------------------------------------
    def server_properties(self, node: KafkaNode) -> dict[str, str]:
        """Kafka 4.1's shipped config/server.properties, adapted to this node."""
        rf = str(min(self.n, 3))
        min_isr = "2" if self.n >= 3 else "1"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.bootstrap.servers": self.controller_bootstrap,
            "listeners": f"PLAINTEXT://{node.bootstrap},CONTROLLER://{node.controller}",
            "advertised.listeners": f"PLAINTEXT://{node.bootstrap},CONTROLLER://{node.controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(node.directory / "data"),
            "num.network.threads": "3",
            "num.io.threads": "8",
            "socket.send.buffer.bytes": "102400",
            "socket.receive.buffer.bytes": "102400",
            "socket.request.max.bytes": "104857600",
            "num.partitions": "1",
            "num.recovery.threads.per.data.dir": "1",
            "offsets.topic.replication.factor": rf,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "log.retention.hours": "168",
            "log.segment.bytes": "1073741824",
            "log.retention.check.interval.ms": "300000",
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.overrides)
        return props

    def _write_config(self, node: KafkaNode) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{k}={v}\n" for k, v in self.server_properties(node).items())
        node.config_path.write_text(text, encoding="utf-8")

    def _format(self) -> None:
        if self.n == 1:
            quorum = ["--standalone"]
        else:
            voters = ",".join(
                f"{nd.node_id}@127.0.0.1:{nd.controller_port}:{nd.directory_id}"
                for nd in self.nodes
            )
            quorum = ["--initial-controllers", voters]

        def format_node(node: KafkaNode) -> None:
            args = ["format", "-t", self.cluster_id, "-c", str(node.config_path), *quorum]
            proc = kafka_cli("kafka-storage", *args, timeout=180)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"kafka-storage format failed for node {node.node_id} "
                    f"(exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
                )

        with ThreadPoolExecutor(max_workers=self.n) as pool:
            for _ in pool.map(format_node, self.nodes):
                pass

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Format storage, start every node, wait until clients see all brokers."""
        for node in self.nodes:
            self._write_config(node)
        self._format()
        for node in self.nodes:
            self._spawn(node)
        try:
            self.wait_ready(self.start_timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, node: KafkaNode) -> None:
        cmd = java_command(
            "kafka.Kafka",
            str(node.config_path),
            home=kafka_home(),
            heap_opts=(f"-Xmx{self.heap}", f"-Xms{self.heap}"),
            jvm_opts=SERVER_JVM_OPTS,
            log4j_config="server-log4j2.properties",
            log_dir=node.directory / "logs",
        )
        with open(node.log_path, "ab") as log:
            node.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def restart(self, node_id: int, *, wait: bool = True) -> None:
        """Start a stopped or killed node again on its data; wait until it serves clients.

        Kafka opens its client listener only once the node has caught up with the metadata
        log, so the node answering Metadata on its own port means it is back.
        """
        node = self.nodes[node_id - 1]
        if node.alive():
            raise RuntimeError(f"Kafka node {node_id} is still running; kill() it first")
        self._spawn(node)
        if wait and node.process is not None:
            wait_for_brokers(
                node.bootstrap,
                brokers=1,
                timeout=self.start_timeout,
                processes={f"Kafka node {node_id}": (node.process, node.log_path)},
            )

    def wait_ready(self, timeout: float) -> None:
        """Block until a Metadata response lists all n brokers; raise with logs if not."""
        wait_for_brokers(
            self.bootstrap,
            brokers=self.n,
            timeout=timeout,
            processes={
                f"Kafka node {nd.node_id}": (nd.process, nd.log_path)
                for nd in self.nodes
                if nd.process is not None
            },
        )

    def stop(self, *, grace: float = 30.0) -> None:
        """SIGTERM every node (controlled shutdown); SIGKILL whatever remains after `grace`."""
        running = [nd for nd in self.nodes if nd.alive()]
        for nd in running:
            assert nd.process is not None
            with contextlib.suppress(ProcessLookupError):
                nd.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for nd in running:
            assert nd.process is not None
            try:
                nd.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                nd.process.kill()
                nd.process.wait(timeout=30)
        if self._own_workdir and not self.keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (fault injection); `restart(node_id)` brings it back."""
        nd = self.nodes[node_id - 1]
        if nd.process is not None and nd.alive():
            nd.process.kill()
            nd.process.wait(timeout=30)

    def memory(self) -> dict[int, MemoryStats | None]:
        """RSS and peak RSS of each node's JVM, by node id."""
        return {nd.node_id: nd.memory() for nd in self.nodes}

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class KafkaBroker(KafkaCluster):
    """A single Apache Kafka node (broker+controller) on loopback; a context manager.

    `with KafkaBroker() as kafka:` gives `kafka.bootstrap`, `kafka.pid`, `kafka.memory_stats()`.
    """

    def __init__(
        self,
        *,
        heap: str = "1G",
        overrides: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        start_timeout: float = 180.0,
        keep_data: bool = False,
    ) -> None:
        super().__init__(
            1,
            heap=heap,
            overrides=overrides,
            workdir=workdir,
            start_timeout=start_timeout,
            keep_data=keep_data,
        )

    @property
    def node(self) -> KafkaNode:
        return self.nodes[0]

    @property
    def pid(self) -> int:
        pid = self.node.pid
        if pid is None:
            raise RuntimeError("the Kafka broker is not started")
        return pid

    @property
    def log_path(self) -> Path:
        return self.node.log_path

    def memory_stats(self) -> MemoryStats | None:
        """VmRSS and VmHWM of the broker JVM, or None if it is not running."""
        return self.node.memory()

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self


__all__ = [
    "KafkaBroker",
    "KafkaCluster",
    "KafkaNode",
    "die_with_parent",
    "free_port",
    "kafka_uuid",
    "wait_for_brokers",
]
