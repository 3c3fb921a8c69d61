"""An in-process cluster for replication tests: real network, real storage, shared metadata.

N `Broker` objects run on one asyncio event loop in a background thread. Each has its own
log directory (real segments on disk) and listens on its own loopback port through the
real network layer, so clients (confluent-kafka) and the brokers' replica fetchers talk
real Kafka protocol over TCP. Only the metadata is shared in-process: all brokers use ONE
`LocalController`, so they see the same metadata image (the KRaft issue replaces this
with the Raft-replicated metadata log; until then several broker processes cannot share
metadata). Test code calls into the loop with `call` (functions or coroutines).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from millrace_broker.config import load_broker_config
from millrace_broker.metadata.controller import LocalController
from millrace_broker.metadata.journal import MetadataJournal
from millrace_broker.metadata.records import MetadataRecord, RegisterBrokerRecord
from millrace_broker.network.connection import make_protocol_factory
from millrace_broker.server.broker import Broker, Endpoint
from millrace_broker.server.dispatch import Dispatcher
from millrace_broker.server.handlers import HANDLERS
from millrace_broker.server.storage_format import ensure_formatted
from millrace_broker.server.wiring import replica_connector
from millrace_broker.storage.log_manager import LogManager
from support_broker import free_port

T = TypeVar("T")


@dataclass
class Node:
    node_id: int
    port: int
    broker: Broker
    servers: list[asyncio.Server] = field(default_factory=list)


class InProcessCluster:
    def __init__(self, root: Path, size: int, overrides: dict[str, str] | None = None) -> None:
        self.root = root
        self.size = size
        self.overrides = overrides or {}
        self.nodes: dict[int, Node] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.controller: LocalController | None = None
        self._journal: MetadataJournal | None = None

    # -- running code on the cluster's loop ---------------------------------------------

    def call(self, fn: Callable[[], Any], *, timeout: float = 60.0) -> Any:
        """Run `fn` on the loop thread (awaiting it if it returns a coroutine)."""

        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    def commit(self, records: list[MetadataRecord]) -> None:
        assert self.controller is not None
        controller = self.controller
        self.call(lambda: controller.commit(records))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> InProcessCluster:
        self._thread.start()
        self.call(self._start)
        return self

    async def _start(self) -> None:
        ports = {n: (free_port(), free_port()) for n in range(1, self.size + 1)}
        cluster_id: str | None = None
        for node_id, (port, ctrl_port) in ports.items():
            data = self.root / f"broker-{node_id}"
            config = load_broker_config(
                None,
                [
                    f"{k}={v}"
                    for k, v in {
                        "node.id": str(node_id),
                        "controller.quorum.voters": f"{node_id}@127.0.0.1:{ctrl_port}",
                        "listeners": f"PLAINTEXT://127.0.0.1:{port},"
                        f"CONTROLLER://127.0.0.1:{ctrl_port}",
                        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                        "log.dirs": str(data),
                        **self.overrides,
                    }.items()
                ],
            )
            cluster_id = ensure_formatted([data], node_id=node_id, cluster_id=cluster_id)
            if self.controller is None:
                self._journal = MetadataJournal(self.root / "shared-metadata" / "journal")
                self.controller = LocalController.open(self._journal, cluster_id)
            endpoints = [Endpoint("PLAINTEXT", "127.0.0.1", port, "PLAINTEXT")]
            broker = Broker(
                config=config,
                controller=self.controller,
                logs=LogManager([data]),
                endpoints=endpoints,
            )
            self.controller.commit(
                [RegisterBrokerRecord(node_id, (("PLAINTEXT", "127.0.0.1", port, "PLAINTEXT"),))]
            )
            broker.load_partitions()
            self.nodes[node_id] = Node(node_id, port, broker)
        for node in self.nodes.values():
            dispatcher = Dispatcher(node.broker, HANDLERS)
            factory = make_protocol_factory(
                dispatcher, listener="PLAINTEXT", max_request_bytes=100 * 1024 * 1024
            )
            server = await asyncio.get_running_loop().create_server(
                factory, "127.0.0.1", node.port, reuse_address=True
            )
            node.servers.append(server)
            node.broker.replication.start(replica_connector(node.broker))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self._stop)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    async def _stop(self) -> None:
        for node in self.nodes.values():
            await node.broker.replication.stop()
            for server in node.servers:
                server.close()
        for node in self.nodes.values():
            node.broker.logs.close()
        if self._journal is not None:
            self._journal.close()

    # -- views ----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes.values())

    def broker(self, node_id: int) -> Broker:
        return self.nodes[node_id].broker

    def partition(self, topic: str, pid: int = 0) -> Any:
        assert self.controller is not None
        return self.controller.image.topics[topic].partitions[pid]

    def log_bytes(self, node_id: int, topic: str, pid: int = 0) -> bytes:
        """Every stored batch of the partition on one node, read on the loop thread."""

        def read() -> bytes:
            plog = self.broker(node_id).partition_log(topic, pid)
            assert plog is not None
            out = b""
            offset = plog.log_start_offset
            for _ in range(100_000):
                if offset >= plog.log_end_offset:
                    break
                chunk = plog.read(offset, 1 << 20, min_one_batch=True)
                if not chunk.records:
                    break
                out += bytes(chunk.records)
                offset = _next_offset(bytes(chunk.records))
            return out

        result: bytes = self.call(read)
        return result

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(check):
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _next_offset(records: bytes) -> int:
    from millrace_broker.protocol.record_batch import iter_batches

    last = -1
    for _, header in iter_batches(records):
        last = header.last_offset
    return last + 1
