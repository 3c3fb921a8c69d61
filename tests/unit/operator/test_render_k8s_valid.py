"""Every object the renderers produce is valid against Kubernetes' own OpenAPI schemas."""

from __future__ import annotations

from typing import Any

import pytest
from support_k8s import validate_object

from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.render import Identity, RenderContext, build_objects

SPECS: list[dict[str, Any]] = [
    {},
    {
        "replicas": 5,
        "controllers": {"mode": "combined", "count": 3},
        "storage": {"storageClassName": "standard", "deleteClaim": True},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "config": {"log.retention.hours": "24"},
        "template": {
            "annotations": {"a": "b"},
            "labels": {"team": "x"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"disk": "ssd"},
            "priorityClassName": "high",
            "affinity": {"podAffinity": {}},
        },
    },
]


@pytest.mark.parametrize("spec", SPECS)
def test_rendered_objects_are_valid_kubernetes(spec: dict[str, Any]) -> None:
    ctx = RenderContext(
        name="demo",
        namespace="ns",
        uid="u",
        spec=ClusterSpec.model_validate(spec),
        zones=("zone-a", "zone-b", "zone-c"),
        identity=Identity("cid", {1900: "a", 2900: "b", 3900: "c"}),
    )
    for obj in build_objects(ctx):
        validate_object(obj)
