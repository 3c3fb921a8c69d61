"""Apache Kafka's kafka-configs manages SCRAM users of a Millrace broker (over SASL), and
the new credential logs in with Apache Kafka's own console producer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaref import kafka_cli
from support_clients import consume_n
from support_security import SecureBroker, librdkafka_conf, secure_broker

pytestmark = pytest.mark.kafka_cli


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("cli")) as broker:
        yield broker
    assert "carol-cli-secret" not in broker.broker.log()


def client_properties(path: Path, mechanism: str, user: str, password: str) -> Path:
    module = (
        "org.apache.kafka.common.security.plain.PlainLoginModule"
        if mechanism == "PLAIN"
        else "org.apache.kafka.common.security.scram.ScramLoginModule"
    )
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={mechanism}\n"
        f'sasl.jaas.config={module} required username="{user}" password="{password}";\n'
    )
    return path


def test_kafka_configs_scram_users(sb: SecureBroker, tmp_path: Path) -> None:
    admin = client_properties(tmp_path / "admin.properties", "PLAIN", "admin", "admin-secret")
    base = ["--bootstrap-server", sb.sasl_bootstrap, "--command-config", str(admin)]
    users = ["--entity-type", "users", "--entity-name", "carol"]
    for scram in (
        "SCRAM-SHA-512=[iterations=8192,password=carol-cli-secret]",
        "SCRAM-SHA-256=[password=carol-cli-secret]",
    ):
        kafka_cli("kafka-configs", *base, "--alter", "--add-config", scram, *users, check=True)
    # as in Kafka, one request may alter a user's credentials only once
    both = kafka_cli(
        "kafka-configs",
        *base,
        "--alter",
        "--add-config",
        "SCRAM-SHA-512=[password=x],SCRAM-SHA-256=[password=y]",
        *users,
    )
    assert both.returncode != 0 and "altered twice" in both.stdout + both.stderr
    described = kafka_cli("kafka-configs", *base, "--describe", *users, check=True).stdout
    assert "SCRAM-SHA-512=iterations=8192" in described, described
    assert "SCRAM-SHA-256=iterations=4096" in described, described
    assert "carol-cli-secret" not in described

    # carol logs in with Kafka's own console producer (SCRAM-SHA-512)
    carol = client_properties(
        tmp_path / "carol.properties", "SCRAM-SHA-512", "carol", "carol-cli-secret"
    )
    kafka_cli(
        "kafka-console-producer",
        "--bootstrap-server",
        sb.sasl_bootstrap,
        "--producer.config",
        str(carol),
        "--topic",
        "carol-topic",
        input="from-carol\n",
        check=True,
    )
    conf = librdkafka_conf(
        sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
    )
    (msg,) = consume_n(
        sb.sasl_bootstrap,
        "carol-topic",
        1,
        **{k.replace(".", "_"): v for k, v in conf.items() if k != "bootstrap.servers"},
    )
    assert msg.value() == b"from-carol"

    kafka_cli(
        "kafka-configs", *base, "--alter", "--delete-config", "SCRAM-SHA-256", *users, check=True
    )
    described = kafka_cli("kafka-configs", *base, "--describe", *users, check=True).stdout
    assert "SCRAM-SHA-256" not in described and "SCRAM-SHA-512" in described, described


def test_java_clients_over_sasl_ssl_and_mtls(sb: SecureBroker, tmp_path: Path) -> None:
    """Java's TLS stack (Kafka's console tools with PEM stores) against Millrace's TLS
    listeners: SASL_SSL with SCRAM, and SSL with a client certificate."""
    sasl_ssl = tmp_path / "sasl-ssl.properties"
    sasl_ssl.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="alice" password="alice-secret";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={sb.ca.ca_file}\n"
    )
    kafka_cli(
        "kafka-console-producer",
        "--bootstrap-server",
        sb.sasl_ssl_bootstrap,
        "--producer.config",
        str(sasl_ssl),
        "--topic",
        "java-tls",
        input="over-sasl-ssl\n",
        check=True,
    )
    keystore, _, _ = sb.ca.issue("java-client", "app1", ou="Apps")
    mtls = tmp_path / "mtls.properties"
    mtls.write_text(
        "security.protocol=SSL\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={sb.ca.ca_file}\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={keystore}\n"
    )
    kafka_cli(
        "kafka-console-producer",
        "--bootstrap-server",
        sb.ssl_bootstrap,
        "--producer.config",
        str(mtls),
        "--topic",
        "java-tls",
        input="over-mtls\n",
        check=True,
    )
    conf = librdkafka_conf(
        sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
    )
    options = {k.replace(".", "_"): v for k, v in conf.items() if k != "bootstrap.servers"}
    got = consume_n(sb.sasl_bootstrap, "java-tls", 2, **options)
    assert sorted(m.value() for m in got) == [b"over-mtls", b"over-sasl-ssl"]
