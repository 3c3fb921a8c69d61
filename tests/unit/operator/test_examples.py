"""The examples are valid: against the generated CRD schemas and the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from support_k8s import validate_object

from millrace_operator.model.cluster import Cluster
from millrace_operator.model.topic import Topic

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CRDS = {"Cluster": "millrace.io_clusters.yaml", "Topic": "millrace.io_topics.yaml"}
MODELS: dict[str, Any] = {"Cluster": Cluster, "Topic": Topic}


def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / CRDS[kind]).read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"].startswith("millrace.io/"):
            jsonschema.validate(doc, crd_schema(doc["kind"]))
            MODELS[doc["kind"]].model_validate(doc)
        else:
            validate_object(doc)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"cluster.yaml", "topic.yaml"}
