"""The `Cluster` resource (millrace.io/v1alpha1): a multi-zone Millrace (Kafka) cluster.

Spec is what the user asks for; status is what the operator observed and did. Cross-field
rules are `x-kubernetes-validations` (CEL) so the API server rejects a bad manifest with a
message naming the field; the same rules are checked again in Python (`validate_cluster`
in `plans.cluster`) so a status condition can name the fix when an older API server did not.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import Field, field_validator

from millrace_operator.model.common import Condition, KubeModel, stringify_values, with_rules
from millrace_operator.model.configkeys import (
    OPERATOR_MANAGED_KEYS,
    USER_BROKER_KEYS,
    broker_config_problems,
)

DEFAULT_BROKER_VERSION: Final = "0.1.0"
DEFAULT_BROKER_REPOSITORY: Final = "millrace/broker"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _cel_list(names: tuple[str, ...] | frozenset[str]) -> str:
    return "[" + ", ".join(f"'{n}'" for n in sorted(names)) + "]"


class ControllerMode(StrEnum):
    DEDICATED = "dedicated"
    COMBINED = "combined"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ControllersSpec(KubeModel):
    """The KRaft controller quorum."""

    model_config = with_rules(
        {
            "rule": "self.count % 2 == 1",
            "message": "controllers.count must be odd (1, 3 or 5): a quorum of an "
            "even size tolerates no more failures than one fewer voter",
            "fieldPath": ".count",
        },
    )

    mode: ControllerMode = Field(
        default=ControllerMode.DEDICATED,
        description="dedicated: controllers run in their own pods (one StatefulSet per zone), "
        "the production layout. combined: `count` of the brokers also act as controllers "
        "(process.roles=broker,controller), for small clusters.",
    )
    count: int = Field(
        default=3,
        ge=1,
        le=9,
        description="Number of KRaft voters; must be odd. Spread over the zones like brokers. "
        "Changing it later is a quorum change (a day-2 operation, KIP-853).",
    )


class ZonesSpec(KubeModel):
    """Where brokers and controllers run."""

    model_config = with_rules(
        {
            "rule": "!has(oldSelf.names) || oldSelf.names.all(z, has(self.names) && "
            "z in self.names)",
            "message": "zones can be added but not removed: removing a zone needs its "
            "brokers drained first (a day-2 operation)",
            "fieldPath": ".names",
        },
    )

    names: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Zone names (values of the node label `topologyKey`). Brokers are spread "
        "evenly over them, one StatefulSet per zone. Empty: use every zone the nodes are "
        "labelled with, as discovered when the cluster is created (recorded in status.zones).",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "items": {"type": "string", "minLength": 1, "maxLength": 63},
        },
    )
    topology_key: str = Field(
        default=ZONE_LABEL,
        min_length=1,
        description="The node label that names a node's zone.",
    )


class StorageSpec(KubeModel):
    """Persistent storage of each broker and controller (one PersistentVolumeClaim per pod)."""

    size: str = Field(
        default="10Gi",
        pattern=_QUANTITY,
        description="Requested size of each volume, as a Kubernetes quantity (e.g. 100Gi).",
    )
    storage_class_name: str | None = Field(
        default=None,
        description="StorageClass of the volumes; unset: the cluster's default StorageClass. "
        "A class that does not exist is reported in the Ready condition.",
    )
    delete_claim: bool = Field(
        default=False,
        description="Delete the PersistentVolumeClaims (and so the data) when the Cluster "
        "is deleted. Default false: the claims are kept.",
    )


class ResourceRequirements(KubeModel):
    """Compute resources of a broker or controller container."""

    requests: dict[str, str] = Field(
        default_factory=dict,
        description="Minimum resources, e.g. {cpu: 500m, memory: 1Gi}.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-int-or-string": True}},
    )
    limits: dict[str, str] = Field(
        default_factory=dict,
        description="Maximum resources, e.g. {memory: 2Gi}.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-int-or-string": True}},
    )

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: str(v) for k, v in value.items()}
        return value


class ListenersSpec(KubeModel):
    """Network listeners. Internal plaintext for now; SASL and TLS come with security."""

    model_config = with_rules(
        {
            "rule": "self.internalPort != self.controllerPort",
            "message": "internalPort and controllerPort must differ",
        },
    )

    internal_port: int = Field(
        default=9092,
        ge=1024,
        le=65535,
        description="Port of the in-cluster plaintext listener clients use (bootstrap "
        "Service and each pod's DNS name).",
    )
    controller_port: int = Field(
        default=9093,
        ge=1024,
        le=65535,
        description="Port of the KRaft controller listener.",
    )


class PodTemplate(KubeModel):
    """Knobs copied into every broker and controller pod."""

    annotations: dict[str, str] = Field(
        default_factory=dict, description="Extra annotations on the pods."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the pods.")
    affinity: dict[str, Any] | None = Field(
        default=None,
        description="Extra affinity (core/v1 Affinity). Merged with the operator's zone node "
        "affinity and broker pod anti-affinity.",
        json_schema_extra={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Tolerations (core/v1 Toleration) of the pods.",
        json_schema_extra={
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Extra node selector of the pods."
    )
    priority_class_name: str | None = Field(default=None, description="PriorityClass of the pods.")
    termination_grace_period_seconds: int = Field(
        default=120,
        ge=30,
        le=3600,
        description="Time a broker gets to finish its controlled shutdown (moving partition "
        "leadership away, at most 15 s, then flushing its logs) before it is killed.",
    )


class ClusterSpec(KubeModel):
    """Desired state of a Millrace cluster."""

    model_config = with_rules(
        {
            "rule": "self.controllers.mode != 'combined' || "
            "self.controllers.count <= self.replicas",
            "message": "in combined mode controllers.count must not exceed replicas "
            "(the controllers are some of the brokers)",
            "fieldPath": ".controllers.count",
        },
        {
            "rule": "!has(self.config) || self.config.all(k, !(k in "
            + _cel_list(OPERATOR_MANAGED_KEYS)
            + ") && !k.startsWith('listener.name.'))",
            "message": "spec.config sets a property the operator derives from the "
            "Cluster (node.id, process.roles, listeners, quorum, log.dirs, broker.rack): "
            "remove it",
            "fieldPath": ".config",
        },
        {
            "rule": "!has(self.config) || self.config.all(k, k in "
            + _cel_list(USER_BROKER_KEYS)
            + ")",
            "message": "spec.config has an unknown broker property: keys are Apache "
            "Kafka 4.1 broker property names (see docs/operator.md)",
            "fieldPath": ".config",
        },
    )

    version: str = Field(
        default=DEFAULT_BROKER_VERSION,
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+([-.+][0-9A-Za-z.-]+)?$",
        description="Millrace broker version. Selects the image tag when `image` is unset; "
        "shown per broker in status.brokers.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        description=f"Broker image; default {DEFAULT_BROKER_REPOSITORY}:<version>.",
    )
    image_pull_policy: PullPolicy = Field(
        default=PullPolicy.IF_NOT_PRESENT, description="Pull policy of the broker image."
    )
    replicas: int = Field(
        default=3, ge=1, le=900, description="Number of brokers, spread evenly over the zones."
    )
    controllers: ControllersSpec = Field(
        default_factory=ControllersSpec, description="The KRaft controller quorum."
    )
    zones: ZonesSpec = Field(
        default_factory=ZonesSpec, description="Zones the brokers and controllers spread over."
    )
    storage: StorageSpec = Field(
        default_factory=StorageSpec, description="Persistent storage of each node."
    )
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements,
        description="Compute resources of each broker and controller container.",
    )
    config: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": {"x-kubernetes-int-or-string": True}},
        max_length=256,
        description="Broker properties (Apache Kafka 4.1 names; quote booleans), e.g. "
        "{log.retention.hours: '24'}. Properties brokers update dynamically are applied "
        "without restarts; others are reported as pending a restart in status.",
    )
    listeners: ListenersSpec = Field(
        default_factory=ListenersSpec, description="Network listeners."
    )
    template: PodTemplate = Field(default_factory=PodTemplate, description="Pod template knobs.")

    @field_validator("config", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return stringify_values(value)

    @field_validator("config")
    @classmethod
    def _known_keys(cls, value: dict[str, str]) -> dict[str, str]:
        problems = broker_config_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @property
    def broker_image(self) -> str:
        return self.image or f"{DEFAULT_BROKER_REPOSITORY}:{self.version}"


class BrokerStatus(KubeModel):
    """One node as observed."""

    node_id: int = Field(description="KRaft node id (see docs/operator.md for the formula).")
    zone: str = Field(description="Zone of the node (also its broker.rack).")
    pod: str = Field(description="Pod name.")
    roles: list[str] = Field(default_factory=list, description="broker and/or controller.")
    ready: bool = Field(default=False, description="Registered and caught up.")
    version: str | None = Field(default=None, description="Broker version the pod runs.")
    pending_restart: bool = Field(
        default=False, description="The pod runs an older template than the StatefulSet's."
    )


class QuorumStatus(KubeModel):
    """The KRaft controller quorum as observed."""

    leader: int | None = Field(default=None, description="Node id of the active controller.")
    voters: list[int] = Field(default_factory=list, description="Node ids of the voters.")


class OperationStatus(KubeModel):
    """The operation in progress (create, config update; rolling upgrade and scaling later)."""

    name: str = Field(description="Operation, e.g. Create, ApplyConfig.")
    step: str = Field(default="", description="Current step.")
    message: str = Field(default="", description="Progress in words.")
    started_at: datetime | None = Field(default=None, description="When it started.")


class ClusterStatus(KubeModel):
    """Observed state of a Millrace cluster."""

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the status reflects."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing and Degraded, with reasons.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    cluster_id: str | None = Field(default=None, description="KRaft cluster id.")
    bootstrap: str | None = Field(
        default=None, description="Bootstrap address for clients inside the Kubernetes cluster."
    )
    zones: list[str] = Field(
        default_factory=list,
        description="Resolved zones in node-id order; zones are only ever appended.",
    )
    ready_brokers: int = Field(default=0, description="Brokers that are ready.")
    brokers: list[BrokerStatus] = Field(default_factory=list, description="Every node.")
    quorum: QuorumStatus | None = Field(default=None, description="The controller quorum.")
    operation: OperationStatus | None = Field(
        default=None, description="The operation in progress, if any."
    )
    pending_restart_config: list[str] = Field(
        default_factory=list,
        description="Config properties changed in spec that take effect only after a restart "
        "(rolling restarts arrive with the rolling-upgrade feature).",
    )
    running_static_config: dict[str, str] = Field(
        default_factory=dict,
        description="Restart-only properties of spec.config that every pod was started with.",
    )
    applied_dynamic_config: dict[str, str] = Field(
        default_factory=dict,
        description="Dynamic broker properties the operator applied through the admin API.",
    )


class Cluster(KubeModel):
    """A Millrace cluster: brokers and KRaft controllers spread over zones."""

    model_config = with_rules(extra="ignore")

    spec: ClusterSpec = Field(default_factory=ClusterSpec, description="Desired state.")
    status: ClusterStatus = Field(default_factory=ClusterStatus, description="Observed state.")
