"""The operator end to end on kind: Helm chart, a three-zone Cluster, Topics, clients.

What a user does, in order, on one Cluster (module-scoped: it takes a minute or two to
come up, so the tests share it and run in file order; the last one deletes it):

1. `helm install` the chart; `kubectl apply` a Cluster of 3 brokers over zones a/b/c and
   3 dedicated controllers; it is Ready within READY_BOUND_S; each broker's rack (as
   clients see it) is the zone of the node its pod runs on.
2. A Topic (RF 3, min.insync.replicas 2): every partition has a replica in each zone; a
   confluent-kafka client pod produces with acks=all and reads everything back.
3. A dynamic topic config changed in the Topic is applied without restarting any pod;
   the same config changed behind the operator's back (admin client) is set back.
4. Invalid manifests are rejected by the API server naming the field; bad input the API
   server cannot judge (RF above the broker count, a missing StorageClass, a Topic of a
   missing Cluster) is reported as a condition with a reason, and nothing is created.
5. A broker pod deleted (SIGTERM) shuts down by itself well inside its grace period and
   comes back Ready with its data.
6. Deleting the Topic deletes the topic; deleting a Cluster deletes all it owns but its
   volumes by default, and those too with `deleteClaim: true` (as this Cluster says).

Bounds are generous (a 2-core machine shared with other work); measured durations are
printed (`-rA`) and recorded in docs/e2e-offline.md.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from millrace_e2e.cluster import Cluster
from millrace_e2e.kube import Kubectl, KubectlError, pod_ready
from millrace_e2e.operator import (
    GROUP,
    OPERATOR_NAMESPACE,
    RELEASE,
    PodClient,
    Stopwatch,
    condition,
    images,
    install_operator,
    is_true,
    pod_states,
    require_images,
)
from millrace_e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

ZONE = "topology.kubernetes.io/zone"
ZONES = ["zone-a", "zone-b", "zone-c"]
CLUSTER = "demo"
TOPIC = "orders"
READY_BOUND_S = 480  # apply -> Ready, images already on the nodes
SELECTOR = f"millrace.io/cluster={CLUSTER}"
GRACE_S = 90
OPERATOR_PODS = "app.kubernetes.io/name=millrace-operator"


def cluster_manifest(name: str = CLUSTER, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 3,
        "controllers": {"mode": "dedicated", "count": 3},
        "zones": {"names": ZONES},
        "storage": {"size": "1Gi", "deleteClaim": True},
        # small requests: six nodes share three kind workers on a 2-core machine
        "resources": {"requests": {"cpu": "50m", "memory": "192Mi"}, "limits": {"memory": "768Mi"}},
        "config": {"min.insync.replicas": "2", "auto.create.topics.enable": "false"},
        "template": {"terminationGracePeriodSeconds": GRACE_S},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": body,
    }


def topic_manifest(name: str = TOPIC, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clusterRef": {"name": CLUSTER},
        "partitions": 6,
        "replicationFactor": 3,
        "config": {"min.insync.replicas": "2", "retention.ms": "604800000"},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Topic",
        "metadata": {"name": name},
        "spec": body,
    }


def client_pod(bootstrap: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client", "labels": {"app": "client"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "client",
                    "image": images()["client"],
                    "imagePullPolicy": "IfNotPresent",
                    "env": [{"name": "BOOTSTRAP", "value": bootstrap}],
                }
            ],
        },
    }


def get(ns: Kubectl, kind: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = ns.get(f"{kind}.{GROUP}", name)
    return obj


def has_reason(reason: str, obj: dict[str, Any]) -> bool:
    return condition(obj, "Ready").get("reason") == reason


def status_summary(obj: dict[str, Any]) -> str:
    conds = obj.get("status", {}).get("conditions", [])
    return "; ".join(
        f"{c['type']}={c['status']} {c.get('reason')}: {c.get('message')}" for c in conds
    )


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def operator(e2e_cluster: Cluster, kube: Kubectl) -> Kubectl:
    """The chart from the working tree, installed (or upgraded) with Helm."""
    require_images(e2e_cluster, kube)
    # short periodic passes: drift is corrected at the next timer tick
    install_operator(
        e2e_cluster.kubeconfig, "reconcileInterval.topic=10", "reconcileInterval.cluster=15"
    )
    ns = kube.in_namespace(OPERATOR_NAMESPACE)
    ns.wait_pods_ready(OPERATOR_PODS, 1, timeout=180)
    return ns


@pytest.fixture(scope="module")
def ns(kube: Kubectl, operator: Kubectl) -> Iterator[Kubectl]:
    name = f"e2e-operator-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", name)
    namespaced = kube.in_namespace(name)
    try:
        yield namespaced
    finally:
        # Clusters first, while the operator runs (Kopf's finalizers need it)
        namespaced.run(
            "delete",
            f"clusters.{GROUP},topics.{GROUP}",
            "--all",
            "--wait=true",
            "--timeout=180s",
            check=False,
            timeout=200,
        )
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def ready_cluster(ns: Kubectl) -> dict[str, Any]:
    """The Cluster applied and Ready (the bound is asserted by the first test)."""
    clock = Stopwatch()
    ns.apply(cluster_manifest())
    obj: dict[str, Any] = wait_for(
        lambda: get(ns, "cluster", CLUSTER),
        lambda c: is_true(c, "Ready"),
        timeout=READY_BOUND_S,
        what=f"Cluster {CLUSTER} Ready",
        interval=3,
    )
    obj["_ready_after_s"] = round(clock.seconds())
    print(f"Cluster Ready {obj['_ready_after_s']}s after kubectl apply")
    return obj


@pytest.fixture(scope="module")
def client(ns: Kubectl, ready_cluster: dict[str, Any]) -> PodClient:
    ns.apply(client_pod(ready_cluster["status"]["bootstrap"]))
    ns.wait_pods_ready("app=client", 1, timeout=180)
    return PodClient(ns, "client")


@pytest.fixture(scope="module")
def topic(ns: Kubectl, client: PodClient) -> dict[str, Any]:
    ns.apply(topic_manifest())
    obj: dict[str, Any] = wait_for(
        lambda: get(ns, "topic", TOPIC),
        lambda t: is_true(t, "Ready"),
        timeout=180,
        what=f"Topic {TOPIC} Ready",
        interval=2,
    )
    return obj


# ---- 1. the Cluster ----------------------------------------------------------------------


def test_cluster_ready_with_racks_matching_zones(
    kube: Kubectl, ns: Kubectl, ready_cluster: dict[str, Any], client: PodClient
) -> None:
    status = ready_cluster["status"]
    assert ready_cluster["_ready_after_s"] <= READY_BOUND_S
    assert condition(ready_cluster, "Ready")["reason"] == "Ready", status_summary(ready_cluster)
    assert status["readyBrokers"] == 3 and status["zones"] == ZONES
    assert status["clusterId"] and status["bootstrap"].startswith(f"{CLUSTER}-bootstrap.")
    # every node (3 brokers + 3 controllers) ready and in its zone's node
    node_zone = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE) for n in kube.get("nodes")["items"]
    }
    # Ready counts brokers; the controllers' pods follow within a probe period or two
    ns.wait_pods_ready(SELECTOR, 6, timeout=180)
    pods = {p["metadata"]["name"]: p for p in ns.get("pods", selector=SELECTOR)["items"]}
    assert len(pods) == 6 and all(pod_ready(p) for p in pods.values()), sorted(pods)
    # the status table is the operator's view: it follows the pods on its next pass
    latest = wait_for(
        lambda: get(ns, "cluster", CLUSTER),
        lambda c: all(b["ready"] for b in c["status"]["brokers"]),
        timeout=180,
        what="every node ready in the Cluster's status table",
        interval=3,
    )
    table = {b["nodeId"]: b for b in latest["status"]["brokers"]}
    for entry in table.values():
        assert entry["ready"], entry
        assert node_zone[pods[entry["pod"]]["spec"]["nodeName"]] == entry["zone"], entry
    # racks as clients see them (DescribeCluster) = the zone of the node each pod runs on
    nodes = client("cluster")["nodes"]
    assert len(nodes) == 3, nodes
    for node in nodes:
        pod = pods[table[node["id"]]["pod"]]
        assert node["rack"] == node_zone[pod["spec"]["nodeName"]], (node, pod["spec"])
        assert node["host"].startswith(pod["metadata"]["name"] + "."), node
    assert sorted(n["rack"] for n in nodes) == ZONES


# ---- 2. a Topic and a client ---------------------------------------------------------------


def test_topic_replicas_span_the_zones(client: PodClient, topic: dict[str, Any]) -> None:
    assert topic["status"]["partitions"] == 6 and topic["status"]["topicId"], topic["status"]
    racks = {n["id"]: n["rack"] for n in client("cluster")["nodes"]}
    described = client("topic", TOPIC)
    assert len(described["partitions"]) == 6, described
    for p in described["partitions"]:
        assert sorted(racks[r] for r in p["replicas"]) == ZONES, p
        assert len(p["isr"]) == 3, p
    assert described["configs"]["min.insync.replicas"] == "2", described["configs"]


def test_client_pod_produces_acks_all_and_consumes_back(
    client: PodClient, topic: dict[str, Any]
) -> None:
    produced = client("produce", TOPIC, "300", "first")
    assert produced["errors"] == [] and produced["unflushed"] == 0, produced
    assert len(produced["acked"]) == 300
    consumed = client("consume", TOPIC, "300", "120")["values"]
    assert sorted(consumed) == sorted(produced["acked"])


def test_brokers_and_operator_serve_prometheus_metrics(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    """After the round trip above: the leader brokers counted the records of the topic;
    the operator counted its reconciles."""
    total = 0.0
    for zone in ZONES:
        url = f"http://{CLUSTER}-broker-{zone}-0.{CLUSTER}-nodes:9404/metrics"
        lines = client("metrics", url, "kafka_server_brokertopicmetrics_messagesin_total")["lines"]
        total += sum(float(line.split()[-1]) for line in lines if f'topic="{TOPIC}"' in line)
    assert total >= 300, total
    url = f"http://{RELEASE}-millrace-operator-metrics.{OPERATOR_NAMESPACE}:8080/metrics"
    lines = client("metrics", url, "millrace_reconciles_total")["lines"]
    assert any('kind="Cluster"' in line for line in lines), lines
    assert any('kind="Topic"' in line for line in lines), lines


# ---- 3. configs: applied without restarts, drift set back ---------------------------------


def test_dynamic_topic_config_applied_without_restarts(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    before = pod_states(ns, SELECTOR)
    ns.run(
        "patch",
        f"topics.{GROUP}",
        TOPIC,
        "--type=merge",
        "-p",
        '{"spec":{"config":{"retention.ms":"86400000"}}}',
    )
    wait_for(
        lambda: client("topic", TOPIC)["configs"],
        lambda c: c.get("retention.ms") == "86400000",
        timeout=120,
        what="retention.ms=86400000 in the cluster",
        interval=3,
    )
    wait_for(
        lambda: get(ns, "topic", TOPIC),
        lambda t: (
            is_true(t, "Ready")
            and t["status"]["config"].get("retention.ms") == "86400000"
            and t["status"]["observedGeneration"] == t["metadata"]["generation"]
        ),
        timeout=120,
        what="Topic status shows the new config",
        interval=2,
    )
    assert pod_states(ns, SELECTOR) == before  # same pods (uids), no container restarts


def test_config_changed_outside_is_set_back(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    wanted = get(ns, "topic", TOPIC)["spec"]["config"]["retention.ms"]
    assert client("alter", TOPIC, "retention.ms", "1234567") == {"ok": True}
    assert client("topic", TOPIC)["configs"]["retention.ms"] in ("1234567", wanted)
    wait_for(
        lambda: client("topic", TOPIC)["configs"],
        lambda c: c.get("retention.ms") == wanted,
        timeout=180,
        what=f"retention.ms set back to {wanted}",
        interval=3,
    )
    drift = get(ns, "topic", TOPIC)["status"].get("lastDrift") or {}
    assert f"retention.ms=1234567 -> {wanted}" in drift.get("details", []), drift


def events(ns: Kubectl, kind: str, name: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name},reason={reason}"
    items: list[dict[str, Any]] = json.loads(
        ns.run("get", "events", "--field-selector", selector, "-o", "json")
    )["items"]
    return items


def test_restarted_operator_resumes_without_reapplying(
    ns: Kubectl, operator: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    """Progress lives in observed state: a new operator process finds everything current
    (no Applied event, no pod touched) and keeps reconciling (a Topic change lands)."""
    applied = len(events(ns, "Cluster", CLUSTER, "Applied"))
    assert applied >= 1
    pods = pod_states(ns, SELECTOR)
    old = {p["metadata"]["name"] for p in operator.get("pods", selector=OPERATOR_PODS)["items"]}
    operator.run("delete", "pod", *old, "--wait=true", "--timeout=120s", timeout=150)
    items = wait_for(
        lambda: operator.get("pods", selector=OPERATOR_PODS)["items"],
        lambda items: any(pod_ready(p) and p["metadata"]["name"] not in old for p in items),
        timeout=180,
        what="a new operator pod Ready",
        interval=2,
    )
    new = next(p["metadata"]["name"] for p in items if p["metadata"]["name"] not in old)
    ns.run(
        "patch", f"topics.{GROUP}", TOPIC, "--type=merge",
        "-p", '{"spec":{"config":{"retention.ms":"172800000"}}}',
    )  # fmt: skip
    wait_for(
        lambda: client("topic", TOPIC)["configs"],
        lambda c: c.get("retention.ms") == "172800000",
        timeout=180,
        what="the new operator applies a Topic change",
        interval=3,
    )
    # the new process has reconciled the Cluster at least twice (resume, then its timer)
    marker = f"reconciled {ns.namespace}/{CLUSTER}"
    wait_for(
        lambda: operator.run("logs", new),
        lambda text: text.count(marker) >= 2,
        timeout=180,
        what=f"'{marker}' twice in the new operator's log",
        interval=3,
    )
    assert len(events(ns, "Cluster", CLUSTER, "Applied")) == applied
    assert pod_states(ns, SELECTOR) == pods


# ---- 4. bad input --------------------------------------------------------------------------


def apply_error(ns: Kubectl, obj: dict[str, Any]) -> str:
    with pytest.raises(KubectlError) as excinfo:
        ns.apply(obj)
    return str(excinfo.value)


def test_invalid_manifests_rejected_naming_the_field(ns: Kubectl, topic: dict[str, Any]) -> None:
    even = apply_error(ns, cluster_manifest("even", controllers={"mode": "dedicated", "count": 2}))
    assert "spec.controllers.count" in even and "odd" in even, even
    unknown = apply_error(ns, cluster_manifest("unknown", config={"no.such.property": "1"}))
    assert "spec.config" in unknown and "unknown broker property" in unknown, unknown
    derived = apply_error(ns, cluster_manifest("derived", config={"node.id": "7"}))
    assert "spec.config" in derived, derived
    bad_topic_config = apply_error(ns, topic_manifest("badconfig", config={"retention.msx": "1"}))
    assert "spec.config" in bad_topic_config, bad_topic_config
    shrink = apply_error(ns, topic_manifest(partitions=3))
    assert "spec.partitions" in shrink and "shrink" in shrink, shrink
    rf_change = apply_error(ns, topic_manifest(replicationFactor=2))
    assert "spec.replicationFactor" in rf_change, rf_change
    bad_type = apply_error(ns, topic_manifest("badtype", partitions="many"))
    assert "spec.partitions" in bad_type, bad_type
    # nothing of them exists
    names = {c["metadata"]["name"] for c in ns.get(f"clusters.{GROUP}")["items"]}
    assert names == {CLUSTER}
    assert get(ns, "topic", TOPIC)["spec"]["partitions"] == 6


def test_bad_input_reported_as_conditions_creating_nothing(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    ns.apply(
        cluster_manifest("nosc", storage={"size": "1Gi", "storageClassName": "no-such-class"}),
        topic_manifest("toowide", replicationFactor=5, partitions=1, config={}),
        topic_manifest(
            "orphan",
            clusterRef={"name": "no-such-cluster"},
            partitions=1,
            replicationFactor=1,
            config={},
        ),
    )
    expected = {
        ("cluster", "nosc"): "StorageClassNotFound",
        ("topic", "toowide"): "ReplicationFactorTooHigh",
        ("topic", "orphan"): "ClusterNotFound",
    }
    for (kind, name), reason in expected.items():
        obj = wait_for(
            functools.partial(get, ns, kind, name),
            functools.partial(has_reason, reason),
            timeout=120,
            what=f"{kind} {name} Ready=False {reason}",
            interval=2,
        )
        ready = condition(obj, "Ready")
        assert ready["status"] == "False" and ready["message"], ready
    assert "no-such-class" in condition(get(ns, "cluster", "nosc"), "Ready")["message"]
    # nothing half-made: no objects for the Cluster, no topics in Kafka
    assert ns.get("statefulsets", selector="millrace.io/cluster=nosc")["items"] == []
    assert ns.get("configmaps", selector="millrace.io/cluster=nosc")["items"] == []
    assert client("topics")["topics"] == [TOPIC]
    ns.run(
        "delete",
        f"clusters.{GROUP}/nosc",
        f"topics.{GROUP}/toowide",
        f"topics.{GROUP}/orphan",
        "--wait=true",
        "--timeout=120s",
        timeout=150,
    )


# ---- 5. a broker pod restarts ------------------------------------------------------------


def test_deleted_broker_pod_shuts_down_cleanly_and_returns(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    pod = f"{CLUSTER}-broker-zone-b-0"
    logs = subprocess.Popen(
        [
            str(ns.kubectl),
            "--kubeconfig",
            str(ns.kubeconfig),
            "-n",
            str(ns.namespace),
            "logs",
            "-f",
            pod,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)  # the log stream is attached
        clock = Stopwatch()
        ns.run(
            "delete", "pod", pod, "--wait=true", f"--timeout={GRACE_S + 60}s", timeout=GRACE_S + 90
        )
        took = clock.seconds()
        out, _ = logs.communicate(timeout=60)
    finally:
        logs.kill()
    print(f"broker pod {pod} deleted in {took:.0f}s (grace period {GRACE_S}s)")
    # the broker ran its controlled shutdown and exited by itself, not killed at the deadline
    assert "controlled shutdown" in out and "shutdown complete" in out, out[-3000:]
    assert took < GRACE_S, took
    ns.wait_pods_ready(f"statefulset.kubernetes.io/pod-name={pod}", 1, timeout=300)
    wait_for(
        lambda: get(ns, "cluster", CLUSTER),
        lambda c: is_true(c, "Ready") and c["status"]["readyBrokers"] == 3,
        timeout=300,
        what="Cluster Ready with 3 brokers again",
        interval=3,
    )
    # its data survived: everything produced so far is still there, and more can be added
    produced = client("produce", TOPIC, "100", "second")
    assert produced["errors"] == [] and len(produced["acked"]) == 100, produced
    consumed = client("consume", TOPIC, "400", "120")["values"]
    assert len(consumed) == 400 and len(set(consumed)) == 400


# ---- 6. deletion ---------------------------------------------------------------------------


def test_deleting_the_topic_deletes_it(
    ns: Kubectl, client: PodClient, topic: dict[str, Any]
) -> None:
    ns.run("delete", f"topics.{GROUP}", TOPIC, "--wait=true", "--timeout=120s", timeout=150)
    wait_for(
        lambda: client("topics")["topics"],
        lambda t: TOPIC not in t,
        timeout=120,
        what=f"topic {TOPIC} gone from the cluster",
        interval=3,
    )


def test_volumes_outlive_a_cluster_by_default(ns: Kubectl) -> None:
    """Without `deleteClaim`, deleting a Cluster keeps its data volumes (and only those)."""
    selector = "millrace.io/cluster=keep"
    ns.apply(
        cluster_manifest(
            "keep",
            replicas=1,
            controllers={"mode": "combined", "count": 1},
            zones={"names": ["zone-a"]},
            storage={"size": "1Gi"},
        )
    )
    wait_for(
        lambda: ns.get("persistentvolumeclaims", selector=selector)["items"],
        lambda claims: len(claims) == 1,
        timeout=180,
        what="the volume claim of Cluster keep",
        interval=2,
    )
    ns.run("delete", f"clusters.{GROUP}", "keep", "--wait=true", "--timeout=180s", timeout=200)
    wait_for(
        lambda: ns.get("statefulsets,pods,configmaps", selector=selector)["items"],
        lambda items: not items,
        timeout=GRACE_S + 180,
        what="Cluster keep's workloads deleted",
        interval=3,
    )
    claims = ns.get("persistentvolumeclaims", selector=selector)["items"]
    assert [c["metadata"]["name"] for c in claims] == ["data-keep-broker-zone-a-0"]
    ns.run("delete", "persistentvolumeclaims", "-l", selector, "--wait=false")


def test_deleting_the_cluster_deletes_what_it_owns(
    ns: Kubectl, ready_cluster: dict[str, Any]
) -> None:
    owned = [
        "statefulsets",
        "services",
        "configmaps",
        "poddisruptionbudgets",
        "serviceaccounts",
        "pods",
        "persistentvolumeclaims",
    ]
    before = {kind: len(ns.get(kind, selector=SELECTOR)["items"]) for kind in owned}
    assert before["statefulsets"] == 6 and before["persistentvolumeclaims"] == 6, before
    ns.run("delete", f"clusters.{GROUP}", CLUSTER, "--wait=true", "--timeout=180s", timeout=200)

    def left() -> dict[str, list[str]]:
        return {
            kind: names
            for kind in owned
            if (names := [o["metadata"]["name"] for o in ns.get(kind, selector=SELECTOR)["items"]])
        }

    wait_for(
        left,
        lambda remaining: not remaining,
        timeout=GRACE_S + 180,
        what="everything the Cluster owned deleted",
        interval=3,
    )
