"""Hand-written ProduceResponse encoder (v3-v13), byte-identical to kio's writer.

Produce is the hottest response; kio's pure-Python writer costs ~11 us per response, this
costs a few struct packs. Tests compare the output with kio for every version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .framing import frame_response
from .wire import I16, I32, I64, NO_TAGS, array_length, nullable_string, string

NIL_UUID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class PartitionProduceResult:
    index: int
    error_code: int
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class TopicProduceResult:
    name: str
    topic_id: uuid.UUID | None
    partitions: list[PartitionProduceResult]


def encode_produce_response(
    correlation_id: int,
    version: int,
    topics: list[TopicProduceResult],
    *,
    throttle_time_ms: int = 0,
) -> bytes:
    flexible = version >= 9
    parts: list[bytes] = [array_length(len(topics), compact=flexible)]
    for topic in topics:
        if version >= 13:
            parts.append((topic.topic_id or NIL_UUID).bytes)
        else:
            parts.append(string(topic.name, compact=flexible))
        parts.append(array_length(len(topic.partitions), compact=flexible))
        for p in topic.partitions:
            parts.append(I32.pack(p.index) + I16.pack(p.error_code) + I64.pack(p.base_offset))
            parts.append(I64.pack(p.log_append_time_ms))
            if version >= 5:
                parts.append(I64.pack(p.log_start_offset))
            if version >= 8:
                parts.append(array_length(0, compact=flexible))  # record_errors
                parts.append(nullable_string(p.error_message, compact=flexible))
            if flexible:
                parts.append(NO_TAGS)
        if flexible:
            parts.append(NO_TAGS)
    parts.append(I32.pack(throttle_time_ms))
    if flexible:
        parts.append(NO_TAGS)
    return frame_response(correlation_id, b"".join(parts), header_v1=flexible)
