"""Topic planner: what to do next so the cluster's topic matches the Topic resource.

Unidirectional: the resource is the truth. Decision order (first match wins):

1. the Cluster does not exist                      -> Blocked(ClusterNotFound)
2. another, older resource owns the topic name     -> Blocked(TopicNameConflict)
3. no broker of the Cluster is ready               -> Blocked(ClusterNotReady)
4. the topic does not exist:
     replicationFactor > brokers                   -> Blocked(ReplicationFactorTooHigh)
     otherwise                                     -> CreateTopic
5. topic-level configs differ                      -> AlterConfigs (sets and deletes; a
     difference while the spec is unchanged since the last pass is drift made outside)
6. fewer partitions than the spec                  -> CreatePartitions
7. more partitions than the spec                   -> Blocked(PartitionsCannotShrink)
8. another replication factor                      -> Blocked(ReplicationFactorChange)
9. otherwise                                       -> None (in sync)

Config drift is corrected before the partition count so that a topic both drifted and
grown converges in two passes; Blocked states that remain are reported until fixed.
Deletion is `plan_delete`: DeleteTopic unless the policy is Retain, the topic is gone,
or another resource owns the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from millrace_operator.model.topic import DeletionPolicy, DriftReport, TopicSpec, TopicStatus
from millrace_operator.plans.common import Blocked, condition, merge_conditions


@dataclass(frozen=True, slots=True)
class ObservedTopic:
    """A topic as the brokers describe it."""

    name: str
    topic_id: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)  # topic-level (non-default) only


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What the topic planner needs to know about the referenced Cluster."""

    exists: bool
    ready_brokers: int = 0
    brokers: int = 0


@dataclass(frozen=True, slots=True)
class Owner:
    """A Topic resource claiming a topic name: namespace/name and creation time (RFC 3339)."""

    resource: str
    created: str


