"""Keys and values of `__consumer_offsets`, in Apache Kafka's own binary layout.

Two kinds of record share the topic, told apart by the key's version:

    OffsetCommitKey   v1: group string, topic string, partition int32
    OffsetCommitValue v3: offset int64, leaderEpoch int32, metadata string,
                          commitTimestamp int64
    GroupMetadataKey  v2: group string
    GroupMetadataValue v3: protocolType string, generation int32, protocol nullable string,
                          leader nullable string, currentStateTimestamp int64,
                          members [memberId string, groupInstanceId nullable string,
                                   clientId string, clientHost string, rebalanceTimeout int32,
                                   sessionTimeout int32, subscription bytes, assignment bytes]

Every field is big-endian, strings are int16-length-prefixed UTF-8 (-1 = null), bytes are
int32-length-prefixed. A null value is a tombstone. Older value versions (offset v1/v2,
group v0-v2) are read too, so a log written by Kafka replays here.

KIP-848 consumer groups are stored as one snapshot per group under Millrace's own key
version 1000 (see `consumer_group.py`).

The group -> partition mapping is Kafka's: abs(javaHashCode(group)) % partitions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
CONSUMER_GROUP_KEY_VERSION = 1000  # Millrace's own (Kafka's KIP-848 records use 3-8)
GROUP_VALUE_VERSION = 3


class RecordFormatError(ValueError):
    """A key or value of `__consumer_offsets` that does not parse."""


def java_string_hash(text: str) -> int:
    """Java's String.hashCode over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, partitions: int) -> int:
    h = java_string_hash(group_id)
    absolute = 0 if h == -(1 << 31) else abs(h)
    return absolute % partitions


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupKey:
    """Millrace's snapshot of a KIP-848 consumer group (key version 1000)."""

    group: str


@dataclass(frozen=True, slots=True)
class OffsetValue:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = -1


@dataclass(frozen=True, slots=True)
class MemberValue:
    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    state_timestamp: int
    members: tuple[MemberValue, ...] = field(default=())


# -- writing -------------------------------------------------------------------------------


def _str(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def encode_offset_key(key: OffsetKey) -> bytes:
    return (
        struct.pack(">h", OFFSET_KEY_VERSION)
        + _str(key.group)
        + _str(key.topic)
        + struct.pack(">i", key.partition)
    )


def encode_group_key(key: GroupKey) -> bytes:
    return struct.pack(">h", GROUP_KEY_VERSION) + _str(key.group)


def encode_offset_value(value: OffsetValue) -> bytes:
    return (
        struct.pack(">hqi", OFFSET_VALUE_VERSION, value.offset, value.leader_epoch)
        + _str(value.metadata)
        + struct.pack(">q", value.commit_timestamp)
    )


def encode_group_value(value: GroupValue) -> bytes:
    out = bytearray(struct.pack(">h", GROUP_VALUE_VERSION))
    out += _str(value.protocol_type)
    out += struct.pack(">i", value.generation)
    out += _str(value.protocol)
    out += _str(value.leader)
    out += struct.pack(">q", value.state_timestamp)
    out += struct.pack(">i", len(value.members))
    for m in value.members:
        out += _str(m.member_id) + _str(m.instance_id) + _str(m.client_id) + _str(m.client_host)
        out += struct.pack(">ii", m.rebalance_timeout_ms, m.session_timeout_ms)
        out += _bytes(m.subscription) + _bytes(m.assignment)
    return bytes(out)


# -- reading -------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise RecordFormatError("record ends early")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        end = self.pos + length
        if end > len(self.data):
            raise RecordFormatError("string overruns the record")
        text = self.data[self.pos : end].decode()
        self.pos = end
        return text

    def required(self) -> str:
        text = self.string()
        if text is None:
            raise RecordFormatError("null where a string is required")
        return text

    def blob(self) -> bytes:
        length = self.take(">i")
        if length < 0:
            return b""
        end = self.pos + length
        if end > len(self.data):
            raise RecordFormatError("bytes overrun the record")
        raw = self.data[self.pos : end]
        self.pos = end
        return raw


def decode_key(data: bytes) -> OffsetKey | GroupKey | ConsumerGroupKey:
    r = _Reader(data)
    version = r.take(">h")
    if version in (0, 1):
        return OffsetKey(r.required(), r.required(), r.take(">i"))
    if version == 2:
        return GroupKey(r.required())
    if version == CONSUMER_GROUP_KEY_VERSION:
        return ConsumerGroupKey(r.required())
    raise RecordFormatError(f"unknown __consumer_offsets key version {version}")


def decode_offset_value(data: bytes) -> OffsetValue:
    r = _Reader(data)
    version = r.take(">h")
    if version not in (0, 1, 2, 3, 4):
        raise RecordFormatError(f"unknown offset value version {version}")
    offset = r.take(">q")
    epoch = r.take(">i") if version >= 3 else -1
    metadata = r.string() or ""
    commit_ts = r.take(">q")
    expire_ts = r.take(">q") if version == 1 else -1
    return OffsetValue(offset, epoch, metadata, commit_ts, expire_ts)


def decode_group_value(data: bytes) -> GroupValue:
    r = _Reader(data)
    version = r.take(">h")
    if version not in (0, 1, 2, 3):
        raise RecordFormatError(f"unknown group metadata value version {version}")
    protocol_type = r.required()
    generation = r.take(">i")
    protocol = r.string()
    leader = r.string()
    state_ts = r.take(">q") if version >= 2 else -1
    members = []
    for _ in range(r.take(">i")):
        member_id = r.required()
        instance_id = r.string() if version >= 3 else None
        client_id = r.required()
        client_host = r.required()
        rebalance = r.take(">i") if version >= 1 else -1
        session = r.take(">i")
        subscription = r.blob()
        assignment = r.blob()
        members.append(
            MemberValue(
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance if rebalance >= 0 else session,
                session,
                subscription,
                assignment,
            )
        )
    return GroupValue(protocol_type, generation, protocol, leader, state_ts, tuple(members))
