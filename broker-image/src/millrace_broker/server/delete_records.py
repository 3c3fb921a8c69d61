"""DeleteRecords (key 21): move a partition's log start offset forward, as Kafka's
`ReplicaManager.deleteRecords` does.

- Only the partition's leader serves it (NOT_LEADER_OR_FOLLOWER otherwise: the client
  asks the leader it finds in the metadata).
- The offset -1 means "the high watermark"; an offset below 0 or above the high
  watermark is OFFSET_OUT_OF_RANGE. Nothing at or above the high watermark may go: those
  records are not yet on every in-sync replica, and a leader change could still need
  them (Kafka: the log start offset never passes the high watermark).
- The leader's log start offset moves at once (whole segments below it are deleted);
  followers learn it from their next fetch and delete up to it too. The answer waits,
  like Kafka's DelayedDeleteRecords, until every live replica's log start offset reached
  the requested offset (the *low watermark*, returned to the client), or the request's
  timeout (REQUEST_TIMED_OUT; the deletion itself stays done).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from ..storage.errors import StorageError
from ..storage.partition_log import PartitionLog
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

HIGH_WATERMARK = -1


@dataclass(slots=True)
class _Outcome:
    topic: str
    partition: int
    error_code: int
    low_watermark: int
    waiting_for: tuple[PartitionLog, int] | None = None  # (log, offset) still to reach


def handle_delete_records(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    outcomes = [
        _delete(broker, t.name, p.partition_index, p.offset)
        for t in request.topics
        for p in t.partitions
    ]
    if not any(o.waiting_for for o in outcomes):
        return _response(request, outcomes)
    return _await_followers(broker, request, outcomes)


def _delete(broker: Broker, topic: str, partition: int, offset: int) -> _Outcome:
    plog = broker.partition_log(topic, partition)
    part = broker.image.topics.get(topic)
    image_part = part.partitions.get(partition) if part is not None else None
    if plog is None or image_part is None:
        return _Outcome(topic, partition, ErrorCode.unknown_topic_or_partition, -1)
    if image_part.leader != broker.node_id:
        return _Outcome(topic, partition, ErrorCode.not_leader_or_follower, -1)
    hw = broker.high_watermark(plog)
    target = hw if offset == HIGH_WATERMARK else offset
    if target < 0 or target > hw:
        return _Outcome(topic, partition, ErrorCode.offset_out_of_range, -1)
    try:
        plog.delete_records_before(target)
    except StorageError as exc:
        return _Outcome(topic, partition, exc.error_code, -1)
    broker.purgatory.notify((topic, partition))
    low = broker.replication.low_watermark(plog)
    if low >= target:
        return _Outcome(topic, partition, ErrorCode.none, low)
    return _Outcome(topic, partition, ErrorCode.none, -1, waiting_for=(plog, target))


async def _await_followers(broker: Broker, request: Any, outcomes: list[_Outcome]) -> Any:
    deadline = time.monotonic() + request.timeout.total_seconds()
    for outcome in outcomes:
        if outcome.waiting_for is None:
            continue
        plog, target = outcome.waiting_for
        low = await broker.replication.wait_for_low_watermark(plog, target, deadline=deadline)
        if low is None:
            outcome.error_code = ErrorCode.request_timed_out
        else:
            outcome.low_watermark = low
    return _response(request, outcomes)


def _response(request: Any, outcomes: list[_Outcome]) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "DeleteRecordsTopicResult")
    part_cls = nested(cls, "DeleteRecordsPartitionResult")
    by_topic: dict[str, list[Any]] = {}
    for o in outcomes:
        by_topic.setdefault(o.topic, []).append(
            make(
                part_cls,
                partition_index=o.partition,
                low_watermark=o.low_watermark,
                error_code=o.error_code,
            )
        )
    topics = tuple(make(topic_cls, name=n, partitions=tuple(ps)) for n, ps in by_topic.items())
    return make(cls, throttle_time=ZERO_THROTTLE, topics=topics)
