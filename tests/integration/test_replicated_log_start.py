"""The log start offset of a replicated partition never passes its high watermark.

Kafka's rule: retention and DeleteRecords only remove records every in-sync replica
already has (below the high watermark); followers move their log start offset up to the
leader's. Here a follower is held back (its fetchers paused, still in the ISR, so the
high watermark stays put) while the leader takes `acks=1` records, then:

- retention with every segment expired deletes only segments below the high watermark;
  once the follower resumes, consumers read every record above it;
- DeleteRecords beyond the high watermark is OFFSET_OUT_OF_RANGE and deletes nothing;
  below it, the leader deletes at once, the live follower follows, and the answer waits
  for the held-back follower (REQUEST_TIMED_OUT while it cannot fetch); once it fetches
  again its log start offset catches up and DeleteRecords answers the low watermark.

The cluster is tests/support_cluster.py's (real brokers, network and storage; metadata in
process, so the test can pause a follower and run a retention pass on demand).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from support_clients import consume_n, unique_topic
from support_cluster import InProcessCluster

OLD_TIMESTAMP_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: past retention.ms
_stamps = iter(range(OLD_TIMESTAMP_MS, OLD_TIMESTAMP_MS + 600_000, 1000))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[InProcessCluster]:
    c = InProcessCluster(
        tmp_path,
        3,
        {
            # a paused follower stays in the ISR for the whole test: the HW stays put
            "replica.lag.time.max.ms": "120000",
            "replica.fetch.wait.max.ms": "200",
            "replica.fetch.backoff.ms": "100",
        },
    ).start()
    try:
        yield c
    finally:
        c.stop()


def create_topic(c: InProcessCluster, name: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    topic = NewTopic(name, 1, 3, config={"min.insync.replicas": "2", **config})
    admin.create_topics([topic])[name].result(timeout=30)


def produce_each(c: InProcessCluster, topic: str, values: list[bytes], *, acks: str) -> None:
    """One request per record, each a second later in record time than the previous one
    (segment.ms=100 then rolls a segment per record: Kafka rolls by record timestamps)."""
    producer = Producer({"bootstrap.servers": c.bootstrap, "acks": acks, "linger.ms": 0})
    errors: list[Any] = []
    for value in values:
        producer.produce(
            topic,
            value=value,
            timestamp=next(_stamps),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
        producer.flush(30)
    assert not errors, errors


def offsets(c: InProcessCluster, node: int, topic: str) -> tuple[int, int, int]:
    """(log start, high watermark, log end) of the partition on `node`; on the loop."""
    broker = c.broker(node)
    plog = broker.partition_log(topic, 0)
    assert plog is not None
    return plog.log_start_offset, broker.high_watermark(plog), plog.log_end_offset


def log_range(c: InProcessCluster, node: int, topic: str) -> tuple[int, int, int]:
    return c.call(lambda: offsets(c, node, topic))  # type: ignore[no-any-return]


def retention_pass(c: InProcessCluster, node: int) -> None:
    broker = c.broker(node)
    c.call(lambda: broker.logs.run_maintenance(broker.clock_ms()))


def test_retention_keeps_everything_at_or_above_the_high_watermark(
    cluster: InProcessCluster,
) -> None:
    topic = unique_topic("ret-hw")
    create_topic(cluster, topic, {"segment.ms": "100", "retention.ms": "60000"})
    leader = cluster.partition(topic).leader
    held, live = [n for n in (1, 2, 3) if n != leader]
    produce_each(cluster, topic, [b"c0", b"c1", b"c2"], acks="all")
    cluster.wait_until("followers at 3", lambda: offsets(cluster, held, topic)[2] == 3)

    cluster.call(cluster.broker(held).replication.pause_fetchers)
    produce_each(cluster, topic, [b"u3", b"u4", b"u5"], acks="1")
    assert log_range(cluster, leader, topic) == (0, 3, 6)

    for node in (leader, live, held):
        retention_pass(cluster, node)
    start, hw, end = log_range(cluster, leader, topic)
    print(f"leader after retention: log start {start}, HW {hw}, log end {end}")
    assert (start, hw, end) == (3, 3, 6)  # c0-c2 expired; u3-u5 wait for the follower
    for node in (live, held):
        start, hw, _ = log_range(cluster, node, topic)
        assert start <= hw <= 3, (node, start, hw)

    cluster.call(cluster.broker(held).replication.resume_fetchers)
    cluster.wait_until("HW at 6", lambda: offsets(cluster, leader, topic)[1] == 6)
    cluster.wait_until("held follower at 6", lambda: offsets(cluster, held, topic)[2] == 6)
    got = consume_n(cluster.bootstrap, topic, 3)
    assert [m.value() for m in got] == [b"u3", b"u4", b"u5"]
    assert [m.offset() for m in got] == [3, 4, 5]


def delete_records(c: InProcessCluster, topic: str, offset: int, *, timeout_s: float = 20.0) -> Any:
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    futures = admin.delete_records(
        [TopicPartition(topic, 0, offset)],
        request_timeout=timeout_s + 10,
        operation_timeout=timeout_s,
    )
    return next(iter(futures.values())).result(timeout=timeout_s + 20)


def error_code(exc: KafkaException) -> int:
    return int(exc.args[0].code())


def test_delete_records_stops_at_the_high_watermark_and_followers_follow(
    cluster: InProcessCluster,
) -> None:
    topic = unique_topic("delrec-hw")
    create_topic(cluster, topic, {})
    leader = cluster.partition(topic).leader
    held, live = [n for n in (1, 2, 3) if n != leader]
    produce_each(cluster, topic, [f"c{i}".encode() for i in range(4)], acks="all")
    cluster.wait_until("followers at 4", lambda: offsets(cluster, held, topic)[2] == 4)
    cluster.call(cluster.broker(held).replication.pause_fetchers)
    produce_each(cluster, topic, [b"u4", b"u5"], acks="1")
    assert log_range(cluster, leader, topic) == (0, 4, 6)

    # Beyond the high watermark: refused, nothing deleted anywhere.
    with pytest.raises(KafkaException) as refused:
        delete_records(cluster, topic, 5)
    assert error_code(refused.value) == KafkaError.OFFSET_OUT_OF_RANGE
    assert [log_range(cluster, n, topic)[0] for n in (leader, live, held)] == [0, 0, 0]

    # Below it: the leader deletes, the live follower follows; the held-back follower
    # cannot, so the answer times out (the deletion itself is done).
    with pytest.raises(KafkaException) as timed_out:
        delete_records(cluster, topic, 2, timeout_s=3)
    assert error_code(timed_out.value) == KafkaError.REQUEST_TIMED_OUT
    assert log_range(cluster, leader, topic)[0] == 2
    cluster.wait_until("live follower follows", lambda: offsets(cluster, live, topic)[0] == 2)
    assert log_range(cluster, held, topic)[0] == 0

    # The held-back follower fetches again: it follows, and the high watermark (-1 in
    # DeleteRecords) now covers u4 and u5.
    cluster.call(cluster.broker(held).replication.resume_fetchers)
    cluster.wait_until("HW at 6", lambda: offsets(cluster, leader, topic)[1] == 6)
    deleted = delete_records(cluster, topic, -1)
    print(f"DeleteRecords to the HW: low watermark {deleted.low_watermark}")
    assert deleted.low_watermark == 6
    assert [log_range(cluster, n, topic)[0] for n in (leader, live, held)] == [6, 6, 6]
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    producer.produce(topic, value=b"after")
    assert producer.flush(30) == 0
    got = consume_n(cluster.bootstrap, topic, 1)
    assert [(m.offset(), m.value()) for m in got] == [(6, b"after")]
