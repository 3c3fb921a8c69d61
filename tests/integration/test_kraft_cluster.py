"""A 3-node KRaft cluster of real processes under an acks=all producer, through faults.

Each test prints the checker's counts. Pass means: every acknowledged record is consumed
exactly once, in per-partition order; nothing consumed was never produced; the cluster
returns to full ISR.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from support_kraft import (
    AckedProducer,
    KraftCluster,
    check_exactly_once,
    consume_everything,
    kraft_cluster,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KraftCluster]:
    with kraft_cluster(tmp_path) as c:
        yield c


def create_replicated_topic(cluster: KraftCluster, name: str, *, via: int) -> None:
    admin = cluster.admin(via)
    topic = NewTopic(name, 3, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([topic])[name].result(30)
    assert cluster.wait_full_isr(name, timeout=30)


def run_fault(cluster: KraftCluster, topic: str, fault) -> None:  # type: ignore[no-untyped-def]
    producer = AckedProducer(cluster.bootstrap, topic, partitions=3)
    producer.start()
    deadline = time.monotonic() + 30
    while producer.count() < 2000 and time.monotonic() < deadline:
        time.sleep(0.1)
    before = producer.count()
    fault()
    resumed = time.monotonic() + 60
    while producer.count() < before + 2000 and time.monotonic() < resumed:
        time.sleep(0.2)
    producer.stop()
    acked = producer.count()
    got = consume_everything(cluster.bootstrap, topic, 3, acked)
    consumed = sum(len(v) for v in got.values())
    print(
        f"acked={acked} (before fault {before}) consumed={consumed} errors={len(producer.errors)}"
    )
    assert acked >= before + 2000, "the producer did not make progress after the fault"
    assert check_exactly_once(producer.acked, got) == ""


def test_cluster_forms_and_replicates_through_any_node(cluster: KraftCluster) -> None:
    md = cluster.metadata()
    assert sorted(md.brokers) == [1, 2, 3]
    controller = md.controller_id
    other = next(i for i in (1, 2, 3) if i != controller)
    create_replicated_topic(cluster, "replicated", via=other)  # forwarded to the controller
    producer = AckedProducer(cluster.bootstrap, "replicated", partitions=3, limit=3000)
    producer.start()
    producer.finish()
    assert producer.count() == 3000 and not producer.errors
    sizes = {
        i: sorted(
            p.stat().st_size
            for p in (cluster.root / f"node{i}" / "data").glob("replicated-*/*.log")
        )
        for i in (1, 2, 3)
    }
    assert sizes[1] == sizes[2] == sizes[3]  # the same bytes on every replica
    got = consume_everything(cluster.bootstrap, "replicated", 3, 3000)
    assert check_exactly_once(producer.acked, got) == ""


def test_kill9_of_the_active_controller_loses_nothing(cluster: KraftCluster) -> None:
    create_replicated_topic(cluster, "failover", via=1)
    victim = cluster.metadata().controller_id

    def kill_controller() -> None:
        cluster.nodes[victim].kill9()

    run_fault(cluster, "failover", kill_controller)
    assert cluster.metadata().controller_id not in (victim, -1)
    cluster.nodes[victim].start(timeout=120)
    assert cluster.wait_full_isr("failover", timeout=90), cluster.metadata().topics["failover"]


def test_rolling_restart_with_controlled_shutdown(cluster: KraftCluster) -> None:
    create_replicated_topic(cluster, "rolling", via=2)

    def roll() -> None:
        for node_id in (1, 2, 3):
            assert cluster.nodes[node_id].stop() == 0
            cluster.nodes[node_id].start(timeout=120)
            assert cluster.wait_full_isr("rolling", timeout=90)

    run_fault(cluster, "rolling", roll)


@pytest.mark.kafka_cli
def test_kafka_metadata_quorum_describes_the_quorum(cluster: KraftCluster) -> None:
    from kafkaref import kafka_cli

    leader = cluster.metadata().controller_id
    status = kafka_cli(
        "kafka-metadata-quorum",
        "--bootstrap-server",
        cluster.nodes[1].bootstrap,
        "describe",
        "--status",
        check=True,
    ).stdout
    assert f"LeaderId:               {leader}" in status
    assert '"id": 1' in status and '"id": 2' in status and '"id": 3' in status
    controller = cluster.nodes[2].controller_port
    replication = kafka_cli(
        "kafka-metadata-quorum",
        "--bootstrap-controller",
        f"127.0.0.1:{controller}",
        "describe",
        "--replication",
        check=True,
    ).stdout
    rows = [line.split() for line in replication.splitlines()[1:] if line.strip()]
    assert sorted(int(r[0]) for r in rows) == [1, 2, 3]
    assert [r[-1] for r in rows if int(r[0]) == leader] == ["Leader"]


def test_three_controllers_three_brokers_survive_losing_one_of_each(tmp_path: Path) -> None:
    with kraft_cluster(tmp_path, dedicated=True) as cluster:
        md = cluster.metadata()
        assert sorted(md.brokers) == [4, 5, 6]  # controllers are not brokers
        create_replicated_topic(cluster, "dedicated", via=5)

        def lose_a_controller_and_a_broker() -> None:
            cluster.nodes[1].kill9()
            cluster.nodes[4].kill9()

        run_fault(cluster, "dedicated", lose_a_controller_and_a_broker)
        cluster.nodes[1].start(timeout=120)
        cluster.nodes[4].start(timeout=120)
        assert cluster.wait_full_isr("dedicated", timeout=90)
