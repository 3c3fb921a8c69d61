"""Replication with real clients against an in-process 3-broker cluster.

The cluster (tests/support_cluster.py) is three `Broker`s with real storage, each on its
own loopback port behind the real network layer; followers replicate over TCP with the
Kafka Fetch protocol. Only the metadata is shared in-process (one LocalController) until
the KRaft issue lands. Clients are confluent-kafka (librdkafka).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from millrace_broker.metadata.partition_change import plan_broker_failure
from millrace_broker.server.replica_manager import HIGH_WATERMARK_FILE
from millrace_broker.storage.checkpoint import read_offset
from support_clients import consume_n, unique_topic
from support_cluster import InProcessCluster

LAG_MS = 2500


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[InProcessCluster]:
    c = InProcessCluster(
        tmp_path,
        3,
        {
            "replica.lag.time.max.ms": str(LAG_MS),
            "replica.fetch.wait.max.ms": "200",
            "replica.fetch.backoff.ms": "100",
        },
    ).start()
    try:
        yield c
    finally:
        c.stop()


def create_replicated_topic(c: InProcessCluster, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    futures = admin.create_topics([NewTopic(name, 1, 3, config={"min.insync.replicas": "2"})])
    futures[name].result(timeout=30)


def produce(c: InProcessCluster, topic: str, values: list[bytes], **conf: Any) -> list[Any]:
    """Produce and flush; returns one (error or None, offset) per value, in order."""
    outcomes: dict[bytes, Any] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        outcomes[msg.value()] = (err, msg.offset())

    producer = Producer({"bootstrap.servers": c.bootstrap, "linger.ms": 2, **conf})
    for value in values:
        producer.produce(topic, value=value, on_delivery=on_delivery)
        producer.poll(0)
    producer.flush(60)
    return [outcomes.get(v, ("undelivered", -1)) for v in values]


def logs_identical(c: InProcessCluster, topic: str) -> bool:
    first = c.log_bytes(1, topic)
    return bool(first) and all(c.log_bytes(n, topic) == first for n in (2, 3))


def wait_logs_identical(c: InProcessCluster, topic: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if logs_identical(c, topic):
            return
        time.sleep(0.2)
    sizes = {n: len(c.log_bytes(n, topic)) for n in (1, 2, 3)}
    raise AssertionError(f"logs differ after {timeout}s: sizes {sizes}")


def isr(c: InProcessCluster, topic: str) -> tuple[int, ...]:
    return tuple(c.call(lambda: c.partition(topic).isr))


def test_acks_all_replicates_identical_bytes_to_every_replica(cluster: InProcessCluster) -> None:
    topic = unique_topic("repl")
    create_replicated_topic(cluster, topic)
    values = [f"v{i}".encode() for i in range(200)]
    outcomes = produce(cluster, topic, values, acks="all")
    assert all(err is None for err, _ in outcomes), outcomes[:3]
    wait_logs_identical(cluster, topic)
    got = consume_n(cluster.bootstrap, topic, 200)
    assert [m.value() for m in got] == values
    assert sorted(isr(cluster, topic)) == [1, 2, 3]  # order: the placement's
    # Every replica learns the HW and checkpoints it (for restarts).
    for n in (1, 2, 3):
        cluster.wait_until(
            f"HW 200 checkpointed on {n}", lambda n=n: checkpointed_hw(cluster, n, topic) == 200
        )


def checkpointed_hw(c: InProcessCluster, node_id: int, topic: str) -> int:
    broker = c.broker(node_id)
    broker.replication.checkpoint_high_watermarks()
    plog = broker.partition_log(topic, 0)
    assert plog is not None
    return read_offset(plog.directory / HIGH_WATERMARK_FILE, -1)


def test_hw_isr_shrink_min_isr_and_expand(cluster: InProcessCluster) -> None:
    topic = unique_topic("isr")
    create_replicated_topic(cluster, topic)
    leader = cluster.partition(topic).leader
    f1, f2 = [n for n in (1, 2, 3) if n != leader]
    assert all(e is None for e, _ in produce(cluster, topic, [b"a", b"b"], acks="all"))

    # One follower stops fetching: acks=all waits for it until it leaves the ISR.
    cluster.call(cluster.broker(f1).replication.pause_fetchers)
    started = time.monotonic()
    [(err, offset)] = produce(cluster, topic, [b"c"], acks="all")
    waited = time.monotonic() - started
    assert err is None and offset == 2
    assert waited >= LAG_MS / 1000 * 0.8, waited  # held until the ISR shrank
    cluster.wait_until(
        "ISR without the stopped follower", lambda: f1 not in cluster.partition(topic).isr
    )

    # Both followers stop: acks=1 succeeds at once, but the HW (what consumers may read)
    # stays put until the second follower also leaves the ISR.
    cluster.call(cluster.broker(f2).replication.pause_fetchers)
    [(err, offset)] = produce(cluster, topic, [b"d"], acks="1")
    assert err is None and offset == 3
    plog = cluster.broker(leader).partition_log(topic, 0)
    assert plog is not None
    hw = cluster.call(lambda: cluster.broker(leader).high_watermark(plog))
    assert hw == 3 and plog.log_end_offset == 4
    cluster.wait_until("ISR of the leader alone", lambda: cluster.partition(topic).isr == (leader,))
    assert cluster.call(lambda: cluster.broker(leader).high_watermark(plog)) == 4

    # ISR (1) < min.insync.replicas (2): acks=all is refused before appending.
    [(err, _)] = produce(cluster, topic, [b"e"], acks="all", retries=0)
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    assert plog.log_end_offset == 4

    # The followers resume, catch up and rejoin the ISR; acks=all works again.
    cluster.call(cluster.broker(f1).replication.resume_fetchers)
    cluster.call(cluster.broker(f2).replication.resume_fetchers)
    cluster.wait_until("full ISR again", lambda: sorted(cluster.partition(topic).isr) == [1, 2, 3])
    assert all(e is None for e, _ in produce(cluster, topic, [b"f"], acks="all"))
    wait_logs_identical(cluster, topic)
    got = consume_n(cluster.bootstrap, topic, 5)
    assert [m.value() for m in got] == [b"a", b"b", b"c", b"d", b"f"]


def test_leader_change_truncates_divergent_tail_and_loses_no_acked_record(
    cluster: InProcessCluster,
) -> None:
    topic = unique_topic("lead")
    create_replicated_topic(cluster, topic)
    old = cluster.partition(topic).leader
    others = [n for n in (1, 2, 3) if n != old]
    acked = [f"acked-{i}".encode() for i in range(20)]
    assert all(e is None for e, _ in produce(cluster, topic, acked, acks="all"))
    wait_logs_identical(cluster, topic)
    # A consumer reads the acknowledged records before the change and keeps going after.
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": "unused-" + topic,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = poll_values(consumer, 20)
    assert seen == acked

    # The followers stop; the old leader takes acks=1 writes nobody else has.
    for n in others:
        cluster.call(cluster.broker(n).replication.pause_fetchers)
    divergent = [f"unreplicated-{i}".encode() for i in range(5)]
    assert all(e is None for e, _ in produce(cluster, topic, divergent, acks="1"))
    old_log = cluster.broker(old).partition_log(topic, 0)
    assert old_log is not None and old_log.log_end_offset == 25

    # The controller moves leadership as it would when the old leader's broker goes away:
    # a new leader from the ISR, the old leader out of the ISR.
    controller = cluster.controller
    assert controller is not None
    records = cluster.call(lambda: plan_broker_failure(controller.image, old, alive=others))
    cluster.commit(records)
    new = cluster.partition(topic).leader
    assert new in others and cluster.partition(topic).leader_epoch == 1
    for n in others:
        cluster.call(cluster.broker(n).replication.resume_fetchers)

    more = [f"after-{i}".encode() for i in range(10)]
    assert all(e is None for e, _ in produce(cluster, topic, more, acks="all"))
    # The old leader follows the new one: it truncates its divergent tail (epoch 0 ends at
    # 20 on the new leader) and copies the new epoch; it then rejoins the ISR.
    wait_logs_identical(cluster, topic)
    cluster.wait_until("old leader back in the ISR", lambda: old in cluster.partition(topic).isr)
    assert cluster.call(lambda: old_log.epochs.entries()) == [(0, 0), (1, 20)]
    got = consume_n(cluster.bootstrap, topic, 30)
    assert [m.value() for m in got] == acked + more
    # The consumer that was reading from the old leader follows the leader change
    # (librdkafka validates its position with OffsetForLeaderEpoch) and never sees the
    # records that were never committed.
    try:
        assert poll_values(consumer, 10) == more
    finally:
        consumer.close()
    # OffsetForLeaderEpoch on the wire: epoch 0 ends at 20 on the new leader; the old
    # leader (now a follower) refuses.
    assert offset_for_epoch(cluster, new, topic, 0) == (0, 0, 20)
    assert offset_for_epoch(cluster, new, topic, 1) == (0, 1, 30)
    assert offset_for_epoch(cluster, old, topic, 0)[0] == KafkaError.NOT_LEADER_FOR_PARTITION


def poll_values(consumer: Any, n: int, timeout: float = 30.0) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        out.append(msg.value())
    return out


def offset_for_epoch(
    c: InProcessCluster, node_id: int, topic: str, epoch: int
) -> tuple[int, int, int]:
    from kio.index import load_request_schema

    from millrace_broker.network.broker_client import open_broker_connection
    from millrace_broker.server.kio_build import nested

    cls: Any = load_request_schema(23, 4)
    part = nested(cls, "OffsetForLeaderPartition")(
        partition=0, current_leader_epoch=-1, leader_epoch=epoch
    )
    request = cls(
        replica_id=-1,
        topics=(nested(cls, "OffsetForLeaderTopic")(topic=topic, partitions=(part,)),),
    )
    port = c.nodes[node_id].port

    async def ask() -> tuple[int, int, int]:
        conn = await open_broker_connection("127.0.0.1", port, client_id="t", timeout_s=10)
        try:
            response = await conn.request(request, timeout_s=10)
        finally:
            conn.close()
        p = response.topics[0].partitions[0]
        return int(p.error_code), int(p.leader_epoch), int(p.end_offset)

    result: tuple[int, int, int] = c.call(ask)
    return result


def _produce_request(topic: str, value: bytes, *, acks: int, timeout_ms: int) -> Any:
    import datetime

    from kio.index import load_request_schema

    from millrace_broker.server.kio_build import nested
    from millrace_broker.storage.records import Record, build_batch

    cls: Any = load_request_schema(0, 9)
    batch = bytes(
        build_batch([Record(0, int(time.time() * 1000), None, value)], base_offset=0, attributes=0)
    )
    data = nested(cls, "PartitionProduceData")(index=0, records=batch)
    topic_data = nested(cls, "TopicProduceData")(name=topic, partition_data=(data,))
    return cls(
        transactional_id=None,
        acks=acks,
        timeout=datetime.timedelta(milliseconds=timeout_ms),
        topic_data=(topic_data,),
    )


def test_acks_all_times_out_while_a_stuck_follower_is_still_in_the_isr(
    cluster: InProcessCluster,
) -> None:
    """The wire-level answer (REQUEST_TIMED_OUT) that librdkafka would retry."""
    from millrace_broker.network.broker_client import open_broker_connection

    topic = unique_topic("timeout")
    create_replicated_topic(cluster, topic)
    leader = cluster.partition(topic).leader
    follower = next(n for n in (1, 2, 3) if n != leader)
    cluster.wait_until(
        "replicas fetching",
        lambda: all(
            f.log_end_offset == 0
            for f in cluster.broker(leader).replication.leaders[(topic, 0)].followers.values()
        ),
    )
    cluster.call(cluster.broker(follower).replication.pause_fetchers)
    port = cluster.nodes[leader].port

    async def produce_raw(acks: int) -> tuple[int, float]:
        conn = await open_broker_connection("127.0.0.1", port, client_id="t", timeout_s=10)
        started = time.monotonic()
        try:
            response = await conn.request(
                _produce_request(topic, b"x", acks=acks, timeout_ms=500), timeout_s=10
            )
        finally:
            conn.close()
        code = response.responses[0].partition_responses[0].error_code
        return int(code), time.monotonic() - started

    code, took = cluster.call(lambda: produce_raw(-1))
    assert code == KafkaError.REQUEST_TIMED_OUT and 0.4 <= took < LAG_MS / 1000, (code, took)
    code, took = cluster.call(lambda: produce_raw(1))
    assert code == 0 and took < 0.4, (code, took)
