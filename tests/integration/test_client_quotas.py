"""Client quotas with real tools: Apache Kafka's kafka-configs sets and describes user and
client-id quotas; a confluent-kafka producer over its producer_byte_rate is throttled
(throttle_cb fires) and its measured rate, once past the first burst, stays near the
quota; a client without a quota is not throttled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from kafkaref import kafka_cli
from support_broker import BrokerProcess, free_port
from support_clients import create_topic, unique_topic

pytestmark = pytest.mark.kafka_cli

QUOTA = 100 * 1024  # bytes per second
RECORD = b"x" * 1024


@pytest.fixture(scope="module")
def qbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(tmp_path_factory.mktemp("quotas") / "data", free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def configs(broker: BrokerProcess, *args: str) -> str:
    done = kafka_cli("kafka-configs", "--bootstrap-server", broker.bootstrap, *args, check=True)
    return done.stdout


def test_kafka_configs_user_and_client_quotas(qbroker: BrokerProcess) -> None:
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "alice",
        "--add-config",
        "producer_byte_rate=1048576,consumer_byte_rate=2097152",
    )
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "clients",
        "--entity-default",
        "--add-config",
        "request_percentage=200",
    )
    out = configs(qbroker, "--describe", "--entity-type", "users", "--entity-name", "alice")
    assert "producer_byte_rate=1048576" in out and "consumer_byte_rate=2097152" in out
    out = configs(qbroker, "--describe", "--entity-type", "clients", "--entity-default")
    assert "request_percentage=200" in out
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "alice",
        "--delete-config",
        "consumer_byte_rate",
    )
    out = configs(qbroker, "--describe", "--entity-type", "users", "--entity-name", "alice")
    assert "producer_byte_rate=1048576" in out and "consumer_byte_rate" not in out
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "clients",
        "--entity-default",
        "--delete-config",
        "request_percentage",
    )
    bad = kafka_cli(
        "kafka-configs",
        "--bootstrap-server",
        qbroker.bootstrap,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "alice",
        "--add-config",
        "producer_byte_rate=10.5",  # byte rates are whole numbers
    )
    assert bad.returncode != 0


def produce_for(
    broker: BrokerProcess, topic: str, client_id: str, seconds: float
) -> tuple[list[tuple[float, int]], list[int]]:
    """Produce 1 KiB records as fast as the broker lets us for `seconds` (bounded count);
    returns (delivery time, size) per record and the throttle times reported."""
    delivered: list[tuple[float, int]] = []
    throttles: list[int] = []

    def on_throttle(event: Any) -> None:
        throttles.append(int(event.throttle_time * 1000))

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "client.id": client_id,
            "linger.ms": 5,
            "batch.size": 16384,
            "queue.buffering.max.kbytes": 512,
            "throttle_cb": on_throttle,
        }
    )

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            delivered.append((time.monotonic(), len(msg.value())))

    start = time.monotonic()
    for _ in range(200_000):  # bounded in count and in time
        if time.monotonic() - start > seconds:
            break
        try:
            producer.produce(topic, RECORD, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.05)
            continue
        producer.poll(0)
    producer.flush(60)
    return [(t - start, n) for t, n in delivered], throttles


def test_producer_over_its_quota_is_throttled(qbroker: BrokerProcess, tmp_path: Path) -> None:
    topic = unique_topic("quota")
    create_topic(qbroker.bootstrap, topic)
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "clients",
        "--entity-name",
        "throttled-app",
        "--add-config",
        f"producer_byte_rate={QUOTA}",
    )
    deliveries, throttles = produce_for(qbroker, topic, "throttled-app", seconds=20)
    assert throttles and max(throttles) > 0, "the client never saw a throttle time"
    # Past the first burst (Kafka measures at least 10 one-second windows), the rate is
    # held at the quota.
    late = [n for t, n in deliveries if 10 <= t < 20]
    rate = sum(late) / 10
    print(f"throttled producer: {rate:.0f} B/s in seconds 10-20 against a quota of {QUOTA} B/s")
    assert 0 < rate <= QUOTA * 1.5, f"{rate:.0f} B/s against a quota of {QUOTA} B/s"

    # Another client id has no quota: it is not throttled and goes far faster.
    free, free_throttles = produce_for(qbroker, topic, "free-app", seconds=3)
    assert not [t for t in free_throttles if t > 0]
    free_rate = sum(n for _, n in free) / 3
    print(f"unthrottled producer: {free_rate:.0f} B/s")
    assert free_rate > QUOTA * 2


def test_consumer_over_its_quota_is_throttled(qbroker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, TopicPartition

    quota = QUOTA // 2
    topic = unique_topic("fquota")
    create_topic(qbroker.bootstrap, topic)
    # Small batches: a fetch returns whole batches, and one large batch per fetch would
    # make the throttle as coarse as the batch.
    preload = Producer(
        {"bootstrap.servers": qbroker.bootstrap, "linger.ms": 20, "batch.size": 16384}
    )
    for _ in range(6000):  # about 6 MiB, far more than the quota lets through in 30 s
        preload.produce(topic, RECORD)
        preload.poll(0)
    assert preload.flush(60) == 0
    configs(
        qbroker,
        "--alter",
        "--entity-type",
        "clients",
        "--entity-name",
        "slow-reader",
        "--add-config",
        f"consumer_byte_rate={quota}",
    )
    throttles: list[int] = []
    consumer = Consumer(
        {
            "bootstrap.servers": qbroker.bootstrap,
            "client.id": "slow-reader",
            "group.id": "unused",
            "enable.auto.commit": False,
            "fetch.max.bytes": 65536,
            "message.max.bytes": 65536,
            "max.partition.fetch.bytes": 65536,
            "throttle_cb": lambda event: throttles.append(int(event.throttle_time * 1000)),
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    received: list[tuple[float, int]] = []
    start = time.monotonic()
    seconds = 30
    try:
        while time.monotonic() - start < seconds:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                received.append((time.monotonic() - start, len(msg.value())))
    finally:
        consumer.close()
    assert throttles and max(throttles) > 0, "the consumer never saw a throttle time"
    total = sum(n for _, n in received)
    # Kafka's rate is measured over at least 10 one-second windows (11 kept): a first
    # burst of about 10 s worth of quota, then the quota.
    allowance = quota * (seconds + 11)
    print(f"throttled consumer: {total} B in {seconds} s; quota allows about {allowance} B")
    assert total <= allowance * 1.25, f"{total} B read in {seconds} s at {quota} B/s"
    assert any(t >= 15 for t, _ in received), "no progress after the first throttle"


def test_connection_creation_rate_of_an_address(tmp_path: Path) -> None:
    """KIP-612: `kafka-configs --entity-type ips` limits new connections per address;
    over it the broker closes new connections at once."""
    import socket

    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    try:
        configs(
            broker,
            "--alter",
            "--entity-type",
            "ips",
            "--entity-name",
            "127.0.0.1",
            "--add-config",
            "connection_creation_rate=2",
        )
        out = configs(broker, "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.1")
        assert "connection_creation_rate=2" in out
        sockets = [  # a burst of 40 new connections, opened before any is checked
            socket.create_connection(("127.0.0.1", broker.port), timeout=5) for _ in range(40)
        ]
        closed = 0
        for s in sockets:
            s.settimeout(0.5)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except TimeoutError:
                pass  # accepted: the broker waits for a request
            finally:
                s.close()
        assert closed > 0, "no connection was refused"
        assert closed < 40, "every connection was refused"
        assert "connection_creation_rate quota of this address exceeded" in broker.log()
    finally:
        broker.stop()


def test_user_quota_follows_the_sasl_principal(tmp_path: Path) -> None:
    """A quota on --entity-type users applies to the authenticated user (SASL/PLAIN), not
    to other users on the same client id."""
    from support_security import librdkafka_conf, secure_broker

    with secure_broker(tmp_path) as sb:
        props = tmp_path / "admin.properties"
        props.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            'required username="admin" password="admin-secret";\n'
        )
        kafka_cli(
            "kafka-configs",
            "--bootstrap-server",
            sb.sasl_bootstrap,
            "--command-config",
            str(props),
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
            "--add-config",
            f"producer_byte_rate={QUOTA // 2}",
            check=True,
        )
        topic = unique_topic("uquota")

        def run(user: str) -> list[int]:
            conf = librdkafka_conf(
                sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", user, f"{user}-secret", sb.ca
            )
            throttles: list[int] = []
            producer = Producer(
                {
                    **conf,
                    "client.id": "same-app",
                    "linger.ms": 5,
                    "queue.buffering.max.kbytes": 512,
                    "throttle_cb": lambda e: throttles.append(int(e.throttle_time * 1000)),
                }
            )
            start = time.monotonic()
            for _ in range(100_000):
                if time.monotonic() - start > 8:
                    break
                try:
                    producer.produce(topic, RECORD)
                except BufferError:
                    producer.poll(0.05)
                    continue
                producer.poll(0)
            producer.flush(60)
            return throttles

        assert [t for t in run("alice") if t > 0], "alice was never throttled"
        assert not [t for t in run("admin") if t > 0], "admin has no quota"
