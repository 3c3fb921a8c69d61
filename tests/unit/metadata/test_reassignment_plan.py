"""Partition reassignment (metadata/reassignment.py) and its completion through
AlterPartition (metadata/partition_change.py), as tables and short scenarios."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.metadata.image import MetadataImage, PartitionImage, replay
from millrace_broker.metadata.partition_change import plan_alter_partition
from millrace_broker.metadata.reassignment import list_reassignments, plan_alter_reassignments
from millrace_broker.metadata.records import (
    BrokerRegistrationChangeRecord,
    MetadataRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
)

TID = uuid.UUID(int=5)


def image(
    replicas: tuple[int, ...] = (1, 2, 3), isr: tuple[int, ...] | None = None
) -> MetadataImage:
    img = MetadataImage(cluster_id="c")
    records: list[MetadataRecord] = [
        *(RegisterBrokerRecord(b, ()) for b in (1, 2, 3, 4, 5, 6)),
        BrokerRegistrationChangeRecord(6, fenced=True),
        TopicRecord("t", str(TID)),
        PartitionRecord(str(TID), 0, replicas, isr or replicas, (isr or replicas)[0]),
    ]
    for record in records:
        img = replay(img, record)
    return img


def apply(img: MetadataImage, records: Sequence[MetadataRecord]) -> MetadataImage:
    for record in records:
        img = replay(img, record)
    return img


def part(img: MetadataImage) -> PartitionImage:
    return img.topics["t"].partitions[0]


def reassign(img: MetadataImage, target: Sequence[int] | None, **kw: bool) -> MetadataImage:
    outcome = plan_alter_reassignments(img, [("t", 0, target)], **kw)
    assert outcome.results[("t", 0)].error_code == ErrorCode.none, outcome.results
    return apply(img, outcome.records)


def isr_change(img: MetadataImage, new_isr: tuple[int, ...]) -> MetadataImage:
    p = part(img)
    records = plan_alter_partition(
        img,
        broker_id=p.leader,
        topic_id=TID,
        partition=0,
        leader_epoch=p.leader_epoch,
        partition_epoch=p.partition_epoch,
        new_isr=new_isr,
    )
    return apply(img, records)


@pytest.mark.parametrize(
    ("target", "replicas", "adding", "removing"),
    [
        ((4, 5, 6), (4, 5, 6, 1, 2, 3), (4, 5, 6), (1, 2, 3)),  # a full move
        ((1, 2, 4), (1, 2, 4, 3), (4,), (3,)),  # one replica moves
        ((1, 2, 3, 4), (1, 2, 3, 4), (4,), ()),  # grow the replication factor
    ],
)
def test_start_keeps_leader_and_isr_and_records_the_move(
    target: tuple[int, ...],
    replicas: tuple[int, ...],
    adding: tuple[int, ...],
    removing: tuple[int, ...],
) -> None:
    img = reassign(image(), target)
    p = part(img)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == (replicas, adding, removing)
    assert (p.isr, p.leader, p.leader_epoch) == ((1, 2, 3), 1, 0)
    [ongoing] = list_reassignments(img, None)
    assert (ongoing.replicas, ongoing.adding, ongoing.removing) == (replicas, adding, removing)


@pytest.mark.parametrize(
    ("target", "replicas", "isr", "leader"),
    [
        ((2, 3), (2, 3), (2, 3), 2),  # shrink: completes at once, the leader moves
        ((3, 2, 1), (3, 2, 1), (1, 2, 3), 1),  # reorder only: no leader change
        ((1, 2), (1, 2), (1, 2), 1),
    ],
)
def test_removal_only_completes_immediately(
    target: tuple[int, ...], replicas: tuple[int, ...], isr: tuple[int, ...], leader: int
) -> None:
    img = reassign(image(), target)
    p = part(img)
    assert (p.replicas, p.isr, p.leader, p.reassigning) == (replicas, isr, leader, False)
    assert list_reassignments(img, None) == []


def test_completion_when_the_new_replicas_join_the_isr_moves_the_leader_off() -> None:
    img = reassign(image(), (4, 5, 2))
    img = isr_change(img, (1, 2, 3, 4))  # 5 still catching up: not yet
    p = part(img)
    assert p.reassigning and set(p.isr) == {1, 2, 3, 4}
    img = isr_change(img, (1, 2, 3, 4, 5))
    p = part(img)
    assert (p.replicas, p.isr, p.reassigning) == ((4, 5, 2), (4, 5, 2), False)
    assert p.leader == 4 and p.leader_epoch == 1  # leader 1 was removed: preferred leads


def test_cancel_reverts_and_drops_adding_replicas_from_the_isr() -> None:
    img = reassign(image(), (4, 5, 6))
    img = isr_change(img, (1, 2, 3, 4))
    img = reassign(img, None)
    p = part(img)
    assert (p.replicas, p.isr, p.leader, p.reassigning) == ((1, 2, 3), (1, 2, 3), 1, False)


def test_a_new_target_replaces_the_reassignment_in_progress() -> None:
    img = reassign(image(), (4, 5, 6))
    img = reassign(img, (1, 4, 5))
    p = part(img)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((1, 4, 5, 2, 3), (4, 5), (2, 3))


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ((), ErrorCode.invalid_replica_assignment),
        ((1, 1, 2), ErrorCode.invalid_replica_assignment),
        ((1, 9), ErrorCode.invalid_replica_assignment),
    ],
)
def test_bad_targets_are_refused_and_change_nothing(
    target: tuple[int, ...], code: ErrorCode
) -> None:
    outcome = plan_alter_reassignments(image(), [("t", 0, target)])
    assert outcome.results[("t", 0)].error_code == code
    assert outcome.records == []


def test_refusals_unknown_partition_no_reassignment_rf_change() -> None:
    outcome = plan_alter_reassignments(image(), [("t", 3, (1,)), ("t", 0, None)])
    assert outcome.results[("t", 3)].error_code == ErrorCode.unknown_topic_or_partition
    assert outcome.results[("t", 0)].error_code == ErrorCode.no_reassignment_in_progress
    outcome = plan_alter_reassignments(
        image(), [("t", 0, (1, 2))], allow_replication_factor_change=False
    )
    assert outcome.results[("t", 0)].error_code == ErrorCode.invalid_replication_factor


def test_a_fenced_target_still_starts_but_completes_only_once_it_is_in_sync() -> None:
    img = reassign(image(), (6, 2, 3))
    assert part(img).adding_replicas == (6,)
    img = isr_change(img, (1, 2, 3))
    assert part(img).reassigning
