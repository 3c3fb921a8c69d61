"""KIP-848 consumer groups (ConsumerGroupHeartbeat): server-side assignment, reconciled
member by member.

A group has an epoch, bumped whenever its membership, a subscription or a subscribed
topic's partition count changes. When the group epoch is ahead of the target
assignment's epoch, the assignor (uniform: sticky and balanced; or range) computes a new
target. Each member then moves towards its target on its own heartbeats, as Kafka's
CurrentAssignmentBuilder does:

- partitions it owns that left its target are revoked first: the member keeps its epoch
  (UNREVOKED) until a heartbeat's owned partitions no longer include them;
- then it takes the target epoch and the target partitions nobody else still owns;
  those still owned elsewhere come later (UNRELEASED), once released.

Fencing: an unknown member id is UNKNOWN_MEMBER_ID, a stale epoch FENCED_MEMBER_EPOCH
(the epoch just before is accepted when the owned partitions match: the answer was
lost). A member silent for `group.consumer.session.timeout.ms`, or keeping revoked
partitions past its rebalance timeout, is removed. Epoch -1 leaves; -2 (static member)
leaves temporarily: the same `group.instance.id` rejoining takes over its assignment
without a new group epoch.

State is persisted as one snapshot record per group (a private key version), written
whenever the group or a member changes epoch or assignment.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from .records import CONSUMER_GROUP_KEY_VERSION

Assignment = dict[str, set[int]]  # topic name -> partitions
E = ErrorCode
LEAVE_EPOCH, STATIC_LEAVE_EPOCH = -1, -2


@dataclass
class CgMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = 300_000
    subscribed: tuple[str, ...] = ()
    server_assignor: str | None = None
    epoch: int = 0
    previous_epoch: int = -1
    state: str = "stable"  # stable | unrevoked | unreleased
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    session_deadline: int = 0
    rebalance_deadline: int | None = None
    topic_names: tuple[str, ...] = ()  # as subscribed by name (`subscribed` adds regex hits)
    regex: str | None = None


@dataclass
class ConsumerGroup:
    group_id: str
    epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, CgMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    partition_counts: dict[str, int] = field(default_factory=dict)

    def state(self) -> str:
        if not self.members:
            return "Empty"
        if self.assignment_epoch != self.epoch:
            return "Assigning"
        if any(
            m.epoch != self.assignment_epoch or m.state != "stable" for m in self.members.values()
        ):
            return "Reconciling"
        return "Stable"

    def static_member(self, instance_id: str) -> CgMember | None:
        for m in self.members.values():
            if m.instance_id == instance_id:
                return m
        return None

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed}


@dataclass(frozen=True, slots=True)
class CgHeartbeat:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed: tuple[str, ...] | None = None
    server_assignor: str | None = None
    owned: dict[str, set[int]] | None = None
    client_id: str = ""
    client_host: str = ""
    regex: str | None = None


@dataclass(frozen=True, slots=True)
class CgResult:
    error: ErrorCode
    member_id: str | None = None
    member_epoch: int = -1
    assignment: Assignment | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class CgConfig:
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 5_000
    max_size: int = 2**31 - 1
    assignors: tuple[str, ...] = ("uniform", "range")


PartitionCount = Callable[[str], int | None]
TopicLister = Callable[[], Iterable[str]]


def _effective(names: tuple[str, ...], regex: str | None, topics: TopicLister) -> tuple[str, ...]:
    """Subscribed names plus the (non-internal) topics the regular expression matches."""
    found = set(names)
    if regex:
        pattern = re.compile(regex)
        found |= {t for t in topics() if not t.startswith("__") and pattern.fullmatch(t)}
    return tuple(sorted(found))


# -- assignors ------------------------------------------------------------------------------


def assign_range(members: dict[str, CgMember], counts: dict[str, int]) -> dict[str, Assignment]:
    out: dict[str, Assignment] = {m: {} for m in members}
    for topic in sorted(counts):
        subs = sorted(m for m, mem in members.items() if topic in mem.subscribed)
        if not subs:
            continue
        n, k = counts[topic], len(subs)
        start = 0
        for i, member_id in enumerate(subs):
            size = n // k + (1 if i < n % k else 0)
            if size:
                out[member_id][topic] = set(range(start, start + size))
            start += size
    return out


def assign_uniform(
    members: dict[str, CgMember], counts: dict[str, int], previous: dict[str, Assignment]
) -> dict[str, Assignment]:
    """Balanced within one partition per member, keeping previous owners where it can."""
    out: dict[str, Assignment] = {m: {} for m in members}
    load = dict.fromkeys(members, 0)
    every = [
        (t, p)
        for t in sorted(counts)
        for p in range(counts[t])
        if any(t in m.subscribed for m in members.values())
    ]
    floor = len(every) // max(len(members), 1)
    taken: set[tuple[str, int]] = set()
    for member_id in sorted(members):
        kept = sorted(
            (t, p)
            for t, ps in previous.get(member_id, {}).items()
            for p in ps
            if t in members[member_id].subscribed and p < counts.get(t, 0)
        )
        for t, p in kept[:floor]:
            out[member_id].setdefault(t, set()).add(p)
            taken.add((t, p))
            load[member_id] += 1
    for t, p in every:
        if (t, p) in taken:
            continue
        candidates = [m for m in sorted(members) if t in members[m].subscribed]
        if not candidates:
            continue
        chosen = min(candidates, key=lambda m: load[m])
        out[chosen].setdefault(t, set()).add(p)
        load[chosen] += 1
    return out


# -- reconciliation -------------------------------------------------------------------------


def _owner_epochs(group: ConsumerGroup, exclude: str) -> dict[tuple[str, int], int]:
    owners: dict[tuple[str, int], int] = {}
    for m in group.members.values():
        if m.member_id == exclude:
            continue
        for source in (m.assigned, m.pending_revocation):
            for t, ps in source.items():
                for p in ps:
                    owners[(t, p)] = m.epoch
    return owners


def _still_owns(owned: Assignment | None, revoking: Assignment) -> bool:
    if owned is None:
        return True
    return any(p in revoking.get(t, set()) for t, ps in owned.items() for p in ps)


def reconcile(group: ConsumerGroup, member: CgMember, owned: Assignment | None) -> None:
    """One CurrentAssignmentBuilder step for `member` (owned: what its heartbeat reports)."""
    target = group.target.get(member.member_id, {})
    if member.state == "unrevoked":
        if _still_owns(owned, member.pending_revocation):
            return
        _next(group, member, member.epoch + 1, target, owned)
    elif member.state == "unreleased" or member.epoch != group.assignment_epoch:
        _next(group, member, member.epoch, target, owned)


def _next(
    group: ConsumerGroup, member: CgMember, epoch: int, target: Assignment, owned: Assignment | None
) -> None:
    owners = _owner_epochs(group, member.member_id)
    assigned: Assignment = {}
    revoking: Assignment = {}
    pending: Assignment = {}
    unreleased = False
    for t in set(target) | set(member.assigned):
        want, have = target.get(t, set()), member.assigned.get(t, set())
        keep = have & want
        if keep:
            assigned[t] = keep
        if have - keep:
            revoking[t] = have - keep
        free = {p for p in want - keep if (t, p) not in owners}
        unreleased = unreleased or len(free) < len(want - keep)
        if free:
            pending[t] = free
    if revoking and _still_owns(owned, revoking):
        member.state = "unrevoked"
        member.epoch = max(epoch, member.epoch)
        member.assigned = assigned
        member.pending_revocation = revoking
        return
    for t, ps in pending.items():
        assigned.setdefault(t, set()).update(ps)
    if member.epoch != group.assignment_epoch:
        member.previous_epoch = member.epoch
    member.epoch = group.assignment_epoch
    member.state = "unreleased" if unreleased else "stable"
    member.assigned = assigned
    member.pending_revocation = {}


# -- heartbeat --------------------------------------------------------------------------------


def _refresh_target(group: ConsumerGroup, cfg: CgConfig, counts_of: PartitionCount) -> None:
    counts = {
        t: c for t in sorted(group.subscribed_topics()) if (c := counts_of(t)) is not None and c > 0
    }
    if counts != group.partition_counts:
        group.partition_counts = counts
        if group.epoch == group.assignment_epoch:  # else already due for a new target
            group.epoch += 1
    if group.epoch == group.assignment_epoch:
        return
    wanted = [m.server_assignor for m in group.members.values() if m.server_assignor]
    name = wanted[0] if wanted else cfg.assignors[0]
    if name == "range":
        group.target = assign_range(group.members, counts)
    else:
        group.target = assign_uniform(group.members, counts, group.target)
    group.assignment_epoch = group.epoch


def heartbeat(
    groups: dict[str, ConsumerGroup],
    cfg: CgConfig,
    req: CgHeartbeat,
    counts_of: PartitionCount,
    now: int,
    topics: TopicLister = tuple,
) -> CgResult:
    if not req.group_id:
        return CgResult(E.invalid_request, message="GroupId can't be empty.")
    if req.server_assignor is not None and req.server_assignor not in cfg.assignors:
        return CgResult(
            E.unsupported_assignor,
            message=f"Assignor {req.server_assignor} is not supported; "
            f"use one of {', '.join(cfg.assignors)}.",
        )
    if req.regex:
        try:
            re.compile(req.regex)
        except re.error as exc:
            return CgResult(
                E.invalid_regular_expression,
                message=f"SubscribedTopicRegex {req.regex!r} is not valid: {exc}.",
            )
    group = groups.get(req.group_id)
    if group is None:
        if req.member_epoch != 0:
            return CgResult(E.group_id_not_found, message=f"Group {req.group_id} not found.")
        group = groups[req.group_id] = ConsumerGroup(req.group_id)
    member_id = req.member_id or str(uuid.uuid4())
    member = group.members.get(member_id)
    if req.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
        return _leave(group, member, member_id, req.member_epoch, now)
    if req.member_epoch == 0:
        if req.subscribed is None and not req.regex and member is None:
            return CgResult(
                E.invalid_request,
                message="SubscribedTopicNames or SubscribedTopicRegex must be set in the "
                "first request.",
            )
        joined = _join(group, cfg, req, member_id, member, topics)
        if isinstance(joined, CgResult):
            return joined
        member = joined
    else:
        if member is None:
            return CgResult(E.unknown_member_id, message=f"Member {member_id} is unknown.")
        if req.member_epoch != member.epoch:
            lost_answer = (
                req.member_epoch == member.previous_epoch
                and req.owned is not None
                and req.owned == member.assigned
            )
            if not lost_answer:
                return CgResult(
                    E.fenced_member_epoch,
                    message=f"Epoch {req.member_epoch} is not the member's "
                    f"current epoch {member.epoch}.",
                )
    if req.rebalance_timeout_ms >= 0:
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
    if req.subscribed is not None:
        member.topic_names = tuple(sorted(req.subscribed))
    if req.regex is not None:
        member.regex = req.regex or None
    effective = _effective(member.topic_names, member.regex, topics)
    if effective != member.subscribed:
        member.subscribed = effective
        group.epoch += 1
    if req.server_assignor != member.server_assignor and req.server_assignor is not None:
        member.server_assignor = req.server_assignor
        group.epoch += 1
    member.rack_id = req.rack_id if req.rack_id is not None else member.rack_id
    _refresh_target(group, cfg, counts_of)
    reconcile(group, member, req.owned)
    member.session_deadline = now + cfg.session_timeout_ms
    if member.state == "unrevoked":
        if member.rebalance_deadline is None:
            member.rebalance_deadline = now + member.rebalance_timeout_ms
    else:
        member.rebalance_deadline = None
    return CgResult(
        E.none, member.member_id, member.epoch, {t: set(ps) for t, ps in member.assigned.items()}
    )


def _join(
    group: ConsumerGroup,
    cfg: CgConfig,
    req: CgHeartbeat,
    member_id: str,
    member: CgMember | None,
    topics: TopicLister,
) -> CgMember | CgResult:
    if req.instance_id is not None:
        previous = group.static_member(req.instance_id)
        if previous is not None and previous.member_id != member_id:
            if previous.epoch != STATIC_LEAVE_EPOCH:
                return CgResult(
                    E.unreleased_instance_id,
                    message=f"Static member {req.instance_id} is still active.",
                )
            # Take over the static member's identity: same assignment, no new epoch.
            old_id = previous.member_id
            del group.members[old_id]
            previous.member_id = member_id
            previous.epoch = previous.previous_epoch
            previous.client_id, previous.client_host = req.client_id, req.client_host
            group.members[member_id] = previous
            old_target = group.target.pop(old_id, None)
            if old_target is not None:
                group.target[member_id] = old_target
            return previous
    if member is None and len(group.members) >= cfg.max_size:
        return CgResult(
            E.group_max_size_reached, message=f"The group reached its maximum size {cfg.max_size}."
        )
    fresh = CgMember(
        member_id,
        req.instance_id,
        req.rack_id,
        req.client_id,
        req.client_host,
        server_assignor=req.server_assignor,
    )
    if req.subscribed is not None:
        fresh.topic_names = tuple(sorted(req.subscribed))
    elif member is not None:
        fresh.topic_names = member.topic_names
    fresh.regex = (
        (req.regex or None)
        if req.regex is not None
        else (member.regex if member is not None else None)
    )
    fresh.subscribed = _effective(fresh.topic_names, fresh.regex, topics)
    group.members[member_id] = fresh
    group.epoch += 1
    return fresh


def _leave(
    group: ConsumerGroup, member: CgMember | None, member_id: str, epoch: int, now: int
) -> CgResult:
    if member is None:
        return CgResult(E.unknown_member_id, message=f"Member {member_id} is unknown.")
    if epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
        member.previous_epoch = member.epoch
        member.epoch = STATIC_LEAVE_EPOCH  # keeps its assignment until its session ends
    else:
        remove_member(group, member_id)
    return CgResult(E.none, member_id, epoch)


def remove_member(group: ConsumerGroup, member_id: str) -> None:
    if group.members.pop(member_id, None) is not None:
        group.target.pop(member_id, None)
        group.epoch += 1


def tick(groups: dict[str, ConsumerGroup], now: int) -> list[str]:
    """Remove members past their session or rebalance timeout; returns changed groups."""
    changed = []
    for group in groups.values():
        for m in list(group.members.values()):
            late = m.rebalance_deadline is not None and m.rebalance_deadline <= now
            if m.session_deadline <= now or late:
                remove_member(group, m.member_id)
                if group.group_id not in changed:
                    changed.append(group.group_id)
    return changed


def next_deadline(groups: dict[str, ConsumerGroup]) -> int | None:
    deadlines = [
        d
        for g in groups.values()
        for m in g.members.values()
        for d in (m.session_deadline, m.rebalance_deadline)
        if d is not None
    ]
    return min(deadlines, default=None)


# -- persistence ----------------------------------------------------------------------------


def encode_key(group_id: str) -> bytes:
    raw = group_id.encode()
    return struct.pack(">hh", CONSUMER_GROUP_KEY_VERSION, len(raw)) + raw


def encode_value(group: ConsumerGroup) -> bytes:
    def plain(a: Assignment) -> dict[str, list[int]]:
        return {t: sorted(ps) for t, ps in a.items()}

    doc = {
        "epoch": group.epoch,
        "assignment_epoch": group.assignment_epoch,
        "partition_counts": group.partition_counts,
        "target": {m: plain(a) for m, a in group.target.items()},
        "members": [
            {
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "rack_id": m.rack_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "rebalance_timeout_ms": m.rebalance_timeout_ms,
                "subscribed": list(m.subscribed),
                "topic_names": list(m.topic_names),
                "regex": m.regex,
                "server_assignor": m.server_assignor,
                "epoch": m.epoch,
                "previous_epoch": m.previous_epoch,
                "state": m.state,
                "assigned": plain(m.assigned),
                "pending_revocation": plain(m.pending_revocation),
            }
            for m in group.members.values()
        ],
    }
    return struct.pack(">h", 0) + json.dumps(doc, separators=(",", ":")).encode()


def decode_value(group_id: str, data: bytes) -> ConsumerGroup:
    doc = json.loads(data[2:])

    def sets(a: dict[str, list[int]]) -> Assignment:
        return {t: set(ps) for t, ps in a.items()}

    group = ConsumerGroup(
        group_id,
        doc["epoch"],
        doc["assignment_epoch"],
        partition_counts=dict(doc["partition_counts"]),
        target={m: sets(a) for m, a in doc["target"].items()},
    )
    for md in doc["members"]:
        member = CgMember(
            md["member_id"],
            md["instance_id"],
            md["rack_id"],
            md["client_id"],
            md["client_host"],
            md["rebalance_timeout_ms"],
            tuple(md["subscribed"]),
            md["server_assignor"],
            md["epoch"],
            md["previous_epoch"],
            md["state"],
            sets(md["assigned"]),
            sets(md["pending_revocation"]),
        )
        member.topic_names = tuple(md.get("topic_names", md["subscribed"]))
        member.regex = md.get("regex")
        group.members[member.member_id] = member
    return group
