"""The `__cluster_metadata` Raft log on disk.

The in-memory `MemoryLog` of the Raft core keeps the semantics (dense offsets, epoch
boundaries, snapshots); this subclass makes every mutation durable before it returns, as
the core's contract requires:

- entries are appended to ``log`` as frames ``[u32 length][u32 crc32c][json entry]`` and
  fsynced; a torn or corrupt tail found at open is cut off (it was never acknowledged);
- truncation rewrites nothing: it cuts the file at the first removed entry's position;
- a snapshot is written as ``<end offset>-<epoch>.checkpoint`` (temp file, fsync, rename),
  after which the log file is rewritten with only the entries above it.

The metadata log is small (cluster metadata, not data), so all entries stay in memory.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import crc32c

from ..raft.log import MemoryLog
from ..raft.records import Entry
from ..raft.snapshot import Snapshot, decode_snapshot, encode_snapshot
from .message_codec import _from_json, _to_json

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


class DiskLog(MemoryLog):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._positions: list[int] = []  # file position of each retained entry
        snapshot = self._latest_checkpoint()
        if snapshot is not None:
            super().install_snapshot(snapshot)
        self._file = open(directory / LOG_FILE, "a+b")  # noqa: SIM115 - held for the log's life
        self._load()

    def _latest_checkpoint(self) -> Snapshot | None:
        found = sorted(self._dir.glob("*.checkpoint"))
        for path in reversed(found):
            try:
                return decode_snapshot(path.read_bytes())
            except (ValueError, KeyError):
                continue  # a damaged checkpoint: fall back to an older one
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
                    break  # a gap: the rest cannot be trusted
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
            body = json.dumps(_to_json(entry)).encode()
            self._positions.append(position)
            frame = _FRAME.pack(len(body), crc32c.crc32c(body)) + body
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
        path = self._dir / f"{end:020d}-{epoch:010d}.checkpoint"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(encode_snapshot(snapshot))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
        super().install_snapshot(snapshot)
        self._rewrite()
        for old in self._dir.glob("*.checkpoint"):
            if old != path:
                old.unlink(missing_ok=True)

    def _rewrite(self) -> None:
        """Rewrite the log file with the retained entries only (after a snapshot)."""
        tmp = self._dir / (LOG_FILE + ".tmp")
        positions = []
        with open(tmp, "wb") as f:
            for entry in self.read(self.start_offset, self.end_offset - self.start_offset):
                body = json.dumps(_to_json(entry)).encode()
                positions.append(f.tell())
                f.write(_FRAME.pack(len(body), crc32c.crc32c(body)) + body)
            f.flush()
            os.fsync(f.fileno())
        self._file.close()
        tmp.replace(self._dir / LOG_FILE)
        self._file = open(self._dir / LOG_FILE, "a+b")  # noqa: SIM115
        self._file.seek(0, os.SEEK_END)
        self._positions = positions

    def close(self) -> None:
        self._file.close()
