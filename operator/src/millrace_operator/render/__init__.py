"""Pure renderers: a Cluster's spec -> the Kubernetes objects that run it.

`build_objects(ctx)` returns every object in apply order (ServiceAccount, ConfigMap,
Services, PodDisruptionBudgets, StatefulSets); each carries an owner reference to the
Cluster so deleting the Cluster deletes them (PersistentVolumeClaims are kept unless
`spec.storage.deleteClaim`). See `layout` for zones and node ids.
"""

from __future__ import annotations

from typing import Any

from millrace_operator.render.config import build_configmap
from millrace_operator.render.context import Identity, RenderContext
from millrace_operator.render.network import (
    build_bootstrap_service,
    build_headless_service,
    build_pdbs,
    build_service_account,
)
from millrace_operator.render.workloads import build_statefulsets


def build_objects(ctx: RenderContext) -> list[dict[str, Any]]:
    """Every object the Cluster owns, in the order to apply them."""
    return [
        build_service_account(ctx),
        build_configmap(ctx),
        build_headless_service(ctx),
        build_bootstrap_service(ctx),
        *build_pdbs(ctx),
        *build_statefulsets(ctx),
    ]


__all__ = ["Identity", "RenderContext", "build_objects"]
