"""One reconcile pass of a Cluster.

1. parse the spec (a spec the API server let through but the models reject -> Blocked)
2. observe Kubernetes; resolve zones; keep or create the storage identity
3. observe the brokers over the Kafka protocol (when the bootstrap Service exists)
4. decide with `plans.cluster.next_step`; act (apply objects, or alter dynamic configs)
5. build the status (`plans.cluster_status`) and the Events to post

Nothing is applied while the planner is Blocked, so bad input creates nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from millrace_operator.actuate.kafka import apply_broker_configs
from millrace_operator.actuate.kube import apply_objects
from millrace_operator.kafkaclient import KafkaError, KafkaUnavailable
from millrace_operator.kubeapi import KubeReader, KubeWriter
from millrace_operator.model.cluster import ClusterSpec, ClusterStatus
from millrace_operator.observe.kafka import observe_broker_view
from millrace_operator.observe.kube import observe_cluster
from millrace_operator.plans.cluster import (
    AlterBrokerConfigs,
    ApplyObjects,
    BrokerView,
    next_step,
    plan_identity,
    resolve_zones,
)
from millrace_operator.plans.cluster_status import build_cluster_status
from millrace_operator.plans.common import Blocked, condition, merge_conditions
from millrace_operator.reconcile.common import (
    KafkaConnector,
    Outcome,
    connect_bootstrap,
    ready_reason,
)
from millrace_operator.render import Identity, RenderContext, build_objects
from millrace_operator.render.layout import build_layout

RETRY_SOON = 10.0


def new_kafka_id() -> str:
    """A Kafka-style id: a random UUID, URL-safe base64 without padding (22 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _blocked_outcome(
    previous: ClusterStatus, blocked: Blocked, generation: int | None, now: datetime
) -> Outcome:
    conditions = [
        condition("Ready", False, blocked.reason, blocked.message, generation=generation),
        condition("Progressing", False, blocked.reason, blocked.message, generation=generation),
        condition("Degraded", True, blocked.reason, blocked.message, generation=generation),
    ]
    status = previous.model_copy(
        update={
            "observed_generation": generation,
            "conditions": merge_conditions(previous.conditions, conditions, now=now),
            "operation": None,
        }
    )
    events = (
        []
        if ready_reason(previous.conditions) == blocked.reason
        else [("Warning", blocked.reason, blocked.message)]
    )
    return Outcome(status.model_dump(by_alias=True, mode="json"), blocked, events)


async def reconcile_cluster(
    kube: KubeReader,
    writer: KubeWriter,
    *,
    name: str,
    namespace: str,
    uid: str,
    generation: int | None,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    now: datetime,
    cluster_domain: str = "cluster.local",
    connect: KafkaConnector = connect_bootstrap,
    new_id: Callable[[], str] = new_kafka_id,
) -> Outcome:
    """One pass for Cluster `namespace/name` (see the module docstring)."""
    try:
        previous = ClusterStatus.model_validate(status or {})
    except ValidationError:
        previous = ClusterStatus()
    try:
        parsed = ClusterSpec.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _blocked_outcome(previous, Blocked("InvalidSpec", problems), generation, now)
    observed = await observe_cluster(kube, name=name, namespace=namespace, spec=parsed)
    zones = resolve_zones(parsed, tuple(previous.zones), observed.node_zones)
    if isinstance(zones, Blocked):
        return _blocked_outcome(previous, zones, generation, now)
    layout = build_layout(name, parsed, list(zones))
    identity: Identity = plan_identity(
        observed.identity, [n.node_id for n in layout.controllers], new_id
    )
    ctx = RenderContext(
        name=name,
        namespace=namespace,
        uid=uid,
        spec=parsed,
        zones=zones,
        identity=identity,
        cluster_domain=cluster_domain,
    )
    view: BrokerView | None = None
    if observed.statefulsets:
        try:
            async with connect(ctx.bootstrap_address) as conn:
                view = await observe_broker_view(conn)
        except (KafkaUnavailable, KafkaError):
            view = None
    observed = dataclasses.replace(observed, brokers=view)
    applied_dynamic = previous.applied_dynamic_config
    step = next_step(ctx, observed, build_objects(ctx), applied_dynamic=applied_dynamic)
    events: list[tuple[str, str, str]] = []
    if isinstance(step, ApplyObjects):
        done = await apply_objects(writer, step)
        events.append(("Normal", "Applied", "applied " + ", ".join(done)))
    elif isinstance(step, AlterBrokerConfigs):
        async with connect(ctx.bootstrap_address) as conn:
            await apply_broker_configs(conn, step)
        keys = sorted([*step.set, *step.delete])
        events.append(
            (
                "Normal",
                "ConfigApplied",
                "applied dynamic broker properties without restart: " + ", ".join(keys),
            )
        )
    elif isinstance(step, Blocked) and ready_reason(previous.conditions) != step.reason:
        events.append(("Warning", step.reason, step.message))
    new_status = build_cluster_status(
        ctx,
        previous,
        generation=generation,
        observed=observed,
        step=step,
        now=now,
        applied_dynamic=applied_dynamic,
    )
    if new_status.pending_restart_config and not previous.pending_restart_config:
        events.append(
            (
                "Normal",
                "RestartPending",
                "restart-only properties changed: " + ", ".join(new_status.pending_restart_config),
            )
        )
    ready = next((c for c in new_status.conditions if c.type == "Ready"), None)
    retry = RETRY_SOON if step is not None or (ready and ready.status != "True") else None
    return Outcome(new_status.model_dump(by_alias=True, mode="json"), step, events, retry)
