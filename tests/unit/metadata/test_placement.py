"""Rack-aware replica placement (metadata/placement.py, Kafka's StripedReplicaPlacer) and
the controller's use of it on CreateTopics / CreatePartitions, as tables."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.metadata.controller import (
    ControllerError,
    NewTopic,
    plan_create_partitions,
    plan_create_topic,
)
from millrace_broker.metadata.image import MetadataImage, replay
from millrace_broker.metadata.placement import BrokerSlot, PlacementError, place_replicas
from millrace_broker.metadata.records import (
    BrokerRegistrationChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
)


def slots(racks: dict[int, str | None], fenced: tuple[int, ...] = ()) -> list[BrokerSlot]:
    return [BrokerSlot(b, rack, b in fenced) for b, rack in racks.items()]


THREE_RACKS: dict[int, str | None] = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
UNEVEN: dict[int, str | None] = {1: "a", 2: "a", 3: "a", 4: "b", 5: "c"}
NO_RACKS: dict[int, str | None] = {1: None, 2: None, 3: None, 4: None}


@pytest.mark.parametrize(
    ("racks", "rf", "partitions", "racks_per_partition"),
    [
        (THREE_RACKS, 3, 12, 3),  # every RF=3 partition on 3 racks
        (THREE_RACKS, 2, 12, 2),  # RF=2: two different racks
        (THREE_RACKS, 6, 4, 3),  # more replicas than racks: every rack used
        (UNEVEN, 3, 15, 3),  # an uneven rack still gets one replica of each partition
        ({1: "a", 2: "b"}, 2, 8, 2),
        (NO_RACKS, 3, 8, 1),  # no racks: one unnamed rack
    ],
)
def test_replicas_spread_over_racks_first(
    racks: dict[int, str | None], rf: int, partitions: int, racks_per_partition: int
) -> None:
    for seed in range(20):
        placed = place_replicas(
            slots(racks), first_partition=0, count=partitions, replication_factor=rf, seed=seed
        )
        assert sorted(placed) == list(range(partitions))
        for replicas in placed.values():
            assert len(replicas) == rf
            assert len(set(replicas)) == rf, replicas
            assert len({racks[b] for b in replicas}) == racks_per_partition, replicas


@pytest.mark.parametrize(
    ("racks", "rf", "partitions", "max_leaders_per_broker"),
    [
        (THREE_RACKS, 3, 12, 2),  # 12 leaders over 6 brokers: exactly 2 each
        (THREE_RACKS, 3, 6, 1),
        (NO_RACKS, 2, 8, 2),
        ({1: "a", 2: "b", 3: "c"}, 3, 9, 3),
    ],
)
def test_leaders_spread_over_brokers_and_racks(
    racks: dict[int, str | None], rf: int, partitions: int, max_leaders_per_broker: int
) -> None:
    for seed in range(20):
        placed = place_replicas(
            slots(racks), first_partition=0, count=partitions, replication_factor=rf, seed=seed
        )
        leaders = Counter(r[0] for r in placed.values())
        assert set(leaders) == set(racks)
        assert max(leaders.values()) == max_leaders_per_broker
        rack_leaders = Counter(racks[b] for b in leaders.elements())
        assert max(rack_leaders.values()) - min(rack_leaders.values()) <= 1
        replicas = Counter(b for r in placed.values() for b in r)
        assert max(replicas.values()) - min(replicas.values()) <= 1


@pytest.mark.parametrize(("rf", "fenced_used"), [(3, False), (5, True)])
def test_fenced_brokers_never_lead_and_hold_followers_only_when_needed(
    rf: int, fenced_used: bool
) -> None:
    placed = place_replicas(
        slots(THREE_RACKS, fenced=(1, 3)),
        first_partition=0,
        count=30,
        replication_factor=rf,
        seed=5,
    )
    assert {r[0] for r in placed.values()} <= {2, 4, 5, 6}
    assert any(b in r for r in placed.values() for b in (1, 3)) == fenced_used


def test_same_seed_same_placement_and_partition_numbers_follow_the_first() -> None:
    one = place_replicas(slots(UNEVEN), first_partition=4, count=5, replication_factor=2, seed=9)
    two = place_replicas(slots(UNEVEN), first_partition=4, count=5, replication_factor=2, seed=9)
    assert one == two
    assert sorted(one) == [4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("racks", "fenced", "rf", "message"),
    [
        ({1: "a", 2: "b"}, (), 3, "only 2 broker(s) are registered"),
        ({1: "a", 2: "b"}, (), 0, "must be larger than 0"),
        ({1: "a", 2: "b"}, (1, 2), 1, "All brokers are currently fenced"),
        ({}, (), 1, "only 0 broker(s) are registered"),
    ],
)
def test_impossible_placements_say_why(
    racks: dict[int, str | None], fenced: tuple[int, ...], rf: int, message: str
) -> None:
    with pytest.raises(PlacementError, match=re.escape(message)):
        place_replicas(
            slots(racks, fenced), first_partition=0, count=1, replication_factor=rf, seed=1
        )


def image_of(racks: dict[int, str | None], fenced: tuple[int, ...] = ()) -> MetadataImage:
    image = MetadataImage(cluster_id="c")
    for b, rack in racks.items():
        image = replay(image, RegisterBrokerRecord(b, (), rack))
    for b in fenced:
        image = replay(image, BrokerRegistrationChangeRecord(b, fenced=True))
    return image


def test_create_topics_and_partitions_are_rack_aware() -> None:
    image = image_of(THREE_RACKS)
    records = plan_create_topic(image, NewTopic("t", 6, 3, {}, {}))
    for record in records:
        image = replay(image, record)
    grown = plan_create_partitions(image, "t", 12, None)
    parts = [r for r in (*records, *grown) if isinstance(r, PartitionRecord)]
    assert [p.partition_id for p in parts] == list(range(12))
    for p in parts:
        assert len({THREE_RACKS[b] for b in p.replicas}) == 3
        assert p.isr == p.replicas and p.leader == p.replicas[0]
    assert len({p.leader for p in parts}) == 6


def test_a_new_partition_leaves_fenced_replicas_out_of_the_isr() -> None:
    image = image_of(THREE_RACKS, fenced=(5, 6))
    records = plan_create_topic(image, NewTopic("t", 4, 3, {}, {}))
    for p in (r for r in records if isinstance(r, PartitionRecord)):
        assert p.leader in (1, 2, 3, 4)
        assert set(p.isr) == set(p.replicas) - {5, 6}


@pytest.mark.parametrize(
    ("racks", "fenced", "rf", "assignments", "code"),
    [
        (THREE_RACKS, (), 7, {}, ErrorCode.invalid_replication_factor),
        (THREE_RACKS, (1, 2, 3, 4, 5, 6), 1, {}, ErrorCode.invalid_replication_factor),
        (THREE_RACKS, (1, 2), 1, {0: (1, 2)}, ErrorCode.invalid_replica_assignment),
        (THREE_RACKS, (), 1, {0: (1, 9)}, ErrorCode.invalid_replica_assignment),
    ],
)
def test_create_topic_refusals_carry_kafka_error_codes(
    racks: dict[int, str | None],
    fenced: tuple[int, ...],
    rf: int,
    assignments: dict[int, tuple[int, ...]],
    code: ErrorCode,
) -> None:
    with pytest.raises(ControllerError) as info:
        plan_create_topic(image_of(racks, fenced), NewTopic("t", 3, rf, assignments, {}))
    assert info.value.error_code == code
