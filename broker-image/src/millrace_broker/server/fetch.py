"""Fetch (key 1): read whole batches from the logs, long-polling up to `max_wait`.

Each partition returns the batches starting with the one that contains the fetch offset,
up to its `partition_max_bytes`, never past the high watermark; the first partition with
data returns at least one whole batch even if it is larger than the limits (KIP-74). When
fewer than `min_bytes` are available the fetch parks in the purgatory until an append to
one of its partitions or the deadline, then reads again. No fetch sessions are created
(session id 0): clients then send full fetch requests, which Kafka's protocol allows.
"""

from __future__ import annotations

import time
from typing import Any

from kio.schema.errors import ErrorCode

from ..protocol.fetch_response import (
    Chunk,
    PartitionFetchResult,
    TopicFetchResult,
    encode_fetch_response,
)
from ..storage.errors import StorageError
from .broker import Broker
from .context import RequestContext


def handle_fetch(broker: Broker, ctx: RequestContext, request: Any) -> list[Chunk] | Any:
    topics, total = _read_all(broker, request)
    max_wait_ms = request.max_wait.total_seconds() * 1000
    if total >= request.min_bytes or max_wait_ms <= 0 or _has_error(topics):
        return _encode(ctx, topics)
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
            return _encode(ctx, topics)
    topics, _ = _read_all(broker, request)
    return _encode(ctx, topics)


def _encode(ctx: RequestContext, topics: list[TopicFetchResult]) -> list[Chunk]:
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


def _read_all(broker: Broker, request: Any) -> tuple[list[TopicFetchResult], int]:
    image = broker.image
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
                parts.append(PartitionFetchResult(p.partition, code))
                continue
            hw = broker.high_watermark(plog)
            limit = min(p.partition_max_bytes, budget - total)
            try:
                read = plog.read(
                    p.fetch_offset,
                    max(limit, 0),
                    max_offset=hw,
                    min_one_batch=total == 0,
                )
            except StorageError as exc:
                parts.append(
                    PartitionFetchResult(p.partition, exc.error_code, hw, hw, plog.log_start_offset)
                )
                continue
            total += len(read.records)
            parts.append(
                PartitionFetchResult(
                    p.partition,
                    ErrorCode.none,
                    high_watermark=hw,
                    last_stable_offset=hw,
                    log_start_offset=read.log_start_offset,
                    records=read.records,
                    aborted_transactions=None,
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
