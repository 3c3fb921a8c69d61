"""JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the group timers, as Kafka's classic protocol.

A rebalance: a member's JoinGroup (or a leave, a protocol change, a missed session) puts
the group in PreparingRebalance; JoinGroup requests park (their token stays on the
member) until every member has rejoined or the largest rebalance timeout passes. Then the
generation advances, a protocol is chosen by vote among those every member supports, the
leader gets every member's metadata and the others an empty list; all park again in
SyncGroup until the leader's SyncGroup brings the assignment, which is persisted and
handed out. The first rebalance of an empty group waits `group.initial.rebalance.delay.ms`
more, extended while new members keep arriving (up to the rebalance timeout).

Fencing: a request from an unknown member gets UNKNOWN_MEMBER_ID, from an old generation
ILLEGAL_GENERATION, during a join phase REBALANCE_IN_PROGRESS; a static member
(`group.instance.id`) rejoining with no member id takes over its old identity without a
rebalance when its protocols are unchanged, and the old identity is FENCED_INSTANCE_ID.
JoinGroup v4+ from a new dynamic member first gets MEMBER_ID_REQUIRED with its id.

Timers are deadlines on the group and its members; `tick(now)` fires those due and
`next_deadline()` tells the driver when to call it next.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from .group import ClassicGroup, GroupError, GroupState, Member
from .manager import GroupManager, JoinResult, PersistError, SyncResult

E = ErrorCode
S = GroupState


@dataclass(frozen=True, slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    instance_id: str | None
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str
    require_known_member_id: bool = True
    supports_skip_assignment: bool = True


# -- JoinGroup -----------------------------------------------------------------------------


def join(mgr: GroupManager, req: JoinRequest, token: int, now: int) -> None:
    """Handle a JoinGroup; the answer (now or later) goes to mgr.replies under `token`."""
    cfg = mgr.config
    if not req.group_id:
        mgr.reply(token, JoinResult(E.invalid_group_id, req.member_id))
        return
    if not cfg.min_session_timeout_ms <= req.session_timeout_ms <= cfg.max_session_timeout_ms:
        mgr.reply(token, JoinResult(E.invalid_session_timeout, req.member_id))
        return
    modern = mgr.consumer_groups.get(req.group_id)
    if modern is not None and modern.members:
        mgr.reply(token, JoinResult(E.inconsistent_group_protocol, req.member_id))
        return
    unknown = req.member_id == ""
    group = mgr.group(req.group_id)
    if group is None:
        if not unknown:
            mgr.reply(token, JoinResult(E.unknown_member_id, req.member_id))
            return
        group = mgr.get_or_create(req.group_id, now)
    if not _accept_joining_member(mgr, group, req.member_id):
        removed = group.remove(req.member_id)
        if removed is not None:
            _answer_join(mgr, removed, JoinResult(E.group_max_size_reached, ""))
        mgr.reply(token, JoinResult(E.group_max_size_reached, ""))
    elif unknown:
        _join_new_member(mgr, group, req, token, now)
    else:
        _join_existing_member(mgr, group, req, token, now)
    _discard_if_unused(mgr, group)


def _discard_if_unused(mgr: GroupManager, group: ClassicGroup) -> None:
    if (
        group.state is S.EMPTY
        and not group.members
        and not group.pending_members
        and not group.offsets
        and group.generation == 0
    ):
        mgr.groups.pop(group.group_id, None)


def _accept_joining_member(mgr: GroupManager, group: ClassicGroup, member_id: str) -> bool:
    limit = mgr.config.max_size
    member = group.members.get(member_id)
    if group.is_(S.EMPTY, S.DEAD):
        return True
    if group.is_(S.PREPARING_REBALANCE):
        return (member is not None and member.join_waiter is not None) or (
            group.awaiting_join_count() < limit
        )
    return member is not None or len(group.members) < limit


def _names(req: JoinRequest) -> set[str]:
    return {name for name, _ in req.protocols}


def _join_new_member(
    mgr: GroupManager, group: ClassicGroup, req: JoinRequest, token: int, now: int
) -> None:
    if not group.supports_protocols(req.protocol_type, _names(req)):
        mgr.reply(token, JoinResult(E.inconsistent_group_protocol, ""))
        return
    new_id = f"{req.instance_id or req.client_id}-{uuid.uuid4()}"
    if req.instance_id is not None:
        existing = group.static_member_id(req.instance_id)
        if existing is not None:
            _replace_static_member(mgr, group, req, existing, new_id, token, now)
        else:
            _add_member_and_rebalance(mgr, group, req, new_id, token, now)
    elif req.require_known_member_id:
        group.pending_members[new_id] = now + req.session_timeout_ms
        mgr.hint(group.pending_members[new_id])
        mgr.reply(token, JoinResult(E.member_id_required, new_id))
    else:
        _add_member_and_rebalance(mgr, group, req, new_id, token, now)


def _join_existing_member(
    mgr: GroupManager, group: ClassicGroup, req: JoinRequest, token: int, now: int
) -> None:
    if not group.supports_protocols(req.protocol_type, _names(req)):
        mgr.reply(token, JoinResult(E.inconsistent_group_protocol, req.member_id))
        return
    if req.member_id in group.pending_members:
        del group.pending_members[req.member_id]
        _add_member_and_rebalance(mgr, group, req, req.member_id, token, now)
        return
    try:
        member = group.validate_member(req.member_id, req.instance_id)
    except GroupError as exc:
        mgr.reply(token, JoinResult(exc.error_code, req.member_id))
        return
    if group.is_(S.PREPARING_REBALANCE):
        _update_member_and_rebalance(mgr, group, member, req, token, now)
    elif group.is_(S.COMPLETING_REBALANCE):
        if member.matches(req.protocols):
            mgr.reply(
                token,
                _current_join(
                    group, member.member_id, with_members=group.is_leader(member.member_id)
                ),
            )
        else:
            _update_member_and_rebalance(mgr, group, member, req, token, now)
    elif group.is_(S.STABLE):
        if group.is_leader(member.member_id) or not member.matches(req.protocols):
            _update_member_and_rebalance(mgr, group, member, req, token, now)
        else:
            mgr.reply(token, _current_join(group, member.member_id, with_members=False))
    else:
        mgr.reply(token, JoinResult(E.unknown_member_id, req.member_id))


def _current_join(
    group: ClassicGroup,
    member_id: str,
    *,
    with_members: bool,
    skip: bool = False,
    leader: str | None = None,
) -> JoinResult:
    return JoinResult(
        E.none,
        member_id,
        group.generation,
        group.protocol_type,
        group.protocol_name,
        leader if leader is not None else (group.leader_id or ""),
        skip,
        _member_list(group) if with_members else (),
    )


def _member_list(group: ClassicGroup) -> tuple[tuple[str, str | None, bytes], ...]:
    return tuple(
        (m.member_id, m.instance_id, m.metadata_for(group.protocol_name))
        for m in group.members.values()
    )


def _answer_join(mgr: GroupManager, member: Member, result: JoinResult) -> None:
    mgr.reply(member.join_waiter, result)
    member.join_waiter = None


def _answer_sync(mgr: GroupManager, member: Member, result: SyncResult) -> None:
    mgr.reply(member.sync_waiter, result)
    member.sync_waiter = None


def _park_join(mgr: GroupManager, member: Member, token: int) -> None:
    if member.join_waiter is not None and member.join_waiter != token:
        _answer_join(mgr, member, JoinResult(E.rebalance_in_progress, member.member_id))
    member.join_waiter = token


def _update_member(mgr: GroupManager, member: Member, req: JoinRequest, token: int) -> None:
    member.protocols = req.protocols
    member.rebalance_timeout_ms = req.rebalance_timeout_ms
    member.session_timeout_ms = req.session_timeout_ms
    _park_join(mgr, member, token)


def _update_member_and_rebalance(
    mgr: GroupManager,
    group: ClassicGroup,
    member: Member,
    req: JoinRequest,
    token: int,
    now: int,
) -> None:
    _update_member(mgr, member, req, token)
    _maybe_prepare_rebalance_or_complete_join(mgr, group, now)


def _add_member_and_rebalance(
    mgr: GroupManager,
    group: ClassicGroup,
    req: JoinRequest,
    member_id: str,
    token: int,
    now: int,
) -> None:
    member = Member(
        member_id,
        req.instance_id,
        req.client_id,
        req.client_host,
        req.rebalance_timeout_ms,
        req.session_timeout_ms,
        req.protocol_type,
        req.protocols,
        join_waiter=token,
        is_new=True,
    )
    if group.is_(S.PREPARING_REBALANCE) and group.initial_join:
        group.new_member_added = True
    group.add(member)
    # New members cannot heartbeat while parked; bound how long a silent one stays.
    member.heartbeat_deadline = now + mgr.config.new_member_join_timeout_ms
    _maybe_prepare_rebalance_or_complete_join(mgr, group, now)


def _replace_static_member(
    mgr: GroupManager,
    group: ClassicGroup,
    req: JoinRequest,
    old_id: str,
    new_id: str,
    token: int,
    now: int,
) -> None:
    old_leader = group.leader_id or ""
    old = group.members.pop(old_id)
    _answer_join(mgr, old, JoinResult(E.fenced_instance_id, old_id))
    _answer_sync(mgr, old, SyncResult(E.fenced_instance_id))
    member = Member(
        new_id,
        old.instance_id,
        old.client_id,
        old.client_host,
        old.rebalance_timeout_ms,
        old.session_timeout_ms,
        old.protocol_type,
        old.protocols,
        assignment=old.assignment,
    )
    group.members[new_id] = member
    assert req.instance_id is not None
    group.static_members[req.instance_id] = new_id
    if group.leader_id == old_id:
        group.leader_id = new_id
    if old_id in group.pending_sync:
        group.pending_sync.discard(old_id)
        group.pending_sync.add(new_id)
    member.heartbeat_deadline = now + member.session_timeout_ms
    _update_member(mgr, member, req, token)
    if group.is_(S.STABLE):
        if group.select_protocol() == group.protocol_name:
            try:
                mgr.store_group(group)
            except PersistError as exc:
                _answer_join(mgr, member, JoinResult(exc.error_code, ""))
                return
            if req.supports_skip_assignment:
                leads = group.is_leader(new_id)
                _answer_join(
                    mgr, member, _current_join(group, new_id, with_members=leads, skip=leads)
                )
            else:
                _answer_join(
                    mgr, member, _current_join(group, new_id, with_members=False, leader=old_leader)
                )
        else:
            _maybe_prepare_rebalance_or_complete_join(mgr, group, now)
    elif group.is_(S.COMPLETING_REBALANCE):
        _prepare_rebalance(mgr, group, now)
    else:
        _maybe_complete_join_phase(mgr, group, now)


# -- rebalance phases ----------------------------------------------------------------------


def _maybe_prepare_rebalance_or_complete_join(
    mgr: GroupManager, group: ClassicGroup, now: int
) -> None:
    if group.can_rebalance():
        _prepare_rebalance(mgr, group, now)
    else:
        _maybe_complete_join_phase(mgr, group, now)


def _prepare_rebalance(mgr: GroupManager, group: ClassicGroup, now: int) -> None:
    if group.is_(S.COMPLETING_REBALANCE):
        for m in group.members.values():
            m.assignment = b""
        _propagate_assignment(mgr, group, E.rebalance_in_progress, now)
    group.pending_sync.clear()
    group.sync_deadline = None
    initial = group.is_(S.EMPTY)
    group.transition(S.PREPARING_REBALANCE, now)
    group.initial_join = initial
    if initial:
        delay = mgr.config.initial_rebalance_delay_ms
        group.initial_delay_ms = delay
        group.initial_remaining_ms = max(group.rebalance_timeout_ms() - delay, 0)
        group.new_member_added = False
        group.join_deadline = now + delay
        mgr.hint(group.join_deadline)
    elif group.all_members_joined():
        _complete_join(mgr, group, now)
    else:
        group.join_deadline = now + group.rebalance_timeout_ms()
        mgr.hint(group.join_deadline)


def _maybe_complete_join_phase(mgr: GroupManager, group: ClassicGroup, now: int) -> None:
    if group.is_(S.PREPARING_REBALANCE) and not group.initial_join and group.all_members_joined():
        _complete_join(mgr, group, now)


def _elect_joined_leader(group: ClassicGroup) -> bool:
    if group.leader_id is None:
        return False
    leader = group.members.get(group.leader_id)
    if leader is not None and leader.join_waiter is not None:
        return True
    for m in group.members.values():
        if m.join_waiter is not None:
            group.leader_id = m.member_id
            return True
    return False


def _complete_join(mgr: GroupManager, group: ClassicGroup, now: int) -> None:
    group.join_deadline = None
    group.initial_join = False
    for m in list(group.members.values()):
        if m.join_waiter is None and m.instance_id is None:
            group.remove(m.member_id)
    if group.is_(S.DEAD):
        return
    if group.members and not _elect_joined_leader(group):
        # Nobody rejoined: wait another rebalance timeout for sessions to expire.
        group.join_deadline = now + group.rebalance_timeout_ms()
        mgr.hint(group.join_deadline)
        return
    group.generation += 1
    group.pending_sync.clear()
    if not group.members:
        group.protocol_name = None
        group.leader_id = None
        group.transition(S.EMPTY, now)
        # An empty generation lost in a crash is harmless: it has no members.
        with contextlib.suppress(PersistError):
            mgr.store_group(group)
        return
    group.protocol_name = group.select_protocol()
    group.transition(S.COMPLETING_REBALANCE, now)
    for m in group.members.values():
        leads = group.is_leader(m.member_id)
        _answer_join(mgr, m, _current_join(group, m.member_id, with_members=leads))
        m.heartbeat_deadline = now + m.session_timeout_ms
        m.is_new = False
        group.pending_sync.add(m.member_id)
    group.sync_deadline = now + group.rebalance_timeout_ms()
    mgr.hint(group.sync_deadline)


def _propagate_assignment(
    mgr: GroupManager, group: ClassicGroup, error: ErrorCode, now: int
) -> None:
    ok = error is E.none
    for m in group.members.values():
        if m.sync_waiter is not None:
            _answer_sync(
                mgr,
                m,
                SyncResult(
                    error,
                    group.protocol_type if ok else None,
                    group.protocol_name if ok else None,
                    m.assignment,
                ),
            )
            m.heartbeat_deadline = now + m.session_timeout_ms


def _remove_pending_sync(group: ClassicGroup, member_id: str) -> None:
    group.pending_sync.discard(member_id)
    if not group.pending_sync:
        group.sync_deadline = None


# -- SyncGroup, Heartbeat, LeaveGroup --------------------------------------------------------


def sync(
    mgr: GroupManager,
    *,
    group_id: str,
    member_id: str,
    instance_id: str | None,
    generation: int,
    protocol_type: str | None,
    protocol_name: str | None,
    assignments: dict[str, bytes],
    token: int,
    now: int,
) -> None:
    group = mgr.group(group_id)
    if group is None:
        mgr.reply(token, SyncResult(E.unknown_member_id))
        return
    try:
        member = group.validate_member(member_id, instance_id)
    except GroupError as exc:
        mgr.reply(token, SyncResult(exc.error_code))
        return
    if generation != group.generation:
        mgr.reply(token, SyncResult(E.illegal_generation))
    elif (protocol_type is not None and protocol_type != group.protocol_type) or (
        protocol_name is not None and protocol_name != group.protocol_name
    ):
        mgr.reply(token, SyncResult(E.inconsistent_group_protocol))
    elif group.is_(S.PREPARING_REBALANCE):
        mgr.reply(token, SyncResult(E.rebalance_in_progress))
    elif group.is_(S.COMPLETING_REBALANCE):
        if member.sync_waiter is not None:
            _answer_sync(mgr, member, SyncResult(E.rebalance_in_progress))
        member.sync_waiter = token
        _remove_pending_sync(group, member_id)
        if group.is_leader(member_id):
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            try:
                mgr.store_group(group)
            except PersistError as exc:
                for m in group.members.values():
                    m.assignment = b""
                _propagate_assignment(mgr, group, exc.error_code, now)
                _maybe_prepare_rebalance_or_complete_join(mgr, group, now)
                return
            _propagate_assignment(mgr, group, E.none, now)
            group.transition(S.STABLE, now)
    elif group.is_(S.STABLE):
        _remove_pending_sync(group, member_id)
        mgr.reply(
            token, SyncResult(E.none, group.protocol_type, group.protocol_name, member.assignment)
        )
    else:
        mgr.reply(token, SyncResult(E.unknown_member_id))


def heartbeat(
    mgr: GroupManager,
    *,
    group_id: str,
    member_id: str,
    instance_id: str | None,
    generation: int,
    now: int,
) -> ErrorCode:
    group = mgr.group(group_id)
    if group is None:
        return E.unknown_member_id
    try:
        member = group.validate_member(member_id, instance_id)
    except GroupError as exc:
        return exc.error_code
    if generation != group.generation:
        return E.illegal_generation
    if group.is_(S.EMPTY):
        return E.unknown_member_id
    member.heartbeat_deadline = now + member.session_timeout_ms
    if group.is_(S.PREPARING_REBALANCE):
        return E.rebalance_in_progress
    return E.none


def leave(
    mgr: GroupManager, group_id: str, members: list[tuple[str, str | None]], now: int
) -> tuple[ErrorCode, list[ErrorCode]]:
    """Remove members ((member id, instance id) pairs); returns (group error, per member)."""
    group = mgr.group(group_id)
    if group is None:
        return E.unknown_member_id, [E.unknown_member_id] * len(members)
    results = []
    for member_id, instance_id in members:
        if member_id == "":
            static_id = group.static_member_id(instance_id) if instance_id else None
            if static_id is None:
                results.append(E.unknown_member_id)
                continue
            _remove_member(mgr, group, static_id)
        elif member_id in group.pending_members:
            group.remove(member_id)
        else:
            try:
                group.validate_member(member_id, instance_id)
            except GroupError as exc:
                results.append(exc.error_code)
                continue
            _remove_member(mgr, group, member_id)
        results.append(E.none)
    if E.none in results:
        if group.is_(S.STABLE, S.COMPLETING_REBALANCE):
            _maybe_prepare_rebalance_or_complete_join(mgr, group, now)
        elif group.is_(S.PREPARING_REBALANCE):
            _maybe_complete_join_phase(mgr, group, now)
    return E.none, results


def _remove_member(mgr: GroupManager, group: ClassicGroup, member_id: str) -> None:
    member = group.remove(member_id)
    if member is not None:
        _answer_join(mgr, member, JoinResult(E.unknown_member_id, ""))
        _answer_sync(mgr, member, SyncResult(E.unknown_member_id))


# -- timers ------------------------------------------------------------------------------


def tick(mgr: GroupManager, now: int) -> None:
    """Fire every deadline that is due: sessions, join phases, pending syncs."""
    for group in list(mgr.groups.values()):
        for member_id, deadline in list(group.pending_members.items()):
            if deadline <= now:
                group.remove(member_id)
                if group.is_(S.PREPARING_REBALANCE) and group.all_members_joined():
                    _complete_join(mgr, group, now)
        for member in list(group.members.values()):
            if member.member_id not in group.members or member.heartbeat_deadline > now:
                continue
            if member.satisfied_heartbeat():
                member.heartbeat_deadline = now + member.session_timeout_ms
                continue
            _remove_member(mgr, group, member.member_id)
            if group.is_(S.STABLE, S.COMPLETING_REBALANCE):
                _maybe_prepare_rebalance_or_complete_join(mgr, group, now)
            elif group.is_(S.PREPARING_REBALANCE) and group.all_members_joined():
                _complete_join(mgr, group, now)
        if (
            group.is_(S.PREPARING_REBALANCE)
            and group.join_deadline is not None
            and group.join_deadline <= now
        ):
            _join_deadline_reached(mgr, group, now)
        if group.sync_deadline is not None and group.sync_deadline <= now:
            group.sync_deadline = None
            if group.is_(S.COMPLETING_REBALANCE, S.STABLE) and group.pending_sync:
                for member_id in list(group.pending_sync):
                    _remove_member(mgr, group, member_id)
                _prepare_rebalance(mgr, group, now)


def _join_deadline_reached(mgr: GroupManager, group: ClassicGroup, now: int) -> None:
    delay = min(mgr.config.initial_rebalance_delay_ms, group.initial_remaining_ms)
    if group.initial_join and group.new_member_added and delay > 0:
        group.new_member_added = False
        group.initial_remaining_ms = max(group.initial_remaining_ms - group.initial_delay_ms, 0)
        group.initial_delay_ms = delay
        group.join_deadline = now + delay
        mgr.hint(group.join_deadline)
        return
    _complete_join(mgr, group, now)


def next_deadline(mgr: GroupManager) -> int | None:
    found: int | None = None
    for group in mgr.groups.values():
        candidates = [
            group.join_deadline,
            group.sync_deadline,
            *group.pending_members.values(),
            *(m.heartbeat_deadline for m in group.members.values()),
        ]
        for c in candidates:
            if c is not None and (found is None or c < found):
                found = c
    return found
