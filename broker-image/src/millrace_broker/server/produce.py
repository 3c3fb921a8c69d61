"""Produce (key 0): append each partition's record batches to its log.

The hot path: the request is decoded by kio (native), each partition's records are
handed to the log as opaque bytes (the log validates CRCs and patches offsets), and the
response is written by the hand-made encoder. `acks=0` gets no response at all.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from ..protocol.produce_response import (
    PartitionProduceResult,
    TopicProduceResult,
    encode_produce_response,
)
from ..storage.errors import StorageError
from .broker import Broker
from .context import RequestContext


def handle_produce(broker: Broker, ctx: RequestContext, request: Any) -> bytes | None:
    acks = request.acks
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
        results.append(
            TopicProduceResult(
                name or (topic.name if topic else ""),
                topic.topic_id if topic else getattr(topic_data, "topic_id", None),
                partitions,
            )
        )
    if acks == 0:
        return None
    return encode_produce_response(ctx.correlation_id, ctx.api_version, results)
