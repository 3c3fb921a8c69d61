"""The leader-epoch cache of one partition: leader epoch -> first offset of that epoch.

Kafka's `LeaderEpochFileCache` and its `leader-epoch-checkpoint` file (format: version
line `0`, count line, then `<epoch> <start offset>` lines). Entries are strictly
increasing in both epoch and start offset. The cache answers "where does epoch E end?"
(OffsetForLeaderEpoch, Fetch's DivergingEpoch): the start offset of the first epoch above
E, or the log end offset when E is the latest epoch; an epoch the cache does not have is
answered with the largest epoch below it (and that epoch's end).

Maintained by the log: appends `assign` the epoch of each batch (a no-op unless the epoch
is new), follower truncation calls `truncate_from_end`, moving the log start calls
`truncate_from_start`. Written (temp file, fsync, rename) only when an entry changes,
which happens once per leader change, never per batch. A missing or unreadable file is
rebuilt by the log from its batch headers (`rebuild`).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable
from pathlib import Path

LEADER_EPOCH_CHECKPOINT_FILE = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


class LeaderEpochCache:
    def __init__(self, path: Path | None, entries: Iterable[tuple[int, int]] = ()) -> None:
        self.path = path
        self._epochs: list[int] = []
        self._offsets: list[int] = []
        for epoch, offset in entries:
            self._add(epoch, offset)

    @classmethod
    def load(cls, directory: Path) -> LeaderEpochCache | None:
        """The checkpointed cache, or None when the file is missing or unreadable."""
        path = directory / LEADER_EPOCH_CHECKPOINT_FILE
        try:
            lines = path.read_text().split("\n")
            if lines[0].strip() != "0":
                return None
            count = int(lines[1])
            entries = []
            for line in lines[2 : 2 + count]:
                epoch, offset = line.split()
                entries.append((int(epoch), int(offset)))
        except (OSError, ValueError, IndexError, UnicodeDecodeError):
            return None
        if len(entries) != count:
            return None
        return cls(path, entries)

    @classmethod
    def rebuild(cls, directory: Path, batch_epochs: Iterable[tuple[int, int]]) -> LeaderEpochCache:
        """A cache from (partition leader epoch, base offset) of each batch, in order."""
        cache = cls(directory / LEADER_EPOCH_CHECKPOINT_FILE)
        for epoch, offset in batch_epochs:
            if epoch >= 0 and (not cache._epochs or epoch > cache._epochs[-1]):
                cache._add(epoch, offset)
        cache._write()
        return cache

    # -- queries ---------------------------------------------------------------------------

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._offsets, strict=True))

    @property
    def latest_epoch(self) -> int:
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    def start_offset_of(self, epoch: int) -> int | None:
        i = bisect.bisect_left(self._epochs, epoch)
        if i < len(self._epochs) and self._epochs[i] == epoch:
            return self._offsets[i]
        return None

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) as OffsetForLeaderEpoch answers a request for `epoch`.

        Kafka's rules: the latest epoch ends at the log end; a known earlier epoch ends
        where the next one starts; an unknown epoch between known ones is answered with the
        largest known epoch below it, ending where the next known epoch starts; an epoch
        below every known one ends where the first known epoch starts; an epoch above the
        latest (or any epoch with an empty cache) is undefined: (-1, -1).
        """
        if epoch == UNDEFINED_EPOCH or not self._epochs or epoch > self._epochs[-1]:
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if epoch == self._epochs[-1]:
            return epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, epoch)  # first known epoch > epoch
        if higher == 0:
            return epoch, self._offsets[0]
        return self._epochs[higher - 1], self._offsets[higher]

    # -- changes ---------------------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that `epoch` starts at `start_offset` (no-op for an epoch already last).

        A new epoch replaces entries that would break monotonicity (an older leader's
        entries at or above the new start offset), as Kafka's cache does.
        """
        if epoch < 0:
            return
        if self._epochs and epoch <= self._epochs[-1]:
            return
        while self._offsets and self._offsets[-1] >= start_offset:
            self._epochs.pop()
            self._offsets.pop()
        self._add(epoch, start_offset)
        self._write()

    def truncate_from_end(self, end_offset: int) -> None:
        """Drop entries starting at or after `end_offset` (the log was truncated there)."""
        if not self._offsets or self._offsets[-1] < end_offset:
            return
        i = bisect.bisect_left(self._offsets, end_offset)
        del self._epochs[i:]
        del self._offsets[i:]
        self._write()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at `start_offset`: the epoch covering it starts there."""
        i = bisect.bisect_right(self._offsets, start_offset) - 1
        if i < 0 or (i == 0 and self._offsets[0] == start_offset):
            return
        del self._epochs[:i]
        del self._offsets[:i]
        self._offsets[0] = start_offset
        self._write()

    def _add(self, epoch: int, offset: int) -> None:
        self._epochs.append(epoch)
        self._offsets.append(offset)

    def _write(self) -> None:
        if self.path is None:
            return
        lines = ["0", str(len(self._epochs))]
        lines += [f"{e} {o}" for e, o in zip(self._epochs, self._offsets, strict=True)]
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
