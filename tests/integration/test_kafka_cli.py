"""Apache Kafka's own CLI tools (real 4.1 jars) against a Millrace broker."""

from __future__ import annotations

import json

import pytest

from kafkaref import kafka_cli
from support_broker import BrokerProcess
from support_clients import consume_n, unique_topic

pytestmark = pytest.mark.kafka_cli


def test_kafka_topics_create_list_describe_alter_delete(broker: BrokerProcess) -> None:
    topic = unique_topic("cli")
    bs = ["--bootstrap-server", broker.bootstrap]
    kafka_cli(
        "kafka-topics",
        *bs,
        "--create",
        "--topic",
        topic,
        "--partitions",
        "2",
        "--config",
        "retention.ms=86400000",
        check=True,
    )
    assert topic in kafka_cli("kafka-topics", *bs, "--list", check=True).stdout.split()
    described = kafka_cli("kafka-topics", *bs, "--describe", "--topic", topic, check=True).stdout
    assert "PartitionCount: 2" in described and "retention.ms=86400000" in described
    kafka_cli("kafka-topics", *bs, "--alter", "--topic", topic, "--partitions", "4", check=True)
    described = kafka_cli("kafka-topics", *bs, "--describe", "--topic", topic, check=True).stdout
    assert "PartitionCount: 4" in described
    duplicate = kafka_cli("kafka-topics", *bs, "--create", "--topic", topic)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stdout + duplicate.stderr
    kafka_cli("kafka-topics", *bs, "--delete", "--topic", topic, check=True)
    assert topic not in kafka_cli("kafka-topics", *bs, "--list", check=True).stdout.split()


def test_console_producer_and_consumer(broker: BrokerProcess) -> None:
    topic = unique_topic("console")
    bs = ["--bootstrap-server", broker.bootstrap]
    kafka_cli("kafka-topics", *bs, "--create", "--topic", topic, check=True)
    lines = [f"line-{i}" for i in range(25)]
    kafka_cli(
        "kafka-console-producer", *bs, "--topic", topic, input="\n".join(lines) + "\n", check=True
    )
    consumed = kafka_cli(
        "kafka-console-consumer",
        *bs,
        "--topic",
        topic,
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--max-messages",
        "25",
        "--timeout-ms",
        "60000",
        check=True,
    )
    assert consumed.stdout.splitlines() == lines
    offsets = kafka_cli("kafka-get-offsets", *bs, "--topic", topic, check=True)
    assert offsets.stdout.split() == [f"{topic}:0:25"]
    # The Java producer's records are readable by librdkafka too.
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 25)] == [
        line.encode() for line in lines
    ]


def test_kafka_configs_alter_and_describe_topic_and_broker(broker: BrokerProcess) -> None:
    topic = unique_topic("cfg")
    bs = ["--bootstrap-server", broker.bootstrap]
    kafka_cli("kafka-topics", *bs, "--create", "--topic", topic, check=True)
    kafka_cli(
        "kafka-configs",
        *bs,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--add-config",
        "retention.ms=3600000,cleanup.policy=compact",
        check=True,
    )
    described = kafka_cli(
        "kafka-configs",
        *bs,
        "--describe",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        check=True,
    ).stdout
    assert "retention.ms=3600000" in described and "cleanup.policy=compact" in described
    kafka_cli(
        "kafka-configs",
        *bs,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--delete-config",
        "retention.ms",
        check=True,
    )
    described = kafka_cli(
        "kafka-configs",
        *bs,
        "--describe",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        check=True,
    ).stdout
    assert "retention.ms" not in described
    bad = kafka_cli(
        "kafka-configs",
        *bs,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--add-config",
        "retention.ms=not-a-number",
    )
    assert bad.returncode != 0
    everything = kafka_cli(
        "kafka-configs",
        *bs,
        "--describe",
        "--all",
        "--entity-type",
        "brokers",
        "--entity-name",
        "1",
        check=True,
    ).stdout
    assert "log.segment.bytes=1073741824" in everything
    kafka_cli(
        "kafka-configs",
        *bs,
        "--alter",
        "--entity-type",
        "brokers",
        "--entity-default",
        "--add-config",
        "log.retention.ms=7200000",
        check=True,
    )
    topic_view = kafka_cli(
        "kafka-configs",
        *bs,
        "--describe",
        "--all",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        check=True,
    ).stdout
    assert "retention.ms=7200000" in topic_view
    kafka_cli(
        "kafka-configs",
        *bs,
        "--alter",
        "--entity-type",
        "brokers",
        "--entity-default",
        "--delete-config",
        "log.retention.ms",
        check=True,
    )


def test_kafka_delete_records_advances_the_log_start(broker: BrokerProcess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    topic = unique_topic("delrec")
    bs = ["--bootstrap-server", broker.bootstrap]
    kafka_cli("kafka-topics", *bs, "--create", "--topic", topic, check=True)
    kafka_cli(
        "kafka-console-producer",
        *bs,
        "--topic",
        topic,
        input="".join(f"r{i}\n" for i in range(10)),
        check=True,
    )
    spec = tmp_path / "delete.json"
    spec.write_text(
        json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 6}], "version": 1})
    )
    kafka_cli("kafka-delete-records", *bs, "--offset-json-file", str(spec), check=True)
    earliest = kafka_cli(
        "kafka-get-offsets", *bs, "--topic", topic, "--time", "-2", check=True
    ).stdout.split()
    assert earliest == [f"{topic}:0:6"]
    got = consume_n(broker.bootstrap, topic, 4)
    assert [m.value() for m in got] == [b"r6", b"r7", b"r8", b"r9"]
