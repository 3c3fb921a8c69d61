"""SASL with real clients: confluent-kafka, kafka-python and aiokafka authenticate with
PLAIN (JAAS users), SCRAM-SHA-256 and SCRAM-SHA-512 (credentials created through
AlterUserScramCredentials) over SASL_PLAINTEXT and SASL_SSL, produce and read back; a
wrong password is an authentication error and writes nothing; no secret reaches the
broker's log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from support_security import SECRETS, SecureBroker, librdkafka_conf, secure_broker

SCRAM_USERS = {
    "SCRAM-SHA-256": ("sam256", "sam-256-secret", ScramMechanism.SCRAM_SHA_256),
    "SCRAM-SHA-512": ("sam512", "sam-512-secret", ScramMechanism.SCRAM_SHA_512),
}
ALL_SECRETS = (*SECRETS, "sam-256-secret", "sam-512-secret", "wrong-secret-xyz")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
CLIENTS = ("confluent", "kafka-python", "aiokafka")


def credentials(mechanism: str) -> tuple[str, str]:
    if mechanism == "PLAIN":
        return "alice", "alice-secret"
    user, password, _ = SCRAM_USERS[mechanism]
    return user, password


def admin(sb: SecureBroker) -> AdminClient:
    return AdminClient(
        librdkafka_conf(
            sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
        )
    )


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("sasl")) as broker:
        client = admin(broker)
        upserts = [
            UserScramCredentialUpsertion(user, ScramCredentialInfo(mech, 8192), password.encode())
            for user, password, mech in SCRAM_USERS.values()
        ]
        for future in client.alter_user_scram_credentials(upserts).values():
            future.result(timeout=30)
        yield broker
    log = broker.broker.log()
    leaked = [s for s in ALL_SECRETS if s in log]
    assert not leaked, f"secrets in the broker log: {leaked}"


def bootstrap(sb: SecureBroker, protocol: str) -> str:
    return sb.sasl_bootstrap if protocol == "SASL_PLAINTEXT" else sb.sasl_ssl_bootstrap


def new_topic(sb: SecureBroker) -> str:
    name = f"sec-{uuid.uuid4().hex[:8]}"
    client = admin(sb)  # keep the handle alive until the future resolves
    client.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    return name


def end_offset(sb: SecureBroker, topic: str) -> int:
    consumer = Consumer(
        {
            **librdkafka_conf(
                sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
            ),
            "group.id": "watermarks",
        }
    )
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=20)
        return int(high)
    finally:
        consumer.close()


# ----- one produce + read-back per client -------------------------------------------------


def run_confluent(sb: SecureBroker, protocol: str, mechanism: str, topic: str) -> list[bytes]:
    user, password = credentials(mechanism)
    conf = librdkafka_conf(bootstrap(sb, protocol), protocol, mechanism, user, password, sb.ca)
    producer = Producer(conf)
    for i in range(5):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({**conf, "group.id": "g-" + topic, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            values.append(msg.value())
    consumer.close()
    return values


def kafka_python_conf(
    sb: SecureBroker, protocol: str, mechanism: str, password: str | None = None
) -> dict[str, Any]:
    user, real = credentials(mechanism)
    conf: dict[str, Any] = {
        "bootstrap_servers": bootstrap(sb, protocol),
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password or real,
    }
    if protocol == "SASL_SSL":
        conf["ssl_cafile"] = str(sb.ca.ca_file)
    return conf


def run_kafka_python(sb: SecureBroker, protocol: str, mechanism: str, topic: str) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition

    conf = kafka_python_conf(sb, protocol, mechanism)
    producer = KafkaProducer(**conf)
    for i in range(5):
        producer.send(topic, f"v{i}".encode())
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(**conf, consumer_timeout_ms=15000)
    consumer.assign([KTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) == 5:
            break
    consumer.close()
    return values


def aiokafka_conf(
    sb: SecureBroker, protocol: str, mechanism: str, password: str | None = None
) -> dict[str, Any]:
    from aiokafka.helpers import create_ssl_context

    user, real = credentials(mechanism)
    conf: dict[str, Any] = {
        "bootstrap_servers": bootstrap(sb, protocol),
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password or real,
    }
    if protocol == "SASL_SSL":
        conf["ssl_context"] = create_ssl_context(cafile=str(sb.ca.ca_file))
    return conf


def run_aiokafka(sb: SecureBroker, protocol: str, mechanism: str, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATopicPartition

    async def main() -> list[bytes]:
        producer = AIOKafkaProducer(**aiokafka_conf(sb, protocol, mechanism))
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, f"v{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**aiokafka_conf(sb, protocol, mechanism))
        await consumer.start()
        try:
            tp = ATopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            values: list[bytes] = []
            async with asyncio.timeout(30):
                while len(values) < 5:
                    batch = await consumer.getmany(tp, timeout_ms=1000)
                    values += [r.value for r in batch.get(tp, []) if r.value is not None]
            return values
        finally:
            await consumer.stop()

    return asyncio.run(main())


RUNNERS = {"confluent": run_confluent, "kafka-python": run_kafka_python, "aiokafka": run_aiokafka}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_client_authenticates_produces_and_reads_back(
    sb: SecureBroker, client: str, mechanism: str, protocol: str
) -> None:
    topic = new_topic(sb)
    values = RUNNERS[client](sb, protocol, mechanism, topic)
    assert values == [f"v{i}".encode() for i in range(5)]


# ----- wrong passwords ----------------------------------------------------------------------


def failed_confluent(sb: SecureBroker, protocol: str, mechanism: str, topic: str) -> str:
    user, _ = credentials(mechanism)
    conf = librdkafka_conf(
        bootstrap(sb, protocol), protocol, mechanism, user, "wrong-secret-xyz", sb.ca
    )
    errors: list[KafkaError] = []
    producer = Producer({**conf, "error_cb": errors.append, "message.timeout.ms": 5000})
    producer.produce(topic, b"must-not-arrive")
    producer.flush(10)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    return " ".join(e.str() for e in errors)


def failed_kafka_python(
    sb: SecureBroker, protocol: str, mechanism: str, topic: str, caplog: pytest.LogCaptureFixture
) -> str:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KPError

    conf = kafka_python_conf(sb, protocol, mechanism, "wrong-secret-xyz")
    with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KPError):
        producer = KafkaProducer(**conf, max_block_ms=5000, request_timeout_ms=5000)
        try:
            producer.send(topic, b"must-not-arrive").get(timeout=10)
        finally:
            producer.close(timeout=5)
    return caplog.text


def failed_aiokafka(
    sb: SecureBroker, protocol: str, mechanism: str, topic: str, caplog: pytest.LogCaptureFixture
) -> str:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError as AError

    async def main() -> None:
        producer = AIOKafkaProducer(**aiokafka_conf(sb, protocol, mechanism, "wrong-secret-xyz"))
        try:
            await producer.start()
            await producer.send_and_wait(topic, b"must-not-arrive")
        finally:
            await producer.stop()

    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(AError):
        asyncio.run(main())
    return caplog.text


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_wrong_password_is_an_authentication_error_and_writes_nothing(
    sb: SecureBroker, client: str, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = new_topic(sb)
    protocol = "SASL_SSL" if mechanism == "SCRAM-SHA-512" else "SASL_PLAINTEXT"
    if client == "confluent":
        text = failed_confluent(sb, protocol, mechanism, topic)
    elif client == "kafka-python":
        text = failed_kafka_python(sb, protocol, mechanism, topic, caplog)
    else:
        text = failed_aiokafka(sb, protocol, mechanism, topic, caplog)
    assert "Authentication failed" in text, text
    assert end_offset(sb, topic) == 0


def test_scram_credentials_describe_alter_delete(sb: SecureBroker) -> None:
    client = admin(sb)
    described = client.describe_user_scram_credentials(["sam512"])["sam512"].result(timeout=20)
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_512, 8192)]
    too_few = UserScramCredentialUpsertion(
        "weak", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"pw"
    )
    with pytest.raises(KafkaException, match="Too few iterations"):
        client.alter_user_scram_credentials([too_few])["weak"].result(timeout=20)
    with pytest.raises(KafkaException, match="RESOURCE_NOT_FOUND"):
        client.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=20)
    # a deleted credential no longer authenticates
    temp = UserScramCredentialUpsertion(
        "temp", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"temp-pw"
    )
    client.alter_user_scram_credentials([temp])["temp"].result(timeout=20)
    conf = librdkafka_conf(
        sb.sasl_bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-256", "temp", "temp-pw", sb.ca
    )
    AdminClient(conf).list_topics(timeout=20)
    deletion = UserScramCredentialDeletion("temp", ScramMechanism.SCRAM_SHA_256)
    client.alter_user_scram_credentials([deletion])["temp"].result(timeout=20)
    errors: list[KafkaError] = []
    fresh = AdminClient({**conf, "error_cb": errors.append})
    with pytest.raises(KafkaException):
        fresh.list_topics(timeout=5)
    fresh.poll(1)  # serves error_cb
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


def test_unknown_mechanism_is_refused_with_the_enabled_list(sb: SecureBroker) -> None:
    """A client configured for a mechanism the listener does not enable gets
    UNSUPPORTED_SASL_MECHANISM with the enabled list."""
    errors: list[KafkaError] = []
    conf = librdkafka_conf(sb.sasl_bootstrap, "SASL_PLAINTEXT", "OAUTHBEARER", "x", "y", sb.ca)
    conf.pop("sasl.username")
    conf.pop("sasl.password")
    conf["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
    conf["sasl.oauthbearer.config"] = "principal=bob"
    client = AdminClient({**conf, "error_cb": errors.append})
    with pytest.raises(KafkaException):
        client.list_topics(timeout=5)
    client.poll(1)  # serves error_cb
    text = " ".join(e.str() for e in errors)
    assert "PLAIN" in text and "SCRAM-SHA-512" in text, text
