"""Committed-offset APIs: OffsetCommit (8), OffsetFetch (9, single and multi-group forms),
OffsetDelete (47), and per-partition lag for admin use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from ..coordinator import offsets as group_offsets
from ..coordinator.offsets import CommitPartition
from .broker import Broker
from .context import RequestContext
from .group_wiring import ready_coordinator
from .kio_build import ZERO_THROTTLE, make, nested, response_class


def _partition_exists(broker: Broker) -> Any:
    image = broker.image

    def exists(topic: str, partition: int) -> bool:
        t = image.topics.get(topic)
        return t is not None and partition in t.partitions

    return exists


def commit_partitions(request: Any) -> list[CommitPartition]:
    """The partitions an OffsetCommit or TxnOffsetCommit request commits, in order."""
    return [
        CommitPartition(
            t.name,
            p.partition_index,
            p.committed_offset,
            getattr(p, "committed_leader_epoch", -1),
            p.committed_metadata,
        )
        for t in request.topics
        for p in t.partitions
    ]


def handle_offset_commit(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "OffsetCommitResponseTopic")
    part_cls = nested(cls, "OffsetCommitResponsePartition")
    wanted = commit_partitions(request)
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        errors = [error] * len(wanted)
    else:
        errors = coordinator.commit(
            group_id=request.group_id,
            member_id=request.member_id,
            instance_id=getattr(request, "group_instance_id", None),
            generation=request.generation_id_or_member_epoch,
            partitions=wanted,
            partition_exists=_partition_exists(broker),
            api_version=request.__version__,
        )
    it = iter(errors)
    topics = tuple(
        make(
            topic_cls,
            name=t.name,
            partitions=tuple(
                make(part_cls, partition_index=p.partition_index, error_code=next(it))
                for p in t.partitions
            ),
        )
        for t in request.topics
    )
    return make(cls, throttle_time=ZERO_THROTTLE, topics=topics)


def handle_offset_fetch(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    if hasattr(request, "groups"):
        group_cls = nested(cls, "OffsetFetchResponseGroup")
        topic_cls = nested(cls, "OffsetFetchResponseTopics")
        part_cls = nested(cls, "OffsetFetchResponsePartitions")
        groups = []
        for g in request.groups:
            error, topics = _fetch_group(
                broker, g.group_id, g.topics, topic_cls, part_cls, request.require_stable
            )
            groups.append(make(group_cls, group_id=g.group_id, topics=topics, error_code=error))
        return make(cls, throttle_time=ZERO_THROTTLE, groups=tuple(groups))
    topic_cls = nested(cls, "OffsetFetchResponseTopic")
    part_cls = nested(cls, "OffsetFetchResponsePartition")
    error, topics = _fetch_group(
        broker,
        request.group_id,
        request.topics,
        topic_cls,
        part_cls,
        getattr(request, "require_stable", False),
    )
    if error is not ErrorCode.none and request.__version__ < 2:
        # v1 has no group-level error: report it on every partition.
        topics = tuple(
            make(
                topic_cls,
                name=t.name,
                partitions=tuple(
                    make(
                        part_cls,
                        partition_index=p,
                        committed_offset=-1,
                        metadata="",
                        error_code=error,
                    )
                    for p in t.partition_indexes
                ),
            )
            for t in request.topics or ()
        )
    return make(cls, throttle_time=ZERO_THROTTLE, topics=topics, error_code=error)


def _fetch_group(
    broker: Broker,
    group_id: str,
    requested: Any,
    topic_cls: type[Any],
    part_cls: type[Any],
    require_stable: bool = False,
) -> tuple[ErrorCode, tuple[Any, ...]]:
    coordinator, error = ready_coordinator(broker, group_id)
    if coordinator is None:
        return error, ()
    wanted = None if requested is None else [(t.name, list(t.partition_indexes)) for t in requested]
    rows = group_offsets.fetch(coordinator.manager, group_id, wanted)
    by_topic: dict[str, list[Any]] = {}
    for topic, partition, entry in rows:
        by_topic.setdefault(topic, []).append(
            make(
                part_cls,
                partition_index=partition,
                committed_offset=entry.offset if entry else -1,
                committed_leader_epoch=entry.leader_epoch if entry else -1,
                metadata=entry.metadata if entry else "",
                error_code=ErrorCode.unstable_offset_commit
                if require_stable
                and coordinator.manager.has_pending_txn(group_id, topic, partition)
                else ErrorCode.none,
            )
        )
    topics = tuple(make(topic_cls, name=t, partitions=tuple(ps)) for t, ps in by_topic.items())
    return ErrorCode.none, topics


def handle_offset_delete(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "OffsetDeleteResponseTopic")
    part_cls = nested(cls, "OffsetDeleteResponsePartition")
    wanted = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    coordinator, error = ready_coordinator(broker, request.group_id)
    errors: list[ErrorCode] = []
    if coordinator is not None:
        exists = _partition_exists(broker)
        known = [w for w in wanted if exists(*w)]
        error, known_errors = group_offsets.delete_offsets(
            coordinator.manager, request.group_id, known
        )
        by_key = dict(zip(known, known_errors, strict=False))
        errors = [by_key.get(w, ErrorCode.unknown_topic_or_partition) for w in wanted]
    if error is not ErrorCode.none:
        return make(cls, error_code=error, throttle_time=ZERO_THROTTLE, topics=())
    it = iter(errors)
    topics = tuple(
        make(
            topic_cls,
            name=t.name,
            partitions=tuple(
                make(part_cls, partition_index=p.partition_index, error_code=next(it))
                for p in t.partitions
            ),
        )
        for t in request.topics
    )
    return make(cls, error_code=ErrorCode.none, throttle_time=ZERO_THROTTLE, topics=topics)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed_offset: int
    log_end_offset: int
    lag: int


def group_lag(broker: Broker, group_id: str) -> list[PartitionLag]:
    """Committed offset, log end (high watermark) and lag of every partition the group
    committed, as `kafka-consumer-groups --describe` computes them."""
    coordinator, _ = ready_coordinator(broker, group_id)
    if coordinator is None:
        return []
    out = []
    for topic, partition, entry in group_offsets.fetch(coordinator.manager, group_id, None):
        plog = broker.partition_log(topic, partition)
        if entry is None or plog is None:
            continue
        end = broker.high_watermark(plog)
        out.append(PartitionLag(topic, partition, entry.offset, end, max(end - entry.offset, 0)))
    return out
