"""Cluster core planner: from the spec and what is observed, the next step.

Decision order (first match wins), recomputed from scratch on every pass:

1. the spec cannot be realised                    -> Blocked (a missing StorageClass, an
   even controller count, a name too long for pod DNS, a zone with no nodes...)
2. zones cannot be resolved                       -> Blocked(NoZones)
3. the spec would remove existing brokers         -> Blocked(ScaleInNotSupported): removing
   a broker needs draining it first (the day-2 scaling planner); or change the volumes
   of existing StatefulSets                        -> Blocked(StorageChangeNotSupported)
4. rendered objects differ from what was applied  -> ApplyObjects (server-side apply of the
   changed objects; each carries the hash of its desired state in an annotation)
5. dynamic broker properties differ from what the brokers report
                                                  -> AlterBrokerConfigs (cluster-wide,
   through the Kafka admin protocol, no restart)
6. otherwise                                      -> None

Restart-only properties are never "applied" by a restart here: they reach a pod when it
next starts (the ConfigMap is current), and status reports them as pending until every
pod runs the StatefulSet's current revision. Rolling restarts arrive as their own planner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from millrace_operator.model.cluster import ClusterSpec, ControllerMode
from millrace_operator.model.configkeys import broker_config_problems, is_dynamic_broker_key
from millrace_operator.plans.common import Blocked
from millrace_operator.render.context import Identity, RenderContext
from millrace_operator.render.layout import BROKER, Layout, pool_name

DESIRED_HASH: Final = "millrace.io/desired-hash"
MAX_POD_NAME: Final = 63 - 11  # StatefulSet pods get a "controller-revision-hash" label


@dataclass(frozen=True, slots=True)
class ObservedPod:
    name: str
    ready: bool
    revision: str | None  # the pod's controller-revision-hash label
    image: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedStatefulSet:
    name: str
    replicas: int
    update_revision: str | None
    claim_size: str | None = None  # volumeClaimTemplates "data": immutable once created
    claim_class: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerView:
    """The cluster as its brokers report it over the Kafka protocol."""

    cluster_id: str | None
    registered: frozenset[int]  # brokers in Metadata (registered and unfenced)
    quorum_leader: int | None = None
    voters: tuple[int, ...] = ()
    dynamic_defaults: Mapping[str, str] = field(default_factory=dict)  # resource ""


@dataclass(frozen=True, slots=True)
class ObservedCluster:
    """Everything `observe` gathered for one Cluster."""

    node_zones: frozenset[str] = frozenset()
    storage_classes: frozenset[str] | None = None  # None: could not list them
    has_default_storage_class: bool = True
    identity: Identity | None = None  # from the cluster's ConfigMap
    applied: Mapping[str, str] = field(default_factory=dict)  # "Kind/name" -> desired hash
    statefulsets: Mapping[str, ObservedStatefulSet] = field(default_factory=dict)
    pods: Mapping[str, ObservedPod] = field(default_factory=dict)
    brokers: BrokerView | None = None


@dataclass(frozen=True, slots=True)
class ApplyObjects:
    objects: tuple[dict[str, Any], ...]

    def describe(self) -> list[str]:
        return [f"{o['kind']}/{o['metadata']['name']}" for o in self.objects]


@dataclass(frozen=True, slots=True)
class AlterBrokerConfigs:
    set: Mapping[str, str]
    delete: tuple[str, ...]


ClusterStep = Blocked | ApplyObjects | AlterBrokerConfigs


def validate_cluster(name: str, spec: ClusterSpec, observed: ObservedCluster) -> Blocked | None:
    """Problems with the spec that no amount of waiting fixes; reasons name the fix."""
    if spec.controllers.count % 2 == 0:
        return Blocked(
            "EvenControllerCount",
            f"spec.controllers.count is {spec.controllers.count}: use an odd number (1, 3, 5); "
            "an even quorum tolerates no more failures than one voter fewer",
        )
    if spec.controllers.mode is ControllerMode.COMBINED and spec.controllers.count > spec.replicas:
        return Blocked(
            "TooFewBrokersForControllers",
            f"combined mode needs at least spec.controllers.count={spec.controllers.count} "
            f"brokers, spec.replicas is {spec.replicas}",
        )
    longest = f"{name}-controller-{'x' * 20}-99"
    if len(longest) > MAX_POD_NAME:
        return Blocked(
            "NameTooLong",
            f"Cluster name '{name}' is too long for pod DNS names: use at most "
            f"{MAX_POD_NAME - (len(longest) - len(name))} characters",
        )
    problems = broker_config_problems(spec.config)
    if problems:
        return Blocked("InvalidConfig", "; ".join(problems))
    wanted = spec.storage.storage_class_name
    classes = observed.storage_classes
    if classes is not None and wanted is not None and wanted not in classes:
        return Blocked(
            "StorageClassNotFound",
            f"StorageClass '{wanted}' does not exist: create it or set "
            f"spec.storage.storageClassName to one of {sorted(classes) or 'none (create one)'}",
        )
    if wanted is None and not observed.has_default_storage_class:
        return Blocked(
            "NoDefaultStorageClass",
            "spec.storage.storageClassName is unset and the cluster has no default "
            "StorageClass: set spec.storage.storageClassName",
        )
    if observed.node_zones:
        missing = [
            z
            for z in spec.zones.names
            if z not in observed.node_zones and not _zone_has_workloads(name, z, observed)
        ]
        if missing:
            return Blocked(
                "ZoneHasNoNodes",
                f"no node is labelled {spec.zones.topology_key} in {missing}: fix "
                f"spec.zones.names (nodes have {sorted(observed.node_zones)})",
            )
    return None


def _zone_has_workloads(name: str, zone: str, observed: ObservedCluster) -> bool:
    return pool_name(name, BROKER, zone) in observed.statefulsets


def resolve_zones(
    spec: ClusterSpec, recorded: tuple[str, ...], node_zones: frozenset[str]
) -> tuple[str, ...] | Blocked:
    """The zones in node-id order: `recorded` (append-only) plus newly listed ones.

    With no explicit list, the zones found on the nodes are recorded once, at creation,
    and never change by themselves (a new zone would move brokers: a day-2 operation).
    """
    if spec.zones.names:
        return recorded + tuple(z for z in spec.zones.names if z not in recorded)
    if recorded:
        return recorded
    if not node_zones:
        return Blocked(
            "NoZones",
            f"no node has the label {spec.zones.topology_key}: label the nodes with their "
            "zones, or list the zones in spec.zones.names",
        )
    return tuple(sorted(node_zones))


def plan_identity(
    existing: Identity | None, controller_ids: list[int], new_id: Callable[[], str]
) -> Identity:
    """Keep the identity found in the ConfigMap; create what is missing with `new_id`."""
    cluster_id = existing.cluster_id if existing else new_id()
    directory_ids = dict(existing.directory_ids) if existing else {}
    for node_id in controller_ids:
        if node_id not in directory_ids:
            directory_ids[node_id] = new_id()
    return Identity(cluster_id, directory_ids)


def check_scale_in(layout: Layout, observed: ObservedCluster) -> Blocked | None:
    """Existing pods the layout would remove: not done here (they hold data)."""
    wanted = {p.name: p.replicas for p in layout.pools}
    shrinking = [
        f"{name} ({sts.replicas} -> {wanted.get(name, 0)})"
        for name, sts in sorted(observed.statefulsets.items())
        if sts.replicas > wanted.get(name, 0)
    ]
    if shrinking:
        return Blocked(
            "ScaleInNotSupported",
            f"the spec removes pods from {', '.join(shrinking)}; removing brokers or "
            "controllers needs draining them first, which arrives with the day-2 "
            "operations: restore spec.replicas (or the zone list)",
        )
    return None


def check_storage(spec: ClusterSpec, observed: ObservedCluster) -> Blocked | None:
    """Volume claim templates cannot change once a StatefulSet exists."""
    for sts in observed.statefulsets.values():
        size_changed = sts.claim_size is not None and sts.claim_size != spec.storage.size
        wanted_class = spec.storage.storage_class_name
        class_changed = wanted_class is not None and sts.claim_class not in (None, wanted_class)
        if size_changed or class_changed:
            return Blocked(
                "StorageChangeNotSupported",
                f"{sts.name} has volumes of {sts.claim_size} (class "
                f"{sts.claim_class or 'default'}); changing spec.storage after creation is "
                "not supported yet: restore spec.storage.size and storageClassName",
            )
    return None


def desired_hash(obj: Mapping[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def with_desired_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with the hash of its desired state in an annotation (to detect changes)."""
    stamped = json.loads(json.dumps(obj))
    stamped["metadata"].setdefault("annotations", {})[DESIRED_HASH] = desired_hash(obj)
    return dict(stamped)


