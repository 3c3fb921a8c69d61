"""Rendered objects: StatefulSets, Services, PDBs, ConfigMap, owner references."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.render import Identity, RenderContext, build_objects
from millrace_operator.render.config import (
    build_configmap,
    build_server_properties,
    static_config_hash,
)
from millrace_operator.render.network import build_pdbs
from millrace_operator.render.workloads import build_affinity, build_statefulsets

ABC = ("zone-a", "zone-b", "zone-c")
IDENTITY = Identity("AAAAAAAAAAAAAAAAAAAAAA", {1900: "d1", 2900: "d2", 3900: "d3"})


def ctx(spec: dict[str, Any] | None = None, zones: tuple[str, ...] = ABC) -> RenderContext:
    return RenderContext(
        name="demo",
        namespace="kafka",
        uid="uid-1",
        spec=ClusterSpec.model_validate(spec or {}),
        zones=zones,
        identity=IDENTITY,
    )


def properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_objects_in_apply_order_all_owned() -> None:
    objects = build_objects(ctx())
    kinds = [o["kind"] for o in objects]
    assert (
        kinds
        == [
            "ServiceAccount",
            "ConfigMap",
            "Service",
            "Service",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
        ]
        + ["StatefulSet"] * 6
    )
    for obj in objects:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner == {
            "apiVersion": "millrace.io/v1alpha1",
            "kind": "Cluster",
            "name": "demo",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert obj["metadata"]["namespace"] == "kafka"


def test_statefulset_shape() -> None:
    sts = build_statefulsets(ctx({"replicas": 4, "storage": {"storageClassName": "fast"}}))
    names = [(s["metadata"]["name"], s["spec"]["replicas"]) for s in sts]
    assert names == [
        ("demo-broker-zone-a", 2),
        ("demo-broker-zone-b", 1),
        ("demo-broker-zone-c", 1),
        ("demo-controller-zone-a", 1),
        ("demo-controller-zone-b", 1),
        ("demo-controller-zone-c", 1),
    ]
    first = sts[0]["spec"]
    assert first["updateStrategy"] == {"type": "OnDelete"}
    assert first["serviceName"] == "demo-nodes"
    assert first["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    claim = first["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast"
    assert claim["resources"]["requests"]["storage"] == "10Gi"
    pod = first["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == [
        "/etc/millrace/$(POD_NAME).properties",
        "--cluster-id",
        IDENTITY.cluster_id,
        "--metrics-address",
        "0.0.0.0:9404",
    ]
    assert {"name": "metrics", "containerPort": 9404} in container["ports"]
    assert first["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9404"
    assert container["readinessProbe"]["exec"]["command"][3] == "ready"
    assert pod["terminationGracePeriodSeconds"] == 120
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert set(first["selector"]["matchLabels"].items()) <= set(
        first["template"]["metadata"]["labels"].items()
    )


def test_delete_claim_deletes_pvcs_with_the_cluster() -> None:
    sts = build_statefulsets(ctx({"storage": {"deleteClaim": True}}))
    assert sts[0]["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


@pytest.mark.parametrize(
    ("user", "terms"),
    [
        (None, [[("topology.kubernetes.io/zone", "In", ["zone-b"])]]),
        (
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "disk", "operator": "In", "values": ["ssd"]}
                                ]
                            },
                            {
                                "matchExpressions": [
                                    {"key": "disk", "operator": "In", "values": ["nvme"]}
                                ]
                            },
                        ]
                    }
                }
            },
            [
                [("disk", "In", ["ssd"]), ("topology.kubernetes.io/zone", "In", ["zone-b"])],
                [("disk", "In", ["nvme"]), ("topology.kubernetes.io/zone", "In", ["zone-b"])],
            ],
        ),
    ],
)
def test_zone_affinity_is_anded_into_every_user_term(
    user: dict[str, Any] | None, terms: list[list[tuple[str, str, list[str]]]]
) -> None:
    c = ctx({"template": {"affinity": user}} if user else None)
    pool = c.layout.pools[1]
    affinity = build_affinity(c, pool)
    got = [
        [(e["key"], e["operator"], e["values"]) for e in t["matchExpressions"]]
        for t in affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]
    ]
    assert got == terms
    anti = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[-1]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert c.spec.template.affinity == user  # the spec is not mutated


def test_broker_properties() -> None:
    c = ctx({"config": {"log.retention.hours": "24", "offsets.topic.replication.factor": "2"}})
    broker = c.layout.node("demo-broker-zone-b-0")
    assert broker is not None
    props = properties(build_server_properties(c, broker))
    dns = "demo-broker-zone-b-0.demo-nodes.kafka.svc.cluster.local"
    assert props["node.id"] == "2000"
    assert props["process.roles"] == "broker"
    assert props["broker.rack"] == "zone-b"
    assert props["listeners"] == "PLAINTEXT://:9092"
    assert props["advertised.listeners"] == f"PLAINTEXT://{dns}:9092"
    assert props["controller.quorum.voters"] == ",".join(
        f"{i}900@demo-controller-zone-{z}-0.demo-nodes.kafka.svc.cluster.local:9093"
        for i, z in ((1, "a"), (2, "b"), (3, "c"))
    )
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["log.dirs"] == "/var/lib/millrace/data/log"
    assert props["log.retention.hours"] == "24"
    assert props["offsets.topic.replication.factor"] == "2"  # user wins over the default
    assert props["default.replication.factor"] == "3"


def test_controller_and_combined_properties() -> None:
    c = ctx()
    controller = c.layout.node("demo-controller-zone-a-0")
    assert controller is not None
    props = properties(build_server_properties(c, controller))
    assert props["process.roles"] == "controller"
    assert props["listeners"] == "CONTROLLER://:9093"
    assert "broker.rack" not in props and "inter.broker.listener.name" not in props
    combined = ctx({"replicas": 1, "controllers": {"mode": "combined", "count": 1}}, ("z",))
    node = combined.layout.nodes[0]
    props = properties(build_server_properties(combined, node))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://:9092,CONTROLLER://:9093"
    assert props["offsets.topic.replication.factor"] == "1"


def test_configmap_has_every_node_and_the_identity() -> None:
    data = build_configmap(ctx())["data"]
    assert data["cluster.id"] == IDENTITY.cluster_id
    assert data["directory.id.1900"] == "d1"
    fmt = properties(data["demo-controller-zone-a-0.format"])
    assert fmt["cluster.id"] == IDENTITY.cluster_id
    assert fmt["directory.id"] == "d1"
    assert fmt["initial.controllers"].split(",")[0] == (
        "1900@demo-controller-zone-a-0.demo-nodes.kafka.svc.cluster.local:9093:d1"
    )
    assert "initial.controllers" not in properties(data["demo-broker-zone-a-0.format"])
    assert len([k for k in data if k.endswith(".properties")]) == 6


def test_property_values_are_escaped() -> None:
    c = ctx({"config": {"ssl.cipher.suites": " a\\b"}})
    text = build_server_properties(c, c.layout.nodes[0])
    assert "ssl.cipher.suites=\\ a\\\\b" in text


def test_static_hash_ignores_dynamic_properties() -> None:
    base = static_config_hash(ctx())
    assert static_config_hash(ctx({"config": {"log.retention.ms": "1000"}})) == base
    assert static_config_hash(ctx({"config": {"num.partitions": "3"}})) != base
    assert static_config_hash(ctx({"replicas": 9})) == base


@pytest.mark.parametrize(
    ("spec", "budgets"),
    [
        ({}, [("demo-brokers", "broker", 1), ("demo-controllers", "controller", 1)]),
        (
            {"controllers": {"count": 5}},
            [("demo-brokers", "broker", 1), ("demo-controllers", "controller", 2)],
        ),
        (
            {"controllers": {"count": 1}},
            [("demo-brokers", "broker", 1), ("demo-controllers", "controller", 0)],
        ),
        ({"controllers": {"mode": "combined", "count": 3}}, [("demo-brokers", "broker", 1)]),
        (
            {"replicas": 1, "controllers": {"mode": "combined", "count": 1}},
            [("demo-brokers", "broker", 0)],
        ),
    ],
)
def test_pdbs(spec: dict[str, Any], budgets: list[tuple[str, str, int]]) -> None:
    got = [
        (
            p["metadata"]["name"],
            p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
            p["spec"]["maxUnavailable"],
        )
        for p in build_pdbs(ctx(spec))
    ]
    assert got == budgets


def test_services() -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build_objects(ctx())}
    headless = objects[("Service", "demo-nodes")]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    bootstrap = objects[("Service", "demo-bootstrap")]["spec"]
    assert bootstrap["selector"]["app.kubernetes.io/component"] == "broker"
    assert ctx().bootstrap_address == "demo-bootstrap.kafka.svc.cluster.local:9092"
    account = objects[("ServiceAccount", "demo-node")]
    assert account["automountServiceAccountToken"] is False


def test_render_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from millrace_operator.render.__main__ import main

    example = Path(__file__).resolve().parents[3] / "examples" / "cluster.yaml"
    assert main([str(example), "--namespace", "kafka"]) == 0
    out = capsys.readouterr().out
    assert "demo-broker-zone-a-0.demo-nodes.kafka.svc.cluster.local:9092" in out
    assert out.count("kind: StatefulSet") == 6


def test_dynamic_quorum_uses_bootstrap_servers() -> None:
    c = dataclasses.replace(ctx(), dynamic_quorum=True)
    props = properties(build_server_properties(c, c.layout.nodes[0]))
    assert "controller.quorum.voters" not in props
    assert props["controller.quorum.bootstrap.servers"].count(":9093") == 3
