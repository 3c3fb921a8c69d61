"""kafka-python 3 (idempotent, acks=all by default), aiokafka and kcat against Millrace."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from support_broker import BrokerProcess
from support_clients import consume_n, create_topic, produce_all, unique_topic


def test_kafka_python_defaults_produce_and_assign_seek_consume(broker: BrokerProcess) -> None:
    topic = unique_topic("kp")
    create_topic(broker.bootstrap, topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    assert producer.config["enable_idempotence"] is True or producer.config["acks"] in ("all", -1)
    futures = [producer.send(topic, value=f"m{i}".encode(), partition=i % 2) for i in range(200)]
    offsets = [f.get(timeout=20).offset for f in futures]
    producer.close()
    assert sorted(offsets) == sorted([*range(100), *range(100)])
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000
    )
    tp = TopicPartition(topic, 1)
    consumer.assign([tp])
    consumer.seek(tp, 50)
    got = []
    for msg in consumer:
        got.append(msg)
        if len(got) == 50:
            break
    consumer.close()
    assert [m.offset for m in got] == list(range(50, 100))
    assert [m.value for m in got] == [f"m{i}".encode() for i in range(101, 200, 2)]


def test_kafka_python_infers_kafka_4_1(broker: BrokerProcess) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        assert producer.config["api_version"] >= (4, 1)
    finally:
        producer.close()


def test_aiokafka_produce_and_consume(broker: BrokerProcess) -> None:
    topic = unique_topic("aio")
    create_topic(broker.bootstrap, topic)

    async def scenario() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(100):
                await producer.send(topic, f"a{i}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = AioTopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            values: list[bytes] = []
            while len(values) < 100:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 20)
                for msgs in batch.values():
                    values += [m.value for m in msgs]
            return values
        finally:
            await consumer.stop()

    assert asyncio.run(scenario()) == [f"a{i}".encode() for i in range(100)]


KCAT = shutil.which("kcat")


def test_kcat_list_produce_consume(broker: BrokerProcess) -> None:
    assert KCAT is not None, "kcat is missing: install it (apt-get install kcat); .ci/run does"
    topic = unique_topic("kcat")
    create_topic(broker.bootstrap, topic)
    listing = subprocess.run(
        [KCAT, "-b", broker.bootstrap, "-L"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert f'topic "{topic}"' in listing and "broker 1 at 127.0.0.1" in listing
    lines = "\n".join(f"line{i}" for i in range(20)) + "\n"
    subprocess.run(
        [KCAT, "-b", broker.bootstrap, "-P", "-t", topic],
        input=lines,
        text=True,
        timeout=30,
        check=True,
    )
    out = subprocess.run(
        [KCAT, "-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", "20", "-e"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.splitlines() == [f"line{i}" for i in range(20)]
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 20)] == [
        f"line{i}".encode() for i in range(20)
    ]


def test_mixed_clients_share_a_topic(broker: BrokerProcess) -> None:
    topic = unique_topic("mixed")
    create_topic(broker.bootstrap, topic)
    produce_all(broker.bootstrap, topic, [b"from-librdkafka"])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topic, b"from-kafka-python").get(timeout=20)
    producer.close()
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 2)] == [
        b"from-librdkafka",
        b"from-kafka-python",
    ]
