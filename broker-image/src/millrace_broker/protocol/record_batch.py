"""Views and in-place helpers for Kafka v2 record batches (magic 2). Pure, no I/O.

A v2 batch on the wire and on disk is::

    offset  size  field
         0     8  baseOffset
         8     4  batchLength         (bytes after this field)
        12     4  partitionLeaderEpoch
        16     1  magic               (2; v0/v1 messages also keep magic at byte 16)
        17     4  crc                 (CRC-32C of bytes 21..end)
        21     2  attributes          (bits 0-2 codec, 3 timestamp type, 4 transactional,
                                       5 control, 6 delete horizon)
        23     4  lastOffsetDelta
        27     8  baseTimestamp
        35     8  maxTimestamp
        43     8  producerId
        51     2  producerEpoch
        53     4  baseSequence
        57     4  recordCount
        61     .  records (compressed as a whole when the codec bits are non-zero)

Because the CRC starts at ``attributes``, the broker can rewrite ``baseOffset`` and
``partitionLeaderEpoch`` without recomputing it; only LogAppendTime (which changes
attributes and maxTimestamp) needs a new CRC. Everything here works on the header; the
records themselves are decoded elsewhere (``millrace_broker.storage.records``) and only
where semantics need it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from crc32c import crc32c
from kio.schema.errors import ErrorCode

BATCH_OVERHEAD = 61
LOG_OVERHEAD = 12
MAGIC_V2 = 2
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
INT32_MAX = (1 << 31) - 1

CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40

CREATE_TIME = 0
LOG_APPEND_TIME = 1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_BASE_OFFSET = struct.Struct(">q")
_LEADER_EPOCH = struct.Struct(">i")
_LENGTH = struct.Struct(">qi")
_CRC = struct.Struct(">I")
_ATTRIBUTES = struct.Struct(">h")
_TIMESTAMP = struct.Struct(">q")
assert _HEADER.size == BATCH_OVERHEAD


class InvalidBatch(Exception):
    """A batch the broker must refuse; ``error_code`` is what the client is told."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(slots=True)
class BatchHeader:
    """The decoded header. Treat as read-only: it is deliberately not ``frozen`` because a
    frozen dataclass's ``__init__`` costs about 5x more, and one is built per batch on the
    produce and fetch paths. The broker's own patching updates it alongside the bytes.
    """

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def total_size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return (self.attributes & TIMESTAMP_TYPE_BIT) >> 3

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & DELETE_HORIZON_BIT)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id > NO_PRODUCER_ID

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return increment_sequence(self.base_sequence, self.last_offset_delta)


def increment_sequence(sequence: int, increment: int) -> int:
    """Sequence numbers wrap from Int32 max back to 0, as Kafka's ``incrementSequence``."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


def read_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Decode the 61-byte header at ``pos`` (no validation; the caller checks bounds)."""
    return BatchHeader(*_HEADER.unpack_from(buf, pos))


