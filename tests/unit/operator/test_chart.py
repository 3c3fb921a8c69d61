"""The Helm chart: values schema, `helm lint`, and rendered manifests valid for Kubernetes.

Needs a helm binary (see support_k8s.HOW_TO_GET_HELM); fails, not skips, without one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from support_k8s import require_helm, validate_object

ROOT = Path(__file__).resolve().parents[3]
# Render for the Kubernetes the e2e cluster runs (helm built from Go modules otherwise
# assumes v1.20, which the chart's kubeVersion constraint refuses).
KUBE_VERSION = "1.34.0"
CHART = ROOT / "charts" / "millrace-operator"


def values_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def test_default_values_match_the_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, values_schema())


@pytest.mark.parametrize(
    "bad",
    [
        {"replicaCount": 0},
        {"watch": {"namespaces": ["Bad_NS"]}},
        {"image": {"repository": ""}},
        {"logging": {"level": "LOUD"}},
        {"reconcileInterval": {"topic": 1}},
        {"unknownKey": 1},
    ],
)
def test_schema_rejects_bad_values(bad: dict[str, Any]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values.update(bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, values_schema())


def test_chart_crds_are_the_generated_ones() -> None:
    for name in ("millrace.io_clusters.yaml", "millrace.io_topics.yaml"):
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text()


def helm_template(*args: str) -> list[dict[str, Any]]:
    helm = require_helm()
    out = subprocess.run(
        [
            helm,
            "template",
            "mr",
            str(CHART),
            "--namespace",
            "millrace-system",
            "--include-crds",
            "--kube-version",
            KUBE_VERSION,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_helm_lint() -> None:
    helm = require_helm()
    for extra in ([], ["--set", "replicaCount=2", "--set", "watch.namespaces={a,b}"]):
        out = subprocess.run(
            [helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (
            [],
            {
                "ClusterRole": 1,
                "ClusterRoleBinding": 1,
                "Role": 0,
                "Deployment": 1,
                "ClusterKopfPeering": 0,
            },
        ),
        (
            ["--set", "watch.namespaces={team-a,team-b}", "--set", "replicaCount=2"],
            {"ClusterRole": 1, "Role": 2, "RoleBinding": 2, "KopfPeering": 2},
        ),
        (["--set", "replicaCount=3"], {"ClusterKopfPeering": 1}),
    ],
)
def test_rendered_manifests_are_valid(args: list[str], expect: dict[str, int]) -> None:
    docs = helm_template(*args)
    kinds: dict[str, int] = {}
    for doc in docs:
        kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
        if doc["apiVersion"].startswith("kopf.dev"):
            continue
        validate_object(doc)
    for kind, count in expect.items():
        assert kinds.get(kind, 0) == count, kinds
    assert kinds["CustomResourceDefinition"] == 4


def test_cluster_wide_rbac_is_least_privilege() -> None:
    docs = helm_template()
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        if "secrets" in rule["resources"]:
            raise AssertionError("the operator must not read secrets")
        if rule["resources"] == ["pods", "persistentvolumeclaims"]:
            assert rule["verbs"] == ["get", "list", "watch"]
