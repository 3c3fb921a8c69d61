"""TLS with a test CA made here: mTLS on the SSL listener (ssl.client.auth=required),
the principal from the certificate subject through ssl.principal.mapping.rules (seen by
the ACL authorizer), clients without a certificate or with an expired one refused at the
handshake, and the broker's certificate rotated on disk without a restart."""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from cryptography import x509
from kio.index import load_request_schema

from millrace_broker.protocol.codec import encode_request
from support_security import SecureBroker, librdkafka_conf, secure_broker

STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    extra = [f"authorizer.class.name={STANDARD}", "super.users=User:admin"]
    with secure_broker(tmp_path_factory.mktemp("tls"), extra) as broker:
        yield broker
    assert "Traceback" not in broker.broker.log()


def admin(sb: SecureBroker) -> AdminClient:
    return AdminClient(
        librdkafka_conf(
            sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
        )
    )


def ssl_conf(sb: SecureBroker, cert: Path | None, key: Path | None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": sb.ssl_bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": str(sb.ca.ca_file),
        "message.timeout.ms": 10000,
    }
    if cert is not None and key is not None:
        conf["ssl.certificate.location"] = str(cert)
        conf["ssl.key.location"] = str(key)
    return conf


def produce_one(conf: dict[str, Any], topic: str) -> tuple[KafkaError | None, list[KafkaError]]:
    outcome: list[KafkaError | None] = []
    errors: list[KafkaError] = []
    producer = Producer({**conf, "error_cb": errors.append})
    producer.produce(topic, b"v", on_delivery=lambda err, _msg: outcome.append(err))
    deadline = time.monotonic() + 30
    while not outcome and time.monotonic() < deadline:
        producer.poll(0.2)
    producer.flush(5)
    assert outcome, "no delivery report within 30 s"
    return outcome[0], errors


