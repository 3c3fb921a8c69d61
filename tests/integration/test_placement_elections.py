"""Rack-aware placement and leader elections on a real cluster: one dedicated controller
and six brokers on three racks (2 per rack), each its own process, driven by
confluent-kafka's admin client and Apache Kafka's `kafka-leader-election`.

Automatic rebalancing is off here so that elections on request are observable;
tests/integration/test_reassignment.py covers `auto.leader.rebalance.enable`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

from kafkaref import kafka_cli
from support_clients import unique_topic
from support_kraft import KraftCluster

pytestmark = [pytest.mark.slow, pytest.mark.kafka_cli]

RACKS = {2: "a", 3: "a", 4: "b", 5: "b", 6: "c", 7: "c"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KraftCluster]:
    c = KraftCluster(
        Path(tmp_path_factory.mktemp("racks")),
        1,
        dedicated=True,
        brokers=6,
        # seven processes on two shared cores: a slow heartbeat must not fence anyone
        settings=["auto.leader.rebalance.enable=false", "broker.session.timeout.ms=10000"],
        node_settings={b: [f"broker.rack={r}"] for b, r in RACKS.items()},
    )
    c.start()
    try:
        yield c
    finally:
        c.stop()


def partitions(cluster: KraftCluster, topic: str) -> dict[int, Any]:
    return dict(cluster.metadata().topics[topic].partitions)


def wait_for(what: str, check: Any, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(600)
def test_every_rf3_partition_spans_three_racks(cluster: KraftCluster) -> None:
    topic = unique_topic("racks")
    admin = cluster.admin()
    admin.create_topics([NewTopic(topic, 12, 3)])[topic].result(30)
    admin.create_partitions([NewPartitions(topic, 18)])[topic].result(30)
    wait_for("18 partitions", lambda: len(partitions(cluster, topic)) == 18)
    parts = partitions(cluster, topic)
    racks_per_partition = {p: sorted(RACKS[b] for b in m.replicas) for p, m in parts.items()}
    print("racks per partition:", racks_per_partition)
    assert all(r == ["a", "b", "c"] for r in racks_per_partition.values())
    leaders = [m.leader for m in parts.values()]
    print("leaders:", sorted(leaders))
    # 18 leaders over 6 brokers: every broker leads, and each rack leads a third
    assert set(leaders) == set(RACKS)
    for rack in "abc":
        assert sum(1 for b in leaders if RACKS[b] == rack) == 6


def election_cli(cluster: KraftCluster, *args: str) -> str:
    result = kafka_cli(
        "kafka-leader-election",
        "--bootstrap-server",
        cluster.bootstrap,
        *args,
        timeout=300,
    )
    print(result.stdout, result.stderr)
    return result.stdout + result.stderr


@pytest.mark.timeout(600)
def test_preferred_election_with_kafka_leader_election_after_a_restart(
    cluster: KraftCluster,
) -> None:
    topic = unique_topic("pref")
    admin = cluster.admin()  # keep the client alive until the result arrives
    admin.create_topics([NewTopic(topic, 6, 3)])[topic].result(30)
    assert cluster.wait_full_isr(topic, timeout=60)
    victim = partitions(cluster, topic)[0].leader
    cluster.nodes[victim].stop()  # controlled shutdown moves its leadership away
    wait_for("leadership to move", lambda: partitions(cluster, topic)[0].leader != victim)
    cluster.nodes[victim].start(timeout=120)
    assert cluster.wait_full_isr(topic, timeout=90)
    parts = partitions(cluster, topic)
    moved = [p for p, m in parts.items() if m.replicas[0] == victim and m.leader != victim]
    assert moved, "the restarted broker should have lost the leadership it preferred"
    out = election_cli(cluster, "--election-type", "preferred", "--all-topic-partitions")
    assert "Successfully completed leader election (PREFERRED)" in out
    wait_for(
        "preferred leaders",
        lambda: all(m.leader == m.replicas[0] for m in partitions(cluster, topic).values()),
    )
    # Asking again: nothing to do, which the tool reports as such.
    out = election_cli(
        cluster, "--election-type", "preferred", "--topic", topic, "--partition", "0"
    )
    assert "Valid replica already elected for partitions" in out


@pytest.mark.timeout(600)
def test_unclean_election_with_kafka_leader_election(cluster: KraftCluster) -> None:
    topic = unique_topic("unclean")
    first, second = 2, 4  # two racks
    admin = cluster.admin()
    assignment = NewTopic(topic, num_partitions=1, replica_assignment=[[first, second]])
    admin.create_topics([assignment])[topic].result(30)
    assert cluster.wait_full_isr(topic, timeout=60)
    cluster.nodes[second].kill9()
    wait_for(
        "ISR without the killed follower", lambda: partitions(cluster, topic)[0].isrs == [first]
    )
    cluster.nodes[first].kill9()
    wait_for("the partition to lose its leader", lambda: partitions(cluster, topic)[0].leader == -1)
    cluster.nodes[second].start(timeout=120)
    time.sleep(3)  # it is back and live, but outside the ISR: no clean election
    assert partitions(cluster, topic)[0].leader == -1
    out = election_cli(
        cluster, "--election-type", "preferred", "--topic", topic, "--partition", "0"
    )
    assert "Successfully completed" not in out
    out = election_cli(cluster, "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert "Successfully completed leader election (UNCLEAN)" in out
    wait_for("the unclean leader", lambda: partitions(cluster, topic)[0].leader == second)
    cluster.nodes[first].start(timeout=120)
    assert cluster.wait_full_isr(topic, timeout=90)
