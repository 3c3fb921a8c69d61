"""Log compaction of one partition (Kafka's LogCleaner, single-threaded and simplified).

1. Cleanable range: whole non-active segments below the *first uncleanable offset*:
   the active segment's base, the high watermark, the first offset of any open
   transaction, and the first segment younger than ``min.compaction.lag.ms`` (by its
   largest timestamp). Segments at or above the cleaner checkpoint
   (``cleaner-offset-checkpoint``, the end of the previous cleaning) are *dirty*.
2. Clean only when dirty bytes / cleanable bytes >= ``min.cleanable.dirty.ratio``, or the
   oldest dirty data is older than ``max.compaction.lag.ms``.
3. Build the offset map ``key -> last offset`` over the dirty segments (bounded: it stops
   at a segment boundary once ``MAX_MAP_KEYS`` keys or the call's byte budget are used;
   the rest stays dirty for the next pass).
4. Rewrite the cleanable segments in groups that fit ``segment.bytes``. Per batch:
   control batches are kept as they are; a record survives if it has a key and no
   later offset for that key is in the map. Tombstones use KIP-534's delete horizon: the
   first cleaning that keeps a tombstone stamps its batch with ``now +
   delete.retention.ms`` (attribute bit 6, the horizon in baseTimestamp); a cleaning
   after that horizon drops the tombstones. Rewritten batches keep their base offset,
   lastOffsetDelta and producer fields, so offsets and producer sequences are
   preserved. A batch left empty is kept as a header-only batch when it is the last of
   its group (so the group's offset range survives) or a producer's retained batch.
   Unchanged batches are copied byte for byte.
   Work is budgeted per call (``BUDGET_BYTES``): a pass spans calls, rewriting a few
   groups each time, because the server runs maintenance on its event loop.
5. Swap (crash-safe like Kafka): write ``<base>.log.cleaned`` (+ indexes), flush, rename
   to ``.swap``, delete the old segments, rename the swap into place. ``log_loader``
   finishes a swap interrupted after the rename and discards ``.cleaned`` leftovers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from millrace_broker.protocol.record_batch import (
    DELETE_HORIZON_BIT,
    LOG_APPEND_TIME,
    BatchHeader,
    read_header,
)
from millrace_broker.storage.checkpoint import read_offset, write_offset
from millrace_broker.storage.log_loader import new_segment
from millrace_broker.storage.records import build_batch, decode_batch
from millrace_broker.storage.segment import LogSegment

if TYPE_CHECKING:
    from millrace_broker.storage.partition_log import PartitionLog

CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"
MAX_MAP_KEYS = 1_000_000
# Bytes read per call: record decoding is Python work, so a call stays well under a second.
BUDGET_BYTES = 16 * 1024 * 1024


def first_uncleanable_offset(log: PartitionLog, now_ms: int, high_watermark: int) -> int:
    end = min(log.active.base_offset, high_watermark)
    open_txns = [
        e.current_txn_first_offset
        for e in log.producers.entries.values()
        if e.current_txn_first_offset is not None
    ]
    if open_txns:
        end = min(end, min(open_txns))
    lag = log.config.min_compaction_lag_ms
    if lag > 0:
        for segment in log.segments[:-1]:
            if segment.largest_timestamp() > now_ms - lag:
                end = min(end, segment.base_offset)
                break
    return end


@dataclass(slots=True)
class CleaningPass:
    """A cleaning in progress: the offset map and the segments still to rewrite."""

    offset_map: dict[bytes, int]
    map_end: int
    pending: list[int]  # base offsets of the segments not yet rewritten, oldest first


def compact(
    log: PartitionLog,
    *,
    now_ms: int,
    high_watermark: int | None = None,
    budget_bytes: int = BUDGET_BYTES,
) -> bool:
    """Do at most ``budget_bytes`` of cleaning work; True if any work was done.

    A pass (map, then rewrite) may span several calls so that one call never blocks
    the event loop for long; it lives on ``log.cleaning`` and is dropped when the log
    is truncated. The checkpoint moves only when a pass completes.
    """
    if log.cleaning is None:
        log.cleaning = start_pass(log, now_ms=now_ms, high_watermark=high_watermark,
                                  budget_bytes=budget_bytes)
        if log.cleaning is None:
            return False
    work = log.cleaning
    by_base = {s.base_offset: s for s in log.segments[:-1]}
    remaining = [by_base[b] for b in work.pending if b in by_base]
    spent = 0
    for group in group_segments(remaining, log.config.segment_bytes):
        if spent >= budget_bytes:
            break
        clean_group(log, group, work.offset_map, now_ms=now_ms)
        spent += sum(s.size for s in group)
        done = {s.base_offset for s in group}
        work.pending = [b for b in work.pending if b not in done]
    if not any(b in by_base for b in work.pending):
        write_offset(log.directory / CLEANER_CHECKPOINT_FILE, work.map_end)
        log.cleaning = None
    return True


def start_pass(
    log: PartitionLog, *, now_ms: int, high_watermark: int | None, budget_bytes: int
) -> CleaningPass | None:
    """Decide whether the log is dirty enough and, if so, build the offset map."""
    checkpoint = log.directory / CLEANER_CHECKPOINT_FILE
    first_dirty = max(read_offset(checkpoint, 0), log.log_start_offset)
    hw = log.log_end_offset if high_watermark is None else high_watermark
    end = first_uncleanable_offset(log, now_ms, hw)
    segments = log.segments
    cleanable = [s for i, s in enumerate(segments[:-1]) if segments[i + 1].base_offset <= end]
    dirty = [s for i, s in enumerate(cleanable) if segments[i + 1].base_offset > first_dirty]
    if not dirty:
        return None
    dirty_bytes = sum(s.size for s in dirty)
    total_bytes = sum(s.size for s in cleanable)
    ratio = dirty_bytes / total_bytes if total_bytes else 0.0
    oldest = dirty[0].rolling_base_timestamp
    overdue = oldest is not None and 0 <= oldest < now_ms - log.config.max_compaction_lag_ms
    if ratio < log.config.min_cleanable_dirty_ratio and not overdue:
        return None
    offset_map, map_end = build_offset_map(dirty, budget_bytes=budget_bytes)
    pending = [s.base_offset for s in cleanable if s.base_offset < map_end]
    return CleaningPass(offset_map, map_end, pending)


def build_offset_map(
    dirty: list[LogSegment], *, budget_bytes: int
) -> tuple[dict[bytes, int], int]:
    """key -> latest offset over a prefix of ``dirty`` (whole segments, at least one,
    bounded by ``MAX_MAP_KEYS`` and ``budget_bytes``); also the offset it covers up to."""
    offset_map: dict[bytes, int] = {}
    end = dirty[0].base_offset
    spent = 0
    for segment in dirty:
        if len(offset_map) >= MAX_MAP_KEYS or spent >= budget_bytes:
            break
        spent += segment.size
        for _, header, body in segment.iter_batch_bytes(0):
            if header.is_control or header.record_count == 0:
                continue
            _, records = decode_batch(body)
            for record in records:
                if record.key is not None:
                    offset_map[record.key] = header.base_offset + record.offset_delta
        end = segment.next_offset
    return offset_map, end


def group_segments(segments: list[LogSegment], max_bytes: int) -> list[list[LogSegment]]:
    """Consecutive segments whose combined size fits one segment (Kafka's groupSegmentsBySize)."""
    groups: list[list[LogSegment]] = []
    current: list[LogSegment] = []
    size = 0
    for segment in segments:
        if current and (size + segment.size > max_bytes
                        or segment.next_offset - current[0].base_offset > (1 << 31) - 1):
            groups.append(current)
            current, size = [], 0
        current.append(segment)
        size += segment.size
    if current:
        groups.append(current)
    return groups


def clean_group(
    log: PartitionLog, group: list[LogSegment], offset_map: dict[bytes, int], *, now_ms: int
) -> None:
    base = group[0].base_offset
    for suffix in (".cleaned", ".swap"):
        for name in (".log", ".index", ".timeindex"):
            (log.directory / f"{base:020d}{name}{suffix}").unlink(missing_ok=True)
    cleaned = new_segment(log.directory, base, log.config, now_ms, suffix=".cleaned")
    last_segment = group[-1]
    for segment in group:
        batches = list(segment.iter_batch_bytes(0))
        for i, (_, header, body) in enumerate(batches):
            is_group_end = segment is last_segment and i == len(batches) - 1
            out = filter_batch(log, header, body, offset_map, now_ms=now_ms,
                               keep_empty=is_group_end)
            if out is not None:
                cleaned.append(out, [read_header(out, 0)])
    cleaned.seal()
    cleaned.flush()
    cleaned.rename_suffix(".cleaned", ".swap")
    for segment in group:
        segment.delete()
    cleaned.rename_suffix(".swap", "")
    cleaned.release_indexes()
    log.replace_segments(group, cleaned)


def filter_batch(
    log: PartitionLog,
    header: BatchHeader,
    body: memoryview,
    offset_map: dict[bytes, int],
    *,
    now_ms: int,
    keep_empty: bool,
) -> bytes | bytearray | None:
    if header.is_control or header.record_count == 0:
        return bytes(body)
    _, records = decode_batch(body)
    horizon = header.base_timestamp if header.has_delete_horizon else None
    drop_tombstones = horizon is not None and now_ms >= horizon
    kept = []
    has_tombstone = False
    for record in records:
        if record.key is None:
            continue  # a compacted topic cannot keep keyless records (Kafka drops them)
        latest = offset_map.get(record.key)
        if latest is not None and header.base_offset + record.offset_delta < latest:
            continue
        if record.value is None:
            if drop_tombstones:
                continue
            has_tombstone = True
        kept.append(record)
    needs_horizon = has_tombstone and horizon is None
    if len(kept) == len(records) and not needs_horizon:
        return bytes(body)
    if not kept and not (keep_empty or _producer_needs(log, header)):
        return None
    attributes = header.attributes
    base_timestamp: int | None = None
    if needs_horizon:
        attributes |= DELETE_HORIZON_BIT
        base_timestamp = now_ms + log.config.delete_retention_ms
    elif horizon is not None:
        base_timestamp = horizon
    if not kept:
        base_timestamp = header.max_timestamp if base_timestamp is None else base_timestamp
    max_timestamp = header.max_timestamp if (
        not kept or header.timestamp_type == LOG_APPEND_TIME) else None
    return build_batch(
        kept,
        base_offset=header.base_offset,
        attributes=attributes,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
    )


def _producer_needs(log: PartitionLog, header: BatchHeader) -> bool:
    """Keep an emptied batch that is still one of its producer's retained batches."""
    if not header.has_producer_id:
        return False
    entry = log.producers.get(header.producer_id)
    return entry is not None and any(b.last_offset == header.last_offset for b in entry.batches)
