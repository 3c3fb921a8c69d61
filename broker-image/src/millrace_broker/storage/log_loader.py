"""Open a partition directory: finish interrupted swaps, load or recover segments.

Algorithm (Kafka's ``LogLoader``, simplified):

1. Leftovers of interrupted work: ``*.cleaned`` and ``*.deleted`` files are removed
   (a cleaning that never reached the swap is simply redone; deletions were decided).
   A ``*.swap`` segment is a finished cleaning whose swap was interrupted: every regular
   segment whose base offset lies in the swap's offset range is deleted, then the swap
   is renamed into place. Renames are atomic, so each step is safe to repeat.
2. Every ``<base>.log`` is opened. After a clean shutdown (the ``clean-shutdown`` marker
   that ``PartitionLog.close`` writes) each segment is loaded trusting its indexes;
   a segment whose indexes fail the sanity checks is recovered.
3. Without the marker (kill -9, power loss), segments from the one containing the
   recovery point onwards are recovered: every batch is validated (size, magic, CRC,
   increasing offsets), the file is cut at the first invalid or partial batch and the
   indexes are rebuilt. Once a segment had to be cut, any later segment cannot be
   trusted (a hole would follow) and is deleted, like Kafka does. (Below the recovery
   point a failed index check also triggers this validation, but corruption found there
   only truncates that segment.)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from millrace_broker.storage.checkpoint import (
    CLEAN_SHUTDOWN_FILE,
    RECOVERY_POINT_FILE,
    read_offset,
)
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.producer_state import ProducerStateManager
from millrace_broker.storage.segment import LogSegment

log = logging.getLogger(__name__)

_LOG_NAME = re.compile(r"^(\d{20})\.log$")
_SWAP_NAME = re.compile(r"^(\d{20})\.log\.swap$")


@dataclass(slots=True)
class LoadedSegments:
    segments: list[LogSegment]
    clean: bool
    recovered_bytes_truncated: int


def new_segment(
    directory: Path, base_offset: int, config: LogConfig, now_ms: int, suffix: str = ""
) -> LogSegment:
    return LogSegment(
        directory,
        base_offset,
        index_interval_bytes=config.index_interval_bytes,
        index_max_bytes=config.segment_index_bytes,
        now_ms=now_ms,
        suffix=suffix,
    )


def _remove_leftovers(directory: Path) -> None:
    for path in directory.iterdir():
        if path.name.endswith((".cleaned", ".deleted", ".tmp")):
            path.unlink(missing_ok=True)


def _complete_swaps(directory: Path, config: LogConfig, now_ms: int) -> None:
    for path in sorted(directory.iterdir()):
        match = _SWAP_NAME.match(path.name)
        if match is None:
            continue
        base = int(match.group(1))
        swap = new_segment(directory, base, config, now_ms, suffix=".swap")
        swap.recover()
        end = swap.next_offset
        for other in sorted(directory.iterdir()):
            m = _LOG_NAME.match(other.name)
            if m is not None and base <= int(m.group(1)) < max(end, base + 1):
                victim = new_segment(directory, int(m.group(1)), config, now_ms)
                victim.delete()
        swap.rename_suffix(".swap", "")
        swap.close()
        log.info("completed interrupted segment swap at %s/%d", directory, base)


def load_segments(directory: Path, config: LogConfig, *, now_ms: int) -> LoadedSegments:
    directory.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(directory)
    _complete_swaps(directory, config, now_ms)
    marker = directory / CLEAN_SHUTDOWN_FILE
    clean = marker.exists()
    recovery_point = read_offset(directory / RECOVERY_POINT_FILE, 0) if not clean else 0
    bases = sorted(int(m.group(1)) for p in directory.iterdir() if (m := _LOG_NAME.match(p.name)))
    # Recovery starts at the segment containing the recovery point.
    first_to_recover = 0
    for i, base in enumerate(bases):
        if base <= recovery_point:
            first_to_recover = i
    segments: list[LogSegment] = []
    truncated_total = 0
    cut = False
    for i, base in enumerate(bases):
        segment = new_segment(directory, base, config, now_ms)
        if cut:
            log.warning("deleting segment %s/%d after a truncated one", directory, base)
            segment.delete()
            continue
        if clean or i < first_to_recover:
            if not segment.load():
                log.warning("rebuilding indexes of %s/%d", directory, base)
                truncated = segment.recover()
                truncated_total += truncated
                if truncated:
                    # Flushed data found corrupt (bit rot): keep what follows; a gap in
                    # offsets is readable, deleting later segments would lose more.
                    log.error("truncated %d corrupt bytes from %s", truncated, segment.log_path)
        else:
            truncated = segment.recover()
            if truncated:
                log.warning(
                    "truncated %d bytes of invalid data from %s", truncated, segment.log_path
                )
            truncated_total += truncated
            cut = truncated > 0
        if segments and segment.size == 0 and i != len(bases) - 1:
            # An empty non-last segment (crash right after a roll, then more rolls) only
            # confuses offset lookups; its offsets belong to the next segment.
            segment.delete()
            continue
        segments.append(segment)
    return LoadedSegments(segments, clean, truncated_total)


def rebuild_producer_state(
    producers: ProducerStateManager, segments: list[LogSegment], end: int, log_start: int
) -> int:
    """Load the newest snapshot <= ``end`` and replay batch headers from it to ``end``,
    then forget producers whose last write is below ``log_start`` (as Kafka's
    ``truncateAndReload`` does: a snapshot may predate a DeleteRecords).

    Headers carry everything producer state needs, so no record is decoded. Returns the
    number of batches replayed.
    """
    snapshot = producers.load_snapshot(end)
    replayed = 0
    for segment in segments:
        if segment.next_offset <= snapshot:
            continue
        found = segment.find(snapshot)
        for _, header in segment.iter_batches(found[0] if found is not None else segment.size):
            producers.replay(header)
            replayed += 1
    producers.map_end_offset = end
    producers.truncate_head(log_start)
    return replayed
