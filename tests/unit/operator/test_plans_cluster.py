"""Cluster core planner and status as tables of (spec, observed) -> step / conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from millrace_operator.model.cluster import ClusterSpec, ClusterStatus
from millrace_operator.plans.cluster import (
    DESIRED_HASH,
    AlterBrokerConfigs,
    ApplyObjects,
    BrokerView,
    ObservedCluster,
    ObservedPod,
    ObservedStatefulSet,
    desired_hash,
    next_step,
    object_key,
    plan_identity,
    resolve_zones,
    validate_cluster,
)
from millrace_operator.plans.cluster_status import build_cluster_status
from millrace_operator.plans.common import Blocked
from millrace_operator.render import Identity, RenderContext, build_objects

ABC = ("zone-a", "zone-b", "zone-c")
NODES = frozenset(ABC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ctx(spec: dict[str, Any] | None = None, name: str = "demo") -> RenderContext:
    return RenderContext(
        name=name,
        namespace="ns",
        uid="u",
        spec=ClusterSpec.model_validate(spec or {}),
        zones=ABC,
        identity=Identity("cid", {1900: "a", 2900: "b", 3900: "c"}),
    )


def applied(c: RenderContext) -> dict[str, str]:
    return {object_key(o): desired_hash(o) for o in build_objects(c)}


def running(
    c: RenderContext, *, ready: bool = True, revision: str = "r1", **view: Any
) -> ObservedCluster:
    layout = c.layout
    return ObservedCluster(
        node_zones=NODES,
        storage_classes=frozenset({"standard"}),
        applied=applied(c),
        statefulsets={p.name: ObservedStatefulSet(p.name, p.replicas, "r1") for p in layout.pools},
        pods={
            n.pod: ObservedPod(n.pod, ready, revision, "millrace/broker:0.1.0")
            for n in layout.nodes
        },
        brokers=BrokerView(
            "cid", frozenset(n.node_id for n in layout.brokers), 1900, (1900, 2900, 3900), **view
        ),
    )


@pytest.mark.parametrize(
    ("spec", "observed", "reason"),
    [
        (
            {"storage": {"storageClassName": "fast"}},
            ObservedCluster(storage_classes=frozenset({"standard"})),
            "StorageClassNotFound",
        ),
        ({}, ObservedCluster(has_default_storage_class=False), "NoDefaultStorageClass"),
        (
            {"zones": {"names": ["zone-a", "zone-x"]}},
            ObservedCluster(node_zones=NODES),
            "ZoneHasNoNodes",
        ),
        ({}, ObservedCluster(), None),
        ({"storage": {"storageClassName": "fast"}}, ObservedCluster(storage_classes=None), None),
    ],
)
def test_validate_cluster(
    spec: dict[str, Any], observed: ObservedCluster, reason: str | None
) -> None:
    blocked = validate_cluster("demo", ClusterSpec.model_validate(spec), observed)
    assert (blocked.reason if blocked else None) == reason


def test_even_controller_count_blocked_when_the_api_server_did_not_reject_it() -> None:
    spec = ClusterSpec.model_construct(**{**ClusterSpec().__dict__})
    spec.controllers.count = 4
    blocked = validate_cluster("demo", spec, ObservedCluster())
    assert blocked is not None and blocked.reason == "EvenControllerCount"
    assert "odd" in blocked.message


def test_long_names_are_refused() -> None:
    blocked = validate_cluster("x" * 30, ClusterSpec(), ObservedCluster())
    assert blocked is not None and blocked.reason == "NameTooLong"


@pytest.mark.parametrize(
    ("names", "recorded", "nodes", "expected"),
    [
        ([], (), NODES, ABC),
        ([], ("zone-b",), NODES, ("zone-b",)),
        (["zone-c", "zone-a"], (), NODES, ("zone-c", "zone-a")),
        (
            ["zone-c", "zone-a", "zone-b"],
            ("zone-c", "zone-a"),
            NODES,
            ("zone-c", "zone-a", "zone-b"),
        ),
        ([], (), frozenset(), Blocked),
    ],
)
def test_resolve_zones(
    names: list[str], recorded: tuple[str, ...], nodes: frozenset[str], expected: Any
) -> None:
    got = resolve_zones(ClusterSpec.model_validate({"zones": {"names": names}}), recorded, nodes)
    if expected is Blocked:
        assert isinstance(got, Blocked) and got.reason == "NoZones"
    else:
        assert got == expected


def test_identity_is_created_once_and_kept() -> None:
    ids = iter(["c1", "d1", "d2", "d3", "d4"])
    first = plan_identity(None, [1900, 2900], lambda: next(ids))
    assert first == Identity("c1", {1900: "d1", 2900: "d2"})
    again = plan_identity(first, [1900, 2900, 3900], lambda: next(ids))
    assert again == Identity("c1", {1900: "d1", 2900: "d2", 3900: "d3"})


def test_new_cluster_applies_everything() -> None:
    c = ctx()
    step = next_step(c, ObservedCluster(node_zones=NODES), build_objects(c), applied_dynamic={})
    assert isinstance(step, ApplyObjects)
    assert len(step.objects) == 12
    assert all(DESIRED_HASH in o["metadata"]["annotations"] for o in step.objects)


def test_running_cluster_in_sync() -> None:
    c = ctx()
    assert next_step(c, running(c), build_objects(c), applied_dynamic={}) is None


def test_changed_spec_applies_only_changed_objects() -> None:
    before = ctx()
    after = ctx({"config": {"num.partitions": "3"}})
    step = next_step(after, running(before), build_objects(after), applied_dynamic={})
    assert isinstance(step, ApplyObjects)
    # the ConfigMap and every StatefulSet (restart-only property -> template hash)
    assert sorted(step.describe())[0] == "ConfigMap/demo-config"
    assert len(step.describe()) == 7


def test_scale_in_is_blocked() -> None:
    big = ctx({"replicas": 6})
    small = ctx({"replicas": 3})
    step = next_step(small, running(big), build_objects(small), applied_dynamic={})
    assert isinstance(step, Blocked) and step.reason == "ScaleInNotSupported"


@pytest.mark.parametrize(
    ("config", "brokers_have", "applied_before", "expected"),
    [
        (
            {"log.retention.ms": "1000"},
            {},
            {},
            AlterBrokerConfigs({"log.retention.ms": "1000"}, ()),
        ),
        ({"log.retention.ms": "1000"}, {"log.retention.ms": "1000"}, {}, None),
        (
            {},
            {"log.retention.ms": "1000"},
            {"log.retention.ms": "1000"},
            AlterBrokerConfigs({}, ("log.retention.ms",)),
        ),
        ({}, {"log.retention.ms": "1000"}, {}, None),  # set by someone else: left alone
    ],
)
def test_dynamic_config(
    config: dict[str, str],
    brokers_have: dict[str, str],
    applied_before: dict[str, str],
    expected: Any,
) -> None:
    before = ctx({"config": {k: v for k, v in config.items()}})
    obs = running(before, dynamic_defaults=brokers_have)
    assert next_step(before, obs, build_objects(before), applied_dynamic=applied_before) == expected


def conditions(status: ClusterStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in status.conditions}


def test_status_ready() -> None:
    c = ctx()
    status = build_cluster_status(
        c,
        ClusterStatus(),
        generation=3,
        observed=running(c),
        step=None,
        now=NOW,
        applied_dynamic={},
    )
    assert conditions(status) == {
        "Ready": ("True", "Ready"),
        "Progressing": ("False", "Idle"),
        "Degraded": ("False", "AsExpected"),
    }
    assert status.ready_brokers == 3 and status.cluster_id == "cid"
    assert status.quorum is not None and status.quorum.leader == 1900
    assert status.bootstrap == "demo-bootstrap.ns.svc.cluster.local:9092"
    assert [b.node_id for b in status.brokers] == [1000, 1900, 2000, 2900, 3000, 3900]
    assert all(c.observed_generation == 3 for c in status.conditions)


def test_status_creating_then_not_ready_then_degraded() -> None:
    c = ctx()
    created = build_cluster_status(
        c,
        ClusterStatus(),
        generation=1,
        observed=ObservedCluster(node_zones=NODES),
        step=ApplyObjects(()),
        now=NOW,
        applied_dynamic={},
    )
    assert conditions(created)["Ready"] == ("False", "Creating")
    assert created.operation is not None and created.operation.name == "Create"
    starting = build_cluster_status(
        c,
        created,
        generation=1,
        observed=running(c, ready=False),
        step=None,
        now=NOW,
        applied_dynamic={},
    )
    assert conditions(starting)["Ready"] == ("False", "BrokersNotReady")
    assert conditions(starting)["Degraded"] == ("False", "AsExpected")
    assert starting.operation is not None and starting.operation.name == "Create"
    up = build_cluster_status(
        c, starting, generation=1, observed=running(c), step=None, now=NOW, applied_dynamic={}
    )
    down = build_cluster_status(
        c,
        up,
        generation=1,
        observed=running(c, ready=False),
        step=None,
        now=NOW,
        applied_dynamic={},
    )
    assert conditions(down)["Degraded"] == ("True", "NodesNotReady")
    assert up.operation is None


def test_restart_only_change_is_reported_pending_never_applied() -> None:
    before = ctx({"config": {"num.partitions": "1"}})
    up = build_cluster_status(
        before,
        ClusterStatus(),
        generation=1,
        observed=running(before),
        step=None,
        now=NOW,
        applied_dynamic={},
    )
    assert up.running_static_config == {"num.partitions": "1"}
    after = ctx({"config": {"num.partitions": "3"}})
    # pods still run the old revision after the StatefulSets were updated
    obs = running(after, revision="r0")
    status = build_cluster_status(
        after, up, generation=2, observed=obs, step=None, now=NOW, applied_dynamic={}
    )
    assert status.pending_restart_config == ["num.partitions"]
    assert conditions(status)["Ready"] == ("True", "RestartPending")
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert "num.partitions" in ready.message and "restart" in ready.message
    assert all(b.pending_restart for b in status.brokers)


def test_blocked_status() -> None:
    c = ctx()
    step = Blocked("StorageClassNotFound", "StorageClass 'x' does not exist: create it")
    status = build_cluster_status(
        c,
        ClusterStatus(),
        generation=1,
        observed=ObservedCluster(),
        step=step,
        now=NOW,
        applied_dynamic={},
    )
    assert conditions(status) == {
        "Ready": ("False", "StorageClassNotFound"),
        "Progressing": ("False", "StorageClassNotFound"),
        "Degraded": ("True", "StorageClassNotFound"),
    }


def test_dynamic_config_bookkeeping() -> None:
    c = ctx({"config": {"log.retention.ms": "5"}})
    step = AlterBrokerConfigs({"log.retention.ms": "5"}, ("log.segment.ms",))
    status = build_cluster_status(
        c,
        ClusterStatus(),
        generation=1,
        observed=running(c),
        step=step,
        now=NOW,
        applied_dynamic={"log.segment.ms": "9"},
    )
    assert status.applied_dynamic_config == {"log.retention.ms": "5"}
    assert status.operation is not None and status.operation.name == "ApplyConfig"
