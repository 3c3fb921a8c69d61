"""Reconcile passes end to end with an in-memory Kubernetes and real broker processes."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

from fake_kube import FakeKube, node, storage_class

from millrace_operator.kafkaclient import KafkaConnection
from millrace_operator.plans.cluster import ApplyObjects
from millrace_operator.plans.common import Blocked
from millrace_operator.plans.topics import CreateTopic
from millrace_operator.reconcile.cluster import reconcile_cluster
from millrace_operator.reconcile.topic import delete_topic, reconcile_topic
from support_broker import BrokerProcess

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NS = "kafka"


def world() -> FakeKube:
    return FakeKube(
        node("n1", "zone-a"),
        node("n2", "zone-b"),
        node("n3", "zone-c"),
        storage_class("standard", default=True),
    )


def unreachable(_: str) -> KafkaConnection:
    return KafkaConnection("127.0.0.1", 1, timeout=0.5)


def cluster_pass(
    kube: FakeKube, spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1
) -> Any:
    ids = (f"id{i}" for i in itertools.count())
    return asyncio.run(
        reconcile_cluster(
            kube,
            kube,
            name="demo",
            namespace=NS,
            uid="uid-1",
            generation=generation,
            spec=spec,
            status=status or {},
            now=NOW,
            connect=unreachable,
            new_id=lambda: next(ids),
        )
    )


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_first_pass_creates_everything_then_waits_for_brokers() -> None:
    kube = world()
    first = cluster_pass(kube, {"replicas": 3})
    assert isinstance(first.step, ApplyObjects)
    assert len(kube.applied) == 12
    assert conditions(first.status)["Ready"] == ("False", "Creating")
    assert first.status["zones"] == ["zone-a", "zone-b", "zone-c"]
    assert first.status["clusterId"] == "id0"
    assert first.events[0][:2] == ("Normal", "Applied")
    # second pass: nothing to apply; identity read back from the ConfigMap, not re-created
    second = cluster_pass(kube, {"replicas": 3}, first.status)
    assert second.step is None
    assert len(kube.applied) == 12
    assert second.status["clusterId"] == "id0"
    assert conditions(second.status)["Ready"] == ("False", "BrokersNotReady")
    cm = kube.objects[("ConfigMap", NS, "demo-config")]
    assert cm["data"]["cluster.id"] == "id0"


def test_restarted_operator_resumes_without_status() -> None:
    kube = world()
    cluster_pass(kube, {"replicas": 3})
    again = cluster_pass(kube, {"replicas": 3}, status={})  # status lost / operator restarted
    assert again.step is None
    assert again.status["clusterId"] == "id0"


def test_missing_storage_class_creates_nothing() -> None:
    kube = world()
    out = cluster_pass(kube, {"storage": {"storageClassName": "fast"}})
    assert isinstance(out.step, Blocked)
    assert kube.applied == []
    ready = conditions(out.status)["Ready"]
    assert ready == ("False", "StorageClassNotFound")
    message = next(c["message"] for c in out.status["conditions"] if c["type"] == "Ready")
    assert "spec.storage.storageClassName" in message


def test_spec_the_api_server_should_have_rejected() -> None:
    kube = world()
    out = cluster_pass(kube, {"controllers": {"count": 2}})  # CEL rejects it; here: in Python
    assert kube.applied == []
    assert conditions(out.status)["Ready"][1] in ("EvenControllerCount", "InvalidSpec")
    bad = cluster_pass(kube, {"config": {"node.id": "5"}})
    assert conditions(bad.status)["Ready"] == ("False", "InvalidSpec")
    assert "set by the operator" in bad.status["conditions"][0]["message"]


def test_scale_in_blocked_after_creation() -> None:
    kube = world()
    first = cluster_pass(kube, {"replicas": 6})
    for (kind, _, _), obj in list(kube.objects.items()):
        if kind == "StatefulSet":
            obj.setdefault("status", {})["updateRevision"] = "r1"
    out = cluster_pass(kube, {"replicas": 3}, first.status, generation=2)
    assert isinstance(out.step, Blocked) and out.step.reason == "ScaleInNotSupported"


def topic_world(broker: BrokerProcess) -> FakeKube:
    cluster = {
        "kind": "Cluster",
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {"replicas": 1},
        "status": {"readyBrokers": 1, "bootstrap": f"127.0.0.1:{broker.port}"},
    }
    return FakeKube(cluster)


def topic(name: str, created: str, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Topic",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created},
        "spec": {"clusterRef": {"name": "demo"}, "replicationFactor": 1, **spec},
    }


def topic_pass(
    kube: FakeKube, obj: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1
) -> Any:
    return asyncio.run(
        reconcile_topic(
            kube,
            name=obj["metadata"]["name"],
            namespace=NS,
            created=obj["metadata"]["creationTimestamp"],
            generation=generation,
            spec=obj["spec"],
            status=status or {},
            now=NOW,
        )
    )


def test_topic_create_sync_conflict_and_delete(broker: BrokerProcess) -> None:
    kube = topic_world(broker)
    first = topic(
        "rc-events", "2026-01-01T00:00:00Z", partitions=2, config={"retention.ms": "1000"}
    )
    kube.put(first)
    out = topic_pass(kube, first)
    assert isinstance(out.step, CreateTopic)
    out2 = topic_pass(kube, first, out.status)
    assert out2.step is None
    assert conditions(out2.status)["Ready"] == ("True", "InSync")
    assert out2.status["partitions"] == 2 and out2.status["topicId"]
    assert out2.status["config"] == {"retention.ms": "1000"}

    newer = topic("rc-events-copy", "2026-02-01T00:00:00Z", topicName="rc-events")
    kube.put(newer)
    clash = topic_pass(kube, newer)
    assert conditions(clash.status)["Ready"] == ("False", "TopicNameConflict")
    assert "kafka/rc-events" in clash.status["conditions"][0]["message"]
    # the older resource is unaffected
    assert topic_pass(kube, first, out2.status).step is None

    # deleting the newer one leaves the topic; deleting the owner deletes it
    assert (
        asyncio.run(
            delete_topic(
                kube,
                name="rc-events-copy",
                namespace=NS,
                created="2026-02-01T00:00:00Z",
                spec=newer["spec"],
            )
        )
        is None
    )
    kube.objects.pop(("Topic", NS, "rc-events-copy"))
    step = asyncio.run(
        delete_topic(
            kube, name="rc-events", namespace=NS, created="2026-01-01T00:00:00Z", spec=first["spec"]
        )
    )
    assert step is not None and not isinstance(step, Blocked)
    again = topic_pass(kube, first, {})
    assert isinstance(again.step, CreateTopic)  # gone, so a new pass would re-create it


def test_topic_for_missing_cluster_and_rf_too_high(broker: BrokerProcess) -> None:
    kube = topic_world(broker)
    orphan = topic("rc-orphan", "t", clusterRef={"name": "nope"})
    out = topic_pass(kube, orphan)
    assert conditions(out.status)["Ready"] == ("False", "ClusterNotFound")
    big = topic("rc-big", "t", replicationFactor=3)
    out = topic_pass(kube, big)
    assert conditions(out.status)["Ready"] == ("False", "ReplicationFactorTooHigh")


def test_storage_change_after_creation_is_blocked() -> None:
    kube = world()
    first = cluster_pass(kube, {"storage": {"size": "1Gi"}})
    out = cluster_pass(kube, {"storage": {"size": "2Gi"}}, first.status, generation=2)
    assert isinstance(out.step, Blocked) and out.step.reason == "StorageChangeNotSupported"
    assert "restore spec.storage.size" in out.step.message


def test_topic_delete_waits_for_brokers_and_says_how_to_release() -> None:
    kube = FakeKube(
        {
            "kind": "Cluster",
            "metadata": {"name": "demo", "namespace": NS},
            "spec": {"replicas": 3},
            "status": {"readyBrokers": 0, "bootstrap": "nowhere:9092"},
        }
    )
    obj = topic("rc-stuck", "t")
    step = asyncio.run(
        delete_topic(
            kube, name="rc-stuck", namespace=NS, created="t", spec=obj["spec"], connect=unreachable
        )
    )
    assert isinstance(step, Blocked) and "deletionPolicy: Retain" in step.message
    retained = topic("rc-kept", "t", deletionPolicy="Retain")
    assert (
        asyncio.run(
            delete_topic(
                kube,
                name="rc-kept",
                namespace=NS,
                created="t",
                spec=retained["spec"],
                connect=unreachable,
            )
        )
        is None
    )


def test_blocked_event_posted_once_per_reason() -> None:
    kube = world()
    spec = {"storage": {"storageClassName": "fast"}}
    first = cluster_pass(kube, spec)
    assert [e[1] for e in first.events] == ["StorageClassNotFound"]
    again = cluster_pass(kube, spec, first.status)
    assert again.events == []
