"""Crash safety with real processes: kill -9 under load, torn tails, clean SIGTERM."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from confluent_kafka import Producer

from support_broker import BrokerProcess, free_port
from support_clients import consume_n, create_topic, unique_topic


def test_sigterm_is_a_clean_shutdown_with_exit_0(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    topic = unique_topic("term")
    create_topic(broker.bootstrap, topic)
    assert broker.stop() == 0
    assert "shutdown complete" in broker.log()


def test_kill9_under_acks_all_load_loses_no_acknowledged_record(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    topic = unique_topic("kill")
    create_topic(broker.bootstrap, topic)
    acked: list[bytes] = []
    stop = threading.Event()

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            acked.append(msg.value())  # type: ignore[attr-defined]

    def produce_loop() -> None:
        producer = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 1,
                "message.timeout.ms": 5000,
                "reconnect.backoff.max.ms": 200,
            }
        )
        i = 0
        deadline = time.monotonic() + 20
        while not stop.is_set() and i < 200_000 and time.monotonic() < deadline:
            try:
                producer.produce(topic, value=f"r{i:07d}".encode(), on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001 if i % 100 == 0 else 0)
        producer.flush(6)

    thread = threading.Thread(target=produce_loop)
    thread.start()
    deadline = time.monotonic() + 15
    while len(acked) < 5000 and time.monotonic() < deadline:
        time.sleep(0.05)
    broker.kill9()
    stop.set()
    thread.join(30)
    acknowledged = list(acked)
    assert len(acknowledged) >= 5000
    broker.start()
    try:
        got = consume_n(broker.bootstrap, topic, len(acknowledged), timeout=60)
        values = [m.value() for m in got]
        # Every acknowledged record is there, in order, exactly once.
        assert values[: len(acknowledged)] == acknowledged
        assert len(set(values)) == len(values)
    finally:
        broker.stop()


def test_torn_tail_is_truncated_on_restart(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    topic = unique_topic("torn")
    create_topic(broker.bootstrap, topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, value=f"rec{i}".encode() * 10)
        producer.flush(10)  # one batch per record
    broker.kill9()
    segment = next((tmp_path / "data").glob(f"{topic}-0/*.log"))
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 7)  # cut the last batch in half
    broker.start()
    try:
        got = consume_n(broker.bootstrap, topic, 9, timeout=20)
        assert [m.value() for m in got] == [f"rec{i}".encode() * 10 for i in range(9)]
        # The torn batch is gone and its offset is reused by the next append.
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        delivered: list[int] = []
        producer.produce(
            topic, value=b"after", on_delivery=lambda e, m: delivered.append(m.offset())
        )
        producer.flush(10)
        assert delivered == [9]
    finally:
        broker.stop()


def test_restart_keeps_topics_configs_and_data(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    topic = unique_topic("restart")
    create_topic(broker.bootstrap, topic, partitions=3, config={"retention.ms": "12345678"})
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(30):
        producer.produce(topic, value=f"{i}".encode(), partition=i % 3)
    producer.flush(10)
    assert broker.stop() == 0
    broker.start()
    try:
        got = consume_n(broker.bootstrap, topic, 30, partitions=[0, 1, 2])
        assert sorted(int(m.value()) for m in got) == list(range(30))
        from confluent_kafka.admin import AdminClient, ConfigResource

        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        assert admin.describe_configs([res])[res].result(10)["retention.ms"].value == "12345678"
    finally:
        broker.stop()
