"""The replicated log seen by the Raft core, and an in-memory implementation.

``RaftLog`` is the seam to storage: the real one is ``kraft/disk_log.py``; ``MemoryLog``
backs the simulation.  Offsets are dense.  The log starts at ``start_offset``, which is 0
or the end offset of a snapshot (the prefix below it has been folded into the snapshot
and deleted).  In ``MemoryLog`` that is the latest snapshot; the disk log keeps one
snapshot interval more (as Kafka keeps segments after a snapshot), so there
``latest_snapshot()`` may end above ``start_offset``.

Divergence detection (KIP-595) needs ``end_offset_for_epoch(e)``: the largest epoch
``e' <= e`` that the log knows and the offset where ``e'`` ends (the start of the next
epoch, or the log end).  Epoch boundaries are kept in a small list of
``(epoch, start_offset)`` pairs (Kafka's leader-epoch checkpoint), so the lookup is a
scan of epochs, not of records.  If ``e`` is older than anything retained, the answer is
``None``: only a snapshot can bring such a fetcher up to date.

Durability contract: ``append``/``truncate_to``/``install_snapshot`` are durable when they
return (the real adapter flushes before the core acknowledges an offset to anyone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from millrace_broker.raft.records import Entry, OffsetAndEpoch
from millrace_broker.raft.snapshot import Snapshot


class RaftLog(Protocol):
    @property
    def start_offset(self) -> int: ...

    @property
    def end_offset(self) -> int: ...

    @property
    def last_epoch(self) -> int: ...

    def end_offset_and_epoch(self) -> OffsetAndEpoch: ...

    def read(self, start: int, max_records: int) -> list[Entry]: ...

    def epoch_at(self, offset: int) -> int | None: ...

    def append(self, entries: Sequence[Entry]) -> None: ...

    def truncate_to(self, offset: int) -> None: ...

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch | None: ...

    def latest_snapshot(self) -> Snapshot | None: ...

    def install_snapshot(self, snapshot: Snapshot) -> None: ...


class MemoryLog:
    """A list of entries after an optional snapshot; every mutation is 'durable'."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._start = 0
        self._base_epoch = 0  # epoch of the record just below start (snapshot epoch)
        self._epochs: list[tuple[int, int]] = []  # (epoch, first offset) of retained entries
        self._snapshot: Snapshot | None = None

    @property
    def start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._start + len(self._entries)

    @property
    def last_epoch(self) -> int:
        return self._entries[-1].epoch if self._entries else self._base_epoch

    def end_offset_and_epoch(self) -> OffsetAndEpoch:
        return OffsetAndEpoch(self.end_offset, self.last_epoch)

    def read(self, start: int, max_records: int) -> list[Entry]:
        if start < self._start:
            raise ValueError(f"offset {start} is below the log start {self._start}")
        i = start - self._start
        return self._entries[i : i + max_records]

    def epoch_at(self, offset: int) -> int | None:
        """Epoch of the record at ``offset``; for ``start - 1`` the snapshot epoch."""
        if offset == self._start - 1:
            return self._base_epoch
        if self._start <= offset < self.end_offset:
            return self._entries[offset - self._start].epoch
        return None

    def append(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry.offset != self.end_offset:
                raise ValueError(f"append at {entry.offset}, log end is {self.end_offset}")
            if entry.epoch < self.last_epoch:
                raise ValueError(f"epoch {entry.epoch} below last epoch {self.last_epoch}")
            if not self._epochs or self._epochs[-1][0] != entry.epoch:
                self._epochs.append((entry.epoch, entry.offset))
            self._entries.append(entry)

    def truncate_to(self, offset: int) -> None:
        if offset < self._start:
            raise ValueError(f"cannot truncate to {offset}, below the log start {self._start}")
        if offset >= self.end_offset:
            return
        del self._entries[offset - self._start :]
        self._epochs = [(e, s) for e, s in self._epochs if s < offset]

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch | None:
        found: OffsetAndEpoch | None = None
        for i, (e, _start) in enumerate(self._epochs):
            if e > epoch:
                break
            end = self._epochs[i + 1][1] if i + 1 < len(self._epochs) else self.end_offset
            found = OffsetAndEpoch(end, e)
        if found is not None:
            return found
        if self._base_epoch <= epoch:
            # the requested epoch is at or after the snapshot's and no retained entry
            # has an epoch <= it: everything we know of it ends at the log start
            return OffsetAndEpoch(self._start, self._base_epoch)
        return None

    def latest_snapshot(self) -> Snapshot | None:
        return self._snapshot

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the log's base, deleting the prefix it covers.

        If the log holds the snapshot's last record with the same epoch, the suffix after
        it is kept (a snapshot of our own committed state); otherwise the whole log is
        replaced (a snapshot fetched from the leader).
        """
        end, epoch = snapshot.snapshot_id
        if self._snapshot is not None and self._snapshot.snapshot_id.offset >= end:
            return
        if self.epoch_at(end - 1) == epoch and end <= self.end_offset:
            del self._entries[: end - self._start]
        else:
            self._entries = []
        self._start = end
        self._base_epoch = epoch
        self._snapshot = snapshot
        self._epochs = []
        for entry in self._entries:
            if not self._epochs or self._epochs[-1][0] != entry.epoch:
                self._epochs.append((entry.epoch, entry.offset))
