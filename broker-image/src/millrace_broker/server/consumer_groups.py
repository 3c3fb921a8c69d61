"""KIP-848 consumer-group APIs: ConsumerGroupHeartbeat (68), ConsumerGroupDescribe (69).

Topic ids on the wire, topic names inside the coordinator: the metadata image maps both
ways. Every answered heartbeat carries the member's full current assignment.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from ..coordinator.consumer_group import Assignment, CgHeartbeat
from .broker import Broker
from .context import RequestContext
from .group_wiring import ready_coordinator
from .groups import AUTHORIZED_OPERATIONS_NOT_REQUESTED, GROUP_OPERATIONS
from .kio_build import ZERO_THROTTLE, make, nested, response_class

MEMBER_TYPE_CONSUMER = 1


def handle_consumer_group_heartbeat(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            error_code=error,
            error_message=None,
            member_id=None,
            member_epoch=-1,
            heartbeat_interval=ZERO_THROTTLE,
            assignment=None,
        )
    image = broker.image
    interval = datetime.timedelta(milliseconds=coordinator.manager.cg_config.heartbeat_interval_ms)
    owned: Assignment | None = None
    if request.topic_partitions is not None:
        owned = {}
        for tp in request.topic_partitions:
            name = image.topic_names.get(tp.topic_id)
            if name is not None and tp.partitions:
                owned[name] = {int(p) for p in tp.partitions}
    rebalance_ms = int(request.rebalance_timeout.total_seconds() * 1000)
    subscribed = request.subscribed_topic_names

    def partition_count(topic: str) -> int | None:
        found = broker.image.topics.get(topic)
        return None if found is None else len(found.partitions)

    result = coordinator.consumer_heartbeat(
        CgHeartbeat(
            group_id=request.group_id,
            member_id=request.member_id,
            member_epoch=request.member_epoch,
            instance_id=request.instance_id,
            rack_id=request.rack_id,
            rebalance_timeout_ms=rebalance_ms,
            subscribed=None if subscribed is None else tuple(subscribed),
            server_assignor=request.server_assignor,
            owned=owned,
            client_id=ctx.client_id or "",
            client_host="/" + ctx.client_host,
            regex=getattr(request, "subscribed_topic_regex", None),
        ),
        partition_count,
        lambda: list(broker.image.topics),
    )
    assignment = None
    if result.error is ErrorCode.none and result.assignment is not None:
        assignment_cls = nested(cls, "Assignment")
        tp_cls = nested(cls, "TopicPartitions")
        assignment = make(
            assignment_cls, topic_partitions=_topic_partitions(broker, tp_cls, result.assignment)
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=result.error,
        error_message=result.message,
        member_id=result.member_id,
        member_epoch=result.member_epoch,
        heartbeat_interval=interval,
        assignment=assignment,
    )


def _topic_partitions(
    broker: Broker, tp_cls: type[Any], assignment: Assignment, *, with_names: bool = False
) -> tuple[Any, ...]:
    out = []
    for name in sorted(assignment):
        topic = broker.image.topics.get(name)
        if topic is None or not assignment[name]:
            continue
        out.append(
            make(
                tp_cls,
                topic_id=topic.topic_id,
                topic_name=name,
                partitions=tuple(sorted(assignment[name])),
            )
        )
    return tuple(out)


def handle_consumer_group_describe(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    group_cls = nested(cls, "DescribedGroup")
    member_cls = nested(cls, "Member")
    assignment_cls = nested(cls, "Assignment")
    tp_cls = nested(cls, "TopicPartitions")
    ops = (
        GROUP_OPERATIONS
        if request.include_authorized_operations
        else AUTHORIZED_OPERATIONS_NOT_REQUESTED
    )
    out = []
    for group_id in request.group_ids:
        coordinator, error = ready_coordinator(broker, group_id)
        cg = coordinator.manager.consumer_groups.get(group_id) if coordinator else None
        if cg is None:
            if error is ErrorCode.none:
                error = ErrorCode.group_id_not_found
            out.append(
                make(
                    group_cls,
                    error_code=error,
                    error_message=f"Group {group_id} is not a consumer group.",
                    group_id=group_id,
                    group_state="",
                    group_epoch=-1,
                    assignment_epoch=-1,
                    assignor_name="",
                    members=(),
                    authorized_operations=ops,
                )
            )
            continue
        assert coordinator is not None
        assignors = [m.server_assignor for m in cg.members.values() if m.server_assignor]
        members = tuple(
            make(
                member_cls,
                member_id=m.member_id,
                instance_id=m.instance_id,
                rack_id=m.rack_id,
                member_epoch=m.epoch,
                client_id=m.client_id,
                client_host=m.client_host,
                subscribed_topic_names=m.topic_names if m.regex else m.subscribed,
                subscribed_topic_regex=m.regex,
                assignment=make(
                    assignment_cls, topic_partitions=_topic_partitions(broker, tp_cls, m.assigned)
                ),
                target_assignment=make(
                    assignment_cls,
                    topic_partitions=_topic_partitions(
                        broker, tp_cls, cg.target.get(m.member_id, {})
                    ),
                ),
                member_type=MEMBER_TYPE_CONSUMER,
            )
            for m in cg.members.values()
        )
        out.append(
            make(
                group_cls,
                error_code=ErrorCode.none,
                error_message=None,
                group_id=group_id,
                group_state=cg.state(),
                group_epoch=cg.epoch,
                assignment_epoch=cg.assignment_epoch,
                assignor_name=(
                    assignors[0] if assignors else coordinator.manager.cg_config.assignors[0]
                ),
                members=members,
                authorized_operations=ops,
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, groups=tuple(out))