def object_key(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def plan_dynamic_config(
    spec: ClusterSpec, view: BrokerView | None, applied_before: Mapping[str, str]
) -> AlterBrokerConfigs | None:
    """Cluster-wide dynamic properties to set, and ones the operator set before to remove."""
    if view is None:
        return None
    desired = {k: v for k, v in spec.config.items() if is_dynamic_broker_key(k)}
    to_set = {k: v for k, v in desired.items() if view.dynamic_defaults.get(k) != v}
    to_delete = tuple(
        sorted(k for k in applied_before if k not in desired and k in view.dynamic_defaults)
    )
    if to_set or to_delete:
        return AlterBrokerConfigs(to_set, to_delete)
    return None


def next_step(
    ctx: RenderContext,
    observed: ObservedCluster,
    desired: list[dict[str, Any]],
    *,
    applied_dynamic: Mapping[str, str],
) -> ClusterStep | None:
    """The next step for the Cluster; `desired` is `render.build_objects(ctx)`."""
    blocked = (
        validate_cluster(ctx.name, ctx.spec, observed)
        or check_scale_in(ctx.layout, observed)
        or check_storage(ctx.spec, observed)
    )
    if blocked is not None:
        return blocked
    changed = tuple(
        with_desired_hash(obj)
        for obj in desired
        if observed.applied.get(object_key(obj)) != desired_hash(obj)
    )
    if changed:
        return ApplyObjects(changed)
    return plan_dynamic_config(ctx.spec, observed.brokers, applied_dynamic)
