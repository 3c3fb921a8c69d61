"""The generated CRDs: no drift from the models, structural schemas, sane metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from millrace_operator.model.crdgen import build_crds, stale_files

ROOT = Path(__file__).resolve().parents[3]


def test_generated_files_match_the_models() -> None:
    stale = stale_files(ROOT)
    assert not stale, (
        f"generated CRDs differ from the models: {[str(p) for p in stale]}; "
        "run python -m millrace_operator.model.crdgen"
    )


def _walk(node: Any, path: str) -> list[str]:
    """Violations of Kubernetes' structural schema rules under `node`."""
    problems: list[str] = []
    if isinstance(node, dict):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs"):
            if banned in node:
                problems.append(f"{path}: has {banned}")
        if node.get("additionalProperties") is False:
            problems.append(f"{path}: additionalProperties false")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties")
        is_schema = "type" in node or "properties" in node or "items" in node
        is_int_or_string = node.get("x-kubernetes-int-or-string")
        if is_schema and "type" not in node and not is_int_or_string:
            problems.append(f"{path}: no type")
        if node.get("type") == "object" and "default" in node and node["default"] is None:
            problems.append(f"{path}: null default")
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    problems += _walk(sub, f"{path}.{name}")
            elif key in ("items", "additionalProperties"):
                problems += _walk(value, f"{path}[]")
    return problems


@pytest.mark.parametrize("name", sorted(build_crds()))
def test_schemas_are_structural(name: str) -> None:
    crd = build_crds()[name]
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"][0] in ("mrc", "mrt")
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Ready", "Age"} <= columns
    # every spec field carries text for `kubectl explain`
    for field, sub in schema["properties"]["spec"]["properties"].items():
        assert sub.get("description"), field


def _schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / name).read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_rejects_what_the_models_reject() -> None:
    schema = _schema("millrace.io_clusters.yaml")
    good = {"apiVersion": "millrace.io/v1alpha1", "kind": "Cluster", "spec": {"replicas": 3}}
    jsonschema.validate(good, schema)
    for bad in ({"replicas": 0}, {"controllers": {"mode": "shared"}}, {"storage": {"size": "x"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "spec": bad}, schema)


def test_cel_rules_name_fields_and_compile_shape() -> None:
    crd = build_crds()["millrace.io_clusters.yaml"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert any("controllers.count <= self.replicas" in r for r in rules)
    assert "'log.retention.hours'" in rules[-1]
    count_rule = spec["properties"]["controllers"]["x-kubernetes-validations"][0]
    assert count_rule["rule"] == "self.count % 2 == 1"