def read_length(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """(baseOffset, batchLength) at ``pos``: enough to step over a batch."""
    base_offset, length = _LENGTH.unpack_from(buf, pos)
    return int(base_offset), int(length)


def iter_batches(buf: bytes | bytearray | memoryview) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` of every complete batch; stop at a partial tail.

    A batch whose declared length is below the header size also ends the walk: nothing
    after it can be framed reliably. ``validate_batch`` reports it as corrupt.
    """
    end = len(buf)
    pos = 0
    while pos + BATCH_OVERHEAD <= end:
        header = read_header(buf, pos)
        size = header.batch_length + LOG_OVERHEAD
        if size < BATCH_OVERHEAD or pos + size > end:
            return
        yield pos, header
        pos += size


def validate_batch(
    buf: bytes | bytearray | memoryview,
    pos: int,
    header: BatchHeader,
    *,
    check_counts: bool = True,
) -> None:
    """Check one batch as Kafka 4 does before offsets are assigned.

    - magic other than 2: INVALID_RECORD (Kafka 4 only accepts magic 2 in Produce v3+,
      ``ProduceRequest.validateRecords`` raises InvalidRecordException);
    - length below the header size or beyond the buffer, CRC mismatch: CORRUPT_MESSAGE
      (``DefaultRecordBatch.ensureValid``);
    - recordCount <= 0 or != lastOffsetDelta + 1: INVALID_RECORD
      (``LogValidator.validateBatch`` checks this header-level invariant for every v2
      batch, compressed or not).
    """
    if header.magic != MAGIC_V2:
        raise InvalidBatch(
            ErrorCode.invalid_record,
            f"record batch magic {header.magic} is not supported; only magic 2 "
            "(Kafka 0.11+ clients) can be produced",
        )
    size = header.total_size
    if size < BATCH_OVERHEAD:
        raise InvalidBatch(
            ErrorCode.corrupt_message,
            f"record batch length {header.batch_length} is smaller than the batch header",
        )
    if pos + size > len(buf):
        raise InvalidBatch(
            ErrorCode.corrupt_message,
            f"record batch of {size} bytes is truncated: only {len(buf) - pos} bytes present",
        )
    actual = crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET : pos + size])
    if actual != header.crc:
        raise InvalidBatch(
            ErrorCode.corrupt_message,
            f"record batch is corrupt (stored crc {header.crc}, computed {actual})",
        )
    if not check_counts:
        return
    count_from_offsets = header.last_offset_delta + 1
    if count_from_offsets <= 0 or header.record_count <= 0:
        raise InvalidBatch(
            ErrorCode.invalid_record,
            f"record batch has an invalid offset range (lastOffsetDelta "
            f"{header.last_offset_delta}) or record count {header.record_count}",
        )
    if count_from_offsets != header.record_count:
        raise InvalidBatch(
            ErrorCode.invalid_record,
            f"record batch lastOffsetDelta {header.last_offset_delta} is inconsistent "
            f"with its record count {header.record_count}",
        )


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, total_size: int) -> int:
    return int(crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET : pos + total_size]))


def patch_batch(
    buf: bytearray | memoryview,
    pos: int,
    *,
    base_offset: int,
    partition_leader_epoch: int,
    max_timestamp: int | None = None,
    timestamp_type: int | None = None,
) -> None:
    """Rewrite baseOffset and partitionLeaderEpoch in place (CRC untouched).

    With ``timestamp_type`` and/or ``max_timestamp`` (LogAppendTime), the timestamp-type
    attribute bit and maxTimestamp are rewritten as Kafka's ``setMaxTimestamp`` does, and
    the CRC is recomputed because both lie inside the checksummed range.
    """
    _BASE_OFFSET.pack_into(buf, pos, base_offset)
    _LEADER_EPOCH.pack_into(buf, pos + 12, partition_leader_epoch)
    if max_timestamp is None and timestamp_type is None:
        return
    (attributes,) = _ATTRIBUTES.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    if timestamp_type is not None:
        if timestamp_type == LOG_APPEND_TIME:
            attributes |= TIMESTAMP_TYPE_BIT
        else:
            attributes &= ~TIMESTAMP_TYPE_BIT
        _ATTRIBUTES.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes)
    if max_timestamp is not None:
        _TIMESTAMP.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, max_timestamp)
    (length,) = struct.unpack_from(">i", buf, pos + 8)
    _CRC.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, length + LOG_OVERHEAD))


def set_crc(buf: bytearray | memoryview, pos: int) -> None:
    """Recompute and store the CRC of the batch at ``pos`` (after editing its body)."""
    (length,) = struct.unpack_from(">i", buf, pos + 8)
    _CRC.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, length + LOG_OVERHEAD))


def pack_header(
    *,
    base_offset: int,
    batch_length: int,
    partition_leader_epoch: int,
    attributes: int,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    record_count: int,
) -> bytearray:
    """A header with a zero CRC; call ``set_crc`` once the records follow it."""
    out = bytearray(BATCH_OVERHEAD)
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        batch_length,
        partition_leader_epoch,
        MAGIC_V2,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    )
    return out
