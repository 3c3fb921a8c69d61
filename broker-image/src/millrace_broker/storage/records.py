"""Decode and build the records inside a v2 batch (the slow path; never on plain append/read).

Used where semantics need the records: keys on compacted topics, the exact offset for a
timestamp inside a batch, compression conversion, and compaction. Records are::

    length: varint, attributes: int8, timestampDelta: varlong, offsetDelta: varint,
    keyLength: varint (-1 = null), key, valueLength: varint (-1 = null), value,
    headerCount: varint, headers: [keyLength varint, key, valueLength varint, value]

(varints are zigzag-encoded). ``Record.timestamp`` is absolute: baseTimestamp + delta, or
the batch's maxTimestamp for LogAppendTime batches, as Kafka's ``DefaultRecord`` reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import (
    BATCH_OVERHEAD,
    COMPRESSION_MASK,
    LOG_APPEND_TIME,
    LOG_OVERHEAD,
    BatchHeader,
    pack_header,
    read_header,
    set_crc,
)
from millrace_broker.storage.compression import compress, decompress
from millrace_broker.storage.errors import StorageError

Header = tuple[bytes, bytes | None]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~5x, one per record here
class Record:
    offset_delta: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    attributes: int = 0


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:  # the common case: lengths and deltas below 64
        return (b >> 1) ^ -(b & 1), pos + 1
    shift = 0
    raw = 0
    while True:
        b = buf[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _write_varint(out: bytearray, value: int) -> None:
    raw = (value << 1) ^ (value >> 63)
    raw &= (1 << 64) - 1
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = _read_varint(buf, pos)
    if length < 0:
        return None, pos
    end = pos + length
    if end > len(buf):
        raise ValueError("record field overruns the batch")
    return buf[pos:end], end


def decode_payload(payload: bytes, header: BatchHeader) -> list[Record]:
    """Parse ``header.record_count`` records from an uncompressed payload."""
    records: list[Record] = []
    pos = 0
    log_append = header.timestamp_type == LOG_APPEND_TIME
    base_ts = header.base_timestamp
    for _ in range(header.record_count):
        length, pos = _read_varint(payload, pos)
        end = pos + length
        if length < 0 or end > len(payload):
            raise ValueError("record length overruns the batch")
        attributes = payload[pos]
        ts_delta, p = _read_varint(payload, pos + 1)
        offset_delta, p = _read_varint(payload, p)
        key, p = _read_bytes(payload, p)
        value, p = _read_bytes(payload, p)
        count, p = _read_varint(payload, p)
        headers: list[Header] = []
        for _ in range(count):
            hkey, p = _read_bytes(payload, p)
            hval, p = _read_bytes(payload, p)
            headers.append((hkey or b"", hval))
        if p != end:
            raise ValueError("record fields do not add up to the record length")
        timestamp = header.max_timestamp if log_append else base_ts + ts_delta
        records.append(Record(offset_delta, timestamp, key, value, tuple(headers), attributes))
        pos = end
    return records


RawRecord = tuple[int, bytes | None, bool, int, int]


def scan_records(payload: bytes, count: int) -> list[RawRecord]:
    """Light parse for compaction: (offset delta, key, is tombstone, start, end) per record.

    Values and headers are skipped, not copied; ``payload[start:end]`` is the record's
    exact encoding, which stays valid as long as the batch keeps its base offset and base
    timestamp (deltas are relative to those).
    """
    out: list[RawRecord] = []
    read = _read_varint
    pos = 0
    for _ in range(count):
        length, p = read(payload, pos)
        end = p + length
        if length < 0 or end > len(payload):
            raise ValueError("record length overruns the batch")
        _, p = read(payload, p + 1)  # timestamp delta
        offset_delta, p = read(payload, p)
        key_len, p = read(payload, p)
        key = None
        if key_len >= 0:
            key = payload[p : p + key_len]
            p += key_len
        value_len, p = read(payload, p)
        out.append((offset_delta, key, value_len < 0, pos, end))
        pos = end
    return out


def decode_raw(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, bytes, list[RawRecord]]:
    """Header, uncompressed payload and ``scan_records`` of one whole batch."""
    header = read_header(batch, 0)
    body = memoryview(batch)[BATCH_OVERHEAD : header.total_size]
    payload = decompress(header.compression, body)
    try:
        return header, payload, scan_records(payload, header.record_count)
    except (ValueError, IndexError) as exc:
        raise StorageError(ErrorCode.corrupt_message, f"malformed records in batch: {exc}") from exc


def build_from_raw(header: BatchHeader, payload: bytes, kept: list[RawRecord]) -> bytearray:
    """``header``'s batch with only the ``kept`` records, copied byte for byte."""
    body = b"".join(payload[start:end] for _, _, _, start, end in kept)
    compressed = compress(header.compression, body)
    head = pack_header(
        base_offset=header.base_offset,
        batch_length=BATCH_OVERHEAD - LOG_OVERHEAD + len(compressed),
        partition_leader_epoch=header.partition_leader_epoch,
        attributes=header.attributes,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=header.base_timestamp,
        max_timestamp=header.max_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        record_count=len(kept),
    )
    head += compressed
    set_crc(head, 0)
    return head


