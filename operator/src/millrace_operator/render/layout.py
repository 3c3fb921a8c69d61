"""Where every node of a Cluster lives: zone, StatefulSet, pod, node id and roles.

Brokers are spread evenly over the resolved zones (`status.zones`, append-only): zone i
gets `replicas // Z` brokers, plus one if `i < replicas % Z`. Each zone has one broker
StatefulSet and, in dedicated mode, one controller StatefulSet, so a pod's zone never
changes and scaling adds or removes the highest ordinals of a zone.

Node ids (the KRaft `node.id`), from the zone's index i in `status.zones` and the pod's
StatefulSet ordinal o:

    broker      node.id = 1000 * (i + 1) + o          (o < 900)   e.g. 1000, 2000, 1001
    controller  node.id = 1000 * (i + 1) + 900 + o    (o < 100)   e.g. 1900, 2900, 3900

They depend only on values that never change for a pod (zone index, ordinal), so a
restarted or rescheduled pod keeps its identity, and they tell a reader where a node is.
Zones are only appended to `status.zones`, which keeps the indexes stable.

Controllers (dedicated) are spread like brokers. In combined mode the first `count`
brokers in the order (ordinal, zone index) are also voters: ordinal 0 of every zone
first, which keeps the voter set stable while `replicas` grows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from millrace_operator.model.cluster import ClusterSpec, ControllerMode

BROKER: Final = "broker"
CONTROLLER: Final = "controller"
ZONE_STRIDE: Final = 1000
CONTROLLER_OFFSET: Final = 900


def broker_node_id(zone_index: int, ordinal: int) -> int:
    """The node id of broker pod `ordinal` of zone `zone_index` (see the module docstring)."""
    if not 0 <= ordinal < CONTROLLER_OFFSET:
        raise ValueError(f"broker ordinal {ordinal} out of range [0, {CONTROLLER_OFFSET})")
    return ZONE_STRIDE * (zone_index + 1) + ordinal


def controller_node_id(zone_index: int, ordinal: int) -> int:
    """The node id of dedicated controller pod `ordinal` of zone `zone_index`."""
    if not 0 <= ordinal < ZONE_STRIDE - CONTROLLER_OFFSET:
        raise ValueError(f"controller ordinal {ordinal} out of range [0, 100)")
    return ZONE_STRIDE * (zone_index + 1) + CONTROLLER_OFFSET + ordinal


def zone_slug(zone: str) -> str:
    """A DNS-label form of a zone name for object names (`us-east-1a`, `Zone_B` -> `zone-b`)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", zone.lower()).strip("-")
    return slug[:20].rstrip("-") or "zone"


def spread(total: int, buckets: int) -> list[int]:
    """`total` items over `buckets` as evenly as possible, the first buckets fuller."""
    if buckets <= 0:
        return []
    base, extra = divmod(total, buckets)
    return [base + (1 if i < extra else 0) for i in range(buckets)]


@dataclass(frozen=True, slots=True)
class Pool:
    """One StatefulSet: the pods of one role in one zone."""

    name: str
    role: str  # BROKER (possibly with combined voters) or CONTROLLER
    zone: str
    zone_index: int
    replicas: int


@dataclass(frozen=True, slots=True)
class Node:
    """One pod and its KRaft identity."""

    pod: str
    pool: str
    zone: str
    zone_index: int
    ordinal: int
    node_id: int
    roles: tuple[str, ...]  # ("broker",), ("controller",) or ("broker", "controller")

    @property
    def is_broker(self) -> bool:
        return BROKER in self.roles

    @property
    def is_controller(self) -> bool:
        return CONTROLLER in self.roles


@dataclass(frozen=True, slots=True)
class Layout:
    """Every pool and node of a Cluster, in node-id order."""

    cluster: str
    pools: tuple[Pool, ...]
    nodes: tuple[Node, ...]

    @property
    def brokers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_broker)

    @property
    def controllers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_controller)

    def node(self, pod: str) -> Node | None:
        return next((n for n in self.nodes if n.pod == pod), None)


def pool_name(cluster: str, role: str, zone: str) -> str:
    return f"{cluster}-{role}-{zone_slug(zone)}"


def build_layout(cluster: str, spec: ClusterSpec, zones: list[str]) -> Layout:
    """The pools and nodes of `cluster` for `spec` over the resolved `zones`."""
    if not zones:
        raise ValueError("a layout needs at least one zone")
    pools: list[Pool] = []
    nodes: list[Node] = []
    broker_counts = spread(spec.replicas, len(zones))
    for index, (zone, count) in enumerate(zip(zones, broker_counts, strict=True)):
        name = pool_name(cluster, BROKER, zone)
        pools.append(Pool(name, BROKER, zone, index, count))
        for ordinal in range(count):
            nodes.append(
                Node(
                    f"{name}-{ordinal}",
                    name,
                    zone,
                    index,
                    ordinal,
                    broker_node_id(index, ordinal),
                    (BROKER,),
                )
            )
    if spec.controllers.mode is ControllerMode.COMBINED:
        voters = sorted(nodes, key=lambda n: (n.ordinal, n.zone_index))[: spec.controllers.count]
        chosen = {n.pod for n in voters}
        nodes = [
            Node(n.pod, n.pool, n.zone, n.zone_index, n.ordinal, n.node_id, (BROKER, CONTROLLER))
            if n.pod in chosen
            else n
            for n in nodes
        ]
    else:
        counts = spread(spec.controllers.count, len(zones))
        for index, (zone, count) in enumerate(zip(zones, counts, strict=True)):
            if count == 0:
                continue
            name = pool_name(cluster, CONTROLLER, zone)
            pools.append(Pool(name, CONTROLLER, zone, index, count))
            for ordinal in range(count):
                nodes.append(
                    Node(
                        f"{name}-{ordinal}",
                        name,
                        zone,
                        index,
                        ordinal,
                        controller_node_id(index, ordinal),
                        (CONTROLLER,),
                    )
                )
    nodes.sort(key=lambda n: n.node_id)
    return Layout(cluster, tuple(pools), tuple(nodes))
