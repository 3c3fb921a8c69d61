"""Services, PodDisruptionBudgets and the nodes' ServiceAccount.

- `<cluster>-nodes`: headless, publishes not-ready addresses (controllers must find each
  other before any of them is ready), gives every pod the stable DNS name
  `<pod>.<cluster>-nodes.<namespace>.svc.<domain>` used in advertised listeners.
- `<cluster>-bootstrap`: ClusterIP over the ready brokers, the clients' bootstrap address.
- PodDisruptionBudgets: brokers `maxUnavailable: 1`; dedicated controllers
  `maxUnavailable: (count - 1) // 2`, so a voluntary eviction never costs the quorum its
  majority (with one controller, evictions wait: move it by hand). In combined mode one
  budget covers the brokers (a pod may have only one budget for evictions to work) and
  allows one unavailable only when the voters tolerate it.
- The ServiceAccount has no API access and no mounted token: brokers never call the API.
"""

from __future__ import annotations

from typing import Any

from millrace_operator.model.cluster import ControllerMode
from millrace_operator.render.context import RenderContext
from millrace_operator.render.layout import BROKER, CONTROLLER


def build_headless_service(ctx: RenderContext) -> dict[str, Any]:
    ports = ctx.spec.listeners
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(ctx.headless_service),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": ctx.selector(),
            "ports": [
                {"name": "kafka", "port": ports.internal_port, "targetPort": ports.internal_port},
                {
                    "name": "controller",
                    "port": ports.controller_port,
                    "targetPort": ports.controller_port,
                },
            ],
        },
    }


def build_bootstrap_service(ctx: RenderContext) -> dict[str, Any]:
    port = ctx.spec.listeners.internal_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(ctx.bootstrap_service, BROKER),
        "spec": {
            "type": "ClusterIP",
            "selector": ctx.selector(BROKER),
            "ports": [{"name": "kafka", "port": port, "targetPort": port}],
        },
    }


def _pdb(ctx: RenderContext, name: str, component: str, max_unavailable: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": ctx.metadata(name, component),
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": {"matchLabels": ctx.selector(component)},
        },
    }


def build_pdbs(ctx: RenderContext) -> list[dict[str, Any]]:
    count = ctx.spec.controllers.count
    quorum_slack = (count - 1) // 2
    if ctx.spec.controllers.mode is ControllerMode.COMBINED:
        return [_pdb(ctx, f"{ctx.name}-brokers", BROKER, min(1, quorum_slack))]
    return [
        _pdb(ctx, f"{ctx.name}-brokers", BROKER, 1),
        _pdb(ctx, f"{ctx.name}-controllers", CONTROLLER, quorum_slack),
    ]


def build_service_account(ctx: RenderContext) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": ctx.metadata(ctx.service_account),
        "automountServiceAccountToken": False,
    }
