"""ACLs with real clients: the StandardAuthorizer on a SASL broker (admin is a super
user, alice is not), ACLs managed with Apache Kafka's kafka-acls and confluent-kafka's
admin API, enforced on produce, consume and admin calls; refusals are in the audit log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kafkaref import kafka_cli
from support_security import SecureBroker, librdkafka_conf, secure_broker

STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def conf(sb: SecureBroker, user: str) -> dict[str, str]:
    return librdkafka_conf(
        sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", user, f"{user}-secret", sb.ca
    )


def admin(sb: SecureBroker, user: str = "admin") -> AdminClient:
    return AdminClient(conf(sb, user))


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    extra = [f"authorizer.class.name={STANDARD}", "super.users=User:admin"]
    with secure_broker(tmp_path_factory.mktemp("acls"), extra) as broker:
        yield broker


def create_topics(sb: SecureBroker, *names: str) -> None:
    client = admin(sb)  # the client must outlive its futures
    futures = client.create_topics([NewTopic(n, 1, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)


def produce_one(sb: SecureBroker, user: str, topic: str) -> KafkaError | None:
    """Produce one record as `user`; the delivery error (None when delivered)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf(sb, user), "message.timeout.ms": 10000})
    producer.produce(topic, b"v", on_delivery=lambda err, _msg: outcome.append(err))
    deadline = time.monotonic() + 30
    while not outcome and time.monotonic() < deadline:
        producer.poll(0.2)
    producer.flush(5)
    assert outcome, "no delivery report within 30 s"
    return outcome[0]


def end_offset(sb: SecureBroker, topic: str) -> int:
    consumer = Consumer({**conf(sb, "admin"), "group.id": "probe-" + uuid.uuid4().hex[:6]})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=15)
        return int(high)
    finally:
        consumer.close()


def acls_cli(sb: SecureBroker, tmp_path: Path, *args: str) -> str:
    props = tmp_path / "admin.properties"
    props.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="admin" password="admin-secret";\n'
    )
    done = kafka_cli(
        "kafka-acls",
        "--bootstrap-server",
        sb.sasl_bootstrap,
        "--command-config",
        str(props),
        *args,
        check=True,
    )
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_no_acl_means_nothing_is_allowed(sb: SecureBroker) -> None:
    topic = unique("locked-")
    create_topics(sb, topic)
    err = produce_one(sb, "alice", topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert end_offset(sb, topic) == 0
    # Listing topics shows none of them; creating one is refused.
    listed = admin(sb, "alice").list_topics(timeout=15)
    assert topic not in listed.topics
    alice = admin(sb, "alice")
    futures = alice.create_topics([NewTopic(unique("mine-"), 1, 1)])
    with pytest.raises(KafkaException) as refused:
        next(iter(futures.values())).result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Reading is refused too.
    consumer = Consumer({**conf(sb, "alice"), "group.id": unique("g-")})
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        error = _first_error(consumer, timeout=20)
    finally:
        consumer.close()
    assert error is not None
    assert error.code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,  # librdkafka asks for the coordinator first
    )


def _first_error(consumer: Consumer, *, timeout: float) -> KafkaError | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
            return msg.error()  # type: ignore[no-any-return]
    return None


def test_prefixed_write_grant_with_kafka_acls(sb: SecureBroker, tmp_path: Path) -> None:
    prefix = unique("pay-") + "-"
    mine, other = prefix + "orders", unique("other-")
    create_topics(sb, mine, other)
    out = acls_cli(
        sb,
        tmp_path,
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Write",
        "--topic",
        prefix,
        "--resource-pattern-type",
        "prefixed",
    )
    assert "ALLOW" in out and prefix in out
    listed = acls_cli(
        sb, tmp_path, "--list", "--topic", prefix, "--resource-pattern-type", "prefixed"
    )
    assert "principal=User:alice" in listed and "operation=WRITE" in listed

    assert produce_one(sb, "alice", mine) is None
    assert end_offset(sb, mine) == 1
    err = produce_one(sb, "alice", other)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert end_offset(sb, other) == 0

    acls_cli(
        sb,
        tmp_path,
        "--remove",
        "--force",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Write",
        "--topic",
        prefix,
        "--resource-pattern-type",
        "prefixed",
    )
    listed = acls_cli(
        sb, tmp_path, "--list", "--topic", prefix, "--resource-pattern-type", "prefixed"
    )
    assert "User:alice" not in listed
    err = produce_one(sb, "alice", mine)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert end_offset(sb, mine) == 1


