"""librdkafka (confluent-kafka) against a real Millrace broker process."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from support_broker import BrokerProcess
from support_clients import consume_n, create_topic, produce_all, unique_topic


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_with_each_acks_setting_then_consume_everything(
    broker: BrokerProcess, acks: str
) -> None:
    topic = unique_topic("acks")
    create_topic(broker.bootstrap, topic)
    values = [f"v{i}".encode() for i in range(500)]
    produce_all(broker.bootstrap, topic, values, acks=acks, linger_ms=5)
    got = consume_n(broker.bootstrap, topic, 500)
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(500))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(broker: BrokerProcess, codec: str) -> None:
    topic = unique_topic(codec)
    create_topic(broker.bootstrap, topic)
    values = [(f"record-{i}-" + "x" * 200).encode() for i in range(2000)]
    produce_all(broker.bootstrap, topic, values, compression_type=codec, linger_ms=20)
    got = consume_n(broker.bootstrap, topic, 2000)
    assert [m.value() for m in got] == values


def test_idempotent_producer_writes_each_record_once(broker: BrokerProcess) -> None:
    topic = unique_topic("idem")
    create_topic(broker.bootstrap, topic, partitions=3)
    values = [f"i{i}".encode() for i in range(3000)]
    delivered = produce_all(
        broker.bootstrap, topic, values, enable_idempotence=True, linger_ms=2, batch_num_messages=50
    )
    assert len(delivered) == 3000
    got = consume_n(broker.bootstrap, topic, 3000, partitions=[0, 1, 2])
    assert sorted(m.value() for m in got) == sorted(values)


def test_keys_pick_stable_partitions_and_headers_and_timestamps_survive(
    broker: BrokerProcess,
) -> None:
    topic = unique_topic("keys")
    create_topic(broker.bootstrap, topic, partitions=4)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    base_ts = 1_700_000_000_000
    for i in range(40):
        producer.produce(
            topic,
            key=f"k{i % 5}".encode(),
            value=f"{i}".encode(),
            headers=[("h", f"x{i}".encode())],
            timestamp=base_ts + i,
        )
    assert producer.flush(20) == 0
    got = consume_n(broker.bootstrap, topic, 40, partitions=[0, 1, 2, 3])
    partition_of: dict[bytes, int] = {}
    for m in got:
        assert partition_of.setdefault(m.key(), m.partition()) == m.partition()
        assert m.headers() == [("h", f"x{m.value().decode()}".encode())]
        assert m.timestamp()[1] == base_ts + int(m.value())
    assert len(set(partition_of.values())) > 1


def test_seek_and_offsets_for_times(broker: BrokerProcess) -> None:
    topic = unique_topic("seek")
    create_topic(broker.bootstrap, topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    base_ts = 1_700_000_000_000
    for i in range(100):
        producer.produce(topic, value=f"{i}".encode(), timestamp=base_ts + i * 1000)
        producer.flush(10)  # one batch per record: timestamps map to exact offsets
    got = consume_n(broker.bootstrap, topic, 10, offset=42)
    assert [m.offset() for m in got] == list(range(42, 52))
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ts"})
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base_ts + 57_500)], timeout=10)
        assert found[0].offset == 58
        beyond = consumer.offsets_for_times([TopicPartition(topic, 0, base_ts + 10**9)], timeout=10)
        assert beyond[0].offset == -1
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (low, high) == (0, 100)
    finally:
        consumer.close()


def test_admin_create_delete_topics_and_partitions(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic("admin")
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    with pytest.raises(KafkaException, match="TOPIC_ALREADY_EXISTS"):
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    with pytest.raises(KafkaException, match="TOPIC_EXCEPTION"):
        admin.create_topics([NewTopic("bad/name", 1, 1)])["bad/name"].result(10)
    with pytest.raises(KafkaException, match="INVALID_REPLICATION_FACTOR"):
        admin.create_topics([NewTopic("rf3-" + topic, 1, 3)])["rf3-" + topic].result(10)
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    meta = admin.list_topics(topic, timeout=10)
    assert len(meta.topics[topic].partitions) == 5
    with pytest.raises(KafkaException, match="INVALID_PARTITIONS"):
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    admin.delete_topics([topic])[topic].result(10)
    deadline = time.monotonic() + 10
    while topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic not in admin.list_topics(timeout=10).topics


def test_validate_only_creates_nothing(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic("validate")
    admin.create_topics([NewTopic(topic, 1, 1)], validate_only=True)[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def test_describe_and_alter_topic_configs(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic("cfg")
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "3600000"})])[topic].result(
        10
    )
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
    # log.segment.bytes is set in the embedded server.properties, as in Kafka's example
    assert configs["segment.bytes"].value == "1073741824"
    assert configs["segment.bytes"].source == 4  # STATIC_BROKER_CONFIG
    assert configs["cleanup.policy"].value == "delete"
    assert configs["max.compaction.lag.ms"].is_default
    change = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry(
                "max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET
            ),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    admin.incremental_alter_configs([change])[change].result(10)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["max.message.bytes"].value == "2000000"
    assert configs["retention.ms"].value == "604800000"
    bad = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.msec", "1", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    with pytest.raises(KafkaException, match="INVALID_CONFIG"):
        admin.incremental_alter_configs([bad])[bad].result(10)


def test_describe_broker_configs(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["num.partitions"].value == "1"
    assert "log.retention.hours" in configs


def test_auto_created_topic_on_produce(broker: BrokerProcess) -> None:
    topic = unique_topic("auto")
    produce_all(broker.bootstrap, topic, [b"a", b"b"])
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 2)] == [b"a", b"b"]


def test_topic_compression_type_recompresses_batches(broker: BrokerProcess) -> None:
    """compression.type=gzip on the topic: uncompressed batches are stored gzip'd (the
    broker converts), and consumers read the same records."""
    topic = unique_topic("convert")
    create_topic(broker.bootstrap, topic, config={"compression.type": "gzip"})
    values = [b"abc" * 100 for _ in range(50)]
    produce_all(broker.bootstrap, topic, values, compression_type="none", linger_ms=20)
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 50)] == values
    segment = next(broker.data_dir.glob(f"{topic}-0/*.log")).read_bytes()
    attributes = int.from_bytes(segment[21:23], "big")
    assert attributes & 0x7 == 1  # the first stored batch is gzip
    assert len(segment) < sum(len(v) for v in values)
