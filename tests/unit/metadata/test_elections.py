"""Leader elections on request and automatic preferred-leader rebalancing
(metadata/elections.py), as tables over a small metadata image."""

from __future__ import annotations

import uuid

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.metadata.elections import (
    PREFERRED,
    UNCLEAN,
    plan_elect_leaders,
    plan_preferred_rebalance,
)
from millrace_broker.metadata.image import MetadataImage, replay
from millrace_broker.metadata.records import (
    BrokerRegistrationChangeRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
)

TID = str(uuid.UUID(int=3))

# partition -> (replicas, isr, leader); broker 4 is fenced
LAYOUT = {
    0: ((1, 2, 3), (1, 2, 3), 1),  # preferred leads
    1: ((1, 2, 3), (1, 2, 3), 2),  # preferred in ISR, not leading
    2: ((3, 1, 2), (1, 2), 1),  # preferred out of the ISR
    3: ((4, 1, 2), (4, 1, 2), 1),  # preferred fenced
    4: ((2, 3, 4), (4,), -1),  # leaderless, last ISR member fenced; 2 and 3 live
    5: ((4,), (4,), -1),  # leaderless, nobody alive
}


def image() -> MetadataImage:
    img = MetadataImage(cluster_id="c")
    records: list[MetadataRecord] = [
        *(RegisterBrokerRecord(b, ()) for b in (1, 2, 3, 4)),
        BrokerRegistrationChangeRecord(4, fenced=True),
        TopicRecord("t", TID),
        *(PartitionRecord(TID, p, r, i, ld) for p, (r, i, ld) in LAYOUT.items()),
    ]
    for record in records:
        img = replay(img, record)
    return img


@pytest.mark.parametrize(
    ("election", "partition", "code", "record"),
    [
        (PREFERRED, 0, ErrorCode.election_not_needed, None),
        (PREFERRED, 1, ErrorCode.none, PartitionChangeRecord(TID, 1, leader=1)),
        (PREFERRED, 2, ErrorCode.preferred_leader_not_available, None),
        (PREFERRED, 3, ErrorCode.preferred_leader_not_available, None),
        (PREFERRED, 4, ErrorCode.preferred_leader_not_available, None),  # never unclean
        (UNCLEAN, 1, ErrorCode.election_not_needed, None),  # has a leader
        (UNCLEAN, 4, ErrorCode.none, PartitionChangeRecord(TID, 4, leader=2, isr=(2,))),
        (UNCLEAN, 5, ErrorCode.eligible_leaders_not_available, None),
        (PREFERRED, 9, ErrorCode.unknown_topic_or_partition, None),
    ],
)
def test_elect_leaders_by_partition(
    election: int, partition: int, code: ErrorCode, record: PartitionChangeRecord | None
) -> None:
    outcome = plan_elect_leaders(image(), election, [("t", partition)])
    assert outcome.results[("t", partition)].error_code == code
    assert outcome.records == ([record] if record else [])


def test_unknown_topic_and_unknown_election_type() -> None:
    outcome = plan_elect_leaders(image(), PREFERRED, [("nope", 0)])
    assert outcome.results[("nope", 0)].error_code == ErrorCode.unknown_topic_or_partition
    outcome = plan_elect_leaders(image(), 7, [("t", 1)])
    assert outcome.results[("t", 1)].error_code == ErrorCode.invalid_request
    assert outcome.records == []


def test_electing_all_partitions_reports_only_partitions_that_needed_an_election() -> None:
    preferred = plan_elect_leaders(image(), PREFERRED, None)
    assert sorted(preferred.results) == [("t", 1), ("t", 2), ("t", 3), ("t", 4), ("t", 5)]
    assert preferred.records == [PartitionChangeRecord(TID, 1, leader=1)]
    unclean = plan_elect_leaders(image(), UNCLEAN, None)
    assert {k: v.error_code for k, v in unclean.results.items()} == {
        ("t", 4): ErrorCode.none,
        ("t", 5): ErrorCode.eligible_leaders_not_available,
    }


def test_rebalance_gives_leadership_back_to_live_in_sync_preferred_replicas_only() -> None:
    records = plan_preferred_rebalance(image())
    assert records == [PartitionChangeRecord(TID, 1, leader=1)]
    img = image()
    for record in records:
        img = replay(img, record)
    assert plan_preferred_rebalance(img) == []
    assert img.topics["t"].partitions[1].leader == 1


def test_rebalance_is_bounded_per_pass() -> None:
    img = image()
    img = replay(img, PartitionChangeRecord(TID, 0, leader=2))
    assert len(plan_preferred_rebalance(img)) == 2
    assert len(plan_preferred_rebalance(img, max_elections=1)) == 1
