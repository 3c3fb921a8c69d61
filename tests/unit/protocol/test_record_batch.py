"""Record batch header views and in-place patches, against batches kafka-python builds."""

from __future__ import annotations

import struct

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import (
    BATCH_OVERHEAD,
    INT32_MAX,
    BatchHeader,
    InvalidBatch,
    increment_sequence,
    iter_batches,
    patch_batch,
    read_header,
    validate_batch,
)

T0 = 1_700_000_000_000


def make_batch(
    n: int = 3,
    *,
    codec: int = 0,
    pid: int = -1,
    epoch: int = -1,
    seq: int = -1,
    transactional: bool = False,
    size: int = 8,
) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        batch_size=1 << 30,
    )
    for i in range(n):
        builder.append(i, timestamp=T0 + i, key=b"k%d" % i, value=b"v" * size, headers=[])
    return bytes(builder.build())


def test_read_header_fields() -> None:
    raw = make_batch(3, codec=1, pid=42, epoch=3, seq=7, transactional=True)
    h = read_header(raw, 0)
    assert h.base_offset == 0 and h.magic == 2 and h.total_size == len(raw)
    assert h.last_offset_delta == 2 and h.record_count == 3 and h.last_offset == 2
    assert h.base_timestamp == T0 and h.max_timestamp == T0 + 2
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (42, 3, 7)
    assert h.last_sequence == 9
    assert h.compression == 1 and h.is_transactional and not h.is_control
    assert h.timestamp_type == 0 and not h.has_delete_horizon
    validate_batch(raw, 0, h)


def test_sequence_wraps_at_int32_max() -> None:
    assert increment_sequence(INT32_MAX, 1) == 0
    assert increment_sequence(INT32_MAX - 1, 3) == 1
    h = read_header(make_batch(3, pid=1, epoch=0, seq=INT32_MAX - 1), 0)
    assert h.last_sequence == 0  # MAX-1, MAX, 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.data())
def test_iter_batches_yields_only_complete_batches(counts: list[int], data: st.DataObject) -> None:
    batches = [make_batch(n) for n in counts]
    buf = b"".join(batches)
    cut = data.draw(st.integers(0, len(buf)))
    got = list(iter_batches(buf[:cut]))
    ends = [sum(len(b) for b in batches[: i + 1]) for i in range(len(batches))]
    assert len(got) == sum(1 for e in ends if e <= cut)
    pos = 0
    for (p, h), b in zip(got, batches, strict=False):
        assert p == pos and h.total_size == len(b)
        pos += len(b)


def _code(buf: bytes | bytearray, header: BatchHeader | None = None) -> ErrorCode:
    with pytest.raises(InvalidBatch) as info:
        validate_batch(buf, 0, header or read_header(buf, 0))
    return info.value.error_code


def test_validate_rejects_corruption() -> None:
    raw = bytearray(make_batch(3))
    raw[-1] ^= 0xFF
    assert _code(raw) == ErrorCode.corrupt_message


def test_validate_rejects_old_magic() -> None:
    raw = bytearray(make_batch(1))
    raw[16] = 1
    assert _code(raw) == ErrorCode.invalid_record


def test_validate_rejects_truncated_and_tiny_batches() -> None:
    raw = make_batch(2)
    assert _code(raw[:-1], read_header(raw, 0)) == ErrorCode.corrupt_message
    tiny = bytearray(raw)
    struct.pack_into(">i", tiny, 8, 10)
    assert _code(tiny) == ErrorCode.corrupt_message


def test_validate_rejects_inconsistent_count() -> None:
    raw = bytearray(make_batch(3))
    struct.pack_into(">i", raw, 57, 2)  # recordCount
    struct.pack_into(">I", raw, 17, crc32c(bytes(raw[21:])))
    assert _code(raw) == ErrorCode.invalid_record
    validate_batch(raw, 0, read_header(raw, 0), check_counts=False)


def test_patch_keeps_crc_valid() -> None:
    raw = bytearray(make_batch(3))
    crc = read_header(raw, 0).crc
    patch_batch(raw, 0, base_offset=1000, partition_leader_epoch=7)
    h = read_header(raw, 0)
    assert (h.base_offset, h.partition_leader_epoch, h.crc) == (1000, 7, crc)
    validate_batch(raw, 0, h)
    parsed = DefaultRecordBatch(bytes(raw))
    assert parsed.validate_crc()
    assert [r.offset for r in parsed] == [1000, 1001, 1002]


def test_patch_log_append_time_recomputes_crc() -> None:
    raw = bytearray(make_batch(2, codec=3))
    patch_batch(
        raw, 0, base_offset=5, partition_leader_epoch=1, max_timestamp=T0 + 999, timestamp_type=1
    )
    h = read_header(raw, 0)
    assert h.timestamp_type == 1 and h.max_timestamp == T0 + 999
    validate_batch(raw, 0, h)
    parsed = DefaultRecordBatch(bytes(raw))
    assert parsed.validate_crc()
    assert [r.timestamp for r in parsed] == [T0 + 999, T0 + 999]


def test_patch_in_memoryview_of_multi_batch_buffer() -> None:
    a, b = make_batch(1), make_batch(2)
    buf = bytearray(a + b)
    view = memoryview(buf)
    patch_batch(view, len(a), base_offset=1, partition_leader_epoch=0)
    headers = [h for _, h in iter_batches(buf)]
    assert [h.base_offset for h in headers] == [0, 1]
    assert BATCH_OVERHEAD == 61
