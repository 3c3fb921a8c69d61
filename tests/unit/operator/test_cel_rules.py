"""The CRDs' CEL rules (x-kubernetes-validations), evaluated as the API server would.

Uses cel-python (a test dependency; this test fails rather than skips without it). The
objects are defaulted through the models first, as the API server defaults before it
validates. Transition rules get `oldSelf`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.model.topic import TopicSpec

try:
    import celpy  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - the message is the point
    celpy = None

ROOT = Path(__file__).resolve().parents[3]


def rules_at(kind: str, path: tuple[str, ...]) -> list[dict[str, str]]:
    if celpy is None:
        pytest.fail(
            "cel-python is not installed: pip install cel-python (a test extra)", pytrace=False
        )
    crd = yaml.safe_load((ROOT / "crds" / f"millrace.io_{kind}.yaml").read_text())
    node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in path:
        node = node["properties"][part]
    found: list[dict[str, str]] = node.get("x-kubernetes-validations", [])
    return found


@functools.cache
def program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def violations(kind: str, path: tuple[str, ...], new: Any, old: Any = None) -> list[str]:
    """Messages of the rules at `path` that `new` (and `old`, for transitions) break."""
    broken = []
    for rule in rules_at(kind, path):
        if "oldSelf" in rule["rule"] and old is None:
            continue
        activation = {"self": celpy.json_to_cel(new)}
        if old is not None:
            activation["oldSelf"] = celpy.json_to_cel(old)
        result = program(rule["rule"]).evaluate(activation)
        if not bool(result):
            broken.append(rule["message"])
    return broken


def raw_cluster(**spec: Any) -> dict[str, Any]:
    """A defaulted spec without the model's own validation (what the API server sees)."""
    base = ClusterSpec().to_api()
    base.update(spec)
    return base


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (raw_cluster(replicas=3), None),
        (
            raw_cluster(replicas=2, controllers={"mode": "combined", "count": 3}),
            "must not exceed replicas",
        ),
        (raw_cluster(config={"node.id": "3"}), "derives"),
        (raw_cluster(config={"listener.name.x.ssl.keystore.location": "/x"}), "derives"),
        (raw_cluster(config={"log.retention.hour": "3"}), "unknown broker property"),
        (raw_cluster(config={"log.retention.hours": "3"}), None),
    ],
)
def test_cluster_spec_rules(spec: dict[str, Any], fragment: str | None) -> None:
    broken = violations("clusters", ("spec",), spec)
    if fragment is None:
        assert broken == []
    else:
        assert any(fragment in m for m in broken), broken


@pytest.mark.parametrize(("count", "ok"), [(1, True), (2, False), (3, True), (4, False)])
def test_controller_count_odd(count: int, ok: bool) -> None:
    broken = violations("clusters", ("spec", "controllers"), {"mode": "dedicated", "count": count})
    assert (broken == []) is ok


def test_zone_removal_and_port_rules() -> None:
    path = ("spec", "zones")
    old = {"names": ["a", "b"]}
    assert violations("clusters", path, {"names": ["a", "b", "c"]}, old) == []
    assert violations("clusters", path, {"names": ["a"]}, old) != []
    assert violations("clusters", path, {}, old) != []
    assert (
        violations(
            "clusters", ("spec", "listeners"), {"internalPort": 9092, "controllerPort": 9092}
        )
        != []
    )


def test_topic_rules() -> None:
    spec = TopicSpec.model_validate({"clusterRef": {"name": "c"}, "partitions": 3}).to_api()
    assert violations("topics", ("spec",), spec, spec) == []
    assert violations("topics", ("spec",), {**spec, "config": {"retention.mss": "1"}}) != []
    renamed = {**spec, "topicName": "other"}
    assert violations("topics", ("spec",), renamed, spec) != []
    assert violations("topics", ("spec", "partitions"), 6, 3) == []
    assert violations("topics", ("spec", "partitions"), 2, 3) != []
    assert violations("topics", ("spec", "replicationFactor"), 1, 3) != []


def _nodes(node: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in node.get("properties", {}).items():
        found += _nodes(sub, (*path, name))
    return found


@pytest.mark.parametrize("kind", ["clusters", "topics"])
def test_defaults_pass_their_own_rules(kind: str) -> None:
    """The API server validates an object default against its rules when the CRD is
    created (without applying nested defaults): `default: {}` would fail `self.count % 2`."""
    crd = yaml.safe_load((ROOT / "crds" / f"millrace.io_{kind}.yaml").read_text())
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path in _nodes(root):
        node = root
        for part in path:
            node = node["properties"][part]
        if "default" in node and isinstance(node["default"], dict):
            assert violations(kind, path, node["default"]) == [], path
