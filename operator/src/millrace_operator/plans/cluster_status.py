"""The Cluster's status from what was observed and decided: conditions and tables.

Conditions (each with a reason and `observedGeneration`):

- Ready: True when every broker is registered and its pod ready, the quorum has a leader
  and no step is blocked. Reason `Ready`, or `RestartPending` (still True: the cluster
  serves, but restart-only properties wait for a restart and the message says so), or
  the Blocked reason, `Creating`, `BrokersNotReady`.
- Progressing: True while the operator is applying objects or configs, or pods are
  starting; False otherwise (reason `Idle`, or the Blocked reason).
- Degraded: True when a node is not ready (or the quorum has no leader) after the
  cluster was up, until all are back; True when a step is blocked; False otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from millrace_operator.model.cluster import (
    BrokerStatus,
    ClusterStatus,
    OperationStatus,
    QuorumStatus,
)
from millrace_operator.model.common import Condition
from millrace_operator.model.configkeys import is_dynamic_broker_key
from millrace_operator.plans.cluster import (
    AlterBrokerConfigs,
    ApplyObjects,
    ClusterStep,
    ObservedCluster,
)
from millrace_operator.plans.common import Blocked, condition, merge_conditions
from millrace_operator.render.context import RenderContext


def build_broker_table(ctx: RenderContext, observed: ObservedCluster) -> list[BrokerStatus]:
    registered = observed.brokers.registered if observed.brokers else frozenset()
    table: list[BrokerStatus] = []
    for node in ctx.layout.nodes:
        pod = observed.pods.get(node.pod)
        sts = observed.statefulsets.get(node.pool)
        ready = pod is not None and pod.ready and (not node.is_broker or node.node_id in registered)
        pending = (
            pod is not None
            and sts is not None
            and sts.update_revision is not None
            and pod.revision != sts.update_revision
        )
        version = None
        if pod is not None and pod.image and ":" in pod.image.rsplit("/", 1)[-1]:
            version = pod.image.rsplit(":", 1)[-1]
        table.append(
            BrokerStatus(
                node_id=node.node_id,
                zone=node.zone,
                pod=node.pod,
                roles=list(node.roles),
                ready=ready,
                version=version,
                pending_restart=pending,
            )
        )
    return table


def pending_restart_keys(
    ctx: RenderContext, running: Mapping[str, str], any_pod_pending: bool
) -> tuple[list[str], dict[str, str]]:
    """(restart-only keys not yet in effect, the restart-only config pods now run with)."""
    static = {k: v for k, v in ctx.spec.config.items() if not is_dynamic_broker_key(k)}
    if not any_pod_pending:
        return [], static
    changed = sorted(k for k in set(static) | set(running) if static.get(k) != running.get(k))
    return changed, dict(running)


def build_cluster_status(
    ctx: RenderContext,
    previous: ClusterStatus,
    *,
    generation: int | None,
    observed: ObservedCluster,
    step: ClusterStep | None,
    now: datetime,
    applied_dynamic: Mapping[str, str],
) -> ClusterStatus:
    """Status after a pass that observed `observed` and decided (and took) `step`."""
    table = build_broker_table(ctx, observed)
    brokers = [b for b in table if "broker" in b.roles]
    ready_brokers = sum(1 for b in brokers if b.ready)
    any_pending = any(b.pending_restart for b in table)
    pending, running = pending_restart_keys(ctx, previous.running_static_config, any_pending)
    view = observed.brokers
    quorum_ok = view is not None and view.quorum_leader is not None
    created = bool(observed.statefulsets)
    all_ready = created and ready_brokers == len(brokers) and quorum_ok
    gen = generation
    conditions: list[Condition]
    operation: OperationStatus | None = None
    if isinstance(step, Blocked):
        conditions = [
            condition("Ready", False, step.reason, step.message, generation=gen),
            condition("Progressing", False, step.reason, step.message, generation=gen),
            condition("Degraded", True, step.reason, step.message, generation=gen),
        ]
    else:
        if isinstance(step, ApplyObjects):
            name = "Create" if not created else "Update"
            operation = OperationStatus(
                name=name,
                step="ApplyObjects",
                message="applied " + ", ".join(step.describe()),
                started_at=now,
            )
        elif isinstance(step, AlterBrokerConfigs):
            keys = sorted([*step.set, *step.delete])
            operation = OperationStatus(
                name="ApplyConfig",
                step="AlterConfigs",
                message="dynamic properties " + ", ".join(keys),
                started_at=now,
            )
        if operation is None and not all_ready and previous.operation is not None:
            operation = previous.operation  # still in progress until the brokers are ready
        busy = step is not None or not all_ready
        not_ready = [b.pod for b in brokers if not b.ready]
        if all_ready and pending:
            ready = condition(
                "Ready",
                True,
                "RestartPending",
                f"serving; {', '.join(pending)} changed and take effect only after the pods "
                "restart. Rolling restarts arrive with the rolling-upgrade feature: until "
                "then delete the pods one at a time, waiting for each to be ready",
                generation=gen,
            )
        elif all_ready:
            ready = condition(
                "Ready",
                True,
                "Ready",
                f"{ready_brokers} broker(s) ready; bootstrap {ctx.bootstrap_address}",
                generation=gen,
            )
        elif not created:
            ready = condition(
                "Ready", False, "Creating", "creating the cluster's objects", generation=gen
            )
        else:
            waiting = ", ".join(not_ready) or "the quorum to elect a leader"
            ready = condition(
                "Ready", False, "BrokersNotReady", f"waiting for {waiting}", generation=gen
            )
        was_up = any(
            c.type in ("Ready", "Degraded") and c.status == "True" for c in previous.conditions
        )
        degraded = created and was_up and not all_ready
        conditions = [
            ready,
            condition(
                "Progressing",
                busy,
                "Reconciling" if busy else "Idle",
                operation.message if operation else "",
                generation=gen,
            ),
            condition(
                "Degraded",
                degraded,
                "NodesNotReady" if degraded else "AsExpected",
                f"not ready: {', '.join(b.pod for b in table if not b.ready) or 'quorum'}"
                if degraded
                else "",
                generation=gen,
            ),
        ]
    applied = dict(applied_dynamic)
    if isinstance(step, AlterBrokerConfigs):
        applied.update(step.set)
        for key in step.delete:
            applied.pop(key, None)
    return ClusterStatus(
        observed_generation=gen,
        conditions=merge_conditions(previous.conditions, conditions, now=now),
        cluster_id=(view.cluster_id if view and view.cluster_id else ctx.identity.cluster_id),
        bootstrap=ctx.bootstrap_address,
        zones=list(ctx.zones),
        ready_brokers=ready_brokers,
        brokers=table,
        quorum=QuorumStatus(leader=view.quorum_leader, voters=list(view.voters)) if view else None,
        operation=operation,
        pending_restart_config=pending,
        running_static_config=running,
        applied_dynamic_config=applied,
    )
