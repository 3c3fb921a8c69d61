"""What every renderer needs: the Cluster's identity, its layout, names and labels.

A `RenderContext` is built once per reconcile from the Cluster object, the resolved zones
and the storage identity (cluster id and controller directory ids, which the operator
generates once and keeps in the cluster's ConfigMap). Renderers are pure functions of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.model.common import API_VERSION
from millrace_operator.render.layout import BROKER, CONTROLLER, Layout, Node, build_layout

DATA_DIR: Final = "/var/lib/millrace/data"  # the volume's mount point
# The log directory is a subdirectory: a fresh ext4 volume has lost+found at its root,
# which a Kafka log directory must not contain.
LOG_DIR: Final = f"{DATA_DIR}/log"
CONFIG_DIR: Final = "/etc/millrace"
METRICS_PORT: Final = 9404  # each node's Prometheus endpoint (the port Strimzi uses too)
CLUSTER_LABEL: Final = "millrace.io/cluster"
POOL_LABEL: Final = "millrace.io/pool"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
ZONE_LABEL_KEY: Final = "millrace.io/zone"
STATIC_CONFIG_ANNOTATION: Final = "millrace.io/static-config-hash"
MANAGED_BY: Final = "millrace-operator"


@dataclass(frozen=True, slots=True)
class Identity:
    """The storage identity fixed at creation: cluster id, controller directory ids."""

    cluster_id: str
    directory_ids: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Inputs of every `build_*` renderer."""

    name: str
    namespace: str
    uid: str
    spec: ClusterSpec
    zones: tuple[str, ...]
    identity: Identity
    cluster_domain: str = "cluster.local"
    # Static voters (`controller.quorum.voters`, what the broker's KRaft implements today)
    # or KIP-853 dynamic quorum (`controller.quorum.bootstrap.servers` + the format file's
    # initial controllers), which the quorum-change planner will need.
    dynamic_quorum: bool = False

    @property
    def layout(self) -> Layout:
        return build_layout(self.name, self.spec, list(self.zones))

    # ----- names -------------------------------------------------------------------------

    @property
    def headless_service(self) -> str:
        return f"{self.name}-nodes"

    @property
    def bootstrap_service(self) -> str:
        return f"{self.name}-bootstrap"

    @property
    def config_map(self) -> str:
        return f"{self.name}-config"

    @property
    def service_account(self) -> str:
        return f"{self.name}-node"

    def pod_dns(self, node: Node) -> str:
        return f"{node.pod}.{self.headless_service}.{self.namespace}.svc.{self.cluster_domain}"

    @property
    def bootstrap_address(self) -> str:
        host = f"{self.bootstrap_service}.{self.namespace}.svc.{self.cluster_domain}"
        return f"{host}:{self.spec.listeners.internal_port}"

    @property
    def quorum_voters(self) -> str:
        port = self.spec.listeners.controller_port
        return ",".join(f"{n.node_id}@{self.pod_dns(n)}:{port}" for n in self.layout.controllers)

    @property
    def quorum_bootstrap_servers(self) -> str:
        port = self.spec.listeners.controller_port
        return ",".join(f"{self.pod_dns(n)}:{port}" for n in self.layout.controllers)

    # ----- labels and ownership ----------------------------------------------------------

    def labels(self, component: str | None = None) -> dict[str, str]:
        labels = {
            "app.kubernetes.io/name": "millrace",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            CLUSTER_LABEL: self.name,
        }
        if component is not None:
            labels[COMPONENT_LABEL] = component
        return labels

    def selector(self, component: str | None = None) -> dict[str, str]:
        selector = {CLUSTER_LABEL: self.name}
        if component is not None:
            selector[COMPONENT_LABEL] = component
        return selector

    def owner_reference(self) -> dict[str, Any]:
        """Makes the Cluster the controlling owner: deleting it deletes the object."""
        return {
            "apiVersion": API_VERSION,
            "kind": "Cluster",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str, component: str | None = None) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(component),
            "ownerReferences": [self.owner_reference()],
        }


def component_of(roles: tuple[str, ...]) -> str:
    """The component label of a pool: broker (brokers, incl. combined) or controller."""
    return BROKER if BROKER in roles else CONTROLLER


def stable_hash(items: Mapping[str, str]) -> str:
    """A short hash of a string mapping, independent of order."""
    text = "\n".join(f"{k}={items[k]}" for k in sorted(items))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
