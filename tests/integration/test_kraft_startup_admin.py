"""CreateTopics succeeds from a client's view while the controllers are (re)electing.

Right after start, or when a quorum is lost and regained, a node may serve clients
without knowing the active controller. Like Kafka's forwarding manager, it holds a
forwarded request until a controller is elected (and resends it if the controller it
reached answers NOT_CONTROLLER) instead of answering NOT_CONTROLLER itself. Requests are
sent raw, with no client-side retry, so only the broker's own behaviour is measured.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kio.index import load_response_schema
from kio.serial import entity_reader

from millrace_broker.metadata.controller import NewTopic
from millrace_broker.server.forwarding import create_topics_frame
from support_kraft import KraftCluster, kraft_cluster
from support_wire import RawConnection

pytestmark = pytest.mark.slow


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} not listening after {timeout}s")


def create_topic_raw(port: int, name: str) -> tuple[int, str | None]:
    """CreateTopics v7 (one partition, RF 1) on one connection: (error code, message)."""
    conn = RawConnection(port)
    conn.sock.settimeout(90)
    try:
        frame = create_topics_frame(
            NewTopic(name=name, num_partitions=1, replication_factor=1, assignments={}, configs={})
        )
        body = conn.request(frame)
    finally:
        conn.close()
    response, _ = entity_reader(load_response_schema(19, 7))(body, 5)  # corr id + tags
    result = response.topics[0]
    return int(result.error_code), result.error_message


def test_first_create_topics_after_start_succeeds_on_every_node(tmp_path: Path) -> None:
    cluster = KraftCluster(tmp_path, 3)
    for node in cluster.nodes.values():
        node.launch()
    try:
        outcomes = {}
        for node_id, node in cluster.nodes.items():
            wait_port(node.port)
            outcomes[node_id] = create_topic_raw(node.port, f"first-{node_id}")
        print(f"first CreateTopics per node: {outcomes}")
        assert all(code == 0 for code, _ in outcomes.values()), outcomes
        topics = cluster.metadata().topics
        assert all(f"first-{i}" in topics for i in cluster.nodes)
    finally:
        cluster.stop()


def test_create_topics_waits_while_the_quorum_is_lost(tmp_path: Path) -> None:
    """Nodes 2 and 3 die: node 1 alone has no quorum (it knows no active controller, or
    still names the dead one). Its CreateTopics is held -- neither NOT_CONTROLLER nor a
    closed connection -- until they are back and a controller is elected, then answered."""
    with kraft_cluster(tmp_path, 3) as cluster:
        first = cluster.nodes[1]
        wait_port(first.port)
        for node_id in (2, 3):
            cluster.nodes[node_id].kill9()
        time.sleep(3)  # past the Raft fetch timeout: any leader left resigns
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(create_topic_raw, first.port, "during-election")
            time.sleep(2)
            assert not pending.done(), pending.result()  # no quorum: still waiting
            for node_id in (2, 3):
                cluster.nodes[node_id].launch()
            code, message = pending.result(timeout=120)
        print(f"CreateTopics sent while the quorum was lost: error {code} ({message})")
        assert code == 0, message
        cluster.nodes[2].wait_listening(timeout=120)
        assert "during-election" in cluster.metadata().topics
