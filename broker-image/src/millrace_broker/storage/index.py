"""Sparse offset and time indexes of one segment, in Kafka's on-disk formats.

- ``.index``: 8-byte entries ``(relativeOffset: int32, position: int32)``, one every
  ``index.interval.bytes`` of log. As in Kafka the offset is the batch's LAST offset and
  the position is where that batch starts, so the largest entry with offset <= o lands at
  or before the batch that contains o; a header scan from there finds it.
- ``.timeindex``: 12-byte entries ``(timestamp: int64, relativeOffset: int32)``, appended
  with an offset entry only when the timestamp grows, so timestamps are increasing.
  The offset is the last offset of the batch holding the max timestamp so far.

Both are big-endian and append-only. The entries live in memory as arrays (bisect on
them); the file is appended with one ``os.write`` per entry and truncated with
``ftruncate``. Kafka preallocates and mmaps; we don't need to, because an index is tiny
next to its segment and recovery rebuilds any index that fails ``load``'s sanity checks.
"""

from __future__ import annotations

import bisect
import os
import struct
from array import array
from pathlib import Path

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class _IndexFile:
    """Append-only file of fixed-size entries plus their in-memory copy."""

    entry_size: int

    def __init__(self, path: Path, base_offset: int, max_bytes: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_bytes // self.entry_size)
        self._fd = -1
        self._dirty = False
        self._open()

    def _open(self) -> _IndexFile:
        # Opened lazily: only the active segment writes its indexes, so inactive ones give
        # their descriptors back (``release``) and a partition with many segments stays
        # cheap in file descriptors.
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        return self

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def is_full(self) -> bool:
        return self.__len__() >= self.max_entries

    def _write(self, data: bytes) -> None:
        os.write(self._open()._fd, data)
        self._dirty = True

    def _truncate_entries(self, count: int) -> None:
        os.ftruncate(self._open()._fd, count * self.entry_size)
        self._dirty = True

    def _read_all(self) -> bytes:
        fd = self._open()._fd
        return os.pread(fd, os.fstat(fd).st_size, 0)

    def flush(self) -> None:
        if self._dirty and self._fd >= 0:
            os.fsync(self._fd)
        self._dirty = False

    def release(self) -> None:
        """Flush nothing, just close the descriptor; the next write reopens it."""
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def rename(self, path: Path) -> None:
        os.rename(self.path, path)
        self.path = path


class OffsetIndex(_IndexFile):
    entry_size = _OFFSET_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, base_offset, max_bytes)
        self._offsets: array[int] = array("q")
        self._positions: array[int] = array("q")

    def __len__(self) -> int:
        return len(self._offsets)

    def load(self, log_size: int) -> bool:
        """Read the file; False (and empty) if it is not a plausible index of a log this big."""
        data = self._read_all()
        if len(data) % self.entry_size:
            self.reset()
            return False
        last_off, last_pos = -1, -1
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if rel <= last_off or pos <= last_pos or pos >= log_size:
                self.reset()
                return False
            self._offsets.append(rel + self.base_offset)
            self._positions.append(pos)
            last_off, last_pos = rel, pos
        return True

    def reset(self) -> None:
        self._offsets = array("q")
        self._positions = array("q")
        self._truncate_entries(0)

    def append(self, offset: int, position: int) -> None:
        if self._offsets and (offset <= self._offsets[-1] or position <= self._positions[-1]):
            return
        self._offsets.append(offset)
        self._positions.append(position)
        self._write(_OFFSET_ENTRY.pack(offset - self.base_offset, position))

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the largest entry with offset <= ``offset``, else (base, 0)."""
        i = bisect.bisect_right(self._offsets, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self._offsets[i], self._positions[i]

    def floor_position(self, position: int) -> int:
        """The largest indexed batch position <= ``position`` (0 if none): a batch start."""
        i = bisect.bisect_right(self._positions, position) - 1
        return self._positions[i] if i >= 0 else 0

    def truncate_to(self, offset: int) -> None:
        """Drop entries for batches whose last offset is >= ``offset``."""
        i = bisect.bisect_left(self._offsets, offset)
        if i < len(self._offsets):
            del self._offsets[i:]
            del self._positions[i:]
            self._truncate_entries(i)

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at or beyond ``position`` (the log was cut there)."""
        i = bisect.bisect_left(self._positions, position)
        if i < len(self._positions):
            del self._offsets[i:]
            del self._positions[i:]
            self._truncate_entries(i)


class TimeIndex(_IndexFile):
    entry_size = _TIME_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, base_offset, max_bytes)
        self._timestamps: array[int] = array("q")
        self._offsets: array[int] = array("q")

    def __len__(self) -> int:
        return len(self._timestamps)

    def load(self, last_offset: int) -> bool:
        data = self._read_all()
        if len(data) % self.entry_size:
            self.reset()
            return False
        last_ts, last_off = -(1 << 63), -1
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            off = rel + self.base_offset
            if ts <= last_ts or off < last_off or off > last_offset:
                self.reset()
                return False
            self._timestamps.append(ts)
            self._offsets.append(off)
            last_ts, last_off = ts, off
        return True

    def reset(self) -> None:
        self._timestamps = array("q")
        self._offsets = array("q")
        self._truncate_entries(0)

    @property
    def last_entry(self) -> tuple[int, int] | None:
        if not self._timestamps:
            return None
        return self._timestamps[-1], self._offsets[-1]

    def append(self, timestamp: int, offset: int) -> None:
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        if self._offsets and offset < self._offsets[-1]:
            return
        self._timestamps.append(timestamp)
        self._offsets.append(offset)
        self._write(_TIME_ENTRY.pack(timestamp, offset - self.base_offset))

    def lookup(self, timestamp: int) -> int:
        """Offset of the largest entry with timestamp <= ``timestamp``, else the base offset.

        Scanning forward from the batch holding that offset finds the first batch whose
        max timestamp reaches the target (entries are only ever lower bounds).
        """
        i = bisect.bisect_right(self._timestamps, timestamp) - 1
        if i < 0:
            return self.base_offset
        return self._offsets[i]

    def truncate_to(self, offset: int) -> None:
        i = bisect.bisect_left(self._offsets, offset)
        if i < len(self._offsets):
            del self._offsets[i:]
            del self._timestamps[i:]
            self._truncate_entries(i)
