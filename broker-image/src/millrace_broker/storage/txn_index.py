"""Aborted transactions of one partition, for read_committed fetches.

Kafka keeps a ``.txnindex`` per segment; we keep one append-only file per partition,
``aborted-transactions``, with Kafka's 34-byte entry layout (big-endian)::

    version: int16 (0), producerId: int64, firstOffset: int64, lastOffset: int64,
    lastStableOffset: int64

``lastOffset`` is the offset of the ABORT marker, ``firstOffset`` the first offset the
producer wrote in that transaction. Entries are appended in marker order, so they are
sorted by ``lastOffset``. A fetch from ``fetch_offset`` up to ``upper_bound`` returns
the (producerId, firstOffset) of every entry with lastOffset >= fetch_offset and
firstOffset < upper_bound, which is what FetchResponse's ``aborted_transactions`` holds.

Crash consistency without fsync: an entry is written *before* its marker batch, so a
process crash can leave an entry whose marker never reached the log, never the reverse;
``load`` drops entries at or beyond the log end. Truncation and a rising log start
rewrite the file (temporary file + rename).
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from millrace_broker.protocol.record_batch import BatchHeader

ABORTED_TXNS_FILE = "aborted-transactions"
_ENTRY = struct.Struct(">hqqqq")

CONTROL_ABORT = 0
CONTROL_COMMIT = 1


def aborted_in(
    buf: bytes | bytearray | memoryview,
    batches: list[tuple[int, BatchHeader, int]],
    open_txns: dict[int, int],
) -> list[AbortedTxn]:
    """The ABORT markers among ``batches`` (position, header, assigned base offset) as
    index entries. ``open_txns`` maps producer id -> first offset of its open transaction
    before these batches (from producer state); transactions that begin within
    ``batches`` are followed too, so the first offset is known even when data and marker
    arrive in one append (a follower's fetch).
    """
    open_now = dict(open_txns)
    out: list[AbortedTxn] = []
    for pos, header, base in batches:
        if not header.has_producer_id:
            continue
        pid = header.producer_id
        if header.is_control:
            first = open_now.pop(pid, None)
            marker = memoryview(buf)[pos : pos + header.total_size]
            if first is not None and control_type(marker) == CONTROL_ABORT:
                others = [f for p, f in open_now.items() if p != pid]
                stable = min(others) if others else base + 1
                out.append(AbortedTxn(pid, first, base, stable))
        elif header.is_transactional and pid not in open_now:
            open_now[pid] = base
    return out


def control_type(batch: bytes | bytearray | memoryview) -> int | None:
    """ABORT (0) or COMMIT (1) of a control batch's marker, from its record key
    (version int16, type int16); None if there is no such record."""
    from millrace_broker.storage.records import decode_batch

    _, records = decode_batch(batch)
    if not records or records[0].key is None or len(records[0].key) < 4:
        return None
    return int(struct.unpack_from(">h", records[0].key, 2)[0])


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class AbortedTxnIndex:
    def __init__(self, directory: Path) -> None:
        self.path = directory / ABORTED_TXNS_FILE
        self.entries: list[AbortedTxn] = []
        self._last_offsets: list[int] = []

    def load(self, *, log_start: int, log_end: int) -> None:
        """Read the file, keeping entries whose marker lies in [log_start, log_end)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        usable = len(data) - len(data) % _ENTRY.size
        entries = [
            AbortedTxn(pid, first, last, lso)
            for _, pid, first, last, lso in _ENTRY.iter_unpack(data[:usable])
        ]
        kept = [e for e in entries if log_start <= e.last_offset < log_end]
        self._set(kept)
        if len(kept) != len(entries) or usable != len(data):
            self._rewrite()

    def _set(self, entries: list[AbortedTxn]) -> None:
        self.entries = entries
        self._last_offsets = [e.last_offset for e in entries]

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(b"".join(self._pack(e) for e in self.entries))
        os.replace(tmp, self.path)

    @staticmethod
    def _pack(entry: AbortedTxn) -> bytes:
        return _ENTRY.pack(
            0, entry.producer_id, entry.first_offset, entry.last_offset, entry.last_stable_offset
        )

    def append(self, entries: list[AbortedTxn]) -> None:
        """Persist entries (call before writing their markers to the log)."""
        if not entries:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b"".join(self._pack(e) for e in entries))
        finally:
            os.close(fd)
        self._set(self.entries + entries)

    def discard(self, entries: list[AbortedTxn]) -> None:
        """Undo ``append`` when the marker write failed."""
        if entries:
            self._set([e for e in self.entries if e not in entries])
            self._rewrite()

    def truncate_from_end(self, log_end: int) -> None:
        i = bisect.bisect_left(self._last_offsets, log_end)
        if i < len(self.entries):
            self._set(self.entries[:i])
            self._rewrite()

    def truncate_from_start(self, log_start: int) -> None:
        i = bisect.bisect_left(self._last_offsets, log_start)
        if i:
            self._set(self.entries[i:])
            self._rewrite()

    def collect(self, fetch_offset: int, upper_bound: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions overlapping the range."""
        i = bisect.bisect_left(self._last_offsets, fetch_offset)
        return [
            (e.producer_id, e.first_offset)
            for e in self.entries[i:]
            if e.first_offset < upper_bound
        ]
