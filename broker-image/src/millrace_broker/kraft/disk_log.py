"""The `__cluster_metadata` Raft log on disk.

The in-memory `MemoryLog` of the Raft core keeps the semantics (dense offsets, epoch
boundaries, snapshots); this subclass makes every mutation durable before it returns, as
the core's contract requires:

- entries are appended to ``log`` as frames ``[u32 length][u32 crc32c][json entry]`` and
  fsynced; a torn or corrupt tail found at open is cut off (it was never acknowledged);
- truncation rewrites nothing: it cuts the file at the first removed entry's position;
- a snapshot is written as ``<end offset>-<epoch>.checkpoint`` (Kafka's name: 20 and 10
  digits; temp file, fsync, rename, fsync of the directory).

Retention.  Kafka keeps a snapshot and the log after it, and advances the log start
(deleting segments) only later, so that a follower a little behind still gets records,
not a whole snapshot.  Our rule, with one file: the log starts at the *previous*
snapshot.  Writing snapshot N moves the log start to snapshot N-1's offset, deletes the
entries below it (the file is rewritten, temp+fsync+rename) and every snapshot older
than N-1 (the first snapshot moves nothing).  So the log holds between one and two
snapshot intervals of records; a fetcher below the log start is sent the latest
snapshot (N); ``latest_snapshot()`` is N while ``start_offset`` is N-1's offset (Kafka:
the earliest snapshot is at the log start).

Start-up loads the newest valid snapshot and the log after it (the core hands the
snapshot to the state machine, then the entries above it).  A snapshot whose checksum
(raft/snapshot.py) fails is set aside as ``*.checkpoint.corrupt`` with a warning, and the
node uses the previous snapshot and the log from there instead.  The bootstrap checkpoint
``0-0`` written by storage formatting (it only names the voters) is never deleted.

A snapshot fetched from the leader that does not continue our log replaces it entirely
(file emptied, older snapshots deleted: they describe a history the leader does not
share).

The metadata log is small (cluster metadata, not data), so all entries stay in memory.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import crc32c

from ..raft.log import MemoryLog
from ..raft.records import Entry
from ..raft.snapshot import Snapshot, decode_snapshot, encode_snapshot
from .message_codec import _from_json, _to_json

log = logging.getLogger(__name__)
_FRAME = struct.Struct(">II")
LOG_FILE = "log"
METADATA_PARTITION_DIR = "__cluster_metadata-0"  # Kafka's directory name for the log
_LEGACY_DIR = ("__millrace_raft", "log")  # where releases before snapshots kept it


def metadata_log_directory(metadata_log_dir: Path) -> Path:
    """``<metadata.log.dir>/__cluster_metadata-0``, moving a log kept at the old place.

    The move matters for safety, not tidiness: a voter that came back with an empty log
    but its old vote could help elect a leader missing entries it had acknowledged.
    """
    new = metadata_log_dir / METADATA_PARTITION_DIR
    old = metadata_log_dir.joinpath(*_LEGACY_DIR)
    if old.is_dir() and not (new / LOG_FILE).exists():
        new.mkdir(parents=True, exist_ok=True)
        for item in old.iterdir():
            item.replace(new / item.name)
        old.rmdir()
    return new


def checkpoint_name(end_offset: int, epoch: int) -> str:
    return f"{end_offset:020d}-{epoch:010d}.checkpoint"


def _checkpoint_offset(path: Path) -> int:
    return int(path.name.split("-", 1)[0])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the directory: after a crash the file is either the
    old one or the new one, never a torn mix."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _frame(entry: Entry) -> bytes:
    body = json.dumps(_to_json(entry)).encode()
    return _FRAME.pack(len(body), crc32c.crc32c(body)) + body


class DiskLog(MemoryLog):
    """MemoryLog's ``_snapshot`` is the snapshot at the log start; ``_latest`` the newest
    one when it is above the start (None otherwise)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):
            stale.unlink()  # a write that did not reach its rename
        self._positions: list[int] = []  # file position of each retained entry
        self._latest: Snapshot | None = None
        self._file = open(directory / LOG_FILE, "a+b")  # noqa: SIM115 - held for the log's life
        self._open()

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def checkpoints(self) -> list[Path]:
        return sorted(self._dir.glob("*.checkpoint"), key=_checkpoint_offset)

    def latest_snapshot(self) -> Snapshot | None:
        return self._latest or super().latest_snapshot()

    # ------------------------------------------------------------------ open
    def _valid_checkpoints(self) -> list[Snapshot]:
        valid = []
        for path in self.checkpoints():
            try:
                snapshot = decode_snapshot(path.read_bytes())
                if snapshot.snapshot_id.offset != _checkpoint_offset(path):
                    raise ValueError("its name and its header disagree")
                valid.append(snapshot)
            except (ValueError, KeyError, TypeError) as exc:
                aside = path.with_name(path.name + ".corrupt")
                log.warning(
                    "metadata snapshot %s is damaged (%s): set aside as %s; using an older "
                    "snapshot and the log instead",
                    path,
                    exc,
                    aside.name,
                )
                path.replace(aside)
        return valid

    def _read_frames(self) -> tuple[list[tuple[int, Entry]], int]:
        """The file's intact frames (position, entry) and where they end."""
        self._file.seek(0)
        data = self._file.read()
        frames = []
        pos = 0
        while pos + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, pos)
            body = data[pos + _FRAME.size : pos + _FRAME.size + length]
            if len(body) < length or crc32c.crc32c(body) != crc:
                break
            entry = _from_json(json.loads(body))
            assert isinstance(entry, Entry)
            frames.append((pos, entry))
            pos += _FRAME.size + length
        return frames, pos

    def _open(self) -> None:
        valid = self._valid_checkpoints()
        frames, intact_end = self._read_frames()
        first = frames[0][1].offset if frames else None
        # The base is the snapshot the file's first entry follows (normally the previous
        # snapshot); without one (a damaged or missing snapshot there), the newest.
        at_first = [s for s in valid if s.snapshot_id.offset == first]
        if first == 0 and not at_first:
            base = None
        else:
            base = at_first[-1] if at_first else (valid[-1] if valid else None)
        if base is not None:
            super().install_snapshot(base)
        cut = intact_end
        for pos, entry in frames:
            if entry.offset < self.end_offset:
                continue  # below the base snapshot
            if entry.offset != self.end_offset:
                log.warning(
                    "the metadata log continues at offset %d but the state ends at %d (no "
                    "snapshot covers the gap): dropping the log from there; this node "
                    "fetches it from the leader again",
                    entry.offset,
                    self.end_offset,
                )
                cut = pos
                break
            MemoryLog.append(self, [entry])
            self._positions.append(pos)
        self._cut_file(cut)
        newer = [s for s in valid if base is None or s.snapshot_id.offset > base.snapshot_id.offset]
        if newer:
            self._adopt(newer[-1], write=False)

    def _cut_file(self, position: int) -> None:
        self._file.seek(0, os.SEEK_END)
        if self._file.tell() != position:
            self._file.truncate(position)
            os.fsync(self._file.fileno())
        self._file.seek(0, os.SEEK_END)

    # ------------------------------------------------------------------ mutations
    def append(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        super().append(entries)
        frames = []
        position = self._file.tell()
        for entry in entries:
            frame = _frame(entry)
            self._positions.append(position)
            position += len(frame)
            frames.append(frame)
        self._file.write(b"".join(frames))
        self._file.flush()
        os.fsync(self._file.fileno())

    def truncate_to(self, offset: int) -> None:
        if offset >= self.end_offset:
            return
        index = offset - self.start_offset
        super().truncate_to(offset)
        cut = self._positions[index]
        del self._positions[index:]
        self._file.truncate(cut)
        self._file.seek(cut)
        os.fsync(self._file.fileno())

    def install_snapshot(self, snapshot: Snapshot) -> None:
        latest = self.latest_snapshot()
        if latest is not None and latest.snapshot_id.offset >= snapshot.snapshot_id.offset:
            return  # not newer than what we have (MemoryLog ignores it too)
        self._adopt(snapshot, write=True)

    def _adopt(self, snapshot: Snapshot, *, write: bool) -> None:
        """Make ``snapshot`` the latest: our own (it continues the log) moves the log start
        to the previous latest snapshot; another replaces the log."""
        end, epoch = snapshot.snapshot_id
        continues = self.epoch_at(end - 1) == epoch and end <= self.end_offset
        start_before = self.start_offset
        positions_before = list(self._positions)
        path = self._dir / checkpoint_name(end, epoch)
        if write:
            _write_durably(path, encode_snapshot(snapshot))
        keep = {path}
        if continues:
            previous = self.latest_snapshot()
            if previous is not None and previous.snapshot_id.offset > self.start_offset:
                super().install_snapshot(previous)  # the log now starts there
            if previous is not None:
                keep.add(self._dir / checkpoint_name(*previous.snapshot_id))
            self._latest = snapshot if end > self.start_offset else None
        else:
            super().install_snapshot(snapshot)  # replaces the log
            self._latest = None
            log.info(
                "metadata snapshot %d-%d fetched from the leader replaces the log below it",
                end,
                epoch,
            )
        if self.start_offset != start_before or not continues:
            try:
                self._rewrite()
            except OSError:
                # The old file is intact: keep using it. Its prefix below the new start
                # is skipped at the next open; a replaced log must not survive, so cut it.
                if continues:
                    self._positions = positions_before[self.start_offset - start_before :]
                else:
                    self._cut_file(0)
                    self._positions = []
                raise
        for old in self.checkpoints():
            if old not in keep and _checkpoint_offset(old) != 0:
                old.unlink(missing_ok=True)

    def _rewrite(self) -> None:
        """Rewrite the log file with the retained entries only (durably, by rename)."""
        retained = self.read(self.start_offset, self.end_offset - self.start_offset)
        positions = []
        chunks = []
        position = 0
        for entry in retained:
            frame = _frame(entry)
            positions.append(position)
            position += len(frame)
            chunks.append(frame)
        _write_durably(self._dir / LOG_FILE, b"".join(chunks))
        self._file.close()  # the old file, replaced by the rename
        self._file = open(self._dir / LOG_FILE, "a+b")  # noqa: SIM115
        self._file.seek(0, os.SEEK_END)
        self._positions = positions
