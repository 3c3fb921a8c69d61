"""Operator start-up and clean-up: settings, API client, HTTP endpoints."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from millrace_operator.handlers.runtime import RUNTIME, AnyLogger
from millrace_operator.kubeapi import KubeApi
from millrace_operator.settings import SETTINGS


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, logger: AnyLogger, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="millrace.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="millrace.io", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "millrace.io/finalizer"
    # Handlers post their own Events for actions; Kopf adds Events for warnings only (an
    # INFO level would turn every periodic "reconciled" log line into an Event).
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "millrace-operator"
    settings.watching.server_timeout = 300
    settings.peering.mandatory = bool(SETTINGS.peering)
    settings.peering.clusterwide = not SETTINGS.namespaces
    if SETTINGS.peering:
        settings.peering.name = SETTINGS.peering
    if not RUNTIME.http.started:  # liveness answers even while the API is unreachable
        await RUNTIME.http.start(SETTINGS.http_port)
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.PermanentError("no Kubernetes credentials: neither in-cluster nor kubeconfig")
    RUNTIME.api = await KubeApi(info).__aenter__()
    RUNTIME.http.ready = True
    logger.info("millrace operator started (namespaces: %s)", SETTINGS.namespaces or "all")


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    RUNTIME.http.ready = False
    if RUNTIME.api is not None:
        await RUNTIME.api.__aexit__(None, None, None)
    await RUNTIME.http.stop()
