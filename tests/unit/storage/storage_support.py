"""Batches built the way clients build them, independently of the code under test.

kafka-python's ``DefaultRecordBatchBuilder`` writes what the Java client writes (xerial
snappy framing, Kafka's LZ4 frame, gzip, zstd); ``raw_snappy_batch`` writes the single raw
snappy block librdkafka sends.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cramjam
from crc32c import crc32c
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

T0 = 1_700_000_000_000

Rec = tuple[bytes | None, bytes | None, int]


def client_batch(
    records: Sequence[Rec],
    *,
    codec: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    headers: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 30,
    )
    for i, (key, value, ts) in enumerate(records):
        builder.append(i, timestamp=ts, key=key, value=value, headers=list(headers))
    return bytes(builder.build())


def simple_batch(
    n: int = 1, *, ts: int = T0, size: int = 10, key: bytes | None = b"k", **kw: object
) -> bytes:
    return client_batch([(key, b"v" * size, ts + i) for i in range(n)], **kw)  # type: ignore[arg-type]


def raw_snappy_batch(records: Sequence[Rec]) -> bytes:
    """An uncompressed batch re-packed with one raw snappy block, as librdkafka does."""
    plain = bytearray(client_batch(records))
    payload = bytes(cramjam.snappy.compress_raw(bytes(plain[61:])))
    out = bytearray(plain[:61]) + payload
    struct.pack_into(">i", out, 8, len(out) - 12)
    struct.pack_into(">h", out, 21, 2)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def decode_with_kafka_python(
    batch: bytes | bytearray | memoryview,
) -> list[tuple[int, bytes | None, bytes | None, int]]:
    parsed = DefaultRecordBatch(bytes(batch))
    assert parsed.validate_crc()
    return [(r.offset, r.key, r.value, r.timestamp) for r in parsed]


def batch_offsets(data: bytes | bytearray | memoryview) -> list[tuple[int, int]]:
    """(base, last) offsets of each batch in ``data``."""
    from millrace_broker.protocol.record_batch import iter_batches

    return [(h.base_offset, h.last_offset) for _, h in iter_batches(data)]
