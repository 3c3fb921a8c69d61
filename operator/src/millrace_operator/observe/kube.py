"""Read a Cluster's Kubernetes state: nodes' zones, StorageClasses, owned objects, pods.

Read-only. Owned objects are found by the `millrace.io/cluster` label; what the operator
applied last is read back from each object's desired-hash annotation, so a restarted
operator knows what is current without any memory of its own. The storage identity
(cluster id, controller directory ids) is read back from the cluster's ConfigMap.
"""

from __future__ import annotations

from typing import Any, Final

from millrace_operator.kubeapi import KubeError, KubeReader
from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.plans.cluster import (
    DESIRED_HASH,
    ObservedCluster,
    ObservedPod,
    ObservedStatefulSet,
)
from millrace_operator.plans.topics import Owner
from millrace_operator.render.context import CLUSTER_LABEL, Identity

DEFAULT_CLASS_ANNOTATION: Final = "storageclass.kubernetes.io/is-default-class"
OWNED_KINDS: Final = (
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "PodDisruptionBudget",
    "StatefulSet",
)


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def identity_from_configmap(data: dict[str, str]) -> Identity | None:
    cluster_id = data.get("cluster.id")
    if not cluster_id:
        return None
    prefix = "directory.id."
    directories = {
        int(k[len(prefix) :]): v
        for k, v in data.items()
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    }
    return Identity(cluster_id, directories)


async def observe_storage_classes(reader: KubeReader) -> tuple[frozenset[str] | None, bool]:
    """(names, whether one is the default); (None, True) when they cannot be listed."""
    try:
        classes = await reader.list("StorageClass", None)
    except KubeError:
        return None, True
    names = frozenset(c["metadata"]["name"] for c in classes)
    default = any(
        c["metadata"].get("annotations", {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
        for c in classes
    )
    return names, default


async def observe_cluster(
    reader: KubeReader, *, name: str, namespace: str, spec: ClusterSpec
) -> ObservedCluster:
    """Everything Kubernetes knows about Cluster `namespace/name` (not the brokers' view)."""
    nodes = await reader.list("Node", None)
    key = spec.zones.topology_key
    zones = frozenset(
        n["metadata"].get("labels", {})[key]
        for n in nodes
        if key in n["metadata"].get("labels", {})
    )
    classes, has_default = await observe_storage_classes(reader)
    labels = {CLUSTER_LABEL: name}
    applied: dict[str, str] = {}
    identity = None
    statefulsets: dict[str, ObservedStatefulSet] = {}
    for kind in OWNED_KINDS:
        for obj in await reader.list(kind, namespace, labels):
            meta = obj["metadata"]
            stamp = meta.get("annotations", {}).get(DESIRED_HASH)
            if stamp:
                applied[f"{kind}/{meta['name']}"] = stamp
            if kind == "ConfigMap" and meta["name"] == f"{name}-config":
                identity = identity_from_configmap(obj.get("data", {}))
            if kind == "StatefulSet":
                claims = obj["spec"].get("volumeClaimTemplates", [])
                claim: dict[str, Any] = next(
                    (c for c in claims if c["metadata"]["name"] == "data"), {}
                )
                claim_spec = claim.get("spec", {})
                statefulsets[meta["name"]] = ObservedStatefulSet(
                    meta["name"],
                    int(obj["spec"].get("replicas", 0)),
                    obj.get("status", {}).get("updateRevision"),
                    claim_spec.get("resources", {}).get("requests", {}).get("storage"),
                    claim_spec.get("storageClassName"),
                )
    pods = {
        p["metadata"]["name"]: ObservedPod(
            p["metadata"]["name"],
            _pod_ready(p),
            p["metadata"].get("labels", {}).get("controller-revision-hash"),
            next((c.get("image") for c in p.get("spec", {}).get("containers", [])), None),
        )
        for p in await reader.list("Pod", namespace, labels)
    }
    return ObservedCluster(
        node_zones=zones,
        storage_classes=classes,
        has_default_storage_class=has_default,
        identity=identity,
        applied=applied,
        statefulsets=statefulsets,
        pods=pods,
    )


async def observe_topic_claims(
    reader: KubeReader, *, namespace: str, cluster: str, topic_name: str, exclude: str
) -> list[Owner]:
    """Other Topic resources of the same Cluster that claim `topic_name`."""
    claims: list[Owner] = []
    for topic in await reader.list("Topic", namespace):
        meta = topic["metadata"]
        spec = topic.get("spec", {})
        if meta["name"] == exclude or spec.get("clusterRef", {}).get("name") != cluster:
            continue
        if meta.get("deletionTimestamp"):
            continue
        if (spec.get("topicName") or meta["name"]) == topic_name:
            claims.append(Owner(f"{namespace}/{meta['name']}", meta.get("creationTimestamp", "")))
    return claims
