"""An in-memory Kubernetes API for reconcile tests (a real API server cannot run here).

Implements the `KubeReader`/`KubeWriter` seams: objects by (kind, namespace, name), label
selectors by equality, server-side apply as replace-and-keep-status.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


class FakeKube:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.applied: list[str] = []
        for obj in objects:
            self.put(obj)

    def put(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta.get("namespace"), meta["name"])] = copy.deepcopy(obj)

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found else None

    async def list(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for (k, ns, _), obj in sorted(self.objects.items(), key=lambda i: str(i[0])):
            if k != kind or (namespace is not None and ns != namespace):
                continue
            have = obj["metadata"].get("labels", {})
            if labels and any(have.get(key) != value for key, value in labels.items()):
                continue
            out.append(copy.deepcopy(obj))
        return out

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(dict(obj))
        key = (stored["kind"], stored["metadata"].get("namespace"), stored["metadata"]["name"])
        old = self.objects.get(key)
        if old is not None and "status" in old:
            stored["status"] = old["status"]
        self.objects[key] = stored
        self.applied.append(f"{stored['kind']}/{stored['metadata']['name']}")
        return copy.deepcopy(stored)

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)


def node(name: str, zone: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
    }


def storage_class(name: str, default: bool = False) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"kind": "StorageClass", "metadata": {"name": name, "annotations": annotations}}
