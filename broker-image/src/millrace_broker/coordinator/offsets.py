"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and offset retention.

A commit is checked against the group as Kafka does (ClassicGroup.validateOffsetCommit):
generation -1 with no member id is a "simple" commit, accepted only while the group is
Empty (or does not exist: the group is created); otherwise the member must be known
(FENCED_INSTANCE_ID for a replaced static member) and the generation current
(ILLEGAL_GENERATION), and a group still completing its rebalance answers
REBALANCE_IN_PROGRESS. Per partition: unknown topics and metadata beyond
`offset.metadata.max.bytes` are refused. Accepted offsets are written to
`__consumer_offsets` first, then become visible.

Retention (`offsets.retention.minutes`): an Empty group's offsets expire that long after
the group became empty; a simple group's (no members ever) and an empty KIP-848 group's
that long after each commit; a Stable consumer group's offsets of topics it no longer
subscribes to, that long after their commit; an active KIP-848 group keeps all. A group
left Empty with no offsets is deleted.

KIP-848 groups validate commits by member epoch: an unknown member is UNKNOWN_MEMBER_ID,
an older epoch STALE_MEMBER_EPOCH, a newer one FENCED_MEMBER_EPOCH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from .consumer_group import ConsumerGroup
from .group import CONSUMER_PROTOCOL_TYPE, ClassicGroup, GroupError, GroupState, OffsetEntry
from .manager import GroupManager, PersistError, RecordPair
from .records import (
    GroupKey,
    OffsetKey,
    OffsetValue,
    encode_group_key,
    encode_offset_key,
    encode_offset_value,
)

E = ErrorCode
S = GroupState


@dataclass(frozen=True, slots=True)
class CommitPartition:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""


def offset_tombstone(group_id: str, topic: str, partition: int) -> RecordPair:
    return encode_offset_key(OffsetKey(group_id, topic, partition)), None


def _validate_commit(
    group: ClassicGroup, member_id: str, instance_id: str | None, generation: int
) -> None:
    if generation < 0 and group.is_(S.EMPTY):
        return
    if generation >= 0 or member_id or instance_id is not None:
        group.validate_member(member_id, instance_id)
        if generation != group.generation:
            raise GroupError(
                E.illegal_generation,
                f"generation {generation} is not the group's current generation {group.generation}",
            )
    elif not group.is_(S.EMPTY):
        raise GroupError(E.unknown_member_id, "a commit without member id needs an Empty group")
    if group.is_(S.COMPLETING_REBALANCE):
        raise GroupError(E.rebalance_in_progress, "the group is completing a rebalance")


def _validate_consumer_group_commit(cg: ConsumerGroup, member_id: str, epoch: int) -> None:
    member = cg.members.get(member_id)
    if member is None:
        raise GroupError(E.unknown_member_id, f"member {member_id!r} is not in the group")
    if epoch > member.epoch:
        raise GroupError(E.fenced_member_epoch, f"epoch {epoch} is ahead of the member's")
    if epoch < member.epoch:
        raise GroupError(E.stale_member_epoch, f"epoch {epoch} is behind the member's")


