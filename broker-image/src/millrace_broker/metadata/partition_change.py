"""Pure controller decisions about one partition's leader and ISR.

- `plan_alter_partition`: a leader asks to change its ISR (AlterPartition, KIP-497).
  Validated as Kafka's ReplicationControlManager does: the sender must be the current
  leader (NOT_LEADER_OR_FOLLOWER), at the current leader epoch (FENCED_LEADER_EPOCH) and
  partition epoch (INVALID_UPDATE_VERSION); the new ISR must contain the leader
  (INVALID_REQUEST) and only replicas (INELIGIBLE_REPLICA). An ISR equal to the current
  one needs no record.
- `plan_broker_failure`: a broker went away (fenced or shut down). Every partition it
  leads elects a new leader from the ISR only, first in replica order among the live ISR
  members (`unclean.leader.election.enable=false`, Kafka's default); if no live ISR member
  is left the partition goes leaderless (leader -1) and keeps its last ISR member, so that
  it is elected when it returns. With unclean election enabled for the topic, a live
  replica outside the ISR may be chosen (possible data loss, which is why it is off).
  Partitions where the broker is an ISR follower drop it from the ISR (never emptying it).
- An ISR change of a partition being reassigned completes the reassignment once every
  adding replica is in sync (metadata/reassignment.py), in the same record.

Both return records (`PartitionChangeRecord`) for the caller to commit: `LocalController`
today, the KRaft quorum controller later.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection

from kio.schema.errors import ErrorCode

from .controller import ControllerError
from .image import MetadataImage, PartitionImage
from .reassignment import PartitionState, change_record, try_complete
from .records import NO_LEADER, NO_LEADER_CHANGE, MetadataRecord, PartitionChangeRecord


def plan_alter_partition(
    image: MetadataImage,
    *,
    broker_id: int,
    topic_id: uuid.UUID,
    partition: int,
    leader_epoch: int,
    partition_epoch: int,
    new_isr: Collection[int],
) -> list[MetadataRecord]:
    topic = image.topic_by_id(topic_id)
    part = topic.partitions.get(partition) if topic is not None else None
    if topic is None or part is None:
        raise ControllerError(
            ErrorCode.unknown_topic_or_partition,
            f"Partition {topic_id}:{partition} does not exist.",
        )
    if part.leader != broker_id:
        raise ControllerError(
            ErrorCode.not_leader_or_follower,
            f"Broker {broker_id} is not the leader of {topic.name}-{partition} "
            f"(the leader is {part.leader}).",
        )
    if leader_epoch != part.leader_epoch:
        raise ControllerError(
            ErrorCode.fenced_leader_epoch,
            f"Leader epoch {leader_epoch} of {topic.name}-{partition} is not the current "
            f"{part.leader_epoch}.",
        )
    if partition_epoch != part.partition_epoch:
        raise ControllerError(
            ErrorCode.invalid_update_version,
            f"Partition epoch {partition_epoch} of {topic.name}-{partition} is not the "
            f"current {part.partition_epoch}: refresh metadata and retry.",
        )
    isr = tuple(r for r in part.replicas if r in set(new_isr))
    if broker_id not in isr:
        raise ControllerError(ErrorCode.invalid_request, "The new ISR must contain the leader.")
    strangers = sorted(set(new_isr) - set(part.replicas))
    if strangers:
        raise ControllerError(
            ErrorCode.ineligible_replica,
            f"Broker(s) {strangers} are not replicas of {topic.name}-{partition}.",
        )
    fenced = sorted(
        r for r in set(isr) - set(part.isr) if r not in image.brokers or image.brokers[r].fenced
    )
    if fenced:
        raise ControllerError(
            ErrorCode.ineligible_replica,
            f"Broker(s) {fenced} are fenced or unregistered and cannot join the ISR of "
            f"{topic.name}-{partition}.",
        )
    if part.reassigning:
        # An ISR change may complete a reassignment (all adding replicas in sync).
        live = {b.broker_id for b in image.brokers.values() if not b.fenced}
        state = PartitionState(
            part.replicas, isr, part.leader, part.adding_replicas, part.removing_replicas
        )
        record = change_record(str(topic_id), partition, part, try_complete(state, live))
        return [] if record is None else [record]
    if isr == part.isr:
        return []
    return [PartitionChangeRecord(str(topic_id), partition, isr=isr)]


def plan_broker_failure(
    image: MetadataImage,
    broker_id: int,
    *,
    alive: Collection[int],
    unclean_allowed: Callable[[str], bool] = lambda _topic: False,
) -> list[MetadataRecord]:
    """Records that move every partition off a broker that went away (see module doc).

    `alive` are the brokers that may lead (registered, unfenced, not `broker_id`);
    `unclean_allowed(topic)` is the topic's `unclean.leader.election.enable`.
    """
    live = set(alive) - {broker_id}
    records: list[MetadataRecord] = []
    for name, topic in sorted(image.topics.items()):
        for pid, part in sorted(topic.partitions.items()):
            change = _without_broker(part, broker_id, live, unclean_allowed(name))
            if change is not None:
                isr, leader = change
                records.append(
                    PartitionChangeRecord(
                        str(topic.topic_id),
                        pid,
                        isr=None if isr == part.isr else isr,
                        leader=NO_LEADER_CHANGE if leader == part.leader else leader,
                    )
                )
    return records


def elect_leader(
    part: PartitionImage, live: Collection[int], *, unclean: bool
) -> tuple[int, tuple[int, ...]] | None:
    """(leader, isr) from the live ISR in replica order; None when nobody qualifies."""
    for replica in part.replicas:
        if replica in part.isr and replica in live:
            return replica, tuple(r for r in part.isr if r in live)
    if unclean:
        for replica in part.replicas:
            if replica in live:
                return replica, (replica,)
    return None


def _without_broker(
    part: PartitionImage, broker_id: int, live: set[int], unclean: bool
) -> tuple[tuple[int, ...], int] | None:
    if broker_id not in part.replicas:
        return None
    if part.leader == broker_id or part.leader == NO_LEADER:
        elected = elect_leader(part, live, unclean=unclean)
        if elected is None:
            # Leaderless: keep the last ISR member so that it can lead when it returns.
            isr = (broker_id,) if broker_id in part.isr else part.isr
            if part.leader == NO_LEADER and isr == part.isr:
                return None
            return isr, NO_LEADER
        leader, isr = elected
        return isr, leader
    if broker_id in part.isr and len(part.isr) > 1:
        return tuple(r for r in part.isr if r != broker_id), part.leader
    return None
