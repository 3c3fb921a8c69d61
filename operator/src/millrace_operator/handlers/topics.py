"""Topic handlers: reconcile on change, resume and timer; delete through a finalizer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from millrace_operator.handlers.runtime import RUNTIME, AnyLogger
from millrace_operator.kafkaclient import KafkaError, KafkaUnavailable
from millrace_operator.kubeapi import KubeError
from millrace_operator.metrics import RECONCILES, result_label
from millrace_operator.model.common import GROUP, VERSION
from millrace_operator.plans.common import Blocked
from millrace_operator.reconcile.common import status_patch
from millrace_operator.reconcile.topic import delete_topic, reconcile_topic
from millrace_operator.settings import SETTINGS

PLURAL = "topics"


async def _reconcile(body: kopf.Body, patch: kopf.Patch, logger: AnyLogger) -> None:
    meta = body.metadata
    key = f"{meta.namespace}/{meta.name}"
    RUNTIME.tracker.seen("Topic", key)
    async with RUNTIME.lock(f"Topic/{key}"), RUNTIME.tracker.timed("Topic"):
        try:
            outcome = await reconcile_topic(
                RUNTIME.kube(),
                name=str(meta.name),
                namespace=str(meta.namespace),
                created=str(meta.creation_timestamp or ""),
                generation=body.get("metadata", {}).get("generation"),
                spec=dict(body.spec),
                status=dict(body.status),
                now=datetime.now(UTC),
            )
        except KubeError as exc:
            raise kopf.TemporaryError(f"{key}: {exc}", delay=15) from exc
    patch.status.update(status_patch(outcome.status))
    for kind, reason, message in outcome.events:
        kopf.event(body, type=kind, reason=reason, message=message[:1024])
    RECONCILES.labels("Topic", result_label(outcome.step)).inc()
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


@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.topic_interval, initial_delay=10.0)
async def periodic(*, body: kopf.Body, patch: kopf.Patch, logger: AnyLogger, **_: Any) -> None:
    await _reconcile(body, patch, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(*, body: kopf.Body, logger: AnyLogger, **_: Any) -> None:
    """The finalizer: delete the topic (policy Delete), then let the resource go."""
    meta = body.metadata
    key = f"{meta.namespace}/{meta.name}"
    async with RUNTIME.lock(f"Topic/{key}"):
        try:
            step = await delete_topic(
                RUNTIME.kube(),
                name=str(meta.name),
                namespace=str(meta.namespace),
                created=str(meta.creation_timestamp or ""),
                spec=dict(body.spec),
            )
        except (KubeError, KafkaUnavailable, KafkaError) as exc:
            raise kopf.TemporaryError(f"deleting topic of {key}: {exc}", delay=15) from exc
    if isinstance(step, Blocked):
        raise kopf.TemporaryError(step.message, delay=15)
    if step is not None:
        kopf.event(body, type="Normal", reason="TopicDeleted", message=f"deleted {step.name}")
    RUNTIME.tracker.gone("Topic", key)
    logger.info("released %s", key)
