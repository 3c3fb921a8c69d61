"""ElectLeaders (43), AlterPartitionReassignments (45), ListPartitionReassignments (46).

Controller APIs: brokers forward them to the active controller (server/forwarding.py),
which plans with the pure functions of metadata/elections.py and metadata/reassignment.py
under its lock, commits the records, and answers once they are applied. A request that
reaches a node which lost the controllership meanwhile gets NOT_CONTROLLER (retriable).
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from ..metadata.controller import ControllerError
from ..metadata.elections import PREFERRED, ElectionOutcome, ElectionResult, plan_elect_leaders
from ..metadata.image import MetadataImage
from ..metadata.reassignment import (
    ReassignmentOutcome,
    list_reassignments,
    plan_alter_reassignments,
)
from ..metadata.records import MetadataRecord
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, field_names, make, nested, response_class


async def handle_elect_leaders(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    election_type = int(getattr(request, "election_type", PREFERRED))
    wanted = (
        None
        if request.topic_partitions is None
        else [(str(t.topic), int(p)) for t in request.topic_partitions for p in t.partitions]
    )
    outcome = ElectionOutcome()

    def plan(image: MetadataImage) -> list[MetadataRecord]:
        nonlocal outcome
        outcome = plan_elect_leaders(image, election_type, wanted)
        return outcome.records

    try:
        await broker.controller.submit(plan)
    except ControllerError as exc:
        if "error_code" not in field_names(cls):
            # v0 has no top-level error: report it on every partition asked about.
            outcome = ElectionOutcome()
            for tp in wanted or ():
                outcome.results[tp] = ElectionResult(exc.error_code, exc.message)
        else:
            return make(
                cls,
                throttle_time=ZERO_THROTTLE,
                error_code=exc.error_code,
                replica_election_results=(),
            )
    topic_cls = nested(cls, "ReplicaElectionResult")
    part_cls = nested(cls, "PartitionResult")
    by_topic: dict[str, list[Any]] = {}
    for (name, pid), result in outcome.results.items():
        by_topic.setdefault(name, []).append(
            make(
                part_cls,
                partition_id=pid,
                error_code=result.error_code,
                error_message=result.message,
            )
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        replica_election_results=tuple(
            make(topic_cls, topic=name, partition_result=tuple(parts))
            for name, parts in by_topic.items()
        ),
    )


async def handle_alter_partition_reassignments(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    cls = response_class(request)
    requests = [
        (str(t.name), int(p.partition_index), None if p.replicas is None else list(p.replicas))
        for t in request.topics
        for p in t.partitions
    ]
    allow_rf_change = bool(getattr(request, "allow_replication_factor_change", True))
    outcome = ReassignmentOutcome()

    def plan(image: MetadataImage) -> list[MetadataRecord]:
        nonlocal outcome
        outcome = plan_alter_reassignments(
            image, requests, allow_replication_factor_change=allow_rf_change
        )
        return outcome.records

    try:
        await broker.controller.submit(plan)
    except ControllerError as exc:
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            allow_replication_factor_change=allow_rf_change,
            error_code=exc.error_code,
            error_message=exc.message,
            responses=(),
        )
    topic_cls = nested(cls, "ReassignableTopicResponse")
    part_cls = nested(cls, "ReassignablePartitionResponse")
    by_topic: dict[str, list[Any]] = {}
    for (name, pid), result in outcome.results.items():
        by_topic.setdefault(name, []).append(
            make(
                part_cls,
                partition_index=pid,
                error_code=result.error_code,
                error_message=result.message,
            )
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        allow_replication_factor_change=allow_rf_change,
        error_code=ErrorCode.none,
        error_message=None,
        responses=tuple(
            make(topic_cls, name=name, partitions=tuple(parts)) for name, parts in by_topic.items()
        ),
    )


async def handle_list_partition_reassignments(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    cls = response_class(request)
    if not broker.controller.is_active and broker.forwarder is not None:
        # Reached a node that is no longer the active controller: the client retries.
        exc = ControllerError(ErrorCode.not_controller, "this node is not the active controller")
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            error_code=exc.error_code,
            error_message=exc.message,
            topics=(),
        )
    wanted = (
        None
        if request.topics is None
        else [(str(t.name), int(p)) for t in request.topics for p in t.partition_indexes]
    )
    topic_cls = nested(cls, "OngoingTopicReassignment")
    part_cls = nested(cls, "OngoingPartitionReassignment")
    by_topic: dict[str, list[Any]] = {}
    for ongoing in list_reassignments(broker.image, wanted):
        by_topic.setdefault(ongoing.topic, []).append(
            make(
                part_cls,
                partition_index=ongoing.partition,
                replicas=ongoing.replicas,
                adding_replicas=ongoing.adding,
                removing_replicas=ongoing.removing,
            )
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        topics=tuple(
            make(topic_cls, name=name, partitions=tuple(parts)) for name, parts in by_topic.items()
        ),
    )
