"""Fetch (key 1): read whole batches from the logs, long-polling up to `max_wait`.

Each partition returns the batches starting with the one that contains the fetch offset,
up to its `partition_max_bytes`, never past the high watermark; the first partition with
data returns at least one whole batch even if it is larger than the limits (KIP-74). When
fewer than `min_bytes` are available the fetch parks in the purgatory until an append to
one of its partitions or the deadline, then reads again. No fetch sessions are created
(session id 0): clients then send full fetch requests, which Kafka's protocol allows.

Replication: only the leader serves a partition (NOT_LEADER_OR_FOLLOWER otherwise, with
the current leader in the v12+ tagged field); a `current_leader_epoch` older than the
leader's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH. A fetch from a
follower (`replica_id` >= 0, or `replica_state.replica_id` from v15) reads up to the log
end, reports the follower's position to the replica manager (which may advance the high
watermark and expand the ISR) and gets the high watermark back; consumers read up to the
high watermark. A `last_fetched_epoch` (v12+) whose end on this leader is below the fetch
offset answers with a DivergingEpoch instead of records, so the fetcher truncates.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from kio.schema.errors import ErrorCode

from ..metadata.image import PartitionImage
from ..protocol.fetch_response import (
    AbortedTransaction,
    Chunk,
    PartitionFetchResult,
    TopicFetchResult,
    encode_fetch_response,
)
from ..storage.errors import StorageError
from .broker import Broker
from .context import RequestContext
from .replication_throttle import leader_sent, leader_skips


def handle_fetch(broker: Broker, ctx: RequestContext, request: Any) -> list[Chunk] | Any:
    topics, total = _read_all(broker, request)
    max_wait_ms = request.max_wait.total_seconds() * 1000
    if total >= request.min_bytes or max_wait_ms <= 0 or _has_error(topics):
        return _respond(broker, ctx, request, topics)
    return _long_poll(broker, ctx, request, max_wait_ms)


async def _long_poll(
    broker: Broker, ctx: RequestContext, request: Any, max_wait_ms: float
) -> list[Chunk]:
    deadline = time.monotonic() + max_wait_ms / 1000
    keys = [(name, p.partition) for name, parts in _requested(broker, request) for p in parts]
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if not await broker.purgatory.wait_any(keys, remaining):
            break
        topics, total = _read_all(broker, request)
        if total >= request.min_bytes or _has_error(topics):
            return _respond(broker, ctx, request, topics)
    topics, _ = _read_all(broker, request)
    return _respond(broker, ctx, request, topics)


def _respond(
    broker: Broker, ctx: RequestContext, request: Any, topics: list[TopicFetchResult]
) -> list[Chunk]:
    follower = replica_id_of(request) >= 0
    for topic in topics:
        size = 0
        for part in topic.partitions:
            size += len(part.records or b"")
        broker.metrics.fetched(topic.name, size, follower=follower)
    if follower:  # replication throttle (issue 4): bytes sent count against the quota
        leader_sent(
            broker,
            ((t.name, p.index, len(p.records or b"")) for t in topics for p in t.partitions),
        )
    return encode_fetch_response(ctx.correlation_id, ctx.api_version, topics)


def _has_error(topics: list[TopicFetchResult]) -> bool:
    return any(p.error_code for t in topics for p in t.partitions)


def _requested(broker: Broker, request: Any) -> list[tuple[str, Any]]:
    image = broker.image
    out = []
    for t in request.topics:
        name = getattr(t, "topic", None)
        if name is None:
            topic = image.topic_by_id(t.topic_id)
            name = topic.name if topic else ""
        out.append((name, t.partitions))
    return out


def replica_id_of(request: Any) -> int:
    state = getattr(request, "replica_state", None)
    if state is not None:
        return int(state.replica_id)
    return int(getattr(request, "replica_id", -1))


def _leadership_error(
    broker: Broker, part: PartitionImage | None, current_leader_epoch: int
) -> PartitionFetchResult | None:
    """The error (as a partial result) if this node cannot serve the partition."""
    if part is None or part.leader != broker.node_id:
        return PartitionFetchResult(
            -1,
            ErrorCode.not_leader_or_follower,
            records=b"",
            current_leader=(part.leader, part.leader_epoch) if part else None,
        )
    if current_leader_epoch >= 0 and current_leader_epoch != part.leader_epoch:
        code = (
            ErrorCode.fenced_leader_epoch
            if current_leader_epoch < part.leader_epoch
            else ErrorCode.unknown_leader_epoch
        )
        return PartitionFetchResult(
            -1, code, records=b"", current_leader=(part.leader, part.leader_epoch)
        )
    return None


READ_COMMITTED = 1


def _read_all(broker: Broker, request: Any) -> tuple[list[TopicFetchResult], int]:
    image = broker.image
    replica_id = replica_id_of(request)
    read_committed = getattr(request, "isolation_level", 0) == READ_COMMITTED
    budget = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
    total = 0
    results: list[TopicFetchResult] = []
    for t in request.topics:
        name = getattr(t, "topic", None)
        topic = image.topics.get(name) if name is not None else image.topic_by_id(t.topic_id)
        parts: list[PartitionFetchResult] = []
        for p in t.partitions:
            plog = broker.partition_log(topic.name, p.partition) if topic else None
            if topic is None or plog is None:
                code = (
                    ErrorCode.unknown_topic_id
                    if name is None
                    else ErrorCode.unknown_topic_or_partition
                )
                parts.append(PartitionFetchResult(p.partition, code, records=b""))
                continue
            refused = _leadership_error(
                broker, topic.partitions.get(p.partition), getattr(p, "current_leader_epoch", -1)
            )
            if refused is not None:
                parts.append(replace(refused, index=p.partition))
                continue
            last_epoch = getattr(p, "last_fetched_epoch", -1)
            if last_epoch >= 0:
                epoch, end = plog.epochs.end_offset_for(last_epoch, plog.log_end_offset)
                if end < p.fetch_offset or epoch < last_epoch:
                    hw = broker.high_watermark(plog)
                    parts.append(
                        PartitionFetchResult(
                            p.partition,
                            ErrorCode.none,
                            hw,
                            hw,
                            plog.log_start_offset,
                            records=b"",
                            diverging_epoch=(epoch, end),
                        )
                    )
                    continue
            if replica_id >= 0:
                broker.replication.on_follower_fetch(
                    plog, replica_id, p.fetch_offset, getattr(p, "log_start_offset", -1)
                )
            hw = broker.high_watermark(plog)
            if replica_id >= 0 and leader_skips(broker, topic.name, p.partition, replica_id):
                # replication throttle (issue 4): quota exceeded, no records this time
                parts.append(
                    PartitionFetchResult(
                        p.partition, ErrorCode.none, hw, hw, plog.log_start_offset, records=b""
                    )
                )
                continue
            lso = plog.last_stable_offset(hw)
            # read_committed consumers stop at the last stable offset (open transactions)
            upper = None if replica_id >= 0 else (lso if read_committed else hw)
            limit = min(p.partition_max_bytes, budget - total)
            try:
                read = plog.read(
                    p.fetch_offset,
                    max(limit, 0),
                    max_offset=upper,
                    min_one_batch=total == 0,
                )
            except StorageError as exc:
                parts.append(
                    PartitionFetchResult(
                        p.partition, exc.error_code, hw, hw, plog.log_start_offset, records=b""
                    )
                )
                continue
            total += len(read.records)
            aborted = None
            if read_committed and len(read.records):
                aborted = [
                    AbortedTransaction(pid, first)
                    for pid, first in plog.aborted_transactions(p.fetch_offset, lso)
                ]
            parts.append(
                PartitionFetchResult(
                    p.partition,
                    ErrorCode.none,
                    high_watermark=hw,
                    last_stable_offset=lso,
                    log_start_offset=read.log_start_offset,
                    records=read.records,
                    aborted_transactions=aborted,
                )
            )
        results.append(
            TopicFetchResult(
                name if name is not None else (topic.name if topic else ""),
                topic.topic_id if topic else getattr(t, "topic_id", None),
                parts,
            )
        )
    return results, total
