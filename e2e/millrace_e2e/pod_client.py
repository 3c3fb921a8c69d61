"""A Kafka client run inside a client pod (confluent-kafka), one subcommand per call.

The tests send this file to `python3 -` in the pod (`kubectl exec -i`), so it needs nothing
but confluent-kafka and the standard library. Every subcommand prints one JSON line, last:

    cluster                          {"nodes": [{"id", "host", "port", "rack"}]}
    topics                           {"topics": [names]}
    topic NAME                       {"partitions": [{"id", "leader", "replicas", "isr"}],
                                      "configs": {name: value}}  (non-default configs only)
    produce TOPIC COUNT PREFIX       {"acked": [values], "errors": [...]}  acks=all, idempotent
    consume TOPIC COUNT TIMEOUT_S    {"values": [values]}  from the beginning, new group
    alter TOPIC KEY VALUE            {"ok": true}  IncrementalAlterConfigs SET on the topic
    metrics URL PREFIX               {"lines": [...]}  lines of a Prometheus page starting
                                     with PREFIX

Every call is bounded in time; BOOTSTRAP comes from the environment variable of that name.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

TIMEOUT = 30.0


def bootstrap() -> str:
    return os.environ["BOOTSTRAP"]


def admin() -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap()})


def cmd_cluster() -> dict[str, Any]:
    client = admin()  # kept referenced: a collected client cancels its futures
    result = client.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
    return {
        "nodes": [
            {"id": n.id, "host": n.host, "port": n.port, "rack": n.rack} for n in result.nodes
        ]
    }


def cmd_topics() -> dict[str, Any]:
    client = admin()
    metadata = client.list_topics(timeout=TIMEOUT)
    return {"topics": sorted(t for t in metadata.topics if not t.startswith("__"))}


def cmd_topic(name: str) -> dict[str, Any]:
    client = admin()
    metadata = client.list_topics(topic=name, timeout=TIMEOUT).topics[name]
    if metadata.error is not None:
        return {"error": str(metadata.error)}
    partitions = [
        {"id": p.id, "leader": p.leader, "replicas": list(p.replicas), "isr": list(p.isrs)}
        for p in sorted(metadata.partitions.values(), key=lambda p: p.id)
    ]
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
    configs = {k: e.value for k, e in entries.items() if not e.is_default}
    return {"partitions": partitions, "configs": configs}


def cmd_produce(topic: str, count: str, prefix: str) -> dict[str, Any]:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap(),
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 60000,
        }
    )
    acked: list[str] = []
    errors: list[str] = []

    def report(err: Any, msg: Any) -> None:
        if err is None:
            acked.append(msg.value().decode())
        else:
            errors.append(str(err))

    for i in range(int(count)):
        value = f"{prefix}-{i}"
        producer.produce(topic, key=str(i).encode(), value=value.encode(), on_delivery=report)
        producer.poll(0)
    remaining = producer.flush(90)
    return {"acked": acked, "errors": errors, "unflushed": remaining}


def cmd_consume(topic: str, count: str, timeout_s: str) -> dict[str, Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(),
            "group.id": f"e2e-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    deadline = time.monotonic() + float(timeout_s)
    try:
        while len(values) < int(count) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            values.append(msg.value().decode())
    finally:
        consumer.close()
    return {"values": values}


def cmd_alter(topic: str, key: str, value: str) -> dict[str, Any]:
    entry = ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    client = admin()
    client.incremental_alter_configs([resource])[resource].result(TIMEOUT)
    return {"ok": True}


def cmd_metrics(url: str, prefix: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        text = response.read().decode()
    return {"lines": [line for line in text.splitlines() if line.startswith(prefix)]}


COMMANDS = {
    "cluster": cmd_cluster,
    "topics": cmd_topics,
    "topic": cmd_topic,
    "produce": cmd_produce,
    "consume": cmd_consume,
    "alter": cmd_alter,
    "metrics": cmd_metrics,
}


def main() -> None:
    command, *args = sys.argv[1:]
    print(json.dumps(COMMANDS[command](*args)))  # type: ignore[operator]


if __name__ == "__main__":
    main()
