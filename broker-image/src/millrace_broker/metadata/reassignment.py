"""Pure partition reassignment (KIP-455), as Kafka's KRaft controller decides it.

A reassignment moves a partition from its current replica set to a target set:

1. Start (AlterPartitionReassignments with a target): the partition's `replicas` become
   the target followed by the current replicas not in the target; `adding_replicas` are
   the target's newcomers, `removing_replicas` the current replicas not in the target.
   The leader and the ISR do not change. New replicas start fetching from the leader
   (they are replicas now) and join the ISR through the leader's AlterPartition once
   caught up. A new target for a partition already being reassigned replaces the old
   one, computed from the original replicas (the old reassignment is reverted first).
2. Completion (`try_complete`, on every ISR change and at the start): once every adding
   replica is in the ISR, `replicas` become the target, the removing replicas leave the
   ISR, and if the leader is being removed the first live ISR member of the target
   leads. Completion needs a non-empty ISR within the target.
3. Cancellation (a null target): back to the original replicas; adding replicas leave
   the ISR; a leader that was being added hands over to the first live ISR member of the
   original set. NO_REASSIGNMENT_IN_PROGRESS when nothing is moving.

Each decision returns records plus one result per asked partition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from .image import MetadataImage, PartitionImage
from .records import NO_LEADER, NO_LEADER_CHANGE, MetadataRecord, PartitionChangeRecord

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReassignmentResult:
    error_code: ErrorCode
    message: str | None = None


OK = ReassignmentResult(ErrorCode.none)


@dataclass(slots=True)
class ReassignmentOutcome:
    records: list[MetadataRecord] = field(default_factory=list)
    results: dict[TopicPartition, ReassignmentResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartitionState:
    """The fields a reassignment changes (what a PartitionChangeRecord would set)."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()


def original_replicas(part: PartitionImage) -> tuple[int, ...]:
    """The replica set before the reassignment in progress (if any) started."""
    return tuple(r for r in part.replicas if r not in part.adding_replicas)


def target_replicas(part: PartitionImage) -> tuple[int, ...]:
    return tuple(r for r in part.replicas if r not in part.removing_replicas)


def _first_live(order: Sequence[int], isr: Collection[int], live: Collection[int]) -> int:
    return next((r for r in order if r in isr and r in live), NO_LEADER)


def try_complete(state: PartitionState, live: Collection[int]) -> PartitionState:
    """The state after completing the reassignment, or `state` if it cannot complete yet."""
    if not state.adding and not state.removing:
        return state
    if any(r not in state.isr for r in state.adding):
        return state
    target = tuple(r for r in state.replicas if r not in state.removing)
    isr = tuple(r for r in state.isr if r in target)
    if not isr:
        return state
    leader = state.leader
    if leader not in isr:
        leader = _first_live(target, isr, live)
    return PartitionState(target, isr, leader)


def start(part: PartitionImage, target: Sequence[int], live: Collection[int]) -> PartitionState:
    """The state a new target turns the partition into (after completing, if possible)."""
    original = original_replicas(part)
    isr = tuple(r for r in part.isr if r in original) or part.isr
    leader = part.leader
    adding = tuple(r for r in target if r not in original)
    removing = tuple(r for r in original if r not in target)
    replicas = (*target, *removing)
    if leader not in isr:  # it was a replica being added by the replaced reassignment
        leader = _first_live(replicas, isr, live)
    return try_complete(PartitionState(replicas, isr, leader, adding, removing), live)


def revert(part: PartitionImage, live: Collection[int]) -> PartitionState:
    original = original_replicas(part)
    isr = tuple(r for r in part.isr if r in original)
    leader = part.leader
    if leader not in isr:
        leader = _first_live(original, isr, live)
    return PartitionState(original, isr, leader)


