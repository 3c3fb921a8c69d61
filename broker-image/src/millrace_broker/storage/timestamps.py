"""ListOffsets by timestamp over a partition's segments (Kafka's fetchOffsetByTimestamp).

For a target timestamp: the first segment whose largest timestamp reaches it; inside, the
time index gives the largest indexed (timestamp <= target) offset, the offset index turns
that into a position, and batch headers are walked to the first batch whose maxTimestamp
reaches the target. Only that one batch is decoded, to return the exact offset of its
first record with timestamp >= target (records at or above the log start offset only).

MAX_TIMESTAMP (-3): the segment with the largest timestamp, the batch that holds it
(recorded as the segment's offset of max timestamp) and, decoding that batch, the first
record carrying it.
"""

from __future__ import annotations

from collections.abc import Sequence

from millrace_broker.storage.records import decode_batch
from millrace_broker.storage.segment import LogSegment


def offset_for_timestamp(
    segments: Sequence[LogSegment], target: int, log_start_offset: int
) -> tuple[int, int] | None:
    for segment in segments:
        if segment.max_timestamp < target or segment.next_offset <= log_start_offset:
            continue
        indexed = segment.time_index.lookup(target)
        _, position = segment.offset_index.lookup(max(indexed, log_start_offset))
        for pos, header in segment.iter_batches(position):
            if header.max_timestamp < target or header.last_offset < log_start_offset:
                continue
            _, records = decode_batch(segment.read(pos, header.total_size))
            for record in records:
                offset = header.base_offset + record.offset_delta
                if record.timestamp >= target and offset >= log_start_offset:
                    return offset, record.timestamp
    return None


def max_timestamp(segments: Sequence[LogSegment], log_start_offset: int) -> tuple[int, int] | None:
    best: LogSegment | None = None
    for segment in segments:
        if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
            best = segment
    if best is None or best.max_timestamp < 0:
        return None
    found = best.find(best.offset_of_max_timestamp)
    if found is None:
        return None
    pos, header = found
    _, records = decode_batch(best.read(pos, header.total_size))
    for record in records:
        if record.timestamp == best.max_timestamp:
            return header.base_offset + record.offset_delta, record.timestamp
    return header.last_offset, best.max_timestamp