def _binding(name: str, pattern: Any, op: Any, perm: Any) -> AclBinding:
    return AclBinding(ResourceType.TOPIC, name, pattern, "User:alice", "*", op, perm)


def test_deny_overrides_allow(sb: SecureBroker) -> None:
    prefix = unique("team-") + "-"
    open_topic, secret = prefix + "open", prefix + "secret"
    create_topics(sb, open_topic, secret)
    client = admin(sb)
    bindings = [
        _binding(prefix, ResourcePatternType.PREFIXED, AclOperation.WRITE, AclPermissionType.ALLOW),
        _binding(secret, ResourcePatternType.LITERAL, AclOperation.WRITE, AclPermissionType.DENY),
    ]
    for future in client.create_acls(bindings).values():
        future.result(timeout=30)
    described = client.describe_acls(
        AclBindingFilter(
            ResourceType.TOPIC,
            secret,
            ResourcePatternType.MATCH,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(timeout=30)
    assert {b.permission_type for b in described} == {
        AclPermissionType.ALLOW,
        AclPermissionType.DENY,
    }
    assert produce_one(sb, "alice", open_topic) is None
    err = produce_one(sb, "alice", secret)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert end_offset(sb, secret) == 0
    assert "is Denied operation = WRITE" in sb.broker.log()
    assert f"Topic:LITERAL:{secret}" in sb.broker.log()


def test_super_user_can_do_everything(sb: SecureBroker) -> None:
    topic = unique("admin-")
    create_topics(sb, topic)
    assert produce_one(sb, "admin", topic) is None
    # A DENY for everyone does not bind a super user.
    deny_all = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        "User:*",
        "*",
        AclOperation.ALL,
        AclPermissionType.DENY,
    )
    client = admin(sb)
    for future in client.create_acls([deny_all]).values():
        future.result(timeout=30)
    assert produce_one(sb, "admin", topic) is None
    assert end_offset(sb, topic) == 2
    # alice may not manage ACLs.
    alice = admin(sb, "alice")
    futures = alice.create_acls(
        [_binding(topic, ResourcePatternType.LITERAL, AclOperation.READ, AclPermissionType.ALLOW)]
    )
    with pytest.raises(KafkaException) as refused:
        next(iter(futures.values())).result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_granted_consumer_group_reads(sb: SecureBroker) -> None:
    topic, group = unique("feed-"), unique("readers-")
    create_topics(sb, topic)
    assert produce_one(sb, "admin", topic) is None
    bindings = [
        _binding(topic, ResourcePatternType.LITERAL, AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(
            ResourceType.GROUP,
            group,
            ResourcePatternType.LITERAL,
            "User:alice",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        ),
    ]
    client = admin(sb)
    for future in client.create_acls(bindings).values():
        future.result(timeout=30)
    consumer = Consumer({**conf(sb, "alice"), "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    try:
        while not got and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert got == [b"v"]


def test_forwarded_requests_are_authorized_as_the_client(tmp_path: Path) -> None:
    """A dedicated controller and a SASL broker: admin calls the broker forwards carry the
    client's principal to the controller (Envelope), and ACLs the controller commits reach
    the broker through the metadata log."""
    from support_broker import free_port
    from support_kraft import KraftCluster
    from support_security import PLAIN_USERS, jaas_plain

    cluster = KraftCluster(
        tmp_path,
        size=1,
        dedicated=True,
        brokers=1,
        settings=[
            f"authorizer.class.name={STANDARD}",
            # brokers reach the controller listener (PLAINTEXT) as User:ANONYMOUS
            "super.users=User:admin;User:ANONYMOUS",
        ],
    )
    broker = cluster.nodes[2]
    broker.port = free_port()
    listener = f"SASL_PLAINTEXT://127.0.0.1:{broker.port}"
    broker.overrides += [
        f"listeners={listener}",
        f"advertised.listeners={listener}",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.enabled.mechanisms=PLAIN",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas_plain(PLAIN_USERS)}",
    ]
    cluster.start()
    try:
        plain = {
            "bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
        }
        as_admin = AdminClient({**plain, "sasl.username": "admin", "sasl.password": "admin-secret"})
        as_alice = AdminClient({**plain, "sasl.username": "alice", "sasl.password": "alice-secret"})
        refused = as_alice.create_topics([NewTopic(unique("alice-"), 1, 1)])
        with pytest.raises(KafkaException) as failure:
            next(iter(refused.values())).result(timeout=60)
        assert failure.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

        prefix = unique("granted-") + "-"
        grant = AclBinding(
            ResourceType.TOPIC,
            prefix,
            ResourcePatternType.PREFIXED,
            "User:alice",
            "*",
            AclOperation.CREATE,
            AclPermissionType.ALLOW,
        )
        for future in as_admin.create_acls([grant]).values():
            future.result(timeout=60)
        deadline = time.monotonic() + 60
        created = False
        while not created and time.monotonic() < deadline:  # the ACL reaches the broker
            future = next(iter(as_alice.create_topics([NewTopic(prefix + "t", 1, 1)]).values()))
            try:
                future.result(timeout=60)
                created = True
            except KafkaException as exc:
                assert exc.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
                time.sleep(0.5)
        assert created
        controller_log = cluster.nodes[1].log()
        assert "Principal = User:alice is Denied operation = CREATE" in controller_log
    finally:
        cluster.stop()


def test_an_unsupported_authorizer_fails_start_up(tmp_path: Path) -> None:
    from support_broker import BrokerProcess, free_port

    broker = BrokerProcess(
        tmp_path / "data",
        free_port(),
        ["authorizer.class.name=kafka.security.authorizer.AclAuthorizer"],
    )
    broker.launch()
    assert broker.process is not None
    assert broker.process.wait(timeout=60) == 2
    assert "use org.apache.kafka.metadata.authorizer.StandardAuthorizer" in broker.log()


def test_kafka_python_and_aiokafka_see_the_grants(sb: SecureBroker) -> None:
    """kafka-python (idempotent by default: WRITE on some topic suffices for its
    InitProducerId) and aiokafka write where granted and get TopicAuthorizationFailed
    elsewhere."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from kafka import KafkaProducer

    prefix = unique("py-") + "-"
    granted, other = prefix + "ok", unique("py-other-")
    create_topics(sb, granted, other)
    client = admin(sb)
    grant = _binding(
        prefix, ResourcePatternType.PREFIXED, AclOperation.WRITE, AclPermissionType.ALLOW
    )
    for future in client.create_acls([grant]).values():
        future.result(timeout=30)
    sasl = {
        "bootstrap_servers": sb.sasl_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "alice-secret",
    }
    producer = KafkaProducer(**sasl, max_block_ms=20000, request_timeout_ms=20000)
    try:
        producer.send(granted, b"kp").get(timeout=30)
        with pytest.raises(Exception) as refused:
            producer.send(other, b"kp").get(timeout=30)
        assert "TopicAuthorizationFailed" in type(refused.value).__name__ + repr(refused.value)
    finally:
        producer.close(timeout=10)

    async def with_aiokafka() -> None:
        aio = AIOKafkaProducer(**sasl, request_timeout_ms=20000)
        await aio.start()
        try:
            await aio.send_and_wait(granted, b"aio")
            with pytest.raises(Exception) as refused:
                await asyncio.wait_for(aio.send_and_wait(other, b"aio"), 60)
            assert "TopicAuthorizationFailed" in type(refused.value).__name__ + repr(refused.value)
        finally:
            await aio.stop()

    asyncio.run(with_aiokafka())
    assert end_offset(sb, granted) == 2 and end_offset(sb, other) == 0


def test_acls_survive_a_restart(tmp_path: Path) -> None:
    """ACLs live in the metadata log: after a restart they are listed and enforced."""
    extra = [f"authorizer.class.name={STANDARD}", "super.users=User:admin"]
    with secure_broker(tmp_path, extra) as broker:
        topic = unique("kept-")
        create_topics(broker, topic)
        client = admin(broker)
        grant = _binding(
            topic, ResourcePatternType.LITERAL, AclOperation.WRITE, AclPermissionType.ALLOW
        )
        for future in client.create_acls([grant]).values():
            future.result(timeout=30)
        del client
        assert broker.broker.stop() == 0
        broker.broker.start(timeout=60)
        client = admin(broker)
        listed = client.describe_acls(
            AclBindingFilter(
                ResourceType.ANY,
                None,
                ResourcePatternType.ANY,
                None,
                None,
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
        )
        assert [b.name for b in listed.result(timeout=30)] == [topic]
        assert produce_one(broker, "alice", topic) is None
        other = unique("not-granted-")
        create_topics(broker, other)
        err = produce_one(broker, "alice", other)
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_authorized_operations(sb: SecureBroker) -> None:
    """KIP-430: describe_cluster/describe_topics/describe_consumer_groups with
    include_authorized_operations list what the principal may do."""
    from confluent_kafka import TopicCollection

    topic = unique("ops-")
    create_topics(sb, topic)
    client = admin(sb)
    grant = _binding(topic, ResourcePatternType.LITERAL, AclOperation.READ, AclPermissionType.ALLOW)
    for future in client.create_acls([grant]).values():
        future.result(timeout=30)
    cluster_ops = client.describe_cluster(include_authorized_operations=True).result(timeout=30)
    assert AclOperation.ALTER in cluster_ops.authorized_operations  # a super user
    assert AclOperation.CLUSTER_ACTION in cluster_ops.authorized_operations
    alice = admin(sb, "alice")
    described = alice.describe_topics(TopicCollection([topic]), include_authorized_operations=True)[
        topic
    ].result(timeout=30)
    assert set(described.authorized_operations) == {AclOperation.READ, AclOperation.DESCRIBE}
    alice_cluster = alice.describe_cluster(include_authorized_operations=True).result(timeout=30)
    assert not alice_cluster.authorized_operations  # librdkafka asks through Metadata


def test_authorized_operations_without_an_authorizer(tmp_path: Path) -> None:
    """No authorizer: every supported operation is reported, as Kafka does."""
    from confluent_kafka import TopicCollection

    from support_broker import running_broker

    with running_broker(tmp_path / "data") as broker:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        topic = unique("open-")
        client.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
        described = client.describe_topics(
            TopicCollection([topic]), include_authorized_operations=True
        )[topic].result(timeout=30)
        assert AclOperation.WRITE in described.authorized_operations
        assert AclOperation.ALTER_CONFIGS in described.authorized_operations
        cluster = client.describe_cluster(include_authorized_operations=True).result(timeout=30)
        assert AclOperation.IDEMPOTENT_WRITE in cluster.authorized_operations


def test_transactions_need_write_on_the_transactional_id(sb: SecureBroker) -> None:
    topic, txn = unique("txn-topic-"), unique("txn-")
    create_topics(sb, topic)
    client = admin(sb)
    write_topic = _binding(
        topic, ResourcePatternType.LITERAL, AclOperation.WRITE, AclPermissionType.ALLOW
    )
    for future in client.create_acls([write_topic]).values():
        future.result(timeout=30)
    refused = Producer({**conf(sb, "alice"), "transactional.id": txn})
    with pytest.raises(KafkaException) as failure:
        refused.init_transactions(30)
    assert failure.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    write_txn = AclBinding(
        ResourceType.TRANSACTIONAL_ID,
        txn,
        ResourcePatternType.LITERAL,
        "User:alice",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    for future in client.create_acls([write_txn]).values():
        future.result(timeout=30)
    producer = Producer({**conf(sb, "alice"), "transactional.id": txn})
    producer.init_transactions(60)
    producer.begin_transaction()
    producer.produce(topic, b"in-txn")
    producer.commit_transaction(60)
    assert end_offset(sb, topic) == 2  # the record and the commit marker


def test_three_node_cluster_replicates_with_the_authorizer_on(tmp_path: Path) -> None:
    """Inter-broker traffic passes the gates as CLUSTER_ACTION (brokers on PLAINTEXT are
    User:ANONYMOUS, a super user here as Kafka requires): registration, heartbeats,
    follower fetches, ISR changes and forwarded admin requests all work."""
    from support_kraft import AckedProducer, KraftCluster, check_exactly_once, consume_everything

    cluster = KraftCluster(
        tmp_path,
        size=3,
        settings=[f"authorizer.class.name={STANDARD}", "super.users=User:ANONYMOUS"],
    )
    cluster.start()
    try:
        md = cluster.metadata()
        other = next(i for i in (1, 2, 3) if i != md.controller_id)
        client = cluster.admin(other)  # CreateTopics is forwarded in an envelope
        topic = NewTopic("guarded", 3, 3, config={"min.insync.replicas": "2"})
        client.create_topics([topic])["guarded"].result(60)
        assert cluster.wait_full_isr("guarded", timeout=60)
        producer = AckedProducer(cluster.bootstrap, "guarded", partitions=3, limit=1000)
        producer.start()
        producer.finish()
        assert producer.count() == 1000 and not producer.errors
        assert cluster.wait_full_isr("guarded", timeout=60)  # followers kept up
        got = consume_everything(cluster.bootstrap, "guarded", 3, 1000)
        assert check_exactly_once(producer.acked, got) == ""
        assert all("is Denied" not in n.log() for n in cluster.nodes.values())
    finally:
        cluster.stop()


def test_kafka_acls_producer_and_consumer_shortcuts(sb: SecureBroker, tmp_path: Path) -> None:
    """`kafka-acls --producer --idempotent` and `--consumer --group` create the ACLs
    Kafka's tool derives (topic WRITE/DESCRIBE/CREATE, cluster IDEMPOTENT_WRITE, topic
    READ/DESCRIBE and group READ); alice can then produce and consume as a group."""
    topic, group = unique("short-"), unique("short-group-")
    create_topics(sb, topic)
    acls_cli(
        sb,
        tmp_path,
        "--add",
        "--allow-principal",
        "User:alice",
        "--producer",
        "--idempotent",
        "--topic",
        topic,
    )
    acls_cli(
        sb,
        tmp_path,
        "--add",
        "--allow-principal",
        "User:alice",
        "--consumer",
        "--topic",
        topic,
        "--group",
        group,
    )
    listed = acls_cli(sb, tmp_path, "--list", "--principal", "User:alice")
    for expected in (
        "operation=IDEMPOTENT_WRITE",
        "resourceType=CLUSTER, name=kafka-cluster",
        f"resourceType=GROUP, name={group}",
    ):
        assert expected in listed, listed
    assert produce_one(sb, "alice", topic) is None
    consumer = Consumer({**conf(sb, "alice"), "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while not got and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    assert got == [b"v"]
