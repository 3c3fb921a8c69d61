"""Cluster handlers: create/update/resume and a periodic timer all run one reconcile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from millrace_operator.handlers.runtime import RUNTIME, AnyLogger
from millrace_operator.kafkaclient import KafkaError, KafkaUnavailable
from millrace_operator.kubeapi import KubeError
from millrace_operator.metrics import RECONCILES, result_label
from millrace_operator.model.common import GROUP, VERSION
from millrace_operator.reconcile.cluster import reconcile_cluster
from millrace_operator.reconcile.common import status_patch
from millrace_operator.settings import SETTINGS

PLURAL = "clusters"


async def _reconcile(body: kopf.Body, patch: kopf.Patch, logger: AnyLogger) -> None:
    meta = body.metadata
    key = f"{meta.namespace}/{meta.name}"
    RUNTIME.tracker.seen("Cluster", key)
    async with RUNTIME.lock(f"Cluster/{key}"), RUNTIME.tracker.timed("Cluster"):
        api = RUNTIME.kube()
        try:
            outcome = await reconcile_cluster(
                api,
                api,
                name=str(meta.name),
                namespace=str(meta.namespace),
                uid=str(meta.uid),
                generation=body.get("metadata", {}).get("generation"),
                spec=dict(body.spec),
                status=dict(body.status),
                now=datetime.now(UTC),
                cluster_domain=SETTINGS.cluster_domain,
            )
        except (KubeError, KafkaUnavailable, KafkaError) as exc:
            kopf.event(body, type="Warning", reason="ReconcileFailed", message=str(exc))
            raise kopf.TemporaryError(f"{key}: {exc}", delay=15) from exc
    patch.status.update(status_patch(outcome.status))
    for kind, reason, message in outcome.events:
        kopf.event(body, type=kind, reason=reason, message=message[:1024])
    RECONCILES.labels("Cluster", result_label(outcome.step)).inc()
    logger.info("reconciled %s: %s", key, result_label(outcome.step))


@kopf.on.create(GROUP, VERSION, PLURAL)
async def created(*, body: kopf.Body, patch: kopf.Patch, logger: AnyLogger, **_: Any) -> None:
    await _reconcile(body, patch, logger)


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def updated(*, body: kopf.Body, patch: kopf.Patch, logger: AnyLogger, **_: Any) -> None:
    await _reconcile(body, patch, logger)


@kopf.on.resume(GROUP, VERSION, PLURAL)
async def resumed(*, body: kopf.Body, patch: kopf.Patch, logger: AnyLogger, **_: Any) -> None:
    await _reconcile(body, patch, logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.cluster_interval, initial_delay=5.0)
async def periodic(*, body: kopf.Body, patch: kopf.Patch, logger: AnyLogger, **_: Any) -> None:
    await _reconcile(body, patch, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
async def deleted(*, body: kopf.Body, **_: Any) -> None:
    """Owner references delete what the Cluster owns; only forget it here."""
    RUNTIME.tracker.gone("Cluster", f"{body.metadata.namespace}/{body.metadata.name}")
