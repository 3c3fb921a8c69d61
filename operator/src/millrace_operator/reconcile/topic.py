"""One reconcile pass of a Topic, and its deletion.

Observe the referenced Cluster (Kubernetes), other Topic resources claiming the same name,
and the topic itself (Kafka); decide with `plans.topics`; act; build the status. A
difference found while the spec is unchanged since the last pass (status.observedGeneration
equals metadata.generation) is drift made outside, corrected and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from millrace_operator.actuate.kafka import apply_topic_step
from millrace_operator.kafkaclient import KafkaError, KafkaUnavailable
from millrace_operator.kubeapi import KubeReader
from millrace_operator.model.topic import DeletionPolicy, TopicSpec, TopicStatus
from millrace_operator.observe.kafka import observe_topic
from millrace_operator.observe.kube import observe_topic_claims
from millrace_operator.plans.common import Blocked, condition, merge_conditions
from millrace_operator.plans.topics import (
    ClusterFacts,
    DeleteTopic,
    ObservedTopic,
    Owner,
    build_topic_status,
    conflicting_owner,
    next_step,
    plan_delete,
)
from millrace_operator.reconcile.common import (
    KafkaConnector,
    Outcome,
    connect_bootstrap,
    ready_reason,
)

RETRY_SOON = 10.0
_BEFORE_KAFKA = frozenset({"ClusterNotFound", "TopicNameConflict", "ClusterNotReady"})


async def _cluster_facts(
    kube: KubeReader, namespace: str, ref: str
) -> tuple[ClusterFacts, str | None]:
    cluster = await kube.get("Cluster", namespace, ref)
    if cluster is None:
        return ClusterFacts(exists=False), None
    status = cluster.get("status") or {}
    facts = ClusterFacts(
        True, int(status.get("readyBrokers", 0)), int(cluster.get("spec", {}).get("replicas", 0))
    )
    return facts, status.get("bootstrap")


async def reconcile_topic(
    kube: KubeReader,
    *,
    name: str,
    namespace: str,
    created: str,
    generation: int | None,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    now: datetime,
    connect: KafkaConnector = connect_bootstrap,
) -> Outcome:
    """One pass for Topic `namespace/name`."""
    try:
        previous = TopicStatus.model_validate(status or {})
    except ValidationError:
        previous = TopicStatus()
    try:
        parsed = TopicSpec.model_validate(spec)
    except ValidationError as exc:
        message = "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        ready = condition("Ready", False, "InvalidSpec", message, generation=generation)
        new = previous.model_copy(
            update={
                "observed_generation": generation,
                "conditions": merge_conditions(previous.conditions, [ready], now=now),
            }
        )
        return Outcome(
            new.model_dump(by_alias=True, mode="json"), None, [("Warning", "InvalidSpec", message)]
        )
    topic_name = parsed.name_in_cluster(name)
    facts, bootstrap = await _cluster_facts(kube, namespace, parsed.cluster_ref.name)
    claims = await observe_topic_claims(
        kube,
        namespace=namespace,
        cluster=parsed.cluster_ref.name,
        topic_name=topic_name,
        exclude=name,
    )
    conflict = conflicting_owner(Owner(f"{namespace}/{name}", created), claims)
    observed: ObservedTopic | None = None
    events: list[tuple[str, str, str]] = []
    step = next_step(parsed, None, topic_name=topic_name, cluster=facts, conflict=conflict)
    if isinstance(step, Blocked) and step.reason in _BEFORE_KAFKA:
        pass  # decided without asking the brokers
    elif not bootstrap:
        step = Blocked(
            "ClusterNotReady",
            f"Cluster '{parsed.cluster_ref.name}' has no "
            "bootstrap address in its status yet; waiting",
        )
    else:
        spec_changed = previous.observed_generation != generation
        try:
            async with connect(bootstrap) as conn:
                observed = await observe_topic(conn, topic_name)
                step = next_step(
                    parsed,
                    observed,
                    topic_name=topic_name,
                    cluster=facts,
                    conflict=conflict,
                    spec_changed=spec_changed,
                )
                if step is not None and not isinstance(step, Blocked):
                    await apply_topic_step(conn, step)
                    events.append(("Normal", type(step).__name__, f"{step}"))
        except (KafkaUnavailable, KafkaError) as exc:
            step = Blocked("KafkaError", f"{exc}; retrying")
    if isinstance(step, Blocked) and ready_reason(previous.conditions) != step.reason:
        events.append(("Warning", step.reason, step.message))
    new_status = build_topic_status(
        previous,
        generation=generation,
        topic_name=topic_name,
        observed=observed,
        step=step,
        now=now,
    )
    retry = None if step is None else RETRY_SOON
    return Outcome(new_status.model_dump(by_alias=True, mode="json"), step, events, retry)


async def delete_topic(
    kube: KubeReader,
    *,
    name: str,
    namespace: str,
    created: str,
    spec: Mapping[str, Any],
    connect: KafkaConnector = connect_bootstrap,
) -> DeleteTopic | Blocked | None:
    """Delete the topic of a Topic being deleted (per its policy); the step taken."""
    try:
        parsed = TopicSpec.model_validate(spec)
    except ValidationError:
        return None  # it never managed a topic
    topic_name = parsed.name_in_cluster(name)
    facts, bootstrap = await _cluster_facts(kube, namespace, parsed.cluster_ref.name)
    claims = await observe_topic_claims(
        kube,
        namespace=namespace,
        cluster=parsed.cluster_ref.name,
        topic_name=topic_name,
        exclude=name,
    )
    conflict = conflicting_owner(Owner(f"{namespace}/{name}", created), claims)
    if parsed.deletion_policy is DeletionPolicy.RETAIN or conflict or not bootstrap:
        return None
    if facts.ready_brokers == 0:  # ask plan_delete for the reason (and the way out)
        return plan_delete(
            parsed.deletion_policy,
            ObservedTopic(topic_name, "", 0, 0),
            cluster=facts,
            conflict=conflict,
        )
    async with connect(bootstrap) as conn:
        observed = await observe_topic(conn, topic_name)
        step = plan_delete(parsed.deletion_policy, observed, cluster=facts, conflict=conflict)
        if isinstance(step, DeleteTopic):
            await apply_topic_step(conn, step)
    return step
