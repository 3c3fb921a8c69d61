"""One log segment: ``<baseOffset:020d>.log`` plus its ``.index`` and ``.timeindex``.

The log file holds whole v2 batches back to back, opened once (``O_APPEND``) and kept
open; appends are one ``os.write`` of the already-patched bytes, reads are ``os.pread``.
Walking the segment never decodes records: ``iter_batches`` reads 64 KiB chunks and steps
from header to header (a batch larger than the chunk is skipped over, not read, unless
its body is wanted).

Index policy (Kafka's ``LogSegment.append``): after more than ``index.interval.bytes``
have been appended since the last entry, the next batch gets an offset-index entry
(its last offset -> its position) and the time index gets (max timestamp so far, offset
of the batch that holds it) if that timestamp grew. When a segment stops being active
(roll, close) its final max timestamp is added to the time index, so a closed segment's
largest timestamp is the last time-index entry and need not be recomputed on open.

``recover`` re-validates every batch (size, magic, CRC, increasing offsets), cuts the file
at the first bad or partial batch and rebuilds both indexes; it is what a crash costs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from millrace_broker.protocol.record_batch import (
    BATCH_OVERHEAD,
    MAGIC_V2,
    BatchHeader,
    compute_crc,
    read_header,
)
from millrace_broker.storage.index import OffsetIndex, TimeIndex

CHUNK = 64 * 1024
INT32_MAX = (1 << 31) - 1

# fsync of rolled segments runs here, off the event loop (os.fsync releases the GIL). One
# worker: syncs complete in roll order, so "synced up to" only ever moves forward.
FSYNC_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="millrace-fsync")


def fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


class LogSegment:
    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        index_max_bytes: int,
        now_ms: int,
        suffix: str = "",
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.log_path = directory / segment_name(base_offset, ".log" + suffix)
        self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size
        self.offset_index = OffsetIndex(
            directory / segment_name(base_offset, ".index" + suffix), base_offset, index_max_bytes
        )
        self.time_index = TimeIndex(
            directory / segment_name(base_offset, ".timeindex" + suffix),
            base_offset,
            index_max_bytes,
        )
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.rolling_base_timestamp: int | None = None
        self.created_ms = now_ms
        self.bytes_since_last_index = 0
        self.indexes_full = False
        self.unflushed_messages = 0
        if self.size == 0:
            # A new (or emptied) log: stale index files of an earlier segment at this base
            # (a crash mid-delete) must not describe it.
            self.offset_index.reset()
            self.time_index.reset()

    # -- loading -------------------------------------------------------------------------

    def load(self) -> bool:
        """Trust the indexes of a cleanly written segment; False if they need a rebuild.

        Derives the next offset by walking headers from the last index entry (at most
        about one index interval of headers) and the max timestamp from the time index.
        """
        if not self.offset_index.load(self.size):
            return False
        last_indexed, position = self.offset_index.lookup(1 << 62)
        prev_last: int | None = None
        end = position
        for pos, header in self.iter_batches(position):
            if header.magic != MAGIC_V2:
                return False
            if prev_last is not None and header.base_offset <= prev_last:
                return False
            if pos == position and len(self.offset_index) and header.last_offset != last_indexed:
                return False
            prev_last = header.last_offset
            end = pos + header.total_size
        if end != self.size:
            return False
        next_offset = self.base_offset if prev_last is None else prev_last + 1
        self.bytes_since_last_index = self.size - position
        self.indexes_full = self.offset_index.is_full
        self.next_offset = next_offset
        ok = self.time_index.load(next_offset - 1)
        entry = self.time_index.last_entry
        if entry is not None:
            self.max_timestamp, self.offset_of_max_timestamp = entry
        if self.size:
            first = self.first_header()
            if first is not None:
                self.rolling_base_timestamp = first.max_timestamp
        return ok

    def recover(self) -> int:
        """Validate every batch, truncate at the first bad one, rebuild indexes.

        Returns the number of bytes cut off the end.
        """
        self.offset_index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.rolling_base_timestamp = None
        self.bytes_since_last_index = 0
        valid_end = 0
        for pos, header, body in self._iter_with_bodies(0):
            if (
                header.magic != MAGIC_V2
                or header.base_offset < self.next_offset
                or header.last_offset_delta < 0
                or compute_crc(body, 0, header.total_size) != header.crc
            ):
                break
            self._track(pos, header)
            valid_end = pos + header.total_size
        truncated = self.size - valid_end
        if truncated:
            os.ftruncate(self._fd, valid_end)
            self.size = valid_end
        return truncated

    def _track(self, pos: int, header: BatchHeader) -> None:
        """Account one batch written at ``pos``: offsets, max timestamp, index entries."""
        if self.rolling_base_timestamp is None:
            self.rolling_base_timestamp = header.max_timestamp
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        if self.bytes_since_last_index > self.index_interval_bytes:
            self.offset_index.append(header.last_offset, pos)
            if self.max_timestamp >= 0:
                self.time_index.append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index = 0
            # Entries are added at most once per interval: only then can they fill up.
            self.indexes_full = self.offset_index.is_full or self.time_index.is_full
        self.bytes_since_last_index += header.total_size
        self.next_offset = header.last_offset + 1

    # -- writing -------------------------------------------------------------------------

    def append(self, data: bytes | bytearray | memoryview, headers: list[BatchHeader]) -> None:
        """Write patched batches (``headers`` in order, back to back) at the end."""
        pos = self.size
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short writes: a full disk, odd filesystems
                written += os.write(self._fd, memoryview(data)[written:])
        except OSError:
            # Never leave a partial batch behind: O_APPEND would write the next batch
            # after it and the file would no longer match what we track in memory.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        for header in headers:
            self._track(pos, header)
            pos += header.total_size
            self.unflushed_messages += header.record_count
        self.size = pos

    def should_roll(
        self,
        *,
        incoming_bytes: int,
        last_offset: int,
        max_timestamp: int,
        now_ms: int,
        segment_bytes: int,
        segment_ms: int,
    ) -> bool:
        """Kafka's ``shouldRoll``: full by size, old by time, index full, or offset overflow."""
        if self.size == 0:
            return False
        if self.size > segment_bytes - incoming_bytes:
            return True
        if self.rolling_base_timestamp is not None and self.rolling_base_timestamp >= 0:
            waited = max_timestamp - self.rolling_base_timestamp
        else:
            waited = now_ms - self.created_ms
        if waited > segment_ms:
            return True
        if last_offset - self.base_offset > INT32_MAX:
            return True
        return self.indexes_full

    def seal(self) -> None:
        """The segment stops being active: record its final max timestamp in the time index."""
        if self.max_timestamp >= 0:
            self.time_index.append(self.max_timestamp, self.offset_of_max_timestamp)

    def release_indexes(self) -> None:
        """Close the index files of an inactive segment (lookups use the memory copy)."""
        self.offset_index.release()
        self.time_index.release()

    def truncate_to(self, offset: int) -> int:
        """Remove the batch containing ``offset`` and everything after it; bytes removed."""
        found = self.find(offset)
        if found is None:
            return 0
        position = found[0]
        removed = self.size - position
        os.ftruncate(self._fd, position)
        self.size = position
        # Rebuild the in-memory state of the remaining prefix the simple way.
        self.recover()
        return removed

    # -- reading -------------------------------------------------------------------------

    def iter_batches(
        self, start: int = 0, end: int | None = None, *, chunk: int = CHUNK
    ) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each complete batch from ``start``; stops at a partial tail."""
        limit = self.size if end is None else min(end, self.size)
        pos = start
        buf = b""
        buf_pos = start
        while pos + BATCH_OVERHEAD <= limit:
            if pos + BATCH_OVERHEAD > buf_pos + len(buf):
                buf = os.pread(self._fd, min(chunk, limit - pos), pos)
                buf_pos = pos
                if len(buf) < BATCH_OVERHEAD:
                    return
            header = read_header(buf, pos - buf_pos)
            size = header.total_size
            if size < BATCH_OVERHEAD or pos + size > limit:
                return
            yield pos, header
            pos += size

    def _iter_with_bodies(self, start: int) -> Iterator[tuple[int, BatchHeader, memoryview]]:
        """Like ``iter_batches`` but also yields each whole batch's bytes."""
        pos = start
        buf = b""
        buf_pos = start
        while pos + BATCH_OVERHEAD <= self.size:
            if pos + BATCH_OVERHEAD > buf_pos + len(buf):
                buf = os.pread(self._fd, CHUNK, pos)
                buf_pos = pos
            header = read_header(buf, pos - buf_pos)
            size = header.total_size
            if size < BATCH_OVERHEAD or pos + size > self.size:
                return
            if pos + size > buf_pos + len(buf):
                buf = os.pread(self._fd, max(CHUNK, size), pos)
                buf_pos = pos
            rel = pos - buf_pos
            yield pos, header, memoryview(buf)[rel : rel + size]
            pos += size

    def iter_batch_bytes(self, start: int = 0) -> Iterator[tuple[int, BatchHeader, memoryview]]:
        return self._iter_with_bodies(start)

    def find(self, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose last offset >= ``offset``."""
        _, position = self.offset_index.lookup(offset)
        # The batch is usually within one index interval: read a little, not a full chunk.
        chunk = min(CHUNK, max(4096, 2 * self.index_interval_bytes))
        for pos, header in self.iter_batches(position, chunk=chunk):
            if header.last_offset >= offset:
                return pos, header
        return None

    def read_batches(
        self,
        start: int,
        first: BatchHeader,
        max_bytes: int,
        *,
        max_offset: int | None,
        min_one_batch: bool,
    ) -> bytes | memoryview:
        """Whole batches from ``start`` (where ``first`` is): at most ``max_bytes`` (but at
        least the first batch if ``min_one_batch``), none with last offset >= ``max_offset``.

        One ``pread`` in the common case; the cut at the last whole batch walks headers
        in memory from the last indexed batch start inside the range.
        """
        if max_offset is not None and first.last_offset >= max_offset:
            return b""
        limit = self.size
        if max_offset is not None and max_offset < self.next_offset:
            above = self.find(max_offset)
            if above is not None:
                limit = above[0]
        if first.total_size > max_bytes:
            if not min_one_batch:
                return b""
            return self.read(start, first.total_size)
        if limit - start <= max_bytes:
            return self.read(start, limit - start)
        data = self.read(start, max_bytes)
        # Cut at the last whole batch: start from the last indexed batch start in range.
        pos = max(self.offset_index.floor_position(start + max_bytes), start) - start
        cut = pos
        while pos + 12 <= len(data):
            size = int.from_bytes(data[pos + 8 : pos + 12], "big") + 12
            if pos + size > len(data):
                break
            pos += size
            cut = pos
        return memoryview(data)[:cut]

    def first_header(self) -> BatchHeader | None:
        for _, header in self.iter_batches(0):
            return header
        return None

    def read(self, position: int, length: int) -> bytes:
        return os.pread(self._fd, length, position)

    def largest_timestamp(self) -> int:
        """Retention's notion of age: max record timestamp, else the file's mtime."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.stat(self.log_path).st_mtime * 1000)

    # -- lifecycle -----------------------------------------------------------------------

    def dup_fd(self) -> int:
        """A private descriptor of the log file (stays valid if the segment is deleted)."""
        return os.dup(self._fd)

    def flush(self) -> None:
        os.fsync(self._fd)
        self.offset_index.flush()
        self.time_index.flush()
        self.unflushed_messages = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.offset_index.close()
        self.time_index.close()

    def delete(self) -> None:
        # Indexes first: a crash in between leaves a log whose indexes get rebuilt.
        self.close()
        self.offset_index.delete()
        self.time_index.delete()
        self.log_path.unlink(missing_ok=True)

    def rename_suffix(self, old: str, new: str) -> None:
        """Rename all three files from suffix ``old`` to ``new`` (e.g. '.cleaned' -> '.swap')."""
        for attr in ("log_path",):
            path: Path = getattr(self, attr)
            target = path.with_name(path.name.removesuffix(old) + new)
            os.rename(path, target)
            setattr(self, attr, target)
        for index in (self.offset_index, self.time_index):
            index.rename(index.path.with_name(index.path.name.removesuffix(old) + new))
