"""Hand-written FetchResponse encoder (v4-v18), byte-identical to kio's writer.

Record data is never copied: the encoder returns a list of chunks (size prefix, header,
fixed fields, then the records' own buffers) for ``transport.writelines``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .wire import (
    I16,
    I32,
    I64,
    NO_TAGS,
    array_length,
    bytes_length,
    null_array,
    string,
    uvarint,
)

Chunk = bytes | memoryview
NIL_UUID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class AbortedTransaction:
    producer_id: int
    first_offset: int


@dataclass(frozen=True, slots=True)
class PartitionFetchResult:
    index: int
    error_code: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: Chunk | None = None
    aborted_transactions: list[AbortedTransaction] | None = None
    preferred_read_replica: int = -1
    diverging_epoch: tuple[int, int] | None = None  # (epoch, end offset), v12+ tag 0
    current_leader: tuple[int, int] | None = None  # (leader id, leader epoch), v12+ tag 1


@dataclass(frozen=True, slots=True)
class TopicFetchResult:
    name: str
    topic_id: uuid.UUID | None
    partitions: list[PartitionFetchResult] = field(default_factory=list)


def encode_fetch_response(
    correlation_id: int,
    version: int,
    topics: list[TopicFetchResult],
    *,
    error_code: int = 0,
    session_id: int = 0,
    throttle_time_ms: int = 0,
) -> list[Chunk]:
    flexible = version >= 12
    chunks: list[Chunk] = []
    pending = bytearray(I32.pack(throttle_time_ms))
    if version >= 7:
        pending += I16.pack(error_code) + I32.pack(session_id)
    pending += array_length(len(topics), compact=flexible)
    for topic in topics:
        pending += (
            (topic.topic_id or NIL_UUID).bytes
            if version >= 13
            else string(topic.name, compact=flexible)
        )
        pending += array_length(len(topic.partitions), compact=flexible)
        for p in topic.partitions:
            pending += I32.pack(p.index) + I16.pack(p.error_code) + I64.pack(p.high_watermark)
            pending += I64.pack(p.last_stable_offset)
            if version >= 5:
                pending += I64.pack(p.log_start_offset)
            if p.aborted_transactions is None:
                pending += null_array(compact=flexible)
            else:
                pending += array_length(len(p.aborted_transactions), compact=flexible)
                for txn in p.aborted_transactions:
                    pending += I64.pack(txn.producer_id) + I64.pack(txn.first_offset)
                    if flexible:
                        pending += NO_TAGS
            if version >= 11:
                pending += I32.pack(p.preferred_read_replica)
            if p.records is None:
                pending += b"\x00" if flexible else b"\xff\xff\xff\xff"
            else:
                pending += bytes_length(len(p.records), compact=flexible)
                if len(p.records):
                    chunks.append(bytes(pending))
                    chunks.append(p.records)
                    pending = bytearray()
            if flexible:
                pending += _partition_tags(p)
        if flexible:
            pending += NO_TAGS
    if flexible:
        pending += NO_TAGS
    chunks.append(bytes(pending))
    header = I32.pack(correlation_id) + (NO_TAGS if flexible else b"")
    size = len(header) + sum(len(c) for c in chunks)
    return [I32.pack(size) + header, *chunks]


def _partition_tags(p: PartitionFetchResult) -> bytes:
    """Tagged fields of a flexible partition: DivergingEpoch (0), CurrentLeader (1)."""
    if p.diverging_epoch is None and p.current_leader is None:
        return NO_TAGS
    fields: list[bytes] = []
    if p.diverging_epoch is not None:
        body = I32.pack(p.diverging_epoch[0]) + I64.pack(p.diverging_epoch[1]) + NO_TAGS
        fields.append(uvarint(0) + uvarint(len(body)) + body)
    if p.current_leader is not None:
        body = I32.pack(p.current_leader[0]) + I32.pack(p.current_leader[1]) + NO_TAGS
        fields.append(uvarint(1) + uvarint(len(body)) + body)
    return uvarint(len(fields)) + b"".join(fields)
