"""A broker cut off from the other nodes, then healed, under an idempotent acks=all
producer: nothing acknowledged is lost, nothing is duplicated, nothing unacknowledged
appears, and every ISR is full again.

Three combined nodes (broker + controller), each its own process. Inter-node traffic
(Raft between controllers, heartbeats, AlterPartition, forwarding, replica fetches) goes
through tests/support_netfault.py's proxy, which can stall every link of one node; the
clients' listener is direct, so clients still reach the cut-off broker, as when a broker
loses its links to the other racks but not to the application.

- A cut-off follower (leads no partition, not the active controller): the leaders drop it
  from their ISRs after replica.lag.time.max.ms and keep acknowledging with the two
  others (min.insync.replicas=2); once healed it catches up and rejoins.
- A cut-off leader: its followers cannot fetch and it cannot reach the controller, so its
  high watermark stops and it acknowledges nothing more (a record sent straight to it is
  refused, and never shows up later); the controller fences it after
  broker.session.timeout.ms and elects new leaders from the ISR; the producer moves to
  them. Once healed, the old leader truncates its unacknowledged tail and rejoins. The
  same with the cut-off leader being the active controller too: the other two elect a
  new controller first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader

from millrace_broker.protocol.codec import encode_request
from millrace_broker.server.kio_build import nested
from support_broker import free_port
from support_kraft import AckedProducer, KraftCluster, check_exactly_once, consume_everything
from support_netfault import NetFault
from support_wire import RawConnection

pytestmark = pytest.mark.slow

CUT_SECONDS = 15.0  # > broker.session.timeout.ms (4 s) + replica.lag.time.max.ms (5 s)
PROBE = b"phantom-probe"  # sent to the cut-off leader; must never be consumed


class PartitionableCluster(KraftCluster):
    """KraftCluster whose inter-node listeners are reached through a NetFault proxy."""

    net: NetFault

    def wire(self, net: NetFault) -> None:
        self.net = net
        repl_ports = {i: free_port() for i in self.nodes}
        proxy_ctrl = {i: net.listen(i, n.controller_port or 0) for i, n in self.nodes.items()}
        proxy_repl = {i: net.listen(i, repl_ports[i]) for i in self.nodes}
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in proxy_ctrl.items())
        for i, node in self.nodes.items():
            node.overrides += [
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{node.port},"
                f"REPLICATION://127.0.0.1:{repl_ports[i]},"
                f"CONTROLLER://127.0.0.1:{node.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port},"
                f"REPLICATION://127.0.0.1:{proxy_repl[i]},"
                f"CONTROLLER://127.0.0.1:{proxy_ctrl[i]}",
                "listener.security.protocol.map="
                "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=REPLICATION",
            ]

    def start(self) -> None:
        for node_id, node in self.nodes.items():
            node.launch()
            assert node.process is not None
            self.net.register(node_id, node.process.pid)
        for node in self.nodes.values():
            node.wait_listening(timeout=120)

    def controller_id(self) -> int:
        return int(self.metadata().controller_id)

    def partitions(self, topic: str, *, asking: int) -> dict[int, tuple[int, tuple[int, ...]]]:
        """partition -> (leader, ISR) as node `asking` sees them (a raw Metadata request:
        an admin client would also ask the cut-off node, whose view is stale)."""
        return partitions_seen_by(self.nodes[asking].port, topic)

    def leaders(self, topic: str, *, asking: int) -> dict[int, int]:
        return {p: leader for p, (leader, _) in self.partitions(topic, asking=asking).items()}


def partitions_seen_by(port: int, topic: str) -> dict[int, tuple[int, tuple[int, ...]]]:
    cls: Any = load_request_schema(3, 12)
    request = cls(
        topics=(nested(cls, "MetadataRequestTopic")(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    conn = RawConnection(port)
    try:
        body = conn.request(encode_request(request, correlation_id=1))
    finally:
        conn.close()
    response: Any = entity_reader(load_response_schema(3, 12))(body, 5)[0]  # id + tags
    [t] = response.topics
    return {
        int(p.partition_index): (int(p.leader_id), tuple(int(r) for r in p.isr_nodes))
        for p in t.partitions
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PartitionableCluster]:
    net = NetFault()
    c = PartitionableCluster(tmp_path, 3)
    try:
        c.wire(net)
        c.start()
        yield c
    finally:
        c.stop()
        net.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass  # a node restarting its view: ask again
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def create_topic(c: PartitionableCluster, name: str, assignment: list[list[int]] | None) -> None:
    config = {"min.insync.replicas": "2"}
    topic = (
        NewTopic(name, len(assignment), replica_assignment=assignment, config=config)
        if assignment
        else NewTopic(name, 3, 3, config=config)
    )
    admin = c.admin()  # kept alive until the future resolves
    admin.create_topics([topic])[name].result(60)
    assert c.wait_full_isr(name, timeout=60)


def run_partition(
    c: PartitionableCluster, topic: str, victim: int, during: Callable[[], None]
) -> dict[str, Any]:
    producer = AckedProducer(c.bootstrap, topic, partitions=3, seconds=240)
    producer.start()
    wait_for("2000 acknowledged records", lambda: producer.count() >= 2000, 90)
    before = producer.count()
    c.net.cut(victim)
    cut_at = time.monotonic()
    try:
        during()
        time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
        during_cut = producer.count() - before
    finally:
        c.net.heal(victim)
    healed = producer.count()
    wait_for("2000 more acknowledged records", lambda: producer.count() >= healed + 2000, 120)
    producer.stop()
    acked = producer.count()
    got = consume_everything(c.bootstrap, topic, 3, acked, timeout=120)
    consumed = sum(len(v) for v in got.values())
    full_isr = c.wait_full_isr(topic, timeout=120)
    counts = {
        "acked": acked,
        "acked_before_cut": before,
        "acked_during_cut": during_cut,
        "consumed": consumed,
        "producer_errors": len(producer.errors),
        "proxied_connections": c.net.counts["connections"],
    }
    print(f"node {victim} cut for {CUT_SECONDS:.0f}s: {counts}, full ISR again: {full_isr}")
    assert check_exactly_once(producer.acked, got) == ""
    assert consumed == acked, "a record that was never acknowledged was consumed"
    assert full_isr, "the cluster did not return to full ISR"
    return counts


def test_cut_off_follower_leaves_and_rejoins_the_isr(cluster: PartitionableCluster) -> None:
    controller = cluster.controller_id()
    victim = next(i for i in cluster.broker_ids if i != controller)
    a, b = [i for i in cluster.broker_ids if i != victim]
    topic = "cut-follower"
    create_topic(cluster, topic, [[a, b, victim], [b, a, victim], [a, b, victim]])
    assert victim not in cluster.leaders(topic, asking=a).values()

    def isr_shrinks() -> None:
        def shrunk() -> bool:
            seen = cluster.partitions(topic, asking=a).values()
            return all(victim not in isr for _, isr in seen)

        wait_for("the cut-off follower out of every ISR", shrunk, 60)

    counts = run_partition(cluster, topic, victim, isr_shrinks)
    assert counts["acked_during_cut"] > 0, "min ISR 2 still held: acks=all must go on"


@pytest.mark.parametrize("also_controller", [False, True], ids=["leader", "leader+controller"])
def test_cut_off_leader_stops_acknowledging_and_is_replaced(
    cluster: PartitionableCluster, also_controller: bool
) -> None:
    """`also_controller`: the cut-off node is the active controller as well; the other
    two elect a new one, which fences it."""
    topic = "cut-leader"
    create_topic(cluster, topic, None)
    controller = cluster.controller_id()
    leaders = cluster.leaders(topic, asking=controller)
    victim = next(
        i
        for i in cluster.broker_ids
        if (i == controller) == also_controller and i in leaders.values()
    )
    led = [p for p, leader in leaders.items() if leader == victim]
    witness = next(i for i in cluster.broker_ids if i != victim)
    probe_errors: list[Any] = []

    def replaced() -> None:
        # Straight to the cut-off leader, which still believes it leads: refused.
        time.sleep(1)
        direct = Producer(
            {
                "bootstrap.servers": cluster.nodes[victim].bootstrap,
                "acks": "all",
                "request.timeout.ms": 4000,
                "message.timeout.ms": 6000,
                "retries": 0,
            }
        )
        direct.produce(
            topic, value=PROBE, partition=led[0], on_delivery=lambda e, _m: probe_errors.append(e)
        )
        direct.flush(30)
        wait_for(
            "new leaders for the cut-off leader's partitions",
            lambda: all(cluster.leaders(topic, asking=witness)[p] not in (victim, -1) for p in led),
            60,
        )

    run_partition(cluster, topic, victim, replaced)
    print(f"record sent straight to the cut-off leader: {probe_errors}")
    assert len(probe_errors) == 1 and probe_errors[0] is not None, probe_errors