def change_record(
    topic_id: str, pid: int, part: PartitionImage, new: PartitionState
) -> PartitionChangeRecord | None:
    """A record turning `part` into `new`, or None when nothing changes."""
    if (
        new.replicas == part.replicas
        and new.isr == part.isr
        and new.leader == part.leader
        and new.adding == part.adding_replicas
        and new.removing == part.removing_replicas
    ):
        return None
    return PartitionChangeRecord(
        topic_id,
        pid,
        isr=None if new.isr == part.isr else new.isr,
        leader=NO_LEADER_CHANGE if new.leader == part.leader else new.leader,
        replicas=None if new.replicas == part.replicas else new.replicas,
        adding_replicas=None if new.adding == part.adding_replicas else new.adding,
        removing_replicas=None if new.removing == part.removing_replicas else new.removing,
    )


def _validate_target(
    image: MetadataImage, part: PartitionImage, target: Sequence[int], allow_rf_change: bool
) -> ReassignmentResult | None:
    if not target:
        return ReassignmentResult(
            ErrorCode.invalid_replica_assignment, "The manual partition assignment is empty."
        )
    if len(set(target)) != len(target):
        return ReassignmentResult(
            ErrorCode.invalid_replica_assignment,
            f"The manual partition assignment {list(target)} contains duplicates.",
        )
    for broker in target:
        if broker not in image.brokers:
            return ReassignmentResult(
                ErrorCode.invalid_replica_assignment,
                f"The manual partition assignment includes broker {broker}, but no such "
                "broker is registered.",
            )
    if not allow_rf_change and len(target) != len(original_replicas(part)):
        return ReassignmentResult(
            ErrorCode.invalid_replication_factor,
            f"The replication factor is changed from {len(original_replicas(part))} to "
            f"{len(target)}, but allowReplicationFactorChange is false.",
        )
    return None


def plan_alter_reassignments(
    image: MetadataImage,
    requests: Iterable[tuple[str, int, Sequence[int] | None]],
    *,
    allow_replication_factor_change: bool = True,
) -> ReassignmentOutcome:
    live = {b.broker_id for b in image.brokers.values() if not b.fenced}
    outcome = ReassignmentOutcome()
    for name, pid, target in requests:
        topic = image.topics.get(name)
        part = topic.partitions.get(pid) if topic is not None else None
        if topic is None or part is None:
            outcome.results[(name, pid)] = ReassignmentResult(
                ErrorCode.unknown_topic_or_partition,
                f"Unable to find partition {name}-{pid}.",
            )
            continue
        if target is None:
            if not part.reassigning:
                outcome.results[(name, pid)] = ReassignmentResult(
                    ErrorCode.no_reassignment_in_progress,
                    f"Partition {name}-{pid} has no ongoing reassignment.",
                )
                continue
            new = revert(part, live)
            if not new.isr:
                outcome.results[(name, pid)] = ReassignmentResult(
                    ErrorCode.invalid_replica_assignment,
                    f"Cannot cancel the reassignment of {name}-{pid}: no original replica "
                    "is in sync; complete it instead.",
                )
                continue
        else:
            error = _validate_target(image, part, target, allow_replication_factor_change)
            if error is not None:
                outcome.results[(name, pid)] = error
                continue
            new = start(part, target, live)
        record = change_record(str(topic.topic_id), pid, part, new)
        if record is not None:
            outcome.records.append(record)
        outcome.results[(name, pid)] = OK
    return outcome


@dataclass(frozen=True, slots=True)
class Ongoing:
    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]


def list_reassignments(
    image: MetadataImage, wanted: Iterable[TopicPartition] | None
) -> list[Ongoing]:
    """Partitions being reassigned, all of them or among `wanted` (unknown ones skipped,
    as Kafka does)."""
    if wanted is None:
        keys: list[TopicPartition] = [
            (n, p) for n, t in sorted(image.topics.items()) for p in sorted(t.partitions)
        ]
    else:
        keys = list(wanted)
    found = []
    for name, pid in keys:
        topic = image.topics.get(name)
        part = topic.partitions.get(pid) if topic is not None else None
        if part is not None and part.reassigning:
            found.append(
                Ongoing(name, pid, part.replicas, part.adding_replicas, part.removing_replicas)
            )
    return found
