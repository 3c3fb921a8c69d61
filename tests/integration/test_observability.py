"""Prometheus metrics and JSON logs of a real broker, driven by confluent-kafka.

The counters are checked against what the broker itself stored (a partition log holds
exactly the bytes producers appended) and what the clients did (records produced,
offsets committed), so a counter that drifts from reality fails here.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families

from support_broker import BrokerProcess, free_port
from support_clients import create_topic, produce_all, unique_topic

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= set(lab))


@pytest.fixture
def metered_broker(tmp_path: Path) -> Iterator[tuple[BrokerProcess, int]]:
    metrics_port = free_port()
    broker = BrokerProcess(
        tmp_path / "data",
        free_port(),
        extra_args=["--metrics-address", f"127.0.0.1:{metrics_port}", "--log-format", "json"],
    )
    broker.start()
    try:
        yield broker, metrics_port
    finally:
        broker.stop()


def consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while seen < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=count - seen, timeout=1):
                if message.error() is None:
                    seen += 1
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return seen


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_counters_and_gauges_follow_a_produce_consume_run(
    metered_broker: tuple[BrokerProcess, int],
) -> None:
    broker, port = metered_broker
    topic = unique_topic("metrics")
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_all(broker.bootstrap, topic, [b"v" * (i % 200) for i in range(600)], acks="all")

    after_produce = scrape(port)
    assert (
        total(after_produce, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 600
    )
    bytes_in = total(after_produce, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
    # Every byte a producer appended is in the topic's logs, and nothing else is.
    assert bytes_in == total(after_produce, "kafka_log_log_size", topic=topic) > 600 * 50
    assert total(after_produce, "kafka_log_log_logendoffset", topic=topic) == 600
    assert (
        total(after_produce, "kafka_network_requestmetrics_requests_total", request="Produce") >= 1
    )
    assert (
        total(
            after_produce, "kafka_network_requestmetrics_totaltime_seconds_count", request="Produce"
        )
        >= 1
    )
    assert total(after_produce, "kafka_server_replicamanager_leadercount") >= 3
    assert total(after_produce, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert total(after_produce, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert total(after_produce, "kafka_server_raftmetrics_current_state", state="leader") == 1

    group = unique_topic("group")
    assert consume_and_commit(broker.bootstrap, topic, group, 600) == 600
    caught_up = scrape(port)
    assert total(caught_up, "kafka_consumergroup_current_offset", consumergroup=group) == 600
    assert total(caught_up, "kafka_consumergroup_lag", consumergroup=group, topic=topic) == 0
    # The consumer read every byte at least once (prefetching may read some twice).
    assert (
        total(caught_up, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) >= bytes_in
    )

    produce_all(broker.bootstrap, topic, [b"more"] * 90)
    behind = scrape(port)
    assert total(behind, "kafka_consumergroup_lag", consumergroup=group, topic=topic) == 90
    assert total(behind, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 690


def test_json_log_lines_carry_the_request_they_were_written_for(tmp_path: Path) -> None:
    # One broker, replication factor 3 by default: auto-creating a topic must fail, and
    # the broker logs why while serving the client's Metadata request.
    broker = BrokerProcess(
        tmp_path / "data",
        free_port(),
        overrides=["default.replication.factor=3"],
        extra_args=["--log-format", "json"],
    )
    broker.start()
    try:
        producer = Producer({"bootstrap.servers": broker.bootstrap, "client.id": "json-log-probe"})
        producer.produce(unique_topic("auto"), b"x")
        producer.flush(3)
        wait_for(lambda: "auto-creation of topic" in broker.log())
    finally:
        broker.stop()
    lines = [line for line in broker.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    refusals = [e for e in entries if "auto-creation of topic" in e["message"]]
    assert refusals, lines
    request = refusals[0]["request"]
    assert request["api_key"] == 3  # Metadata
    assert request["client_id"] == "json-log-probe"
    assert request["listener"] == "PLAINTEXT"
    assert {"level", "logger", "time"} <= refusals[0].keys()


def test_a_bad_metrics_address_is_refused_with_the_fix(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port(), extra_args=["--metrics-address", "9404"])
    broker.launch()
    assert broker.process is not None
    assert broker.process.wait(60) == 2
    assert "HOST:PORT" in broker.log()
