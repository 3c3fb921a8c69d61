"""The Apache Kafka reference tooling works: real Kafka 4.1 broker, its CLI tools, clients.

Starts a real Apache Kafka node (KRaft combined mode, jars fetched by bench/fetch-kafka.sh),
then drives it with Kafka's own kafka-topics / console producer / console consumer /
kafka-get-offsets / kafka-configs / kafka-metadata-quorum, and with confluent-kafka. The
same helpers (bench/kafkaref) later run against Millrace.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import kafkaref
from kafkaref import KafkaBroker, kafka_cli, kafka_home

pytestmark = [
    pytest.mark.kafka_cli,
    pytest.mark.timeout(600),  # JVM start-ups are slow on a loaded 2-core machine
]


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker(heap="512M") as broker:
        yield broker


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_tool_main_class_is_in_the_jars() -> None:
    classes: set[str] = set()
    for jar in (kafka_home() / "libs").glob("*.jar"):
        with zipfile.ZipFile(jar) as zf:
            classes.update(n for n in zf.namelist() if n.endswith(".class"))
    missing = {
        tool: main
        for tool, main in kafkaref.TOOLS.items()
        if main.replace(".", "/") + ".class" not in classes
    }
    assert not missing


def test_cli_tools_round_trip_ten_lines(kafka: KafkaBroker) -> None:
    topic = _topic("cli")
    bs = ["--bootstrap-server", kafka.bootstrap]
    kafka_cli("kafka-topics", *bs, "--create", "--topic", topic, "--partitions", "1", check=True)
    listed = kafka_cli("kafka-topics", *bs, "--list", check=True)
    assert topic in listed.stdout.split()

    lines = [f"line-{i}" for i in range(10)]
    kafka_cli(
        "kafka-console-producer", *bs, "--topic", topic, input="\n".join(lines) + "\n", check=True
    )
    consumed = kafka_cli(
        "kafka-console-consumer",
        *bs,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "10",
        "--timeout-ms",
        "60000",
        check=True,
    )
    assert consumed.stdout.splitlines() == lines

    offsets = kafka_cli("kafka-get-offsets", *bs, "--topic", topic, check=True)
    assert offsets.stdout.split() == [f"{topic}:0:10"]


def test_confluent_kafka_produce_consume(kafka: KafkaBroker) -> None:
    from confluent_kafka import Consumer, Producer

    topic = _topic("ck")
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all", "linger.ms": 5})
    errors: list[object] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    for i in range(100):
        producer.produce(
            topic, key=str(i).encode(), value=f"v{i}".encode(), on_delivery=on_delivery
        )
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": _topic("group"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(300):  # bounded: at most 300 polls of 0.2 s
            msg = consumer.poll(0.2)
            if msg is None:
                if len(values) >= 100:
                    break
                continue
            assert msg.error() is None, msg.error()
            value = msg.value()
            assert isinstance(value, bytes)
            values.append(value)
    finally:
        consumer.close()
    assert values == [f"v{i}".encode() for i in range(100)]


def test_admin_tools_describe_the_broker(kafka: KafkaBroker) -> None:
    quorum = kafka_cli(
        "kafka-metadata-quorum",
        "--bootstrap-controller",
        kafka.controller_bootstrap,
        "describe",
        "--status",
        check=True,
    )
    assert "LeaderId:               1" in quorum.stdout

    topic = _topic("cfg")
    bs = ["--bootstrap-server", kafka.bootstrap]
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
        "retention.ms=3600000",
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
    )
    assert "retention.ms=3600000" in described.stdout


def test_broker_reports_rss(kafka: KafkaBroker) -> None:
    stats = kafka.memory_stats()
    assert stats is not None
    assert 50 < stats.rss_mib <= stats.hwm_mib + 1


def test_perf_and_maintenance_tools(kafka: KafkaBroker, tmp_path: Path) -> None:
    topic = _topic("perf")
    bs = ["--bootstrap-server", kafka.bootstrap]
    kafka_cli("kafka-topics", *bs, "--create", "--topic", topic, check=True)
    produced = kafka_cli(
        "kafka-producer-perf-test",
        "--topic",
        topic,
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={kafka.bootstrap}",
        check=True,
    )
    assert "2000 records sent" in produced.stdout
    consumed = kafka_cli(
        "kafka-consumer-perf-test", *bs, "--topic", topic, "--messages", "2000", check=True
    )
    assert consumed.stdout.strip().splitlines()[-1].split(",")[-1]  # a data line follows

    spec = tmp_path / "delete.json"
    spec.write_text(
        json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 500}]})
    )
    kafka_cli("kafka-delete-records", *bs, "--offset-json-file", str(spec), check=True)
    earliest = kafka_cli("kafka-get-offsets", *bs, "--topic", topic, "--time", "-2", check=True)
    assert earliest.stdout.split() == [f"{topic}:0:500"]

    groups = kafka_cli("kafka-consumer-groups", *bs, "--list", check=True)
    assert groups.returncode == 0


@pytest.mark.slow
def test_three_node_cluster_quorum_and_reassignment(tmp_path: Path) -> None:
    from kafkaref import KafkaCluster

    with KafkaCluster(3, heap="512M") as cluster:
        status = kafka_cli(
            "kafka-metadata-quorum",
            "--bootstrap-server",
            cluster.bootstrap,
            "describe",
            "--status",
            check=True,
        )
        voters = next(ln for ln in status.stdout.splitlines() if ln.startswith("CurrentVoters"))
        assert all(f'"id": {i}' in voters for i in (1, 2, 3))

        bs = ["--bootstrap-server", cluster.bootstrap]
        topic = _topic("rf3")
        kafka_cli(
            "kafka-topics",
            *bs,
            "--create",
            "--topic",
            topic,
            "--replication-factor",
            "2",
            check=True,
        )
        plan = tmp_path / "plan.json"
        plan.write_text(
            json.dumps(
                {
                    "version": 1,
                    "partitions": [{"topic": topic, "partition": 0, "replicas": [3, 1, 2]}],
                }
            )
        )
        kafka_cli(
            "kafka-reassign-partitions",
            *bs,
            "--reassignment-json-file",
            str(plan),
            "--execute",
            check=True,
        )
        for _ in range(60):  # bounded: the reassignment of an empty partition is quick
            verify = kafka_cli(
                "kafka-reassign-partitions",
                *bs,
                "--reassignment-json-file",
                str(plan),
                "--verify",
                check=True,
            )
            if "is completed" in verify.stdout:
                break
        described = kafka_cli("kafka-topics", *bs, "--describe", "--topic", topic, check=True)
        assert "Replicas: 3,1,2" in described.stdout
        kafka_cli(
            "kafka-leader-election",
            *bs,
            "--election-type",
            "preferred",
            "--topic",
            topic,
            "--partition",
            "0",
            check=True,
        )
        described = kafka_cli("kafka-topics", *bs, "--describe", "--topic", topic, check=True)
        assert "Leader: 3" in described.stdout