def test_mtls_principal_from_certificate_subject(sb: SecureBroker) -> None:
    """RULE:^CN=([a-z0-9]+),OU=Apps,.*$/$1/L maps CN=app1,OU=Apps,... to User:app1: ACLs
    for User:app1 let it write; another certificate (User:app2) is refused."""
    client = admin(sb)
    topic = f"app1-{time.monotonic_ns()}"
    client.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
    grants = [
        AclBinding(
            ResourceType.TOPIC,
            "app1-",
            ResourcePatternType.PREFIXED,
            "User:app1",
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    for future in client.create_acls(grants).values():
        future.result(timeout=30)
    _, cert1, key1 = sb.ca.issue("app1", "APP1", ou="Apps")  # L lower-cases: User:app1
    _, cert2, key2 = sb.ca.issue("app2", "app2", ou="Apps")
    error, _ = produce_one(ssl_conf(sb, cert1, key1), topic)
    assert error is None
    error, _ = produce_one(ssl_conf(sb, cert2, key2), topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def raw_tls_api_versions(
    sb: SecureBroker, cert: Path | None, key: Path | None, *, port: int | None = None
) -> bytes:
    """Handshake and one ApiVersions round trip; raises ssl/OS errors, b"" when closed."""
    ctx = ssl.create_default_context(cafile=str(sb.ca.ca_file))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    with (
        socket.create_connection(("127.0.0.1", port or sb.ssl_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        frame = encode_request(load_request_schema(18, 0)(), correlation_id=5)
        tls.sendall(struct.pack(">i", len(frame)) + frame)
        return tls.recv(4)


def refused(sb: SecureBroker, cert: Path | None, key: Path | None) -> bool:
    """The TLS handshake fails, or (TLS 1.3: the client's side completes before the
    server checks the certificate) the connection closes without an answer."""
    try:
        return raw_tls_api_versions(sb, cert, key) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def test_client_certificate_required(sb: SecureBroker) -> None:
    assert refused(sb, None, None)
    error, errors = produce_one(ssl_conf(sb, None, None), "any")
    assert error is not None
    assert error.code() == KafkaError._MSG_TIMED_OUT
    codes = {KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
    assert errors and all(e.code() in codes for e in errors), errors


def test_expired_client_certificate_fails_the_handshake(sb: SecureBroker) -> None:
    _, cert, key = sb.ca.issue("old", "app1", ou="Apps", expired=True)
    assert refused(sb, cert, key)
    _, good_cert, good_key = sb.ca.issue("fresh", "app1", ou="Apps")
    assert len(raw_tls_api_versions(sb, good_cert, good_key)) == 4  # the broker still serves


def test_certificate_signed_by_another_ca_is_refused(sb: SecureBroker, tmp_path: Path) -> None:
    from support_security import TestCA

    other = TestCA.create(tmp_path / "other-ca", "Other CA")
    _, cert, key = other.issue("stranger", "app1", ou="Apps")
    assert refused(sb, cert, key)


def served_certificate(port: int) -> x509.Certificate:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_rotated_certificate_is_served_to_new_connections(sb: SecureBroker) -> None:
    keystore = Path(
        next(
            o.split("=", 1)[1]
            for o in sb.broker.overrides
            if o.startswith("ssl.keystore.location=")
        )
    )
    before = served_certificate(sb.sasl_ssl_port)
    # An established SASL_SSL client keeps working across the rotation.
    conf = librdkafka_conf(
        sb.sasl_ssl_bootstrap, "SASL_SSL", "PLAIN", "admin", "admin-secret", sb.ca
    )
    producer = Producer(conf)
    producer.produce("rotation", b"before")
    assert producer.flush(30) == 0
    rotated, _, _ = sb.ca.issue("broker-rotated", "localhost", server=True)
    staged = keystore.with_suffix(".new")
    staged.write_bytes(rotated.read_bytes())
    os.replace(staged, keystore)  # atomic, as cert-manager and friends do
    deadline = time.monotonic() + 20
    after = served_certificate(sb.sasl_ssl_port)
    while after.serial_number == before.serial_number and time.monotonic() < deadline:
        time.sleep(0.2)
        after = served_certificate(sb.sasl_ssl_port)
    assert after.serial_number != before.serial_number
    assert after.not_valid_before_utc >= before.not_valid_before_utc
    producer.produce("rotation", b"after")
    assert producer.flush(30) == 0
    # and new clients verify the new certificate against the same CA
    fresh = Producer(conf)
    fresh.produce("rotation", b"new-client")
    assert fresh.flush(30) == 0
    assert "TLS key material reloaded" in sb.broker.log()


def test_half_written_keystore_keeps_the_previous_certificate(sb: SecureBroker) -> None:
    keystore = Path(
        next(
            o.split("=", 1)[1]
            for o in sb.broker.overrides
            if o.startswith("ssl.keystore.location=")
        )
    )
    good = keystore.read_bytes()
    before = served_certificate(sb.sasl_ssl_port)
    keystore.write_bytes(good[: len(good) // 2])  # a rotation caught mid-write
    try:
        assert served_certificate(sb.sasl_ssl_port).serial_number == before.serial_number
    finally:
        keystore.write_bytes(good)
    assert "do not load yet" in sb.broker.log()


def grant_app1(sb: SecureBroker, topic: str) -> None:
    client = admin(sb)
    client.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
    grants = [
        AclBinding(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            "User:app1",
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.READ)
    ]
    for future in client.create_acls(grants).values():
        future.result(timeout=30)


def test_kafka_python_mtls(sb: SecureBroker) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition

    topic = f"kp-mtls-{time.monotonic_ns()}"
    grant_app1(sb, topic)
    _, cert, key = sb.ca.issue("kp-app1", "app1", ou="Apps")
    conf = {
        "bootstrap_servers": sb.ssl_bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": str(sb.ca.ca_file),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }
    producer = KafkaProducer(**conf)
    producer.send(topic, b"over-mtls").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(**conf, consumer_timeout_ms=15000)
    consumer.assign([KTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    assert [r.value for r in consumer][:1] == [b"over-mtls"]
    consumer.close()


def test_aiokafka_mtls(sb: SecureBroker) -> None:
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    topic = f"aio-mtls-{time.monotonic_ns()}"
    grant_app1(sb, topic)
    _, cert, key = sb.ca.issue("aio-app1", "app1", ou="Apps")

    async def main() -> int:
        context = create_ssl_context(
            cafile=str(sb.ca.ca_file), certfile=str(cert), keyfile=str(key)
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=sb.ssl_bootstrap, security_protocol="SSL", ssl_context=context
        )
        await producer.start()
        try:
            metadata = await producer.send_and_wait(topic, b"over-mtls")
            return int(metadata.offset)
        finally:
            await producer.stop()

    assert asyncio.run(main()) == 0
