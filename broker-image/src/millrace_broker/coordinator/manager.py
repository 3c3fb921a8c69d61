"""The group coordinator's state: every group this broker coordinates, pure and replayable.

`GroupManager` owns the groups (membership and committed offsets). The operations live in
`membership.py` (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, timers) and `offsets.py`
(OffsetCommit, OffsetFetch, OffsetDelete, retention); this module has what they share:

- config (`GroupConfig`, from the broker's `group.*` and `offsets.*` properties);
- persistence: every change that must survive a restart becomes `__consumer_offsets`
  records handed to the `persist(group_id, records)` callable *before* memory changes
  (it raises `PersistError` when the write fails; the request then fails too);
- replies to parked requests: JoinGroup and SyncGroup may wait for other members, so they
  carry a token; answers go to `replies` as (token, result) for the driver to deliver;
- `replay(key, value)` rebuilds the state from the log, and `finish_load(now)` starts the
  members' session timers, as Kafka's onLoaded does;
- the admin views: describe, list, delete.

Time is an argument (`now_ms`) everywhere; nothing here sleeps or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kio.schema.errors import ErrorCode

from .consumer_group import CgConfig, ConsumerGroup
from .consumer_group import decode_value as decode_consumer_group
from .consumer_group import encode_key as encode_consumer_group_key
from .group import ClassicGroup, GroupError, GroupState, Member, OffsetEntry
from .records import (
    ConsumerGroupKey,
    GroupKey,
    GroupValue,
    MemberValue,
    OffsetKey,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_key,
    encode_group_value,
)

RecordPair = tuple[bytes, bytes | None]


class Persist(Protocol):
    """Append records to the group's `__consumer_offsets` partition; `producer` (id,
    epoch) makes the batch transactional (TxnOffsetCommit). Raises PersistError."""

    def __call__(
        self, group_id: str, records: Sequence[RecordPair], producer: tuple[int, int] | None = None
    ) -> None: ...


NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


class PersistError(Exception):
    """Writing to `__consumer_offsets` failed; carries the error code to answer."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class GroupConfig:
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    initial_rebalance_delay_ms: int = 3000
    max_size: int = 2**31 - 1
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    offset_metadata_max_bytes: int = 4096
    new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class JoinResult:
    error: ErrorCode
    member_id: str
    generation: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: tuple[tuple[str, str | None, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SyncResult:
    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class MemberDescription:
    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol_name: str
    members: tuple[MemberDescription, ...]
    error: ErrorCode = ErrorCode.none


Reply = tuple[int, JoinResult | SyncResult]


@dataclass
class GroupManager:
    config: GroupConfig
    persist: Persist
    groups: dict[str, ClassicGroup] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    next_hint: int | None = None
    cg_config: CgConfig = field(default_factory=CgConfig)
    consumer_groups: dict[str, ConsumerGroup] = field(default_factory=dict)
    # Offsets committed inside open transactions: producer id -> group -> partition -> entry
    pending_txn: dict[int, dict[str, dict[tuple[str, int], OffsetEntry]]] = field(
        default_factory=dict
    )

    # -- shared helpers ------------------------------------------------------------------

    def hint(self, deadline: int | None) -> None:
        """Note a new deadline, so the driver can wake its timer earlier than planned."""
        if deadline is not None and (self.next_hint is None or deadline < self.next_hint):
            self.next_hint = deadline

    def take_replies(self) -> list[Reply]:
        out, self.replies = self.replies, []
        return out

    def reply(self, token: int | None, result: JoinResult | SyncResult) -> None:
        if token is not None:
            self.replies.append((token, result))

    def group(self, group_id: str) -> ClassicGroup | None:
        group = self.groups.get(group_id)
        return None if group is None or group.state is GroupState.DEAD else group

    def get_or_create(self, group_id: str, now_ms: int) -> ClassicGroup:
        group = self.group(group_id)
        if group is None:
            group = ClassicGroup(group_id, state_timestamp=now_ms)
            self.groups[group_id] = group
        return group

    def store_group(self, group: ClassicGroup) -> None:
        """Persist the group's generation, members and assignments (raises PersistError)."""
        value = GroupValue(
            protocol_type=group.protocol_type or "",
            generation=group.generation,
            protocol=group.protocol_name,
            leader=group.leader_id,
            state_timestamp=group.state_timestamp,
            members=tuple(
                MemberValue(
                    m.member_id,
                    m.instance_id,
                    m.client_id,
                    m.client_host,
                    m.rebalance_timeout_ms,
                    m.session_timeout_ms,
                    m.metadata_for(group.protocol_name),
                    m.assignment,
                )
                for m in group.members.values()
            ),
        )
        self.persist(
            group.group_id,
            [(encode_group_key(GroupKey(group.group_id)), encode_group_value(value))],
        )

    def drop_group(self, group: ClassicGroup, now_ms: int) -> None:
        group.transition(GroupState.DEAD, now_ms)
        self.groups.pop(group.group_id, None)

    # -- loading -------------------------------------------------------------------------

    def replay(self, key_bytes: bytes, value_bytes: bytes | None) -> None:
        """Apply one `__consumer_offsets` record (later records win, as after compaction)."""
        key = decode_key(key_bytes)
        if isinstance(key, ConsumerGroupKey):
            if value_bytes is None:
                self.consumer_groups.pop(key.group, None)
            else:
                self.consumer_groups[key.group] = decode_consumer_group(key.group, value_bytes)
            return
        group = self.groups.get(key.group)
        if isinstance(key, OffsetKey):
            if value_bytes is None:
                if group is not None:
                    group.offsets.pop((key.topic, key.partition), None)
                    if not group.offsets and group.generation == 0 and not group.members:
                        del self.groups[key.group]
                return
            v = decode_offset_value(value_bytes)
            if group is None:
                group = self.groups[key.group] = ClassicGroup(key.group)
            group.offsets[(key.topic, key.partition)] = OffsetEntry(
                v.offset, v.leader_epoch, v.metadata, v.commit_timestamp, v.expire_timestamp
            )
            return
        assert isinstance(key, GroupKey)
        if value_bytes is None:
            if group is not None:
                offsets = group.offsets
                del self.groups[key.group]
                if offsets:
                    self.groups[key.group] = ClassicGroup(key.group, offsets=offsets)
            return
        gv = decode_group_value(value_bytes)
        fresh = ClassicGroup(
            key.group,
            generation=gv.generation,
            protocol_type=gv.protocol_type or None,
            protocol_name=gv.protocol,
            state_timestamp=gv.state_timestamp,
            offsets=group.offsets if group is not None else {},
        )
        for mv in gv.members:
            fresh.add(
                Member(
                    mv.member_id,
                    mv.instance_id,
                    mv.client_id,
                    mv.client_host,
                    mv.rebalance_timeout_ms,
                    mv.session_timeout_ms,
                    gv.protocol_type,
                    ((gv.protocol or "", mv.subscription),),
                    assignment=mv.assignment,
                )
            )
        fresh.protocol_type = gv.protocol_type or None
        fresh.leader_id = gv.leader if gv.leader in fresh.members else fresh.leader_id
        fresh.state = GroupState.STABLE if fresh.members else GroupState.EMPTY
        fresh.previous_state = fresh.state
        self.groups[key.group] = fresh

    def replay_transactional(
        self, producer_id: int, key_bytes: bytes, value_bytes: bytes | None
    ) -> None:
        """An offset written by TxnOffsetCommit: pending until its transaction's marker."""
        key = decode_key(key_bytes)
        if not isinstance(key, OffsetKey) or value_bytes is None:
            return
        v = decode_offset_value(value_bytes)
        self.pending_txn.setdefault(producer_id, {}).setdefault(key.group, {})[
            (key.topic, key.partition)
        ] = OffsetEntry(v.offset, v.leader_epoch, v.metadata, v.commit_timestamp)

    def complete_txn(
        self, producer_id: int, commit: bool, in_partition: Callable[[str], bool]
    ) -> None:
        """A transaction marker: publish (commit) or drop (abort) the producer's pending
        offsets of the groups that live in the marker's partition."""
        by_group = self.pending_txn.get(producer_id, {})
        for group_id in [g for g in by_group if in_partition(g)]:
            entries = by_group.pop(group_id)
            if commit:
                group = self.groups.get(group_id)
                if group is None or group.state is GroupState.DEAD:
                    group = self.groups[group_id] = ClassicGroup(group_id)
                group.offsets.update(entries)
        if not by_group:
            self.pending_txn.pop(producer_id, None)

    def has_pending_txn(self, group_id: str, topic: str, partition: int) -> bool:
        return any(
            (topic, partition) in groups.get(group_id, {}) for groups in self.pending_txn.values()
        )

    def finish_load(self, now_ms: int, loaded: Callable[[str], bool] = lambda g: True) -> None:
        """Start the session timers of the members of the groups just loaded."""
        for group in self.groups.values():
            if not loaded(group.group_id):
                continue
            for member in group.members.values():
                member.heartbeat_deadline = now_ms + member.session_timeout_ms
        for cg in self.consumer_groups.values():
            if not loaded(cg.group_id):
                continue
            for cm in cg.members.values():
                cm.session_deadline = now_ms + self.cg_config.session_timeout_ms
                cm.rebalance_deadline = None

    def unload(self, partition_filter: Callable[[str], bool]) -> None:
        """Forget the groups of partitions this broker no longer leads."""
        for group_id in [g for g in self.groups if partition_filter(g)]:
            group = self.groups.pop(group_id)
            for m in group.members.values():
                self.reply(m.join_waiter, JoinResult(ErrorCode.not_coordinator, m.member_id))
                self.reply(m.sync_waiter, SyncResult(ErrorCode.not_coordinator))
        for group_id in [g for g in self.consumer_groups if partition_filter(g)]:
            del self.consumer_groups[group_id]
        for by_group in self.pending_txn.values():
            for group_id in [g for g in by_group if partition_filter(g)]:
                del by_group[group_id]

    # -- admin views ---------------------------------------------------------------------

    def describe(self, group_id: str) -> GroupDescription:
        group = self.group(group_id)
        if group is None or group_id in self.consumer_groups:
            return GroupDescription(
                group_id, GroupState.DEAD.value, "", "", (), ErrorCode.group_id_not_found
            )
        stable = group.state is GroupState.STABLE
        members = tuple(
            MemberDescription(
                m.member_id,
                m.instance_id,
                m.client_id,
                m.client_host,
                m.metadata_for(group.protocol_name) if stable else b"",
                m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return GroupDescription(
            group_id,
            group.state.value,
            group.protocol_type or "",
            (group.protocol_name or "") if stable else "",
            members,
        )

    def list_groups(self, states: set[str]) -> list[tuple[str, str, str, str]]:
        """(group id, protocol type, state, type) of the groups whose state is in `states`
        (lower case; empty = all)."""
        out = []
        for cg in self.consumer_groups.values():
            state = cg.state()
            if not states or state.lower() in states:
                out.append((cg.group_id, "consumer", state, "consumer"))
        for group in self.groups.values():
            if group.state is GroupState.DEAD or group.group_id in self.consumer_groups:
                continue
            if states and group.state.value.lower() not in states:
                continue
            out.append((group.group_id, group.protocol_type or "", group.state.value, "classic"))
        return out

    def store_consumer_group(self, cg: ConsumerGroup) -> None:
        from .consumer_group import encode_value

        self.persist(cg.group_id, [(encode_consumer_group_key(cg.group_id), encode_value(cg))])

    def delete_group(self, group_id: str, now_ms: int) -> ErrorCode:
        group = self.group(group_id)
        cg = self.consumer_groups.get(group_id)
        if group is None and cg is None:
            return ErrorCode.group_id_not_found
        if (group is not None and group.state is not GroupState.EMPTY) or (
            cg is not None and cg.members
        ):
            return ErrorCode.non_empty_group
        from .offsets import offset_tombstone

        records: list[RecordPair] = []
        if group is not None:
            records += [offset_tombstone(group_id, t, p) for t, p in group.offsets]
            records.append((encode_group_key(GroupKey(group_id)), None))
        if cg is not None:
            records.append((encode_consumer_group_key(group_id), None))
        try:
            self.persist(group_id, records)
        except PersistError as exc:
            return exc.error_code
        if group is not None:
            self.drop_group(group, now_ms)
        self.consumer_groups.pop(group_id, None)
        return ErrorCode.none


def check(condition: bool, error: ErrorCode, message: str = "") -> None:
    if not condition:
        raise GroupError(error, message)
