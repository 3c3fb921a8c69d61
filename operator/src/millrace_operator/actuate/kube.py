"""Write the rendered objects to Kubernetes (server-side apply), one step at a time."""

from __future__ import annotations

from millrace_operator.kubeapi import KubeWriter
from millrace_operator.plans.cluster import ApplyObjects


async def apply_objects(writer: KubeWriter, step: ApplyObjects) -> list[str]:
    """Apply every object of the step in order; the "Kind/name"s applied."""
    done: list[str] = []
    for obj in step.objects:
        await writer.apply(obj)
        done.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return done
