"""Group and transaction coordinators on a 3-node KRaft cluster (real processes), with the
internal topics replicated 3 ways: coordinators move with the leadership of their
`__consumer_offsets` / `__transaction_state` partitions.

- `kill -9` of the broker coordinating a group of three consumers: they find the new
  coordinator, the committed offsets are intact, nothing is skipped, commits go on;
- transactions whose partitions are led by other brokers get their markers there
  (WriteTxnMarkers between brokers); `kill -9` of the transaction coordinator with a
  transaction open: the transaction ends up committed or aborted, never half visible,
  and the same transactional.id commits again afterwards;
- the exactly-once processor of test_groups_eos.py keeps its guarantee across a `kill -9`
  of its transaction coordinator.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from test_groups_support import (
    assert_exclusive_cover,
    committed_offsets,
    consumers,
    wait_for,
)

from millrace_broker.coordinator.records import partition_for
from support_kraft import KraftCluster

pytestmark = pytest.mark.slow

INTERNAL_PARTITIONS = 6
CLUSTER_OVERRIDES = [
    "group.initial.rebalance.delay.ms=0",
    f"offsets.topic.num.partitions={INTERNAL_PARTITIONS}",
    "offsets.topic.replication.factor=3",
    f"transaction.state.log.num.partitions={INTERNAL_PARTITIONS}",
    "transaction.state.log.replication.factor=3",
    "transaction.state.log.min.isr=2",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KraftCluster]:
    c = KraftCluster(tmp_path)
    for node in c.nodes.values():
        node.overrides.extend(CLUSTER_OVERRIDES)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def create_topic(cluster: KraftCluster, name: str, partitions: int) -> None:
    topic = NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})
    admin = cluster.admin()  # kept alive until the result is in
    admin.create_topics([topic])[name].result(30)
    assert cluster.wait_full_isr(name, timeout=60)


def produce(cluster: KraftCluster, topic: str, values: list[str], partitions: int) -> None:
    errors: list[Any] = []
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True}
    )
    for i, value in enumerate(values):
        producer.produce(
            topic,
            value=value.encode(),
            partition=i % partitions,
            on_delivery=lambda err, _m: errors.append(err) if err else None,
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors


def internal_leader(cluster: KraftCluster, topic: str, key: str) -> int:
    """The broker leading the internal partition that coordinates `key`."""
    partition = partition_for(key, INTERNAL_PARTITIONS)
    md = cluster.admin(*cluster.live_ids()).list_topics(topic, timeout=10)
    leader = int(md.topics[topic].partitions[partition].leader)
    assert leader in cluster.live_ids(), (topic, partition, leader)
    return leader


def live_bootstrap(cluster: KraftCluster) -> str:
    return ",".join(cluster.nodes[i].bootstrap for i in cluster.live_ids())


def test_group_coordinator_failover_keeps_offsets_and_skips_nothing(
    cluster: KraftCluster, tmp_path: Path
) -> None:
    topic, group = "orders", f"g-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, 6)
    first = [f"a{i:03d}" for i in range(120)]
    produce(cluster, topic, first, 6)
    with consumers(tmp_path) as start:
        procs = [start("confluent", cluster.bootstrap, group, topic, f"c{i}") for i in range(3)]
        wait_for(lambda: assert_exclusive_cover(procs, 6), 120, "a 3-way split")
        wait_for(
            lambda: (
                committed_offsets(cluster.bootstrap, group, topic, 6) == {p: 20 for p in range(6)}
            ),
            90,
            "every record consumed and committed",
        )
        coordinator = internal_leader(cluster, "__consumer_offsets", group)
        cluster.nodes[coordinator].kill9()

        # Committed offsets survive on the new coordinator (replicated before acked).
        wait_for(
            lambda: internal_leader(cluster, "__consumer_offsets", group) != coordinator,
            60,
            "a new leader for the group's __consumer_offsets partition",
            interval=0.5,
        )
        wait_for(
            lambda: (
                committed_offsets(live_bootstrap(cluster), group, topic, 6)
                == {p: 20 for p in range(6)}
            ),
            60,
            "the committed offsets on the new coordinator",
            interval=0.5,
        )
        # The group goes on: new records are consumed and committed through it.
        second = [f"b{i:03d}" for i in range(120)]
        produce(cluster, topic, second, 6)
        wait_for(
            lambda: (
                committed_offsets(live_bootstrap(cluster), group, topic, 6)
                == {p: 40 for p in range(6)}
            ),
            120,
            "commits after the failover",
            interval=0.5,
        )
        seen = set().union(*(p.values() for p in procs))
        assert seen >= set(first) | set(second), "records skipped"
        assert all(p.alive() for p in procs), [p.stderr() for p in procs]


def read_committed(bootstrap: str, topic: str, partitions: int) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader-" + uuid.uuid4().hex[:8],
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values: list[str] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            m = consumer.poll(0.3)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                continue
            at_end.discard(m.partition())
            values.append(m.value().decode())
    finally:
        consumer.close()
    assert len(at_end) == partitions, "the topic was not read to its end (LSO stuck?)"
    return values


def transactional(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 15000,
        }
    )
    deadline = time.monotonic() + 90
    while True:  # a coordinator that just moved answers retriable errors: call again
        try:
            producer.init_transactions(30)
            return producer
        except KafkaException as exc:
            if not exc.args[0].retriable() or time.monotonic() > deadline:
                raise


def test_transactions_across_brokers_and_coordinator_failover(cluster: KraftCluster) -> None:
    topic, tid = "payments", "tx-" + uuid.uuid4().hex[:8]
    create_topic(cluster, topic, 3)
    leaders = {
        p.id: p.leader
        for p in cluster.metadata().topics[topic].partitions.values()  # type: ignore[attr-defined]
    }
    producer = transactional(cluster.bootstrap, tid)
    coordinator = internal_leader(cluster, "__transaction_state", tid)
    assert set(leaders.values()) - {coordinator}, "every partition is led by the coordinator"

    # Markers reach the partitions led by the other brokers.
    producer.begin_transaction()
    for p in range(3):
        producer.produce(topic, value=f"ok-{p}".encode(), partition=p)
    producer.commit_transaction(60)
    producer.begin_transaction()
    for p in range(3):
        producer.produce(topic, value=f"no-{p}".encode(), partition=p)
    producer.abort_transaction(60)
    assert sorted(read_committed(cluster.bootstrap, topic, 3)) == ["ok-0", "ok-1", "ok-2"]

    # A transaction open (its records replicated) when the coordinator dies.
    producer.begin_transaction()
    for p in range(3):
        for i in range(5):
            producer.produce(topic, value=f"open-{p}-{i}".encode(), partition=p)
    assert producer.flush(60) == 0
    cluster.nodes[coordinator].kill9()
    try:
        producer.commit_transaction(90)
        outcome = "committed"
    except Exception as exc:  # the new coordinator may have aborted it: both are fine
        outcome = f"failed: {exc}"
    print(f"the transaction open at the coordinator's death: {outcome}")
    values = read_committed(live_bootstrap(cluster), topic, 3)
    opened = [v for v in values if v.startswith("open-")]
    assert len(opened) in (0, 15), f"half a transaction visible ({len(opened)}/15), {outcome}"
    if outcome == "committed":
        assert len(opened) == 15

    # The transactional id works on its new coordinator.
    after = transactional(live_bootstrap(cluster), tid)
    after.begin_transaction()
    for p in range(3):
        after.produce(topic, value=f"after-{p}".encode(), partition=p)
    after.commit_transaction(60)
    final = read_committed(live_bootstrap(cluster), topic, 3)
    assert {f"after-{p}" for p in range(3)} <= set(final)
    assert len([v for v in final if v.startswith("open-")]) == len(opened)
    assert not [v for v in final if v.startswith("no-")]


def test_exactly_once_processing_across_a_coordinator_kill9(
    cluster: KraftCluster, tmp_path: Path
) -> None:
    """The consume-transform-produce processor of test_groups_eos.py on the cluster: the
    broker coordinating its transactions (and maybe its group) is killed mid-run; the
    output still holds every input exactly once for a read_committed reader."""
    from test_groups_eos import PARTITIONS, exactly_once_problems, processors

    tag = uuid.uuid4().hex[:8]
    in_topic, out_topic, group, tid = f"in-{tag}", f"out-{tag}", f"g-{tag}", f"eos-{tag}"
    create_topic(cluster, in_topic, PARTITIONS)
    create_topic(cluster, out_topic, PARTITIONS)
    inputs = [f"in{i:04d}" for i in range(90)]
    produce(cluster, in_topic, inputs, PARTITIONS)
    with processors(tmp_path, cluster.bootstrap, group, in_topic, out_topic) as start:
        first = start("first", tid, 300)
        wait_for(lambda: first.count("committed") >= 3, 180, "three committed transactions")
        coordinator = internal_leader(cluster, "__transaction_state", tid)
        cluster.nodes[coordinator].kill9()
        # The processor rides the failover, or gives up fatally and is restarted with its
        # transactional.id (either way no input may be lost or doubled).
        wait_for(lambda: first.proc.poll() is not None, 240, "the processor to finish")
        if first.count("done") == 0:
            second = start("second", tid, 0)
            wait_for(lambda: second.proc.poll() is not None, 240, "the restarted processor")
            assert second.count("done"), second.stderr()
        print(f"processor events after the kill: {[e['ev'] for e in first.of('txn_error')]}")
    values = read_committed(live_bootstrap(cluster), out_topic, PARTITIONS)
    assert not exactly_once_problems(values, inputs), exactly_once_problems(values, inputs)
