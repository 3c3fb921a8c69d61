"""Layout tables: how brokers and controllers spread over zones, and their node ids."""

from __future__ import annotations

import pytest

from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.render.layout import (
    Node,
    broker_node_id,
    build_layout,
    controller_node_id,
    spread,
    zone_slug,
)

ABC = ["zone-a", "zone-b", "zone-c"]


@pytest.mark.parametrize(
    ("total", "buckets", "expected"),
    [
        (3, 3, [1, 1, 1]),
        (4, 3, [2, 1, 1]),
        (5, 3, [2, 2, 1]),
        (1, 3, [1, 0, 0]),
        (0, 2, [0, 0]),
        (7, 1, [7]),
    ],
)
def test_spread(total: int, buckets: int, expected: list[int]) -> None:
    assert spread(total, buckets) == expected


@pytest.mark.parametrize(
    ("zone_index", "ordinal", "broker", "controller"),
    [(0, 0, 1000, 1900), (1, 0, 2000, 2900), (2, 5, 3005, 3905), (15, 99, 16099, 16999)],
)
def test_node_id_formula(zone_index: int, ordinal: int, broker: int, controller: int) -> None:
    assert broker_node_id(zone_index, ordinal) == broker
    assert controller_node_id(zone_index, ordinal) == controller


def test_node_id_ranges_do_not_overlap() -> None:
    with pytest.raises(ValueError):
        broker_node_id(0, 900)
    with pytest.raises(ValueError):
        controller_node_id(0, 100)


@pytest.mark.parametrize(
    ("zone", "slug"),
    [
        ("zone-a", "zone-a"),
        ("us-east-1a", "us-east-1a"),
        ("Zone_B", "zone-b"),
        ("eu.west/2", "eu-west-2"),
        ("---", "zone"),
    ],
)
def test_zone_slug(zone: str, slug: str) -> None:
    assert zone_slug(zone) == slug


# (spec, zones) -> {pod: (node id, roles)}
LAYOUTS = [
    (
        {"replicas": 3},
        ABC,
        {
            "c-broker-zone-a-0": (1000, ("broker",)),
            "c-controller-zone-a-0": (1900, ("controller",)),
            "c-broker-zone-b-0": (2000, ("broker",)),
            "c-controller-zone-b-0": (2900, ("controller",)),
            "c-broker-zone-c-0": (3000, ("broker",)),
            "c-controller-zone-c-0": (3900, ("controller",)),
        },
    ),
    (
        {"replicas": 4, "controllers": {"mode": "combined", "count": 3}},
        ABC,
        {
            "c-broker-zone-a-0": (1000, ("broker", "controller")),
            "c-broker-zone-a-1": (1001, ("broker",)),
            "c-broker-zone-b-0": (2000, ("broker", "controller")),
            "c-broker-zone-c-0": (3000, ("broker", "controller")),
        },
    ),
    (
        {"replicas": 2, "controllers": {"mode": "combined", "count": 1}},
        ["z1"],
        {"c-broker-z1-0": (1000, ("broker", "controller")), "c-broker-z1-1": (1001, ("broker",))},
    ),
    (
        {"replicas": 1, "controllers": {"count": 1}},
        ABC,
        {
            "c-broker-zone-a-0": (1000, ("broker",)),
            "c-controller-zone-a-0": (1900, ("controller",)),
        },
    ),
]


@pytest.mark.parametrize(("spec", "zones", "expected"), LAYOUTS)
def test_layout(
    spec: dict[str, object], zones: list[str], expected: dict[str, tuple[int, tuple[str, ...]]]
) -> None:
    layout = build_layout("c", ClusterSpec.model_validate(spec), zones)
    assert {n.pod: (n.node_id, n.roles) for n in layout.nodes} == expected
    assert [n.node_id for n in layout.nodes] == sorted(n.node_id for n in layout.nodes)


def ids(nodes: tuple[Node, ...]) -> set[tuple[str, int]]:
    return {(n.pod, n.node_id) for n in nodes}


def test_growing_replicas_keeps_existing_identities() -> None:
    small = build_layout("c", ClusterSpec(replicas=3), ABC)
    large = build_layout("c", ClusterSpec(replicas=7), ABC)
    assert ids(small.brokers) <= ids(large.brokers)
    assert small.controllers == large.controllers


def test_appending_a_zone_keeps_existing_identities() -> None:
    before = build_layout("c", ClusterSpec(replicas=2), ["a", "b"])
    after = build_layout("c", ClusterSpec(replicas=3), ["a", "b", "c"])
    assert ids(before.brokers) <= ids(after.brokers)


def test_combined_voters_stable_while_growing() -> None:
    spec = {"controllers": {"mode": "combined", "count": 3}}
    voters = [
        {
            n.node_id
            for n in build_layout(
                "c", ClusterSpec.model_validate({**spec, "replicas": r}), ABC
            ).controllers
        }
        for r in (3, 4, 5, 9)
    ]
    assert all(v == {1000, 2000, 3000} for v in voters)
