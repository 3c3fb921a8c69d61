"""Multi-process KRaft clusters for tests: N combined nodes (broker + controller), each
its own `millrace-broker` process with its own data directory and loopback ports."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from support_broker import BrokerProcess, free_port


@dataclass
class KraftCluster:
    root: Path
    size: int = 3
    # dedicated: `size` controller-only nodes (ids 1..size) plus `size` broker-only nodes
    # (ids size+1..2*size); otherwise `size` combined nodes
    dedicated: bool = False
    brokers: int | None = None  # dedicated: how many broker-only nodes (default `size`)
    settings: list[str] = field(default_factory=list)  # extra overrides for every node
    node_settings: dict[int, list[str]] = field(default_factory=dict)  # per node id
    cluster_id: str = field(
        default_factory=lambda: base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    )
    nodes: dict[int, BrokerProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        controller_ports = {i: free_port() for i in range(1, self.size + 1)}
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in controller_ports.items())
        common = [
            f"controller.quorum.voters={voters}",
            "broker.session.timeout.ms=4000",
            "broker.heartbeat.interval.ms=500",
            "replica.lag.time.max.ms=5000",
            *self.settings,
        ]
        for i, cport in controller_ports.items():
            port = free_port()
            roles = (
                [
                    "process.roles=controller",
                    f"listeners=CONTROLLER://127.0.0.1:{cport}",
                    "advertised.listeners=",
                ]
                if self.dedicated
                else []
            )
            self.nodes[i] = BrokerProcess(
                self.root / f"node{i}" / "data",
                port,
                [f"node.id={i}", *common, *roles, *self.node_settings.get(i, [])],
                extra_args=["--cluster-id", self.cluster_id],
                controller_port=cport,
                controller_only=self.dedicated,
            )
        if self.dedicated:
            count = self.size if self.brokers is None else self.brokers
            for i in range(self.size + 1, self.size + count + 1):
                port = free_port()
                self.nodes[i] = BrokerProcess(
                    self.root / f"node{i}" / "data",
                    port,
                    [
                        f"node.id={i}",
                        *common,
                        "process.roles=broker",
                        f"listeners=PLAINTEXT://127.0.0.1:{port}",
                        *self.node_settings.get(i, []),
                    ],
                    extra_args=["--cluster-id", self.cluster_id],
                )

    @property
    def broker_ids(self) -> list[int]:
        return [i for i, n in self.nodes.items() if not n.controller_only]

    @property
    def bootstrap(self) -> str:
        return ",".join(self.nodes[i].bootstrap for i in self.broker_ids)

    def start(self) -> None:
        for node in self.nodes.values():
            node.launch()
        for node in self.nodes.values():
            node.wait_listening(timeout=120)

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is None:
                node.stop()

    def admin(self, *node_ids: int) -> AdminClient:
        ids = node_ids or tuple(self.broker_ids)
        return AdminClient({"bootstrap.servers": ",".join(self.nodes[i].bootstrap for i in ids)})

    def live_ids(self) -> list[int]:
        return [
            i
            for i in self.broker_ids
            if self.nodes[i].process and self.nodes[i].process.poll() is None  # type: ignore[union-attr]
        ]

    def metadata(self) -> Any:
        return self.admin(*self.live_ids()).list_topics(timeout=10)

    def wait_full_isr(self, topic: str, *, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                parts = self.metadata().topics[topic].partitions.values()
                if all(sorted(p.isrs) == sorted(p.replicas) and p.leader >= 0 for p in parts):
                    return True
            except Exception:
                pass
            time.sleep(0.5)
        return False


@contextmanager
def kraft_cluster(root: Path, size: int = 3, *, dedicated: bool = False) -> Iterator[KraftCluster]:
    cluster = KraftCluster(root, size, dedicated=dedicated)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class AckedProducer:
    """A continuous idempotent acks=all producer in a thread; remembers what was acked,
    per partition in ack order. Bounded in count and time."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        partitions: int,
        limit: int = 200_000,
        seconds: float = 120.0,
    ) -> None:
        self.topic = topic
        self.partitions = partitions
        self.acked: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._limit = limit
        self._seconds = seconds
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 60000,
            }
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.acked[msg.partition()].append(msg.value())
        else:
            self.errors.append(str(err))

    def _run(self) -> None:
        deadline = time.monotonic() + self._seconds
        i = 0
        while not self._stop.is_set() and i < self._limit and time.monotonic() < deadline:
            try:
                self._producer.produce(
                    self.topic,
                    value=f"r{i:08d}".encode(),
                    partition=i % self.partitions,
                    on_delivery=self._on_delivery,
                )
                i += 1
                if i % 50 == 0:
                    time.sleep(0.005)  # a steady stream, not a flood
            except BufferError:
                self._producer.poll(0.05)
            self._producer.poll(0)
        self._producer.flush(90)

    def start(self) -> None:
        self._thread.start()

    def count(self) -> int:
        return sum(len(v) for v in self.acked.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def finish(self) -> None:
        """Wait until the producer reached its record limit (or time cap) and flushed."""
        self._thread.join(self._seconds + 120)


def consume_everything(
    bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 60.0
) -> dict[int, list[bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "check-" + uuid.uuid4().hex,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + timeout
    total = 0
    try:
        while total < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got[msg.partition()].append(msg.value())
            total += 1
    finally:
        consumer.close()
    return got


def check_exactly_once(acked: dict[int, list[bytes]], got: dict[int, list[bytes]]) -> str:
    """'' if every acknowledged record was consumed exactly once, in per-partition order,
    and nothing consumed was never produced; otherwise what is wrong."""
    problems = []
    for p, values in acked.items():
        consumed = got.get(p, [])
        if len(consumed) != len(set(consumed)):
            problems.append(f"partition {p}: {len(consumed) - len(set(consumed))} duplicates")
        missing = set(values) - set(consumed)
        if missing:
            problems.append(f"partition {p}: {len(missing)} acknowledged records missing")
        positions = {v: i for i, v in enumerate(consumed)}
        order = [positions[v] for v in values if v in positions]
        if order != sorted(order):
            problems.append(f"partition {p}: acknowledged records out of order")
        unknown = [v for v in consumed if not v.startswith(b"r")]
        if unknown:
            problems.append(f"partition {p}: {len(unknown)} records never produced")
    return "; ".join(problems)
