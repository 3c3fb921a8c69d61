"""A classic (JoinGroup/SyncGroup) group: members, generation, state, committed offsets.

States and moves, as Apache Kafka's ClassicGroup:

    Empty -> PreparingRebalance        a member joins
    PreparingRebalance -> CompletingRebalance   every member rejoined, or the rebalance
                                       timeout passed (members that did not rejoin leave)
    PreparingRebalance -> Empty        the join phase ended with no member
    CompletingRebalance -> Stable      the leader's SyncGroup brought the assignment
    Stable/CompletingRebalance -> PreparingRebalance   a member joins, leaves, changes its
                                       protocols, or misses its session timeout
    any -> Dead                        the group was deleted (or expired)

This module holds the data and the small rules that read it (protocol selection,
member validation); the moves themselves live in `membership.py`.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from kio.schema.errors import ErrorCode

CONSUMER_PROTOCOL_TYPE = "consumer"


class GroupState(Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


class GroupError(Exception):
    """A request the group refuses, with the Kafka error code to answer."""

    def __init__(self, error_code: ErrorCode, message: str = "") -> None:
        super().__init__(message or error_code.name)
        self.error_code = error_code


@dataclass(slots=True)
class OffsetEntry:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = -1


@dataclass(slots=True)
class Member:
    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    assignment: bytes = b""
    join_waiter: int | None = None  # token of a parked JoinGroup
    sync_waiter: int | None = None  # token of a parked SyncGroup
    heartbeat_deadline: int = 0
    is_new: bool = False

    def metadata_for(self, protocol: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return b""

    def matches(self, protocols: tuple[tuple[str, bytes], ...]) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise GroupError(ErrorCode.inconsistent_group_protocol, "member supports no candidate")

    def satisfied_heartbeat(self) -> bool:
        """Members parked in a rebalance need no heartbeat (new members do)."""
        return not self.is_new and (self.join_waiter is not None or self.sync_waiter is not None)


@dataclass(slots=True)
class ClassicGroup:
    group_id: str
    state: GroupState = GroupState.EMPTY
    previous_state: GroupState = GroupState.EMPTY
    state_timestamp: int = -1
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending_members: dict[str, int] = field(default_factory=dict)  # member id -> deadline
    pending_sync: set[str] = field(default_factory=set)
    join_deadline: int | None = None
    sync_deadline: int | None = None
    initial_delay_ms: int = 0
    initial_remaining_ms: int = 0
    new_member_added: bool = False
    initial_join: bool = False  # in the delayed first join phase of an empty group
    offsets: dict[tuple[str, int], OffsetEntry] = field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------------

    def is_(self, *states: GroupState) -> bool:
        return self.state in states

    def transition(self, state: GroupState, now_ms: int) -> None:
        self.previous_state = self.state
        self.state = state
        self.state_timestamp = now_ms

    def can_rebalance(self) -> bool:
        return self.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY)

    def awaiting_join_count(self) -> int:
        return sum(1 for m in self.members.values() if m.join_waiter is not None)

    def all_members_joined(self) -> bool:
        return self.awaiting_join_count() == len(self.members) and not self.pending_members

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def static_member_id(self, instance_id: str) -> str | None:
        return self.static_members.get(instance_id)

    def supports_protocols(self, protocol_type: str, names: set[str]) -> bool:
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        if self.protocol_type != protocol_type:
            return False
        counts = self.protocol_counts()
        return any(counts.get(n, 0) == len(self.members) for n in names)

    def protocol_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for m in self.members.values():
            counts.update({name for name, _ in m.protocols})
        return counts

    def select_protocol(self) -> str:
        counts = self.protocol_counts()
        candidates = {n for n, c in counts.items() if c == len(self.members)}
        if not candidates:
            raise GroupError(ErrorCode.inconsistent_group_protocol, "no common protocol")
        votes: Counter[str] = Counter(m.vote(candidates) for m in self.members.values())
        return votes.most_common(1)[0][0]

    def validate_member(self, member_id: str, instance_id: str | None) -> Member:
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                raise GroupError(
                    ErrorCode.unknown_member_id,
                    f"no static member with group.instance.id {instance_id}",
                )
            if existing != member_id:
                raise GroupError(
                    ErrorCode.fenced_instance_id,
                    f"group.instance.id {instance_id} is owned by {existing}",
                )
        member = self.members.get(member_id)
        if member is None:
            raise GroupError(ErrorCode.unknown_member_id, f"unknown member {member_id!r}")
        return member

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to (consumer protocol), None when unknown."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        for m in self.members.values():
            decoded = subscription_topics(m.metadata_for(self.protocol_name))
            if decoded is None:
                return None
            topics |= decoded
        return topics

    # -- changing --------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id

    def remove(self, member_id: str) -> Member | None:
        self.pending_members.pop(member_id, None)
        self.pending_sync.discard(member_id)
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        if (
            member.instance_id is not None
            and self.static_members.get(member.instance_id) == member_id
        ):
            del self.static_members[member.instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member


def subscription_topics(metadata: bytes) -> set[str] | None:
    """Topic names from a ConsumerProtocolSubscription (any version), None if malformed."""
    try:
        pos = 2
        (count,) = struct.unpack_from(">i", metadata, pos)
        pos += 4
        topics = set()
        for _ in range(max(count, 0)):
            (length,) = struct.unpack_from(">h", metadata, pos)
            pos += 2
            if length < 0 or pos + length > len(metadata):
                return None
            topics.add(metadata[pos : pos + length].decode())
            pos += length
        return topics
    except (struct.error, UnicodeDecodeError):
        return None
