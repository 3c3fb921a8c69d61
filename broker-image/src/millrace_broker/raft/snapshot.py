"""Snapshots (KIP-630): identity, encoding, and chunked transfer via FetchSnapshot.

A snapshot is identified by ``OffsetAndEpoch(end_offset, epoch)``: it contains the state
of every committed record below ``end_offset`` and ``epoch`` is the epoch of the record at
``end_offset - 1``.  Besides the state machine's opaque bytes it carries the voter set in
force at ``end_offset`` (Kafka writes a VotersRecord into every snapshot), because once
the log prefix is deleted the snapshot is the only place that says who the voters are.

Transfer: the follower asks for ``(snapshot_id, position)``; the leader answers with at
most ``max_bytes`` of the encoded snapshot starting at ``position`` and the total size.
``SnapshotDownload`` accepts chunks strictly in order, so duplicated or reordered
responses cannot corrupt the assembled bytes.

Encoding: one JSON header line (id, voters, the state's size and CRC-32), then the raw
state bytes.  The checksum lets a reader tell a damaged or truncated snapshot file from a
good one (and fall back to an older snapshot); headers written without it still decode.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

from millrace_broker.raft.records import OffsetAndEpoch
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterSet

SnapshotId = OffsetAndEpoch


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: SnapshotId
    voters: VoterSet
    data: bytes


def encode_voters(voters: VoterSet) -> list[dict[str, object]]:
    return [
        {
            "id": v.key.id,
            "directory_id": v.key.directory_id,
            "endpoints": [list(e) for e in v.endpoints],
            "kraft_version": list(v.kraft_version),
        }
        for v in voters
    ]


def decode_voters(raw: object) -> VoterSet:
    if not isinstance(raw, list):
        raise ValueError("voters must be a list")
    voters = []
    for item in raw:
        key = ReplicaKey(int(item["id"]), str(item.get("directory_id", "")))
        endpoints = tuple((str(a), str(b)) for a, b in item.get("endpoints", []))
        lo, hi = item.get("kraft_version", [0, 1])
        voters.append(Voter(key, endpoints, (int(lo), int(hi))))
    return VoterSet.of(voters)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    header = {
        "end_offset": snapshot.snapshot_id.offset,
        "epoch": snapshot.snapshot_id.epoch,
        "voters": encode_voters(snapshot.voters),
        "data_size": len(snapshot.data),
        "data_crc32": zlib.crc32(snapshot.data),
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n" + snapshot.data


def decode_snapshot(raw: bytes) -> Snapshot:
    header_bytes, sep, data = raw.partition(b"\n")
    if not sep:
        raise ValueError("snapshot has no header line")
    header = json.loads(header_bytes)
    if not isinstance(header, dict):
        raise ValueError("snapshot header is not an object")
    if "data_size" in header and int(header["data_size"]) != len(data):
        raise ValueError(f"snapshot holds {len(data)} bytes, its header says {header['data_size']}")
    if "data_crc32" in header and int(header["data_crc32"]) != zlib.crc32(data):
        raise ValueError("snapshot data does not match its checksum")
    snapshot_id = SnapshotId(int(header["end_offset"]), int(header["epoch"]))
    return Snapshot(snapshot_id, decode_voters(header["voters"]), data)


def read_chunk(encoded: bytes, position: int, max_bytes: int) -> bytes:
    if position < 0 or position > len(encoded):
        raise ValueError(f"position {position} outside snapshot of {len(encoded)} bytes")
    return encoded[position : position + max_bytes]


@dataclass
class SnapshotDownload:
    """A snapshot being fetched from the leader, chunk by chunk, in order."""

    snapshot_id: SnapshotId
    size: int = -1
    buffer: bytearray = field(default_factory=bytearray)

    @property
    def position(self) -> int:
        return len(self.buffer)

    def accept(self, position: int, size: int, chunk: bytes) -> bool:
        """Append a chunk if it is the next one; False if it was stale or out of order."""
        if position != len(self.buffer) or (self.size >= 0 and size != self.size):
            return False
        if position + len(chunk) > size:
            return False
        self.size = size
        self.buffer.extend(chunk)
        return True

    @property
    def complete(self) -> bool:
        return self.size >= 0 and len(self.buffer) == self.size

    def result(self) -> Snapshot:
        snapshot = decode_snapshot(bytes(self.buffer))
        if snapshot.snapshot_id != self.snapshot_id:
            raise ValueError("downloaded snapshot id does not match the requested one")
        return snapshot
