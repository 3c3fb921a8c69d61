"""Group membership APIs: FindCoordinator (10), JoinGroup (11), Heartbeat (12),
LeaveGroup (13), SyncGroup (14), DescribeGroups (15), ListGroups (16), DeleteGroups (42).

Each handler turns the kio request into a coordinator call and the answer back into the
response of the request's version. JoinGroup and SyncGroup may park until the rest of
the group catches up: they then return a coroutine, which the dispatcher awaits.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from kio.schema.errors import ErrorCode

from ..coordinator.manager import JoinResult, SyncResult
from ..coordinator.membership import JoinRequest
from ..coordinator.records import partition_for
from .broker import Broker
from .context import RequestContext
from .group_wiring import (
    OFFSETS_TOPIC,
    TRANSACTION_TOPIC,
    ensure_internal_topic,
    ready_coordinator,
)
from .kio_build import ZERO_THROTTLE, make, nested, response_class

GROUP_KEY, TRANSACTION_KEY = 0, 1
AUTHORIZED_OPERATIONS_NOT_REQUESTED = -(2**31)
# READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (no authorizer: all allowed)
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)


def _ms(value: Any) -> int:
    return int(value.total_seconds() * 1000)


# -- FindCoordinator ------------------------------------------------------------------------


async def handle_find_coordinator(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    key_type = int(getattr(request, "key_type", GROUP_KEY))
    if hasattr(request, "coordinator_keys"):
        coordinator_cls = nested(cls, "Coordinator")
        found = [
            make(coordinator_cls, key=key, **await _find(broker, ctx, key_type, key))
            for key in request.coordinator_keys
        ]
        return make(cls, throttle_time=ZERO_THROTTLE, coordinators=tuple(found))
    return make(cls, throttle_time=ZERO_THROTTLE, **await _find(broker, ctx, key_type, request.key))


async def _find(broker: Broker, ctx: RequestContext, key_type: int, key: str) -> dict[str, Any]:
    def failed(error: ErrorCode, message: str) -> dict[str, Any]:
        return dict(error_code=error, error_message=message, node_id=-1, host="", port=-1)

    if key_type == GROUP_KEY:
        topic, count_key = OFFSETS_TOPIC, "offsets.topic.num.partitions"
    elif key_type == TRANSACTION_KEY:
        topic, count_key = TRANSACTION_TOPIC, "transaction.state.log.num.partitions"
    else:
        return failed(ErrorCode.invalid_request, f"Unknown coordinator key type {key_type}")
    error = await ensure_internal_topic(broker, topic)
    if error is not ErrorCode.none:
        return failed(error, "The coordinator is not available.")
    image = broker.image
    partitions = image.topics[topic].partitions
    partition = partitions.get(
        partition_for(key, len(partitions) or broker.config.get_int(count_key))
    )
    node = image.brokers.get(partition.leader) if partition is not None else None
    if node is None:
        return failed(ErrorCode.coordinator_not_available, "The coordinator is not available.")
    for listener, host, port, _ in node.endpoints:
        if listener == ctx.listener:
            return dict(
                error_code=ErrorCode.none,
                error_message=None,
                node_id=node.broker_id,
                host=host,
                port=port,
            )
    return failed(
        ErrorCode.coordinator_not_available,
        f"The coordinator has no endpoint for listener {ctx.listener}.",
    )


# -- JoinGroup / SyncGroup ------------------------------------------------------------------


def handle_join_group(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    version = request.__version__
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        return _join_response(cls, version, JoinResult(error, request.member_id))
    session = _ms(request.session_timeout)
    rebalance = _ms(request.rebalance_timeout) if hasattr(request, "rebalance_timeout") else session
    join = JoinRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        instance_id=getattr(request, "group_instance_id", None),
        protocol_type=request.protocol_type,
        protocols=tuple((p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=session,
        rebalance_timeout_ms=rebalance,
        client_id=ctx.client_id or "",
        client_host="/" + ctx.client_host,
        require_known_member_id=version >= 4,
        supports_skip_assignment=version >= 9,
    )
    result = coordinator.join(join)
    if isinstance(result, JoinResult | SyncResult):
        assert isinstance(result, JoinResult)
        return _join_response(cls, version, result)
    return _await_join(cls, version, result)


async def _await_join(
    cls: type[Any], version: int, pending: Awaitable[JoinResult | SyncResult]
) -> Any:
    result = await pending
    assert isinstance(result, JoinResult)
    return _join_response(cls, version, result)


def _join_response(cls: type[Any], version: int, r: JoinResult) -> Any:
    member_cls = nested(cls, "JoinGroupResponseMember")
    nullable = version >= 7
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=r.error,
        generation_id=r.generation,
        protocol_type=r.protocol_type,
        protocol_name=r.protocol_name if nullable else (r.protocol_name or ""),
        leader=r.leader,
        skip_assignment=r.skip_assignment,
        member_id=r.member_id,
        members=tuple(
            make(member_cls, member_id=m, group_instance_id=i, metadata=md)
            for m, i, md in r.members
        ),
    )


def handle_sync_group(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        return _sync_response(cls, SyncResult(error))
    result = coordinator.sync(
        group_id=request.group_id,
        member_id=request.member_id,
        instance_id=getattr(request, "group_instance_id", None),
        generation=request.generation_id,
        protocol_type=getattr(request, "protocol_type", None),
        protocol_name=getattr(request, "protocol_name", None),
        assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
    )
    if isinstance(result, JoinResult | SyncResult):
        assert isinstance(result, SyncResult)
        return _sync_response(cls, result)
    return _await_sync(cls, result)


async def _await_sync(cls: type[Any], pending: Awaitable[JoinResult | SyncResult]) -> Any:
    result = await pending
    assert isinstance(result, SyncResult)
    return _sync_response(cls, result)


def _sync_response(cls: type[Any], r: SyncResult) -> Any:
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=r.error,
        protocol_type=r.protocol_type,
        protocol_name=r.protocol_name,
        assignment=r.assignment,
    )


# -- Heartbeat / LeaveGroup -----------------------------------------------------------------


def handle_heartbeat(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is not None:
        error = coordinator.heartbeat(
            group_id=request.group_id,
            member_id=request.member_id,
            instance_id=getattr(request, "group_instance_id", None),
            generation=request.generation_id,
        )
    return make(cls, throttle_time=ZERO_THROTTLE, error_code=error)


def handle_leave_group(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    batched = hasattr(request, "members")
    if batched:
        identities = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        identities = [(request.member_id, None)]
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        return make(cls, throttle_time=ZERO_THROTTLE, error_code=error, members=())
    top, errors = coordinator.leave(request.group_id, identities)
    if not batched:
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            error_code=top if top is not ErrorCode.none else errors[0],
        )
    member_cls = nested(cls, "MemberResponse")
    members = tuple(
        make(member_cls, member_id=m, group_instance_id=i, error_code=e)
        for (m, i), e in zip(identities, errors, strict=True)
    )
    if top is not ErrorCode.none:
        members = ()
    return make(cls, throttle_time=ZERO_THROTTLE, error_code=top, members=members)


# -- DescribeGroups / ListGroups / DeleteGroups ---------------------------------------------


def handle_describe_groups(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    group_cls = nested(cls, "DescribedGroup")
    member_cls = nested(cls, "DescribedGroupMember")
    version = request.__version__
    ops = (
        GROUP_OPERATIONS
        if getattr(request, "include_authorized_operations", False)
        else AUTHORIZED_OPERATIONS_NOT_REQUESTED
    )
    out = []
    for group_id in request.groups:
        coordinator, error = ready_coordinator(broker, group_id)
        if coordinator is None:
            out.append(
                make(
                    group_cls,
                    error_code=error,
                    error_message=None,
                    group_id=group_id,
                    group_state="",
                    protocol_type="",
                    protocol_data="",
                    members=(),
                    authorized_operations=ops,
                )
            )
            continue
        d = coordinator.manager.describe(group_id)
        error = d.error
        message = None
        if error is ErrorCode.group_id_not_found:
            if version < 6:
                error = ErrorCode.none
            else:
                message = f"Group {group_id} not found."
        out.append(
            make(
                group_cls,
                error_code=error,
                error_message=message,
                group_id=group_id,
                group_state=d.state,
                protocol_type=d.protocol_type,
                protocol_data=d.protocol_name,
                members=tuple(
                    make(
                        member_cls,
                        member_id=m.member_id,
                        group_instance_id=m.instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        member_metadata=m.metadata,
                        member_assignment=m.assignment,
                    )
                    for m in d.members
                ),
                authorized_operations=ops,
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, groups=tuple(out))


def handle_list_groups(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    listed_cls = nested(cls, "ListedGroup")
    coordinator, _ = ready_coordinator(broker)
    if coordinator is None:
        # No __consumer_offsets yet: no groups, nothing to fail.
        return make(cls, throttle_time=ZERO_THROTTLE, error_code=ErrorCode.none, groups=())
    states = {s.lower() for s in getattr(request, "states_filter", ())}
    types = {t.lower() for t in getattr(request, "types_filter", ())}
    groups = [
        make(listed_cls, group_id=g, protocol_type=t, group_state=s, group_type=k)
        for g, t, s, k in coordinator.manager.list_groups(states)
        if not types or k in types
    ]
    return make(cls, throttle_time=ZERO_THROTTLE, error_code=ErrorCode.none, groups=tuple(groups))


def handle_delete_groups(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "DeletableGroupResult")
    results = []
    for group_id in request.groups_names:
        coordinator, error = ready_coordinator(broker, group_id)
        if coordinator is not None:
            error = coordinator.delete_groups([group_id])[0]
        results.append(make(result_cls, group_id=group_id, error_code=error))
    return make(cls, throttle_time=ZERO_THROTTLE, results=tuple(results))
