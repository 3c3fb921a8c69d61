"""StatefulSets: one per zone and role, `updateStrategy: OnDelete` (the operator restarts).

Each pod: the broker image (entrypoint `millrace-broker`) with arguments
`/etc/millrace/$(POD_NAME).properties --cluster-id <id> --metrics-address 0.0.0.0:9404`
(Prometheus metrics, with the scrape annotations; Kubernetes expands `$(POD_NAME)`
from the downward API; the broker formats empty storage for that cluster id on first
start, and /etc/millrace/$(POD_NAME).format holds what a KIP-853 format also needs), data
on a PersistentVolumeClaim at /var/lib/millrace/data, a readiness probe that asks the
node itself whether it is registered and caught up (`millrace_operator.nodeprobe`), and
`terminationGracePeriodSeconds` from the spec for the broker's controlled shutdown.

Scheduling: a required node affinity to the pool's zone (merged into every user-given
required term), a preferred pod anti-affinity spreading the Cluster's pods of the same
component over nodes, plus the user's tolerations, node selector and priority class.
"""

from __future__ import annotations

import copy
from typing import Any

from millrace_operator.nodeprobe import PROPERTIES_ENV
from millrace_operator.render.config import static_config_hash
from millrace_operator.render.context import (
    CONFIG_DIR,
    DATA_DIR,
    METRICS_PORT,
    POOL_LABEL,
    STATIC_CONFIG_ANNOTATION,
    ZONE_LABEL_KEY,
    RenderContext,
    component_of,
)
from millrace_operator.render.layout import BROKER, Pool

PROBE = ["python3", "-m", "millrace_operator.nodeprobe"]


def build_affinity(ctx: RenderContext, pool: Pool) -> dict[str, Any]:
    """Zone node affinity and component anti-affinity, merged with the user's affinity."""
    user = copy.deepcopy(ctx.spec.template.affinity or {})
    zone_term = {"key": ctx.spec.zones.topology_key, "operator": "In", "values": [pool.zone]}
    node_affinity = user.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({"matchExpressions": []})
    for term in terms:
        term.setdefault("matchExpressions", []).append(dict(zone_term))
    anti = user.setdefault("podAntiAffinity", {})
    anti.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(
        {
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": ctx.selector(component_of((pool.role,)))},
            },
        }
    )
    return dict(user)


def _container(ctx: RenderContext, pool: Pool) -> dict[str, Any]:
    ports = ctx.spec.listeners
    container_ports = [
        {"name": "controller", "containerPort": ports.controller_port},
        {"name": "metrics", "containerPort": METRICS_PORT},
    ]
    if pool.role == BROKER:
        container_ports.insert(0, {"name": "kafka", "containerPort": ports.internal_port})
    resources = {
        k: v
        for k, v in (
            ("requests", ctx.spec.resources.requests),
            ("limits", ctx.spec.resources.limits),
        )
        if v
    }
    config_file = f"{CONFIG_DIR}/$(POD_NAME).properties"
    return {
        "name": pool.role,
        "image": ctx.spec.broker_image,
        "imagePullPolicy": ctx.spec.image_pull_policy.value,
        # the image's entrypoint is millrace-broker; --cluster-id formats empty storage
        "args": [
            config_file,
            "--cluster-id",
            ctx.identity.cluster_id,
            "--metrics-address",
            f"0.0.0.0:{METRICS_PORT}",
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MILLRACE_FORMAT_FILE", "value": f"{CONFIG_DIR}/$(POD_NAME).format"},
            # exec probes get no $(VAR) expansion, their environment does: the probes
            # find this pod's properties through it
            {"name": PROPERTIES_ENV, "value": config_file},
        ],
        "ports": container_ports,
        "resources": resources,
        "readinessProbe": {
            "exec": {"command": [*PROBE, "ready"]},
            # a probe is a Python start (~0.3 s idle); a busy node can stretch it to
            # seconds, and a timed-out probe would flap the pod out of its Service
            "periodSeconds": 10,
            "timeoutSeconds": 15,
            "failureThreshold": 3,
        },
        # Log recovery may take long: the startup probe allows an hour before liveness
        # applies, so a recovering broker is never killed for being slow.
        "startupProbe": {
            "exec": {"command": [*PROBE, "alive"]},
            "periodSeconds": 10,
            "timeoutSeconds": 15,
            "failureThreshold": 360,
        },
        "livenessProbe": {
            "exec": {"command": [*PROBE, "alive"]},
            "periodSeconds": 15,
            "timeoutSeconds": 15,
            "failureThreshold": 6,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _claim(ctx: RenderContext) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": ctx.spec.storage.size}},
    }
    if ctx.spec.storage.storage_class_name is not None:
        spec["storageClassName"] = ctx.spec.storage.storage_class_name
    return {"metadata": {"name": "data", "labels": ctx.labels()}, "spec": spec}


def build_statefulset(ctx: RenderContext, pool: Pool) -> dict[str, Any]:
    """The StatefulSet of `pool`."""
    component = component_of((pool.role,))
    selector = {**ctx.selector(component), POOL_LABEL: pool.name}
    labels = {
        **ctx.spec.template.labels,
        **ctx.labels(component),
        POOL_LABEL: pool.name,
        ZONE_LABEL_KEY: pool.zone,
    }
    annotations = {
        # the conventional scrape annotations; the user's template annotations override
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
        **ctx.spec.template.annotations,
        STATIC_CONFIG_ANNOTATION: static_config_hash(ctx),
    }
    template = ctx.spec.template
    pod_spec: dict[str, Any] = {
        "serviceAccountName": ctx.service_account,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": template.termination_grace_period_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "affinity": build_affinity(ctx, pool),
        "containers": [_container(ctx, pool)],
        "volumes": [
            {"name": "config", "configMap": {"name": ctx.config_map}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if template.tolerations:
        pod_spec["tolerations"] = copy.deepcopy(template.tolerations)
    if template.node_selector:
        pod_spec["nodeSelector"] = dict(template.node_selector)
    if template.priority_class_name:
        pod_spec["priorityClassName"] = template.priority_class_name
    retention = "Delete" if ctx.spec.storage.delete_claim else "Retain"
    metadata = ctx.metadata(pool.name, component)
    metadata["labels"][ZONE_LABEL_KEY] = pool.zone
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "serviceName": ctx.headless_service,
            "replicas": pool.replicas,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": retention,
                "whenScaled": "Retain",
            },
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod_spec,
            },
            "volumeClaimTemplates": [_claim(ctx)],
        },
    }


def build_statefulsets(ctx: RenderContext) -> list[dict[str, Any]]:
    """Every StatefulSet of the Cluster, brokers first, in zone order."""
    return [build_statefulset(ctx, pool) for pool in ctx.layout.pools]
