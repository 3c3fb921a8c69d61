"""Controller decisions about leaders and ISRs (metadata/partition_change.py), the
PartitionChangeRecord replay, and the follower's truncation rule, as tables."""

from __future__ import annotations

import uuid

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.metadata.controller import ControllerError
from millrace_broker.metadata.image import MetadataImage, replay
from millrace_broker.metadata.partition_change import plan_alter_partition, plan_broker_failure
from millrace_broker.metadata.records import (
    BrokerRegistrationChangeRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    decode_record,
    encode_record,
)
from millrace_broker.replication.follower import Truncation, truncation_for_divergence
from millrace_broker.storage.leader_epochs import LeaderEpochCache

TID = uuid.UUID(int=7)


def image_with(replicas: tuple[int, ...], isr: tuple[int, ...], leader: int) -> MetadataImage:
    image = MetadataImage(cluster_id="c")
    for record in (
        *(RegisterBrokerRecord(b, ()) for b in (1, 2, 3)),
        BrokerRegistrationChangeRecord(3, fenced=True),
        TopicRecord("t", str(TID)),
        PartitionRecord(str(TID), 0, replicas, isr, leader, leader_epoch=4, partition_epoch=9),
    ):
        image = replay(image, record)
    return image


def part(image: MetadataImage) -> tuple[tuple[int, ...], int, int, int]:
    p = image.topics["t"].partitions[0]
    return p.isr, p.leader, p.leader_epoch, p.partition_epoch


def test_replay_bumps_partition_epoch_always_and_leader_epoch_on_a_new_leader() -> None:
    image = image_with((1, 2, 3), (1, 2, 3), 1)
    image = replay(image, PartitionChangeRecord(str(TID), 0, isr=(1, 2)))
    assert part(image) == ((1, 2), 1, 4, 10)
    image = replay(image, PartitionChangeRecord(str(TID), 0, isr=(2,), leader=2))
    assert part(image) == ((2,), 2, 5, 11)


def test_partition_change_record_round_trips_through_the_journal_encoding() -> None:
    for record in (
        PartitionChangeRecord(str(TID), 0, isr=(1, 2)),
        PartitionChangeRecord(str(TID), 3, leader=-1),
    ):
        assert decode_record(encode_record(record)) == record


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"broker_id": 2}, ErrorCode.not_leader_or_follower),
        ({"leader_epoch": 3}, ErrorCode.fenced_leader_epoch),
        ({"partition_epoch": 8}, ErrorCode.invalid_update_version),
        ({"new_isr": (2, 3)}, ErrorCode.invalid_request),
        ({"new_isr": (1, 4)}, ErrorCode.ineligible_replica),
        ({"partition": 5}, ErrorCode.unknown_topic_or_partition),
    ],
)
def test_alter_partition_validation(kwargs: dict[str, object], code: ErrorCode) -> None:
    args: dict[str, object] = {
        "broker_id": 1,
        "topic_id": TID,
        "partition": 0,
        "leader_epoch": 4,
        "partition_epoch": 9,
        "new_isr": (1, 2),
    }
    args.update(kwargs)
    with pytest.raises(ControllerError) as raised:
        plan_alter_partition(image_with((1, 2, 3), (1, 2, 3), 1), **args)  # type: ignore[arg-type]
    assert raised.value.error_code == code


def test_alter_partition_refuses_fenced_brokers_joining_the_isr() -> None:
    image = image_with((1, 2, 3), (1, 3), 1)  # broker 3 is fenced
    assert (
        plan_alter_partition(
            image,
            broker_id=1,
            topic_id=TID,
            partition=0,
            leader_epoch=4,
            partition_epoch=9,
            new_isr=(1, 3),
        )
        == []
    )  # already a member: may stay (the controller removes it when fencing)
    with pytest.raises(ControllerError) as raised:
        plan_alter_partition(
            image_with((1, 2, 3), (1,), 1),
            broker_id=1,
            topic_id=TID,
            partition=0,
            leader_epoch=4,
            partition_epoch=9,
            new_isr=(1, 3),
        )
    assert raised.value.error_code == ErrorCode.ineligible_replica


def test_alter_partition_keeps_replica_order_and_skips_no_ops() -> None:
    image = image_with((1, 2, 3), (1,), 1)
    records = plan_alter_partition(
        image,
        broker_id=1,
        topic_id=TID,
        partition=0,
        leader_epoch=4,
        partition_epoch=9,
        new_isr=(2, 1),
    )
    assert records == [PartitionChangeRecord(str(TID), 0, isr=(1, 2))]
    assert (
        plan_alter_partition(
            image,
            broker_id=1,
            topic_id=TID,
            partition=0,
            leader_epoch=4,
            partition_epoch=9,
            new_isr=(1,),
        )
        == []
    )


@pytest.mark.parametrize(
    ("replicas", "isr", "leader", "failed", "alive", "unclean", "expected"),
    [
        # the leader fails: first live ISR member in replica order leads
        ((1, 2, 3), (1, 2, 3), 1, 1, {2, 3}, False, ((2, 3), 2)),
        ((1, 2, 3), (1, 3), 1, 1, {2, 3}, False, ((3,), 3)),
        # no live ISR member: leaderless, the last ISR member kept for its return
        ((1, 2, 3), (1,), 1, 1, {2, 3}, False, ((1,), -1)),
        # ... unless unclean election is allowed for the topic
        ((1, 2, 3), (1,), 1, 1, {2, 3}, True, ((2,), 2)),
        # a follower fails: it leaves the ISR, the leader stays
        ((1, 2, 3), (1, 2, 3), 1, 3, {1, 2}, False, ((1, 2), 1)),
        # a broker that is not a replica: nothing
        ((1, 2), (1, 2), 1, 3, {1, 2}, False, None),
    ],
)
def test_broker_failure_elects_only_from_the_isr(
    replicas: tuple[int, ...],
    isr: tuple[int, ...],
    leader: int,
    failed: int,
    alive: set[int],
    unclean: bool,
    expected: tuple[tuple[int, ...], int] | None,
) -> None:
    image = image_with(replicas, isr, leader)
    records = plan_broker_failure(image, failed, alive=alive, unclean_allowed=lambda _: unclean)
    if expected is None:
        assert records == []
        return
    for record in records:
        image = replay(image, record)
    new_isr, new_leader, epoch, _ = part(image)
    assert (new_isr, new_leader) == expected
    assert epoch == (4 if new_leader == leader else 5)


CACHE = [(0, 0), (2, 20), (5, 40)]


@pytest.mark.parametrize(
    ("leader_epoch", "leader_end", "leo", "hw", "expected"),
    [
        (2, 30, 45, 10, Truncation(30, True)),  # same epoch: the smaller end
        (5, 50, 45, 10, Truncation(45, True)),  # leader has more: nothing to cut
        (3, 35, 45, 10, Truncation(40, False)),  # leader's epoch unknown here: our end of 2
        (-1, -1, 45, 10, Truncation(10, True)),  # leader knows nothing: the HW
        (-1, 25, 45, 10, Truncation(25, True)),  # no epoch, only an offset
    ],
)
def test_follower_truncation_for_a_divergence(
    leader_epoch: int, leader_end: int, leo: int, hw: int, expected: Truncation
) -> None:
    cache = LeaderEpochCache(None, CACHE)
    assert (
        truncation_for_divergence(
            cache,
            leader_epoch=leader_epoch,
            leader_end_offset=leader_end,
            log_end_offset=leo,
            high_watermark=hw,
        )
        == expected
    )
