"""ListOffsets (key 2): earliest, latest, max-timestamp and by-timestamp lookups.

Special timestamps as Kafka defines them: -1 latest (the high watermark; the last stable
offset for read_committed), -2 earliest, -3 the record with the largest timestamp,
-4 earliest local (no tiered storage here: same as earliest), -5 earliest pending upload
(no tiered storage: answered as "none", offset -1).

Only the leader answers (NOT_LEADER_OR_FOLLOWER), with Fetch's `current_leader_epoch`
checks; see `_refusal`.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from ..metadata.image import PartitionImage
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5


def handle_list_offsets(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "ListOffsetsTopicResponse")
    part_cls = nested(cls, "ListOffsetsPartitionResponse")
    image = broker.image
    topics = []
    for t in request.topics:
        topic = image.topics.get(t.name)
        parts = []
        for p in t.partitions:
            plog = broker.partition_log(t.name, p.partition_index) if topic else None
            if topic is None or plog is None:
                parts.append(
                    make(
                        part_cls,
                        partition_index=p.partition_index,
                        error_code=ErrorCode.unknown_topic_or_partition,
                        old_style_offsets=(),
                    )
                )
                continue
            part = topic.partitions[p.partition_index]
            refused = _refusal(broker, plog, part, p)
            if refused is not None:
                parts.append(
                    make(
                        part_cls,
                        partition_index=p.partition_index,
                        error_code=refused,
                        old_style_offsets=(),
                    )
                )
                continue
            epoch = part.leader_epoch
            ts, offset = _lookup(
                broker, plog, p.timestamp, committed=getattr(request, "isolation_level", 0) == 1
            )
            parts.append(
                make(
                    part_cls,
                    partition_index=p.partition_index,
                    error_code=ErrorCode.none,
                    timestamp=ts,
                    offset=offset,
                    leader_epoch=epoch if offset >= 0 else -1,
                    old_style_offsets=(offset,),
                )
            )
        topics.append(make(topic_cls, name=t.name, partitions=tuple(parts)))
    return make(cls, throttle_time=ZERO_THROTTLE, topics=tuple(topics))


def _refusal(broker: Broker, plog: Any, part: PartitionImage, p: Any) -> ErrorCode | None:
    """Why this node cannot answer for the partition now, as Kafka's error code: not the
    leader; a stale (FENCED) or future (UNKNOWN) `current_leader_epoch`; or, for the latest
    offset, a new leader whose high watermark has not yet reached its epoch's start
    (OFFSET_NOT_AVAILABLE, KIP-207: its HW may still be below what the old leader
    reported, and a client must not see the log end move backwards)."""
    if part.leader != broker.node_id:
        return ErrorCode.not_leader_or_follower
    current = getattr(p, "current_leader_epoch", -1)
    if 0 <= current < part.leader_epoch:
        return ErrorCode.fenced_leader_epoch
    if current > part.leader_epoch:
        return ErrorCode.unknown_leader_epoch
    if p.timestamp == LATEST:
        state = broker.replication.leader_state(plog)
        if state is not None and broker.high_watermark(plog) < state.epoch_start_offset:
            return ErrorCode.offset_not_available
    return None


def _lookup(broker: Broker, plog: Any, timestamp: int, *, committed: bool) -> tuple[int, int]:
    if timestamp == LATEST:
        hw = broker.high_watermark(plog)
        # read_committed clients see the end as the last stable offset
        return -1, (plog.last_stable_offset(hw) if committed else hw)
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return -1, plog.log_start_offset
    if timestamp == EARLIEST_PENDING_UPLOAD:
        return -1, -1
    if timestamp == MAX_TIMESTAMP:
        found = plog.max_timestamp()
    else:
        found = plog.offset_for_timestamp(timestamp)
    if found is None:
        return -1, -1
    offset, ts = found
    return ts, offset
