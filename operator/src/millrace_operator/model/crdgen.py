"""Generate the CustomResourceDefinitions from the pydantic models.

    python -m millrace_operator.model.crdgen            # write crds/ and the chart's crds/
    python -m millrace_operator.model.crdgen --check    # exit 1 if the files are stale

The models are the single source of truth. Pydantic's JSON schema is turned into a
Kubernetes *structural* OpenAPI v3 schema: `$ref`s inlined, `title`s dropped, optional
fields (`X | None`) reduced to `X` (absent means unset), `additionalProperties: false`
dropped (the API server prunes unknown fields instead), `null` defaults dropped; types,
enums, ranges, patterns, defaults, descriptions and `x-kubernetes-*` extensions are kept.
Each CRD gets the status subresource, printer columns, short names and a category.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel

from millrace_operator.model.cluster import ClusterSpec, ClusterStatus
from millrace_operator.model.common import GROUP, VERSION
from millrace_operator.model.topic import TopicSpec, TopicStatus

_DROP: Final = frozenset({"title", "$defs"})


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = dict(target)
        merged.update(node)  # a field's own description/default win over the type's
        node = merged
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            branch = _resolve(branches[0], defs)
            node = {**branch, **rest}
    if node.get("default", 0) is None:
        del node["default"]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
        node["x-kubernetes-preserve-unknown-fields"] = True
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _resolve(v, defs) for name, v in value.items()}
        elif key == "default":
            out[key] = value
        elif key == "additionalProperties" and isinstance(value, dict):
            merged_ap = _resolve(value, defs)
            if merged_ap.get("x-kubernetes-int-or-string"):
                merged_ap.pop("type", None)
            out[key] = merged_ap
        else:
            out[key] = _resolve(value, defs)
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("type") == "object":
        out.pop("additionalProperties", None)
    if "items" in out and isinstance(out["items"], dict) and "type" not in out["items"]:
        out["items"]["type"] = "string"
    return out


def _default_empty_objects(schema: dict[str, Any]) -> None:
    """Give optional nested objects `default: {}` so the API server fills their defaults.

    Structural defaulting applies a field's default only when its parent object exists;
    without this, `spec.storage.size` would stay unset for a manifest with no `storage`.
    Children first, so a parent's default includes its children's (complete) defaults.
    """
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "object" and "properties" in prop:
            _default_empty_objects(prop)
            if name not in required and "default" not in prop:
                prop["default"] = _defaults_of(prop)


def _defaults_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The object an absent field defaults to, its own fields' defaults filled in.

    The API server validates a default against the schema's rules (CEL included) without
    applying nested defaults, so `default: {}` would fail a rule like `self.count % 2 == 1`.
    """
    return {
        name: prop["default"]
        for name, prop in schema.get("properties", {}).items()
        if "default" in prop
    }


def build_schema(model: type[BaseModel], *, fill_defaults: bool = False) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of `model` (camelCase property names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    resolved: dict[str, Any] = _resolve(raw, raw.get("$defs", {}))
    if fill_defaults:
        _default_empty_objects(resolved)
    return resolved


def _ready_column(description: str) -> dict[str, str]:
    return {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": description,
    }


def _reason_column() -> dict[str, Any]:
    return {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "priority": 1,
    }


_AGE: Final = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def build_crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    description: str,
) -> dict[str, Any]:
    """One CRD with a single served, stored version and the status subresource."""
    schema = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": build_schema(spec, fill_defaults=True),
            "status": build_schema(status),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "millrace"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["millrace"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def build_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, for every resource of the operator."""
    cluster = build_crd(
        kind="Cluster",
        plural="clusters",
        short_names=["mrc", "mrcluster"],
        spec=ClusterSpec,
        status=ClusterStatus,
        description="A Millrace (Kafka-compatible) cluster: brokers and KRaft controllers "
        "spread over zones.",
        columns=[
            {"name": "Brokers", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ready Brokers", "type": "integer", "jsonPath": ".status.readyBrokers"},
            {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
            _ready_column("Whether every broker is ready and the spec is applied."),
            {"name": "Bootstrap", "type": "string", "jsonPath": ".status.bootstrap", "priority": 1},
            _reason_column(),
            _AGE,
        ],
    )
    topic = build_crd(
        kind="Topic",
        plural="topics",
        short_names=["mrt", "mrtopic"],
        spec=TopicSpec,
        status=TopicStatus,
        description="A topic of a Millrace cluster; the resource is the truth.",
        columns=[
            {"name": "Cluster", "type": "string", "jsonPath": ".spec.clusterRef.name"},
            {"name": "Partitions", "type": "integer", "jsonPath": ".spec.partitions"},
            {"name": "Replication", "type": "integer", "jsonPath": ".spec.replicationFactor"},
            _ready_column("Whether the topic matches the resource."),
            {"name": "Topic", "type": "string", "jsonPath": ".status.topicName", "priority": 1},
            _reason_column(),
            _AGE,
        ],
    )
    return {"millrace.io_clusters.yaml": cluster, "millrace.io_topics.yaml": topic}


HEADER: Final = (
    "# Generated by `python -m millrace_operator.model.crdgen` from the pydantic models in\n"
    "# operator/src/millrace_operator/model/. Do not edit; edit the models and regenerate.\n"
)


def render_yaml(crd: Mapping[str, Any]) -> str:
    text: str = yaml.safe_dump(dict(crd), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + text


def output_dirs(root: Path) -> list[Path]:
    return [root / "crds", root / "charts" / "millrace-operator" / "crds"]


def stale_files(root: Path) -> list[Path]:
    """Generated files that are missing or differ from what the models produce."""
    stale: list[Path] = []
    for directory in output_dirs(root):
        for name, crd in build_crds().items():
            path = directory / name
            if not path.exists() or path.read_text() != render_yaml(crd):
                stale.append(path)
    return stale


def write_all(root: Path) -> list[Path]:
    written: list[Path] = []
    for directory in output_dirs(root):
        directory.mkdir(parents=True, exist_ok=True)
        for name, crd in build_crds().items():
            path = directory / name
            path.write_text(render_yaml(crd))
            written.append(path)
    return written


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[4]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=_repo_root(), help="repository root")
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        for path in stale:
            print(f"stale: {path} (run python -m millrace_operator.model.crdgen)")
        return 1 if stale else 0
    for path in write_all(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
