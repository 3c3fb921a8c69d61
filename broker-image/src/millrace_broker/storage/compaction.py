"""Log compaction of one partition (Kafka's LogCleaner, single-threaded and simplified).

1. Cleanable range: whole non-active segments below the *first uncleanable offset*:
   the active segment's base, the high watermark, the first offset of any open
   transaction, and the first segment younger than ``min.compaction.lag.ms`` (by its
   largest timestamp). Segments at or above the cleaner checkpoint
   (``cleaner-offset-checkpoint``, the end of the previous cleaning) are *dirty*.
2. Clean only when dirty bytes / cleanable bytes >= ``min.cleanable.dirty.ratio``, or the
   oldest dirty data is older than ``max.compaction.lag.ms``.
3. Build the offset map ``key -> last offset`` over the dirty segments (bounded by
   ``MAX_MAP_KEYS``; what is not mapped stays dirty for the next pass).
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
   Work is budgeted per call (``BUDGET_BYTES`` of batches read): a pass spans calls,
   even within one group (the ``.cleaned`` segment stays open between calls), because
   the server runs maintenance on its event loop. Old segments stay readable until the
   swap; a pass is abandoned (its ``.cleaned`` file removed) on truncation or close.
5. Swap (crash-safe like Kafka): write ``<base>.log.cleaned`` (+ indexes), flush, rename
   to ``.swap``, delete the old segments, rename the swap into place. ``log_loader``
   finishes a swap interrupted after the rename and discards ``.cleaned`` leftovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from millrace_broker.protocol.record_batch import (
    DELETE_HORIZON_BIT,
    BatchHeader,
    read_header,
)
from millrace_broker.storage.checkpoint import read_offset, write_offset
from millrace_broker.storage.log_loader import new_segment
from millrace_broker.storage.records import (
    RawRecord,
    build_batch,
    build_from_raw,
    decode_batch,
    decode_raw,
)
from millrace_broker.storage.segment import LogSegment

if TYPE_CHECKING:
    from millrace_broker.storage.partition_log import PartitionLog

CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"
MAX_MAP_KEYS = 1_000_000
# Bytes read per call: record decoding is Python work, so one call stays short (about
# 0.1-0.2 s per MiB on a slow core); LogManager repeats calls within a time budget.
BUDGET_BYTES = 1024 * 1024


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
    """A cleaning in progress: the offset map, the segments still to rewrite and, while a
    group is being rewritten, its ``.cleaned`` segment and how far into the group it is."""

    offset_map: dict[bytes, int]
    map_end: int  # the map covers offsets below this
    pending: list[int]  # base offsets of the segments not yet rewritten, oldest first
    cleanable: list[int]  # base offsets of the segments cleanable when the pass began
    to_map: list[int]  # base offsets of dirty segments still to map (first: in progress)
    map_position: int = 0
    group: list[int] = field(default_factory=list)
    cleaned: LogSegment | None = None
    segment_index: int = 0
    position: int = 0


def compact(
    log: PartitionLog,
    *,
    now_ms: int,
    high_watermark: int | None = None,
    budget_bytes: int = BUDGET_BYTES,
) -> bool:
    """Do about ``budget_bytes`` of cleaning work; True if any work was done.

    A pass (map, then rewrite group by group, batch by batch) spans as many calls as it
    needs so that one call never blocks the event loop for long. It lives on
    ``log.cleaning``; ``abandon`` drops it (truncation, close, policy change). The
    checkpoint moves only when a pass completes.
    """
    spent = 0
    if log.cleaning is None:
        log.cleaning = start_pass(log, now_ms=now_ms, high_watermark=high_watermark)
        if log.cleaning is None:
            return False
    work = log.cleaning
    if work.to_map:
        spent += _map_some(log, work, budget_bytes)
        if log.cleaning is None or work.to_map:
            return True
    while spent < budget_bytes:
        by_base = {s.base_offset: s for s in log.segments[:-1]}
        if not work.group:
            remaining = [by_base[b] for b in work.pending if b in by_base]
            if not remaining:
                write_offset(log.directory / CLEANER_CHECKPOINT_FILE, work.map_end)
                log.cleaning = None
                return True
            _begin_group(log, work, group_segments(remaining, log.config.segment_bytes)[0], now_ms)
        group = [by_base.get(b) for b in work.group]
        if any(s is None for s in group):
            _drop_group(work)  # retention deleted part of it meanwhile: redo later
            continue
        spent += _clean_some(
            log, work, [s for s in group if s is not None], budget_bytes - spent, now_ms=now_ms
        )
    return True


def abandon(log: PartitionLog) -> None:
    """Forget the pass in progress and remove its half-written ``.cleaned`` segment."""
    if log.cleaning is not None:
        _drop_group(log.cleaning)
        log.cleaning = None


def _begin_group(
    log: PartitionLog, work: CleaningPass, group: list[LogSegment], now_ms: int
) -> None:
    base = group[0].base_offset
    for suffix in (".cleaned", ".swap"):
        for name in (".log", ".index", ".timeindex"):
            (log.directory / f"{base:020d}{name}{suffix}").unlink(missing_ok=True)
    work.group = [s.base_offset for s in group]
    work.cleaned = new_segment(log.directory, base, log.config, now_ms, suffix=".cleaned")
    work.segment_index = 0
    work.position = 0


def _drop_group(work: CleaningPass) -> None:
    if work.cleaned is not None:
        work.cleaned.delete()
    work.cleaned = None
    work.group = []


def _clean_some(
    log: PartitionLog, work: CleaningPass, group: list[LogSegment], budget: int, *, now_ms: int
) -> int:
    """Filter batches of the current group into its cleaned segment; swap when done."""
    cleaned = work.cleaned
    assert cleaned is not None
    segment = group[work.segment_index]
    is_last_segment = work.segment_index == len(group) - 1
    spent = 0
    for pos, header, body in segment.iter_batch_bytes(work.position):
        is_group_end = is_last_segment and pos + header.total_size == segment.size
        out = filter_batch(
            log, header, body, work.offset_map, now_ms=now_ms, keep_empty=is_group_end
        )
        if out is not None:
            cleaned.append(out, [read_header(out, 0)])
        spent += header.total_size
        work.position = pos + header.total_size
        if spent >= budget:
            break
    if work.position >= segment.size:
        work.segment_index += 1
        work.position = 0
    if work.segment_index == len(group):
        _swap(log, group, cleaned)
        done = set(work.group)
        work.pending = [b for b in work.pending if b not in done]
        work.cleaned = None
        work.group = []
    return max(spent, 1)


def _swap(log: PartitionLog, group: list[LogSegment], cleaned: LogSegment) -> None:
    """Kafka's replaceSegments: .cleaned -> .swap, delete the old, .swap -> .log."""
    cleaned.seal()
    cleaned.flush()
    cleaned.rename_suffix(".cleaned", ".swap")
    for segment in group:
        segment.delete()
    cleaned.rename_suffix(".swap", "")
    cleaned.release_indexes()
    log.replace_segments(group, cleaned)


