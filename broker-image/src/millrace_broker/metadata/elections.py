"""Pure leader elections on request (ElectLeaders, API 43) and automatic preferred-leader
rebalancing (`auto.leader.rebalance.enable`), as Kafka's KRaft controller decides them.

- Preferred election: the preferred replica is the first in the replica list (during a
  reassignment, the first of the target replicas). It becomes leader if it is in the ISR
  and unfenced; if it already leads, ELECTION_NOT_NEEDED; otherwise
  PREFERRED_LEADER_NOT_AVAILABLE.
- Unclean election: only for a partition without a leader (otherwise
  ELECTION_NOT_NEEDED). A live ISR member is preferred; failing that any live replica
  (possible loss of records the old ISR had, which is the point of asking for it);
  with no live replica, ELIGIBLE_LEADERS_NOT_AVAILABLE.
- Electing "all partitions" (a null partition list) reports only the partitions where
  an election was attempted and needed, as Kafka does.
- `plan_preferred_rebalance`: every partition whose preferred replica is in the ISR,
  live, and not the leader gets it back as leader (Kafka's KRaft
  `maybeBalancePartitionLeaders`, at most `max_elections` per pass).

Each decision returns the `PartitionChangeRecord`s to commit plus one result per asked
partition (error code and message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from .image import MetadataImage, PartitionImage
from .records import NO_LEADER, MetadataRecord, PartitionChangeRecord

PREFERRED = 0
UNCLEAN = 1
MAX_ELECTIONS_PER_PASS = 1000  # Kafka's QuorumController caps a rebalance pass likewise

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ElectionResult:
    error_code: ErrorCode
    message: str | None = None


@dataclass(slots=True)
class ElectionOutcome:
    records: list[MetadataRecord] = field(default_factory=list)
    results: dict[TopicPartition, ElectionResult] = field(default_factory=dict)


def _live(image: MetadataImage) -> set[int]:
    return {b.broker_id for b in image.brokers.values() if not b.fenced}


def preferred_leader(part: PartitionImage, live: set[int]) -> int | None:
    """The preferred replica if it can lead now (in the ISR and live), else None."""
    preferred = part.replicas[0] if part.replicas else NO_LEADER
    if preferred in part.isr and preferred in live:
        return preferred
    return None


def _elect_one(
    image: MetadataImage, name: str, pid: int, election_type: int, live: set[int]
) -> tuple[PartitionChangeRecord | None, ElectionResult]:
    topic = image.topics.get(name)
    if topic is None:
        return None, ElectionResult(
            ErrorCode.unknown_topic_or_partition, f"No such topic as {name}"
        )
    part = topic.partitions.get(pid)
    if part is None:
        return None, ElectionResult(
            ErrorCode.unknown_topic_or_partition, f"No such partition as {name}-{pid}"
        )
    tid = str(topic.topic_id)
    if election_type == PREFERRED:
        if part.replicas and part.leader == part.replicas[0]:
            return None, ElectionResult(
                ErrorCode.election_not_needed, "Leader election not needed for topic partition."
            )
        leader = preferred_leader(part, live)
        if leader is None:
            return None, ElectionResult(
                ErrorCode.preferred_leader_not_available,
                f"Failed to elect leader for partition {name}-{pid} under strategy "
                f"PreferredReplicaPartitionLeaderElectionStrategy: the preferred replica "
                f"{part.replicas[0] if part.replicas else NO_LEADER} is not in the ISR "
                f"{list(part.isr)} or not alive.",
            )
        return PartitionChangeRecord(tid, pid, leader=leader), ElectionResult(ErrorCode.none)
    if part.leader != NO_LEADER:
        return None, ElectionResult(
            ErrorCode.election_not_needed, "Leader election not needed for topic partition."
        )
    for replica in part.replicas:
        if replica in part.isr and replica in live:
            isr = tuple(r for r in part.isr if r in live)
            return (
                PartitionChangeRecord(tid, pid, leader=replica, isr=isr),
                ElectionResult(ErrorCode.none),
            )
    for replica in part.replicas:
        if replica in live:
            # Unclean: the new leader's log becomes the truth; the ISR restarts with it.
            return (
                PartitionChangeRecord(tid, pid, leader=replica, isr=(replica,)),
                ElectionResult(ErrorCode.none),
            )
    return None, ElectionResult(
        ErrorCode.eligible_leaders_not_available,
        f"Failed to elect leader for partition {name}-{pid} under strategy "
        "UncleanLeaderElectionStrategy: no replica is alive.",
    )


def plan_elect_leaders(
    image: MetadataImage, election_type: int, partitions: Iterable[TopicPartition] | None
) -> ElectionOutcome:
    outcome = ElectionOutcome()
    if election_type not in (PREFERRED, UNCLEAN):
        for tp in partitions or ():
            outcome.results[tp] = ElectionResult(
                ErrorCode.invalid_request, f"Unknown election type {election_type}."
            )
        return outcome
    live = _live(image)
    every = partitions is None
    targets = (
        [(n, p) for n, t in sorted(image.topics.items()) for p in sorted(t.partitions)]
        if partitions is None
        else list(partitions)
    )
    for name, pid in targets:
        record, result = _elect_one(image, name, pid, election_type, live)
        if record is not None:
            outcome.records.append(record)
        if every and result.error_code == ErrorCode.election_not_needed:
            continue
        outcome.results[(name, pid)] = result
    return outcome


def plan_preferred_rebalance(
    image: MetadataImage, *, max_elections: int = MAX_ELECTIONS_PER_PASS
) -> list[MetadataRecord]:
    live = _live(image)
    records: list[MetadataRecord] = []
    for _name, topic in sorted(image.topics.items()):
        for pid, part in sorted(topic.partitions.items()):
            if not part.replicas or part.leader == part.replicas[0]:
                continue
            leader = preferred_leader(part, live)
            if leader is None:
                continue
            records.append(PartitionChangeRecord(str(topic.topic_id), pid, leader=leader))
            if len(records) >= max_elections:
                return records
    return records


def imbalanced_partitions(image: MetadataImage) -> int:
    """How many partitions are not led by their preferred replica (for logs and tests)."""
    return sum(
        1
        for topic in image.topics.values()
        for part in topic.partitions.values()
        if part.replicas and part.leader != part.replicas[0]
    )
