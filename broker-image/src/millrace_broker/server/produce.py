"""Produce (key 0): append each partition's record batches to its log.

The hot path: the request is decoded by kio (native), each partition's records are
handed to the log as opaque bytes (the log validates CRCs and patches offsets), and the
response is written by the hand-made encoder. `acks=0` gets no response at all.

Replication: only the partition's leader appends (NOT_LEADER_OR_FOLLOWER otherwise).
`acks=1` answers after the local append. `acks=all` (-1) first checks that the ISR has at
least `min.insync.replicas` members (NOT_ENOUGH_REPLICAS, nothing appended), appends, and
if the high watermark has not yet passed the appended records answers later: a coroutine
waits until it has (NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR fell below the
minimum meanwhile), the request's timeout passes (REQUEST_TIMED_OUT), or leadership moves
(NOT_LEADER_OR_FOLLOWER). With a single in-sync replica the answer is immediate.
That wait is `Pipelined`: the connection serves the client's next requests meanwhile
(their appends follow this one's) and answers all of them in request order, so a client
sending small requests faster than one replication round trip does not queue behind it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from kio.schema.errors import ErrorCode

from ..protocol.produce_response import (
    PartitionProduceResult,
    TopicProduceResult,
    encode_produce_response,
)
from ..storage.errors import StorageError
from ..storage.partition_log import PartitionLog
from .broker import Broker
from .context import RequestContext
from .pipelined import Pipelined

Pending = tuple[int, int, PartitionLog, int, int]  # topic slot, partition slot, log, last, min


def handle_produce(broker: Broker, ctx: RequestContext, request: Any) -> bytes | Pipelined | None:
    acks = request.acks
    pending: list[Pending] = []
    image = broker.image
    now_ms = broker.clock_ms()
    results: list[TopicProduceResult] = []
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        topic = (
            image.topics.get(name) if name is not None else image.topic_by_id(topic_data.topic_id)
        )
        partitions: list[PartitionProduceResult] = []
        for pdata in topic_data.partition_data:
            if acks not in (-1, 0, 1):
                partitions.append(
                    PartitionProduceResult(pdata.index, ErrorCode.invalid_required_acks)
                )
                continue
            part = topic.partitions.get(pdata.index) if topic is not None else None
            plog = broker.partition_log(topic.name, pdata.index) if topic and part else None
            if topic is None or part is None or plog is None:
                code = (
                    ErrorCode.unknown_topic_id
                    if name is None and topic is None
                    else ErrorCode.unknown_topic_or_partition
                )
                partitions.append(PartitionProduceResult(pdata.index, code))
                continue
            if part.leader != broker.node_id:
                partitions.append(
                    PartitionProduceResult(pdata.index, ErrorCode.not_leader_or_follower)
                )
                continue
            if acks == -1:
                state = broker.replication.leader_state(plog)
                isr_size = len(state.isr) if state is not None else len(part.isr)
                min_isr = plog.config.min_insync_replicas
                if isr_size < min_isr:
                    partitions.append(
                        PartitionProduceResult(
                            pdata.index,
                            ErrorCode.not_enough_replicas,
                            error_message=f"The ISR has {isr_size} replica(s), fewer than "
                            f"min.insync.replicas={min_isr}",
                        )
                    )
                    continue
            if pdata.records is None:
                partitions.append(
                    PartitionProduceResult(
                        pdata.index,
                        ErrorCode.invalid_record,
                        error_message="Produce request carries no records",
                    )
                )
                continue
            try:
                appended = plog.append_as_leader(
                    pdata.records, leader_epoch=part.leader_epoch, now_ms=now_ms
                )
            except StorageError as exc:
                partitions.append(
                    PartitionProduceResult(
                        pdata.index,
                        exc.error_code,
                        log_start_offset=plog.log_start_offset,
                        error_message=exc.message,
                    )
                )
                continue
            partitions.append(
                PartitionProduceResult(
                    pdata.index,
                    ErrorCode.none,
                    appended.base_offset,
                    appended.log_append_time_ms,
                    appended.log_start_offset,
                )
            )
            if not appended.duplicate:
                broker.purgatory.notify((topic.name, pdata.index))
                broker.metrics.produced(
                    topic.name, len(pdata.records), appended.last_offset - appended.base_offset + 1
                )
            if acks == -1 and broker.high_watermark(plog) <= appended.last_offset:
                pending.append(
                    (
                        len(results),
                        len(partitions) - 1,
                        plog,
                        appended.last_offset,
                        plog.config.min_insync_replicas,
                    )
                )
        results.append(
            TopicProduceResult(
                name or (topic.name if topic else ""),
                topic.topic_id if topic else getattr(topic_data, "topic_id", None),
                partitions,
            )
        )
    if acks == 0:
        return None
    if pending:
        # The appends are done: later requests on this connection need not wait for
        # this one's followers (server/pipelined.py).
        return Pipelined(_await_replication(broker, ctx, request, results, pending))
    return encode_produce_response(ctx.correlation_id, ctx.api_version, results)


async def _await_replication(
    broker: Broker,
    ctx: RequestContext,
    request: Any,
    results: list[TopicProduceResult],
    pending: list[Pending],
) -> bytes:
    deadline = time.monotonic() + request.timeout.total_seconds()
    for topic_slot, part_slot, plog, last_offset, min_isr in pending:
        code = await broker.replication.wait_for_acks(
            plog, last_offset, min_isr=min_isr, deadline=deadline
        )
        if code:
            parts = results[topic_slot].partitions
            parts[part_slot] = replace(parts[part_slot], error_code=code)
    return encode_produce_response(ctx.correlation_id, ctx.api_version, results)