def start_pass(
    log: PartitionLog, *, now_ms: int, high_watermark: int | None
) -> CleaningPass | None:
    """Decide whether the log is dirty enough; if so, a pass that starts by mapping."""
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
    return CleaningPass(
        offset_map={},
        map_end=dirty[0].base_offset,
        pending=[],
        cleanable=[s.base_offset for s in cleanable],
        to_map=[s.base_offset for s in dirty],
    )


def _map_some(log: PartitionLog, work: CleaningPass, budget: int) -> int:
    """Extend the offset map by about ``budget`` bytes of dirty batches.

    The map may end inside a segment: records past ``map_end`` are simply not in it, so
    cleaning keeps them (their offsets are >= any mapped offset for their key). When
    mapping ends (all dirty data, or ``MAX_MAP_KEYS``), the cleanable segments below
    ``map_end`` become the pass's pending rewrites.
    """
    by_base = {s.base_offset: s for s in log.segments}
    offset_map = work.offset_map
    spent = 0
    while spent < budget and work.to_map and len(offset_map) < MAX_MAP_KEYS:
        segment = by_base.get(work.to_map[0])
        if segment is None:  # deleted by retention meanwhile: the map is incomplete
            abandon(log)
            return spent
        for pos, header, body in segment.iter_batch_bytes(work.map_position):
            if not header.is_control and header.record_count:
                base = header.base_offset
                for offset_delta, key, _, _, _ in decode_raw(body)[2]:
                    if key is not None:
                        offset_map[key] = base + offset_delta
            work.map_position = pos + header.total_size
            work.map_end = header.last_offset + 1
            spent += header.total_size
            if spent >= budget or len(offset_map) >= MAX_MAP_KEYS:
                break
        if work.map_position >= segment.size:
            work.map_end = max(work.map_end, segment.next_offset)
            work.to_map.pop(0)
            work.map_position = 0
    if not work.to_map or len(offset_map) >= MAX_MAP_KEYS:
        work.to_map = []
        work.pending = [b for b in work.cleanable if b < work.map_end]
    return max(spent, 1)