def decode_batch(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, list[Record]]:
    """Header and records of one whole batch (decompressing as needed).

    Malformed records are CORRUPT_MESSAGE: the CRC matched, so the producer wrote them so.
    """
    header = read_header(batch, 0)
    body = memoryview(batch)[BATCH_OVERHEAD : header.total_size]
    payload = decompress(header.compression, body)
    try:
        return header, decode_payload(payload, header)
    except (ValueError, IndexError) as exc:
        raise StorageError(ErrorCode.corrupt_message, f"malformed records in batch: {exc}") from exc


def encode_records(records: Iterable[Record], base_timestamp: int) -> bytearray:
    out = bytearray()
    body = bytearray()
    for r in records:
        body.clear()
        body.append(r.attributes & 0xFF)
        _write_varint(body, r.timestamp - base_timestamp)
        _write_varint(body, r.offset_delta)
        for field in (r.key, r.value):
            if field is None:
                _write_varint(body, -1)
            else:
                _write_varint(body, len(field))
                body += field
        _write_varint(body, len(r.headers))
        for hkey, hval in r.headers:
            _write_varint(body, len(hkey))
            body += hkey
            if hval is None:
                _write_varint(body, -1)
            else:
                _write_varint(body, len(hval))
                body += hval
        _write_varint(out, len(body))
        out += body
    return out


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int,
    attributes: int,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    last_offset_delta: int | None = None,
    base_timestamp: int | None = None,
    max_timestamp: int | None = None,
) -> bytearray:
    """Encode a v2 batch; compression comes from ``attributes``' codec bits.

    ``last_offset_delta`` defaults to the last record's offset delta; compaction passes
    the original one so a batch keeps its offset range (and producer sequence range).
    ``base_timestamp`` defaults to the first record's timestamp (compaction passes the
    delete horizon when setting that attribute bit). An empty ``records`` makes the
    header-only batch Kafka keeps to preserve producer state after cleaning.
    """
    if base_timestamp is None:
        base_timestamp = records[0].timestamp if records else -1
    if max_timestamp is None:
        max_timestamp = max((r.timestamp for r in records), default=-1)
    if last_offset_delta is None:
        last_offset_delta = records[-1].offset_delta if records else 0
    payload = compress(attributes & COMPRESSION_MASK, encode_records(records, base_timestamp))
    head = pack_header(
        base_offset=base_offset,
        batch_length=BATCH_OVERHEAD - LOG_OVERHEAD + len(payload),
        partition_leader_epoch=partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=last_offset_delta,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        record_count=len(records),
    )
    head += payload
    set_crc(head, 0)
    return head


def recompress_batch(batch: bytes | bytearray | memoryview, codec: int) -> bytearray:
    """The same batch (offsets, producer fields, timestamps) with another codec."""
    header, records = decode_batch(batch)
    return build_batch(
        records,
        base_offset=header.base_offset,
        attributes=(header.attributes & ~COMPRESSION_MASK) | codec,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=header.base_timestamp,
        max_timestamp=header.max_timestamp,
    )
