"""Retention and compaction, observed the way a user sees them: through a real consumer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from support_broker import BrokerProcess, running_broker
from support_clients import consume_n, create_topic, unique_topic


@pytest.fixture(scope="module")
def busy_cleaner_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose retention and cleaner checks run every 300 ms instead of minutes."""
    with running_broker(
        tmp_path_factory.mktemp("cleaner") / "data",
        ["log.retention.check.interval.ms=300"],
    ) as broker:
        yield broker


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        consumer.close()


def produce_batches(
    bootstrap: str,
    topic: str,
    items: list[tuple[bytes | None, bytes | None, int]],
    *,
    pause: float = 0.0,
) -> None:
    """One batch per record (flush each), optionally pausing so time-based rolls happen.

    A timestamp of 0 means "now" (the client stamps it). Segments roll by the records'
    own timestamps, as in Kafka, so a time-based roll needs timestamps that advance.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for key, value, ts in items:
        producer.produce(topic, key=key, value=value, timestamp=ts)
        assert producer.flush(10) == 0
        if pause:
            time.sleep(pause)


def wait_until(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_time_retention_deletes_old_segments(busy_cleaner_broker: BrokerProcess) -> None:
    bs = busy_cleaner_broker.bootstrap
    topic = unique_topic("ret-time")
    create_topic(bs, topic, config={"retention.ms": "60000", "segment.ms": "100"})
    hour_ago = int(time.time() * 1000) - 3_600_000
    produce_batches(
        bs, topic, [(None, f"old{i}".encode(), hour_ago + i) for i in range(5)], pause=0.15
    )
    now = int(time.time() * 1000)
    produce_batches(bs, topic, [(None, b"fresh", now)], pause=0.15)
    produce_batches(bs, topic, [(None, b"fresher", now + 1)])
    assert wait_until(lambda: watermarks(bs, topic)[0] >= 5), watermarks(bs, topic)
    low, high = watermarks(bs, topic)
    assert high == 7
    got = consume_n(bs, topic, high - low)
    assert [m.value() for m in got][-2:] == [b"fresh", b"fresher"]
    assert not any(m.value().startswith(b"old") for m in got)


def test_size_retention_keeps_the_partition_under_its_limit(
    busy_cleaner_broker: BrokerProcess,
) -> None:
    bs = busy_cleaner_broker.bootstrap
    topic = unique_topic("ret-size")
    create_topic(bs, topic, config={"retention.bytes": "3000", "segment.ms": "100"})
    produce_batches(bs, topic, [(None, b"x" * 900, 0) for _ in range(8)], pause=0.15)
    assert wait_until(lambda: watermarks(bs, topic)[0] > 0), watermarks(bs, topic)
    low, high = watermarks(bs, topic)
    assert high == 8 and 3 <= low < 8


def test_compaction_keeps_the_latest_value_per_key_and_drops_tombstones(
    busy_cleaner_broker: BrokerProcess,
) -> None:
    bs = busy_cleaner_broker.bootstrap
    topic = unique_topic("compact")
    create_topic(
        bs,
        topic,
        config={
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "500",
            "min.compaction.lag.ms": "0",
        },
    )
    items: list[tuple[bytes | None, bytes | None, int]] = []
    for round_ in range(3):
        items += [(f"k{k}".encode(), f"v{round_}-{k}".encode(), 0) for k in range(5)]
    items.append((b"k0", None, 0))  # tombstone
    produce_batches(bs, topic, items, pause=0.12)
    produce_batches(bs, topic, [(b"k9", b"tail", 0)])  # rolls the segment holding the rest

    def compacted_view() -> dict[bytes, bytes | None]:
        _low, high = watermarks(bs, topic)
        msgs = consume_n(bs, topic, 100, timeout=3)
        return {m.key(): m.value() for m in msgs} if len(msgs) < high else {}

    survivors = {b"k1": b"v2-1", b"k2": b"v2-2", b"k3": b"v2-3", b"k4": b"v2-4"}
    # First cleaning: one value per key; the tombstone stays for delete.retention.ms.
    assert wait_until(
        lambda: compacted_view() == {**survivors, b"k0": None, b"k9": b"tail"}, timeout=40
    ), compacted_view()
    time.sleep(0.6)  # past delete.retention.ms
    # New writes make the log dirty again; the next cleaning drops the expired tombstone.
    produce_batches(bs, topic, [(b"k9", b"tail2", 0)], pause=0.12)
    produce_batches(bs, topic, [(b"k9", b"tail3", 0)])
    assert wait_until(lambda: compacted_view() == {**survivors, b"k9": b"tail3"}, timeout=40), (
        compacted_view()
    )
    # Offsets are preserved: the survivors keep the offsets they were written at.
    msgs = consume_n(bs, topic, 4, timeout=10)
    assert [(m.key(), m.offset()) for m in msgs] == [
        (b"k1", 11),
        (b"k2", 12),
        (b"k3", 13),
        (b"k4", 14),
    ]
