"""Dynamic KRaft quorums (KIP-853) of real processes for tests, and the voter-change APIs
spoken on the wire with kio (AddRaftVoter, RemoveRaftVoter, DescribeQuorum).

Every node gets its own server.properties file (what `kafka-metadata-quorum
add-controller --command-config` reads) and is started with it plus `--cluster-id` and
one of `--standalone`, `--initial-controllers` or `--no-initial-controllers`.
"""

from __future__ import annotations

import base64
import datetime
import io
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from kio.index import load_response_schema
from kio.schema.add_raft_voter.v0.request import AddRaftVoterRequest, Listener
from kio.schema.describe_quorum.v2.request import (
    DescribeQuorumRequest,
    PartitionData,
    TopicData,
)
from kio.schema.remove_raft_voter.v0.request import RemoveRaftVoterRequest
from kio.schema.types import TopicName
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i32, u16

from support_broker import BrokerProcess, free_port


def new_uuid() -> str:
    """A Kafka Uuid in its text form (`kafka-storage random-uuid`)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def uuid_of(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def text_of(value: uuid.UUID | None) -> str:
    return "" if value is None else base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


@dataclass
class QuorumNode:
    node_id: int
    process: BrokerProcess
    properties: Path
    controller_port: int

    @property
    def directory_id(self) -> str:
        meta = (self.process.data_dir / "meta.properties").read_text()
        return next(
            line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("directory.id=")
        )


@dataclass
class DynamicQuorum:
    root: Path
    cluster_id: str = field(default_factory=new_uuid)
    nodes: dict[int, QuorumNode] = field(default_factory=dict)
    bootstrap_controllers: list[int] = field(default_factory=list)

    def add_node(
        self,
        node_id: int,
        *,
        mode: list[str],
        controller_only: bool = False,
        broker_only: bool = False,
        controller_port: int | None = None,
    ) -> QuorumNode:
        """Write node `node_id`'s properties file and prepare its process (not started).
        The first node's controller is the bootstrap server unless set beforehand.
        (A broker-only node's `controller_port` is its broker port: DescribeQuorum there
        is forwarded to the active controller.)"""
        cport = controller_port or free_port()
        port = cport if controller_only else free_port()
        if broker_only:
            cport = port
        data = self.root / f"node{node_id}" / "data"
        if not self.bootstrap_controllers:
            self.bootstrap_controllers.append(cport)
        listeners = (
            f"CONTROLLER://127.0.0.1:{cport}"
            if controller_only
            else f"PLAINTEXT://127.0.0.1:{port}"
            if broker_only
            else f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}"
        )
        roles = (
            "controller" if controller_only else "broker" if broker_only else "broker,controller"
        )
        props = {
            "process.roles": roles,
            "node.id": str(node_id),
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            "advertised.listeners": "" if controller_only else f"PLAINTEXT://127.0.0.1:{port}",
            "controller.quorum.bootstrap.servers": ",".join(
                f"127.0.0.1:{p}" for p in self.bootstrap_controllers
            ),
            "log.dirs": str(data),
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "500",
            "replica.lag.time.max.ms": "5000",
        }
        path = self.root / f"node{node_id}.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        process = BrokerProcess(
            data,
            port,
            # the same values as the file: BrokerProcess's own defaults must not win
            [f"{k}={props[k]}" for k in ("process.roles", "listeners", "advertised.listeners")],
            extra_args=[str(path), "--cluster-id", self.cluster_id, *mode],
            controller_port=cport,
            controller_only=controller_only,
        )
        node = self.nodes[node_id] = QuorumNode(node_id, process, path, cport)
        return node

    def move_controller(self, node_id: int) -> int:
        """Give a stopped node a new controller port (file and command line)."""
        node = self.nodes[node_id]
        old, new = node.controller_port, free_port()
        text = node.properties.read_text().replace(f":{old}\n", f":{new}\n")
        text = text.replace(f":{old},", f":{new},")
        node.properties.write_text(text)
        node.process.overrides = [o.replace(f":{old}", f":{new}") for o in node.process.overrides]
        node.controller_port = node.process.controller_port = new
        return new

    def voter_endpoints(self) -> dict[int, list[str]]:
        """DescribeQuorum's nodes: voter id -> its endpoints as listener://host:port."""
        found: dict[int, list[str]] = {}
        for port in [n.controller_port for n in self.nodes.values()]:
            try:
                response = kio_call(port, describe_quorum_request(), timeout=10)
            except OSError:
                continue
            if response.topics and response.topics[0].partitions[0].error_code == 0:
                for node in response.nodes:
                    found[node.node_id] = [f"{x.name}://{x.host}:{x.port}" for x in node.listeners]
                return found
        return found

    @property
    def broker_ids(self) -> list[int]:
        return [i for i, n in self.nodes.items() if not n.process.controller_only]

    @property
    def bootstrap(self) -> str:
        return ",".join(self.nodes[i].process.bootstrap for i in self.broker_ids)

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.process is not None and node.process.process.poll() is None:
                node.process.stop()

    def describe(self, *, via: int | None = None, timeout: float = 60.0) -> Any:
        """DescribeQuorum's partition, retried until some node answers with a leader."""
        deadline = time.monotonic() + timeout
        ports = [via] if via is not None else [n.controller_port for n in self.nodes.values()]
        while True:
            for port in ports:
                try:
                    part = describe_quorum(port)
                    if part.error_code == 0:
                        return part
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError("no quorum leader answered DescribeQuorum")
            time.sleep(0.5)

    def voters(self) -> dict[int, str]:
        return {
            v.replica_id: text_of(v.replica_directory_id) for v in self.describe().current_voters
        }

    def observers(self) -> set[int]:
        return {o.replica_id for o in self.describe().observers}

    def wait_observer(self, node_id: int, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while node_id not in self.observers():
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {node_id} never fetched from the leader as an observer")
            time.sleep(0.5)


def kio_call(port: int, request: Any, *, timeout: float = 60.0) -> Any:
    header_cls = type(request).__header_schema__
    header = header_cls(
        request_api_key=request.__api_key__,
        request_api_version=request.__version__,
        correlation_id=11,
        client_id="quorum-test",
    )
    buffer = io.BytesIO()
    entity_writer(header_cls)(buffer, header)
    entity_writer(type(request))(buffer, request)
    body = buffer.getvalue()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    response_cls = load_response_schema(request.__api_key__, request.__version__)
    _, used = entity_reader(response_cls.__header_schema__)(data, 0)
    response, _ = entity_reader(response_cls)(data, used)
    return response


def _recv(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed")
        out += chunk
    return out


def describe_quorum_request() -> DescribeQuorumRequest:
    return DescribeQuorumRequest(
        topics=(
            TopicData(
                topic_name=TopicName("__cluster_metadata"),
                partitions=(PartitionData(partition_index=i32(0)),),
            ),
        )
    )


def describe_quorum(port: int) -> Any:
    return kio_call(port, describe_quorum_request(), timeout=10).topics[0].partitions[0]


def add_raft_voter(port: int, cluster_id: str, node: QuorumNode) -> Any:
    request = AddRaftVoterRequest(
        cluster_id=cluster_id,
        timeout=datetime.timedelta(seconds=30),
        voter_id=i32(node.node_id),
        voter_directory_id=uuid_of(node.directory_id),
        listeners=(Listener(name="CONTROLLER", host="127.0.0.1", port=u16(node.controller_port)),),
    )
    return kio_call(port, request)


def remove_raft_voter(port: int, cluster_id: str, node_id: int, directory_id: str) -> Any:
    request = RemoveRaftVoterRequest(
        cluster_id=cluster_id, voter_id=i32(node_id), voter_directory_id=uuid_of(directory_id)
    )
    return kio_call(port, request)
