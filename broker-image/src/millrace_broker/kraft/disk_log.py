"""The `__cluster_metadata` Raft log on disk.

The in-memory `MemoryLog` of the Raft core keeps the semantics (dense offsets, epoch
boundaries, snapshots); this subclass makes every mutation durable before it returns, as
the core's contract requires:

- entries are appended to ``log`` as frames ``[u32 length][u32 crc32c][json entry]`` and
  fsynced; a torn or corrupt tail found at open is cut off (it was never acknowledged);
- truncation rewrites nothing: it cuts the file at the first removed entry's position;
- a snapshot is written as ``<end offset>-<epoch>.checkpoint`` (Kafka's name: 20 and 10
  digits; temp file, fsync, rename, fsync of the directory), then the log file is
  rewritten (the same way) without the prefix that is no longer needed.

Retention (Kafka deletes whole segments once a snapshot covers them and retention
allows; we have one file, so a simpler rule): the Raft log starts at the newest snapshot
(fetchers below it are sent the snapshot), but on disk the previous snapshot and the
entries after it are kept too.  So a newest snapshot found damaged at start-up (its
checksum, see raft/snapshot.py) is set aside as ``*.checkpoint.corrupt`` with a warning,
and the node starts from the previous one and replays the log from there.  Older
snapshots and entries below the previous snapshot are deleted.  The bootstrap checkpoint
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
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):
            stale.unlink()  # a write that did not reach its rename
        self._positions: list[int] = []  # file position of each retained entry
        snapshot = self._latest_checkpoint()
        if snapshot is not None:
            super().install_snapshot(snapshot)
        self._file = open(directory / LOG_FILE, "a+b")  # noqa: SIM115 - held for the log's life
        self._load()

    @property
    def directory(self) -> Path:
        return self._dir

    def checkpoints(self) -> list[Path]:
        return sorted(self._dir.glob("*.checkpoint"), key=_checkpoint_offset)

    def _latest_checkpoint(self) -> Snapshot | None:
        for path in reversed(self.checkpoints()):
            try:
                snapshot = decode_snapshot(path.read_bytes())
                if snapshot.snapshot_id.offset != _checkpoint_offset(path):
                    raise ValueError("its name and its header disagree")
                return snapshot
            except (ValueError, KeyError, TypeError) as exc:
                aside = path.with_name(path.name + ".corrupt")
                log.warning(
                    "metadata snapshot %s is damaged (%s): set aside as %s; starting from "
                    "an older snapshot and the log instead",
                    path,
                    exc,
                    aside.name,
                )
                path.replace(aside)
        return None

    def _load(self) -> None:
        self._file.seek(0)
        data = self._file.read()
        pos = 0
        while pos + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, pos)
            body = data[pos + _FRAME.size : pos + _FRAME.size + length]
            if len(body) < length or crc32c.crc32c(body) != crc:
                break
            entry = _from_json(json.loads(body))
            assert isinstance(entry, Entry)
            if entry.offset >= self.end_offset:
                if entry.offset != self.end_offset:
                    log.warning(
                        "the metadata log continues at offset %d but the state ends at %d "
                        "(no snapshot covers the gap): dropping the log from there; this "
                        "node fetches it from the leader again",
                        entry.offset,
                        self.end_offset,
                    )
                    break
                super().append([entry])
                self._positions.append(pos)
            pos += _FRAME.size + length
        if pos != len(data):
            self._file.truncate(pos)
            os.fsync(self._file.fileno())
        self._file.seek(0, os.SEEK_END)

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
        end, epoch = snapshot.snapshot_id
        previous = self.latest_snapshot()
        if previous is not None and previous.snapshot_id.offset >= end:
            return  # not newer than what we have (MemoryLog ignores it too)
        # Our own snapshot (or the leader's that matches our log) continues the log: keep
        # the previous snapshot (if any) and the entries from it as the fallback.
        # Otherwise the log is replaced and nothing older is worth keeping.
        continues = self.epoch_at(end - 1) == epoch and end <= self.end_offset
        keep_from = self.start_offset if continues else end
        kept_prefix = self.read(keep_from, end - keep_from) if keep_from < end else []
        path = self._dir / checkpoint_name(end, epoch)
        _write_durably(path, encode_snapshot(snapshot))
        super().install_snapshot(snapshot)
        self._rewrite(kept_prefix)
        keep = {path}
        if continues and previous is not None:
            keep.add(self._dir / checkpoint_name(*previous.snapshot_id))
        for old in self.checkpoints():
            if old not in keep and _checkpoint_offset(old) != 0:
                old.unlink(missing_ok=True)
        if not continues:
            log.info(
                "metadata snapshot %d-%d fetched from the leader replaces the log below it",
                end,
                epoch,
            )

    def _rewrite(self, kept_prefix: Sequence[Entry]) -> None:
        """Rewrite the log file: ``kept_prefix`` (below the log start, kept for the
        fallback), then the retained entries."""
        retained = self.read(self.start_offset, self.end_offset - self.start_offset)
        positions = []
        chunks = [_frame(e) for e in kept_prefix]
        position = sum(len(c) for c in chunks)
        for entry in retained:
            frame = _frame(entry)
            positions.append(position)
            position += len(frame)
            chunks.append(frame)
        self._file.close()
        _write_durably(self._dir / LOG_FILE, b"".join(chunks))
        self._file = open(self._dir / LOG_FILE, "a+b")  # noqa: SIM115
        self._file.seek(0, os.SEEK_END)
        self._positions = positions

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()
