"""Probes run inside broker and controller pods: `python3 -m millrace_operator.nodeprobe`.

    nodeprobe ready [<server.properties>]   exit 0 when the node can take traffic
    nodeprobe alive [<server.properties>]   exit 0 when the node's listener accepts connections

Without a path the file named by $MILLRACE_PROPERTIES is read: Kubernetes expands
`$(POD_NAME)` in a container's arguments and environment but not in an exec probe's
command, so the pod's environment carries the path.

Readiness is not "a port is open": a broker is ready when the cluster's metadata lists its
node id among the brokers, which happens only once it registered with the controller
quorum and caught up with the metadata log (Kafka unfences a broker then). A dedicated
controller is ready when it answers on its listener and, where the node serves
DescribeQuorum, a quorum leader is known.

`alive` backs the startup and liveness probes; the StatefulSet gives the startup probe a
long budget so a broker recovering its log is never killed for being slow.

This module runs in the broker image, where only the base distribution is installed: it
imports the standard library, kio and the operator's Kafka client (kio + the broker's
protocol package), never Kopf or pydantic.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

LOCAL = "127.0.0.1"
PROPERTIES_ENV = "MILLRACE_PROPERTIES"


def read_properties(path: Path) -> dict[str, str]:
    """The key=value lines of a properties file (what the operator renders: no escapes
    beyond those it writes, which these probes never need)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def listener_ports(props: dict[str, str]) -> dict[str, int]:
    """Listener name -> port, from `listeners` (e.g. PLAINTEXT://:9092)."""
    ports: dict[str, int] = {}
    for entry in props.get("listeners", "").split(","):
        name, sep, rest = entry.strip().partition("://")
        if sep and ":" in rest:
            ports[name] = int(rest.rsplit(":", 1)[1])
    return ports


# kio is imported only where the Kafka protocol is spoken: `alive` runs every few seconds
# in every pod and needs nothing but a socket, so it stays a cheap Python start.


async def broker_ready(port: int, node_id: int) -> str | None:
    """None when `node_id` is a registered broker in the metadata; else why not."""
    from kio.schema.metadata.v12.request import MetadataRequest

    from millrace_operator.kafkaclient import KafkaConnection

    async with KafkaConnection(LOCAL, port, timeout=3.0) as conn:
        metadata = await conn.request(
            MetadataRequest(
                topics=(),
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=False,
            )
        )
    registered = sorted(int(b.node_id) for b in metadata.brokers)
    if node_id in registered:
        return None
    return f"node {node_id} is not registered yet (registered brokers: {registered})"


async def controller_ready(port: int) -> str | None:
    from kio.schema.describe_quorum.v2.request import (
        DescribeQuorumRequest,
        PartitionData,
        TopicData,
    )
    from kio.schema.types import TopicName
    from kio.static.primitive import i32

    from millrace_operator.kafkaclient import KafkaConnection, check

    async with KafkaConnection(LOCAL, port, timeout=3.0) as conn:
        if not await conn.supports(DescribeQuorumRequest.__api_key__, 2):
            return None
        quorum = await conn.request(
            DescribeQuorumRequest(
                topics=(
                    TopicData(
                        topic_name=TopicName("__cluster_metadata"),
                        partitions=(PartitionData(partition_index=i32(0)),),
                    ),
                )
            )
        )
        check(quorum.error_code, quorum.error_message, "DescribeQuorum")
        leader = int(quorum.topics[0].partitions[0].leader_id)
    return None if leader >= 0 else "the controller quorum has no leader yet"


def probe(command: str, config: Path) -> str | None:
    """None when healthy; otherwise the reason (printed, exit status 1)."""
    props = read_properties(config)
    ports = listener_ports(props)
    roles = props.get("process.roles", "broker").split(",")
    node_id = int(props.get("node.id", "-1"))
    if command == "alive":
        port = ports.get("PLAINTEXT") or ports.get("CONTROLLER")
        if port is None:
            return "no listener in " + str(config)
        try:
            with socket.create_connection((LOCAL, port), timeout=2.0):
                return None
        except OSError as exc:
            return f"listener {port} not accepting connections: {exc}"
    from millrace_operator.kafkaclient import KafkaError, KafkaUnavailable

    try:
        if "broker" in roles:
            return asyncio.run(broker_ready(ports.get("PLAINTEXT", 9092), node_id))
        return asyncio.run(controller_ready(ports.get("CONTROLLER", 9093)))
    except (KafkaUnavailable, KafkaError) as exc:
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[1] if len(args) == 2 else os.environ.get(PROPERTIES_ENV, "")
    if len(args) not in (1, 2) or args[0] not in ("ready", "alive") or not path:
        print(
            "usage: python -m millrace_operator.nodeprobe ready|alive [<server.properties>]"
            f" (default: ${PROPERTIES_ENV})",
            file=sys.stderr,
        )
        return 2
    reason = probe(args[0], Path(path))
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