@dataclass(frozen=True, slots=True)
class CreateTopic:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AlterConfigs:
    name: str
    set: Mapping[str, str]
    delete: tuple[str, ...]
    drift: bool  # the difference was made outside (the spec did not change)
    # the values found in the cluster for the keys above (absent: the default), so a
    # drift report says what was changed, not only what it was set back to
    found: Mapping[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> list[str]:
        def was(key: str) -> str:
            return f"{self.found[key]} -> " if key in self.found else ""

        return [f"{k}={was(k)}{v}" for k, v in sorted(self.set.items())] + [
            f"{k}={was(k)}(default)" for k in self.delete
        ]


@dataclass(frozen=True, slots=True)
class CreatePartitions:
    name: str
    total: int


@dataclass(frozen=True, slots=True)
class DeleteTopic:
    name: str


TopicStep = CreateTopic | AlterConfigs | CreatePartitions | Blocked


def conflicting_owner(me: Owner, claimants: list[Owner]) -> Owner | None:
    """The resource that owns the name if it is not `me`: the oldest claimant wins."""
    ordered = sorted([me, *claimants], key=lambda o: (o.created, o.resource))
    return None if ordered[0] == me else ordered[0]


def config_diff(
    desired: Mapping[str, str], observed: Mapping[str, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """(keys to set, keys to delete) to turn `observed` into `desired`."""
    to_set = {k: v for k, v in desired.items() if observed.get(k) != v}
    to_delete = tuple(sorted(k for k in observed if k not in desired))
    return to_set, to_delete


def next_step(
    spec: TopicSpec,
    observed: ObservedTopic | None,
    *,
    topic_name: str,
    cluster: ClusterFacts,
    conflict: Owner | None = None,
    spec_changed: bool = True,
) -> TopicStep | None:
    """The next step for the topic (see the module docstring for the order)."""
    ref = spec.cluster_ref.name
    if not cluster.exists:
        return Blocked(
            "ClusterNotFound",
            f"Cluster '{ref}' does not exist in this namespace: create it, or set "
            "spec.clusterRef.name to an existing Cluster",
        )
    if conflict is not None:
        return Blocked(
            "TopicNameConflict",
            f"topic '{topic_name}' is already managed by Topic {conflict.resource}: delete "
            "this resource or set spec.topicName to another name",
        )
    if cluster.ready_brokers == 0:
        return Blocked("ClusterNotReady", f"no broker of Cluster '{ref}' is ready yet; waiting")
    if observed is None:
        if spec.replication_factor > cluster.brokers:
            return Blocked(
                "ReplicationFactorTooHigh",
                f"replicationFactor {spec.replication_factor} exceeds the {cluster.brokers} "
                f"broker(s) of Cluster '{ref}': lower spec.replicationFactor or raise the "
                "Cluster's spec.replicas",
            )
        return CreateTopic(topic_name, spec.partitions, spec.replication_factor, dict(spec.config))
    to_set, to_delete = config_diff(spec.config, observed.configs)
    if to_set or to_delete:
        found = {k: observed.configs[k] for k in [*to_set, *to_delete] if k in observed.configs}
        return AlterConfigs(topic_name, to_set, to_delete, drift=not spec_changed, found=found)
    if observed.partitions < spec.partitions:
        return CreatePartitions(topic_name, spec.partitions)
    if observed.partitions > spec.partitions:
        return Blocked(
            "PartitionsCannotShrink",
            f"topic '{topic_name}' has {observed.partitions} partitions and partitions never "
            f"shrink: set spec.partitions back to at least {observed.partitions}",
        )
    if observed.replication_factor != spec.replication_factor:
        return Blocked(
            "ReplicationFactorChange",
            f"topic '{topic_name}' has replication factor {observed.replication_factor}; "
            "changing it needs partition reassignment, which arrives with the day-2 "
            f"operations: set spec.replicationFactor back to {observed.replication_factor}",
        )
    return None


def plan_delete(
    policy: DeletionPolicy,
    observed: ObservedTopic | None,
    *,
    cluster: ClusterFacts,
    conflict: Owner | None = None,
) -> DeleteTopic | Blocked | None:
    """What deleting the resource does to the topic; None: just release the finalizer."""
    if policy is DeletionPolicy.RETAIN or conflict is not None or not cluster.exists:
        return None
    if observed is None:
        return None
    if cluster.ready_brokers == 0:
        return Blocked(
            "ClusterNotReady",
            f"waiting for a ready broker to delete topic '{observed.name}'; set "
            "spec.deletionPolicy: Retain to release the resource without deleting the topic",
        )
    return DeleteTopic(observed.name)


def build_topic_status(
    previous: TopicStatus,
    *,
    generation: int | None,
    topic_name: str,
    observed: ObservedTopic | None,
    step: TopicStep | None,
    now: datetime,
) -> TopicStatus:
    """Status after a pass that observed `observed` and decided (and took) `step`."""
    if step is None:
        ready = condition(
            "Ready",
            True,
            "InSync",
            f"topic '{topic_name}' matches the resource",
            generation=generation,
        )
    elif isinstance(step, Blocked):
        ready = condition("Ready", False, step.reason, step.message, generation=generation)
    elif isinstance(step, CreateTopic):
        ready = condition(
            "Ready", False, "Creating", f"creating topic '{topic_name}'", generation=generation
        )
    elif isinstance(step, AlterConfigs):
        what = "correcting drift made outside" if step.drift else "applying configs"
        ready = condition(
            "Ready",
            False,
            "Updating",
            f"{what}: {', '.join(step.describe())}",
            generation=generation,
        )
    else:
        ready = condition(
            "Ready", False, "Updating", f"growing to {step.total} partitions", generation=generation
        )
    last_drift = previous.last_drift
    if isinstance(step, AlterConfigs) and step.drift:
        last_drift = DriftReport(detected_at=now, details=step.describe())
    return TopicStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, [ready], now=now),
        topic_name=topic_name,
        topic_id=observed.topic_id if observed else previous.topic_id,
        partitions=observed.partitions if observed else None,
        replication_factor=observed.replication_factor if observed else None,
        config=dict(observed.configs) if observed else {},
        last_drift=last_drift,
    )
