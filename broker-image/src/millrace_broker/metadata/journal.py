"""A single-node metadata journal: an fsynced append-only file of metadata records.

Until the Raft-replicated `__cluster_metadata` log lands (KRaft issue), a single node
keeps its metadata records here. Each line is ``<crc32c hex> <json>``; on open, a torn or
corrupt tail (a crash mid-write) is cut off, everything before it is replayed. Metadata
changes are rare, so every append is fsynced: an acknowledged CreateTopics survives a
power cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import crc32c

from .records import MetadataRecord, decode_record, encode_record


class MetadataJournal:
    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        valid_end = self._valid_length()
        self._file = open(path, "ab")  # noqa: SIM115 - held open for the broker's life
        if self._file.tell() != valid_end:
            self._file.truncate(valid_end)
            self._file.seek(valid_end)

    def _valid_length(self) -> int:
        if not self._path.exists():
            return 0
        good = 0
        with open(self._path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n") or not _line_is_valid(line):
                    break
                good += len(line)
        return good

    def read_all(self) -> Iterator[MetadataRecord]:
        with open(self._path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n") or not _line_is_valid(line):
                    return
                yield decode_record(line[9:-1])

    def append(self, records: Iterable[MetadataRecord]) -> None:
        lines = []
        for record in records:
            data = encode_record(record)
            lines.append(b"%08x " % crc32c.crc32c(data) + data + b"\n")
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _line_is_valid(line: bytes) -> bool:
    try:
        expected = int(line[:8], 16)
    except ValueError:
        return False
    return line[8:9] == b" " and crc32c.crc32c(line[9:-1]) == expected
