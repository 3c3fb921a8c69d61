"""Small helpers around real Kafka clients used by the integration tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def dotted(conf: dict[str, Any]) -> dict[str, Any]:
    """librdkafka property names from keyword arguments: linger_ms -> linger.ms."""
    return {key.replace("_", "."): value for key, value in conf.items()}


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(timeout=15)


def produce_all(bootstrap: str, topic: str, values: list[bytes], **conf: Any) -> list[Any]:
    """Produce values, flush, and return the delivered messages (errors raise)."""
    delivered: list[Any] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        (errors if err else delivered).append(err or msg)

    producer = Producer({"bootstrap.servers": bootstrap, **dotted(conf)})
    for value in values:
        producer.produce(topic, value=value, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered"
    assert not errors, errors
    return delivered


def consume_n(
    bootstrap: str,
    topic: str,
    n: int,
    *,
    partitions: list[int] | None = None,
    offset: int = -2,
    timeout: float = 30.0,
    **conf: Any,
) -> list[Any]:
    """Read n messages by assignment (no group needed) from `offset` (-2 = beginning)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-" + uuid.uuid4().hex[:6],
            "enable.auto.commit": False,
            **dotted(conf),
        }
    )
    parts = partitions if partitions is not None else [0]
    consumer.assign([TopicPartition(topic, p, offset) for p in parts])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consume error: {msg.error()}")
            out.append(msg)
    finally:
        consumer.close()
    return out
