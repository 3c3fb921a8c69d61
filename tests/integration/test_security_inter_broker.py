"""A 3-node KRaft cluster whose own traffic is authenticated: the controller listener is
SASL_PLAINTEXT and the inter-broker listener SASL_SSL (PLAIN, credentials from
`listener.name.<l>.plain.sasl.jaas.config`), or both are SSL with client certificates.
The quorum forms (Raft over the secured controller listener), requests sent to a
non-controller node are forwarded, and followers replicate over the secured inter-broker
listener until the ISR is full; a node whose inter-node password is wrong stays out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from support_broker import free_port
from support_clients import consume_n, produce_all
from support_kraft import KraftCluster
from support_security import TestCA

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="node" password="{password}" user_node="node-secret";'
)


def secure_node_settings(
    ca: TestCA, node_port: int, controller_port: int, password: str, *, mtls: bool = False
) -> list[str]:
    internal = free_port()
    keystore, _, _ = ca.issue(f"node-{node_port}", "localhost", server=True)
    jaas = JAAS.format(password=password)
    tls = [
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca.ca_file}",
    ]
    if mtls:  # Strimzi's way: inter-node listeners on TLS with client certificates
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{node_port},INTERNAL://127.0.0.1:{internal},"
            f"CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node_port},"
            f"INTERNAL://127.0.0.1:{internal}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name=INTERNAL",
            "listener.name.internal.ssl.client.auth=required",
            "listener.name.controller.ssl.client.auth=required",
            *tls,
        ]
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{node_port},INTERNAL://127.0.0.1:{internal},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{node_port},INTERNAL://127.0.0.1:{internal}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,"
        "CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=INTERNAL",
        "sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        f"listener.name.internal.plain.sasl.jaas.config={jaas}",
        f"listener.name.controller.plain.sasl.jaas.config={jaas}",
        *tls,
    ]


def secured_cluster(
    root: Path, passwords: dict[int, str], reauth_ms: int = 0, *, mtls: bool = False
) -> KraftCluster:
    ca = TestCA.create(root / "tls")
    cluster = KraftCluster(root, 3, settings=[f"connections.max.reauth.ms={reauth_ms}"])
    for node_id, node in cluster.nodes.items():
        assert node.controller_port is not None
        password = passwords.get(node_id, "node-secret")
        node.overrides += secure_node_settings(
            ca, node.port, node.controller_port, password, mtls=mtls
        )
    return cluster


@pytest.fixture(
    params=[(0, False), (4000, False), (0, True)],
    ids=["sasl-unlimited-sessions", "sasl-4s-sessions", "mtls"],
)
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KraftCluster]:
    """With connections.max.reauth.ms=4000 every inter-node connection outlives its SASL
    session several times during the test: nodes must reconnect in time. With mTLS the
    nodes present their certificates on the controller and inter-broker listeners."""
    reauth_ms, mtls = request.param
    cluster = secured_cluster(tmp_path, {}, reauth_ms=reauth_ms, mtls=mtls)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_quorum_forwarding_and_replication_authenticate(cluster: KraftCluster) -> None:
    admin = cluster.admin(*cluster.broker_ids)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # every broker registered through the quorum
        if len(admin.list_topics(timeout=10).brokers) == 3:
            break
        time.sleep(0.5)
    assert len(admin.list_topics(timeout=10).brokers) == 3
    # sent to every node: two of them forward CreateTopics to the active controller
    for node_id in cluster.broker_ids:
        topic = f"inter-{node_id}"
        client = cluster.admin(node_id)
        client.create_topics([NewTopic(topic, 1, 3)])[topic].result(timeout=60)
    values = [f"r{i}".encode() for i in range(50)]
    produce_all(cluster.bootstrap, "inter-1", values, acks="all")
    assert cluster.wait_full_isr("inter-1", timeout=90)  # followers fetched over SASL_SSL
    assert [m.value() for m in consume_n(cluster.bootstrap, "inter-1", 50)] == values
    time.sleep(10)  # sessions (if limited) end; the cluster keeps working
    more = [f"s{i}".encode() for i in range(20)]
    produce_all(cluster.bootstrap, "inter-2", more, acks="all")
    assert cluster.wait_full_isr("inter-2", timeout=60)
    assert [m.value() for m in consume_n(cluster.bootstrap, "inter-2", 20)] == more
    for node in cluster.nodes.values():
        log = node.log()
        assert "node-secret" not in log
        assert "cannot authenticate" not in log


def test_node_with_wrong_inter_node_password_is_refused(tmp_path: Path) -> None:
    cluster = secured_cluster(tmp_path, {3: "wrong-secret"})
    for node in cluster.nodes.values():
        node.launch()
    try:
        for node_id in (1, 2):
            cluster.nodes[node_id].wait_listening(timeout=120)
        admin = cluster.admin(1, 2)
        deadline = time.monotonic() + 60
        brokers: dict[int, object] = {}
        while time.monotonic() < deadline and len(brokers) < 2:
            brokers = admin.list_topics(timeout=10).brokers
            time.sleep(0.5)
        assert set(brokers) == {1, 2}  # nodes 1 and 2 form a quorum by themselves
        time.sleep(5)
        assert 3 not in admin.list_topics(timeout=10).brokers
        log1 = cluster.nodes[1].log()
        assert "authentication failed on listener CONTROLLER" in log1
        assert "wrong-secret" not in log1 and "wrong-secret" not in cluster.nodes[3].log()
    finally:
        cluster.stop()