def group_segments(segments: list[LogSegment], max_bytes: int) -> list[list[LogSegment]]:
    """Consecutive segments whose combined size fits one segment (Kafka's groupSegmentsBySize)."""
    groups: list[list[LogSegment]] = []
    current: list[LogSegment] = []
    size = 0
    for segment in segments:
        if current and (
            size + segment.size > max_bytes
            or segment.next_offset - current[0].base_offset > (1 << 31) - 1
        ):
            groups.append(current)
            current, size = [], 0
        current.append(segment)
        size += segment.size
    if current:
        groups.append(current)
    return groups


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
    _, payload, raw = decode_raw(body)
    horizon = header.base_timestamp if header.has_delete_horizon else None
    drop_tombstones = horizon is not None and now_ms >= horizon
    base = header.base_offset
    kept: list[RawRecord] = []
    has_tombstone = False
    for record in raw:
        offset_delta, key, tombstone, _, _ = record
        if key is None:
            continue  # a compacted topic cannot keep keyless records (Kafka drops them)
        latest = offset_map.get(key)
        if latest is not None and base + offset_delta < latest:
            continue
        if tombstone:
            if drop_tombstones:
                continue
            has_tombstone = True
        kept.append(record)
    needs_horizon = has_tombstone and horizon is None
    if len(kept) == len(raw) and not needs_horizon:
        return bytes(body)
    if not kept:
        if not (keep_empty or _producer_needs(log, header)):
            return None
        return build_batch(
            [],
            base_offset=base,
            attributes=header.attributes,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            partition_leader_epoch=header.partition_leader_epoch,
            last_offset_delta=header.last_offset_delta,
            base_timestamp=header.max_timestamp if horizon is None else horizon,
            max_timestamp=header.max_timestamp,
        )
    if not needs_horizon:
        # Same base offset and base timestamp: the kept records' bytes stay valid.
        return build_from_raw(header, payload, kept)
    # Stamping the horizon moves the base timestamp: re-encode this batch's records.
    kept_deltas = {record[0] for record in kept}
    records = [r for r in decode_batch(body)[1] if r.offset_delta in kept_deltas]
    return build_batch(
        records,
        base_offset=base,
        attributes=header.attributes | DELETE_HORIZON_BIT,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=now_ms + log.config.delete_retention_ms,
        max_timestamp=header.max_timestamp,
    )


def _producer_needs(log: PartitionLog, header: BatchHeader) -> bool:
    """Keep an emptied batch that is still one of its producer's retained batches."""
    if not header.has_producer_id:
        return False
    entry = log.producers.get(header.producer_id)
    return entry is not None and any(b.last_offset == header.last_offset for b in entry.batches)