def commit(
    mgr: GroupManager,
    *,
    group_id: str,
    member_id: str,
    instance_id: str | None,
    generation: int,
    partitions: list[CommitPartition],
    partition_exists: Callable[[str, int], bool],
    api_version: int,
    now: int,
) -> list[ErrorCode]:
    """Commit offsets; returns one error code per partition, in order."""
    if not group_id:
        return [E.invalid_group_id] * len(partitions)
    group = mgr.group(group_id)
    created = False
    try:
        cg = mgr.consumer_groups.get(group_id)
        if cg is not None and (cg.members or generation >= 0 or member_id):
            _validate_consumer_group_commit(cg, member_id, generation)
            if group is None:
                group = mgr.get_or_create(group_id, now)
                created = True
        elif group is None:
            if generation >= 0:
                raise GroupError(
                    E.group_id_not_found if api_version >= 9 else E.illegal_generation,
                    f"group {group_id} does not exist",
                )
            group = mgr.get_or_create(group_id, now)
            created = True
        else:
            _validate_commit(group, member_id, instance_id, generation)
            # Classic members keep their session alive by committing (as Kafka does).
            member = group.members.get(member_id)
            if member is not None and group.is_(S.STABLE, S.PREPARING_REBALANCE):
                member.heartbeat_deadline = max(
                    member.heartbeat_deadline, now + member.session_timeout_ms
                )
    except GroupError as exc:
        return [exc.error_code] * len(partitions)
    errors: list[ErrorCode] = []
    records: list[RecordPair] = []
    accepted: list[tuple[tuple[str, int], OffsetEntry]] = []
    limit = mgr.config.offset_metadata_max_bytes
    for p in partitions:
        metadata = p.metadata or ""
        if not partition_exists(p.topic, p.partition):
            errors.append(E.unknown_topic_or_partition)
        elif len(metadata.encode()) > limit:
            errors.append(E.offset_metadata_too_large)
        else:
            entry = OffsetEntry(p.offset, p.leader_epoch, metadata, now)
            records.append(
                (
                    encode_offset_key(OffsetKey(group_id, p.topic, p.partition)),
                    encode_offset_value(OffsetValue(p.offset, p.leader_epoch, metadata, now)),
                )
            )
            accepted.append(((p.topic, p.partition), entry))
            errors.append(E.none)
    if records:
        try:
            mgr.persist(group_id, records)
        except PersistError as exc:
            errors = [exc.error_code if e is E.none else e for e in errors]
            accepted = []
    for key, entry in accepted:
        group.offsets[key] = entry
    if created and not group.offsets:
        mgr.groups.pop(group_id, None)
    return errors


def txn_commit(
    mgr: GroupManager,
    *,
    group_id: str,
    producer_id: int,
    producer_epoch: int,
    member_id: str,
    instance_id: str | None,
    generation: int,
    partitions: list[CommitPartition],
    partition_exists: Callable[[str, int], bool],
    now: int,
) -> list[ErrorCode]:
    """TxnOffsetCommit: offsets become visible when the transaction commits."""
    if not group_id:
        return [E.invalid_group_id] * len(partitions)
    try:
        cg = mgr.consumer_groups.get(group_id)
        group = mgr.group(group_id)
        if cg is not None and cg.members and (member_id or generation >= 0):
            try:
                _validate_consumer_group_commit(cg, member_id, generation)
            except GroupError as exc:
                if exc.error_code is E.stale_member_epoch:
                    raise GroupError(E.illegal_generation, str(exc)) from exc
                raise
        elif group is None and generation >= 0:
            raise GroupError(E.illegal_generation, f"group {group_id} does not exist")
        elif group is not None and (generation >= 0 or member_id or instance_id is not None):
            group.validate_member(member_id, instance_id)
            if generation != group.generation:
                raise GroupError(E.illegal_generation, "stale generation")
    except GroupError as exc:
        return [exc.error_code] * len(partitions)
    errors: list[ErrorCode] = []
    records: list[RecordPair] = []
    accepted: list[tuple[tuple[str, int], OffsetEntry]] = []
    for p in partitions:
        metadata = p.metadata or ""
        if not partition_exists(p.topic, p.partition):
            errors.append(E.unknown_topic_or_partition)
        elif len(metadata.encode()) > mgr.config.offset_metadata_max_bytes:
            errors.append(E.offset_metadata_too_large)
        else:
            records.append(
                (
                    encode_offset_key(OffsetKey(group_id, p.topic, p.partition)),
                    encode_offset_value(OffsetValue(p.offset, p.leader_epoch, metadata, now)),
                )
            )
            accepted.append(
                ((p.topic, p.partition), OffsetEntry(p.offset, p.leader_epoch, metadata, now))
            )
            errors.append(E.none)
    if records:
        try:
            mgr.persist(group_id, records, producer=(producer_id, producer_epoch))
        except PersistError as exc:
            return [exc.error_code if e is E.none else e for e in errors]
    pending = mgr.pending_txn.setdefault(producer_id, {}).setdefault(group_id, {})
    pending.update(accepted)
    return errors


def fetch(
    mgr: GroupManager, group_id: str, topics: list[tuple[str, list[int]]] | None
) -> list[tuple[str, int, OffsetEntry | None]]:
    """Committed offsets of the requested partitions (all the group's when topics is None)."""
    group = mgr.group(group_id)
    offsets = group.offsets if group is not None else {}
    if topics is None:
        return [(t, p, e) for (t, p), e in sorted(offsets.items())]
    return [(t, p, offsets.get((t, p))) for t, parts in topics for p in parts]


def delete_offsets(
    mgr: GroupManager, group_id: str, partitions: list[tuple[str, int]]
) -> tuple[ErrorCode, list[ErrorCode]]:
    group = mgr.group(group_id)
    if group is None:
        return E.group_id_not_found, []
    active = group.is_(S.STABLE, S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE)
    if active and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
        return E.non_empty_group, []
    subscribed = group.subscribed_topics()
    modern = mgr.consumer_groups.get(group_id)
    if modern is not None and modern.members:
        active, subscribed = True, modern.subscribed_topics()
    errors = []
    records: list[RecordPair] = []
    for topic, partition in partitions:
        in_use = (topic in subscribed) if subscribed is not None else active
        if in_use:
            errors.append(E.group_subscribed_to_topic)
            continue
        errors.append(E.none)
        if (topic, partition) in group.offsets:
            records.append(offset_tombstone(group_id, topic, partition))
    if records:
        try:
            mgr.persist(group_id, records)
        except PersistError as exc:
            return exc.error_code, []
    for (topic, partition), error in zip(partitions, errors, strict=True):
        if error is E.none:
            group.offsets.pop((topic, partition), None)
    return E.none, errors


def expire_offsets(mgr: GroupManager, now: int) -> int:
    """Drop offsets past retention (and groups left with nothing); returns how many."""
    retention = mgr.config.offsets_retention_ms
    expired_total = 0
    for group in list(mgr.groups.values()):
        cg = mgr.consumer_groups.get(group.group_id)
        if cg is not None and cg.members:
            continue  # an active KIP-848 group keeps its offsets
        base = _expiration_base(group)
        if base is None:
            continue
        subscribed = group.subscribed_topics() if group.is_(S.STABLE) else None
        if group.is_(S.STABLE) and subscribed is None:
            continue  # subscriptions unknown: keep everything
        expired = []
        for key, entry in group.offsets.items():
            if subscribed is not None and key[0] in subscribed:
                continue
            if entry.expire_timestamp >= 0:
                due = now >= entry.expire_timestamp
            else:
                due = now - base(entry) >= retention
            if due:
                expired.append(key)
        drop_group = group.is_(S.EMPTY) and len(expired) == len(group.offsets) and not group.members
        if not expired and not drop_group:
            continue
        records = [offset_tombstone(group.group_id, t, p) for t, p in expired]
        if drop_group:
            records.append((encode_group_key(GroupKey(group.group_id)), None))
        try:
            mgr.persist(group.group_id, records)
        except PersistError:
            continue
        for key in expired:
            del group.offsets[key]
        expired_total += len(expired)
        if drop_group:
            mgr.drop_group(group, now)
    return expired_total


def _expiration_base(group: ClassicGroup) -> Callable[[OffsetEntry], int] | None:
    if group.protocol_type is None:
        return lambda e: e.commit_timestamp
    if group.is_(S.EMPTY):
        state_ts = group.state_timestamp
        return lambda e: state_ts if state_ts >= 0 else e.commit_timestamp
    if group.protocol_type == CONSUMER_PROTOCOL_TYPE and group.is_(S.STABLE):
        return lambda e: e.commit_timestamp
    return None
