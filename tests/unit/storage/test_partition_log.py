"""PartitionLog append/read semantics, with real files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode
from storage_support import T0, batch_offsets, client_batch, decode_with_kafka_python, simple_batch

from millrace_broker.protocol.record_batch import iter_batches, read_header
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog

SMALL = LogConfig(segment_bytes=1024, index_interval_bytes=128)


def open_log(path: Path, config: LogConfig = SMALL) -> PartitionLog:
    return PartitionLog.open(path / "topic-0", config, now_ms=T0)


def fill(log: PartitionLog, batches: int, per_batch: int = 3) -> None:
    for _ in range(batches):
        log.append_as_leader(simple_batch(per_batch), leader_epoch=0, now_ms=T0)


def test_empty_log(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (0, 0, 0)
    assert log.read(0, 1000).records == b""
    with pytest.raises(StorageError) as info:
        log.read(1, 1000)
    assert info.value.error_code == ErrorCode.offset_out_of_range


def test_append_assigns_offsets_and_patches(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    r1 = log.append_as_leader(simple_batch(3), leader_epoch=4, now_ms=T0)
    r2 = log.append_as_leader(simple_batch(2), leader_epoch=5, now_ms=T0)
    assert (r1.base_offset, r1.last_offset, r2.base_offset, r2.last_offset) == (0, 2, 3, 4)
    assert r1.log_append_time_ms == -1 and not r1.duplicate and r1.log_start_offset == 0
    assert log.log_end_offset == 5
    data = log.read(0, 1 << 20).records
    headers = [h for _, h in iter_batches(data)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(0, 4), (3, 5)]
    assert [r[0] for r in decode_with_kafka_python(bytes(data)[: headers[0].total_size])] == [
        0,
        1,
        2,
    ]


def test_multi_batch_append(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    r = log.append_as_leader(simple_batch(2) + simple_batch(3), leader_epoch=0, now_ms=T0)
    assert (r.base_offset, r.last_offset) == (0, 4)
    assert batch_offsets(log.read(0, 1 << 20).records) == [(0, 1), (2, 4)]


def test_read_returns_batch_containing_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 40)
    for offset in (0, 1, 2, 3, 50, 61, 119):
        data = log.read(offset, 200).records
        first = read_header(data, 0)
        assert first.base_offset <= offset <= first.last_offset
        # whole batches only
        assert sum(h.total_size for _, h in iter_batches(data)) == len(data)


def test_read_respects_max_bytes_and_min_one_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 10)
    size = read_header(log.read(0, 1).records, 0).total_size
    assert len(log.read(0, size * 3 + size // 2).records) == size * 3
    assert len(log.read(0, 1).records) == size  # min one batch
    assert log.read(0, 1, min_one_batch=False).records == b""


def test_read_stops_below_high_watermark(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 5)  # batches [0-2] [3-5] [6-8] [9-11] [12-14]
    assert batch_offsets(log.read(0, 1 << 20, max_offset=7).records) == [(0, 2), (3, 5)]
    assert batch_offsets(log.read(0, 1 << 20, max_offset=9).records) == [(0, 2), (3, 5), (6, 8)]
    assert log.read(7, 1 << 20, max_offset=7).records == b""
    assert log.read(6, 1 << 20, max_offset=7).records == b""


def test_reads_across_rolled_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 60)
    assert log.segment_count > 3
    offsets = []
    offset = 0
    while offset < log.log_end_offset:
        data = log.read(offset, 300).records
        got = batch_offsets(data)
        assert got and got[0][0] == offset
        offsets.extend(got)
        offset = got[-1][1] + 1
    assert offsets == [(i * 3, i * 3 + 2) for i in range(60)]


def test_invalid_batches_write_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    good = simple_batch(2)
    bad = bytearray(simple_batch(2))
    bad[-1] ^= 1
    with pytest.raises(StorageError) as info:
        log.append_as_leader(good + bytes(bad), leader_epoch=0, now_ms=T0)
    assert info.value.error_code == ErrorCode.corrupt_message
    assert log.log_end_offset == 0 and log.size_bytes == 0


@pytest.mark.parametrize(
    ("config", "batch", "code"),
    [
        (LogConfig(max_message_bytes=100), simple_batch(1, size=200), ErrorCode.message_too_large),
        (
            LogConfig(cleanup_policy=frozenset({"compact"})),
            simple_batch(2, key=None),
            ErrorCode.invalid_record,
        ),
        (
            LogConfig(message_timestamp_after_max_ms=1000),
            simple_batch(1, ts=T0 + 5000),
            ErrorCode.invalid_timestamp,
        ),
        (
            LogConfig(message_timestamp_before_max_ms=1000),
            simple_batch(1, ts=T0 - 5000),
            ErrorCode.invalid_timestamp,
        ),
        (LogConfig(), b"\x00" * 30, ErrorCode.corrupt_message),
        (LogConfig(), b"", ErrorCode.invalid_record),
    ],
)
def test_refusals(tmp_path: Path, config: LogConfig, batch: bytes, code: ErrorCode) -> None:
    log = open_log(tmp_path, config)
    with pytest.raises(StorageError) as info:
        log.append_as_leader(batch, leader_epoch=0, now_ms=T0)
    assert info.value.error_code == code
    assert log.log_end_offset == 0


def test_compacted_topic_accepts_keyed_records(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(cleanup_policy=frozenset({"compact"})))
    result = log.append_as_leader(simple_batch(2, codec=4), leader_epoch=0, now_ms=T0)
    assert result.last_offset == 1


def test_log_append_time(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(message_timestamp_type="LogAppendTime"))
    r = log.append_as_leader(simple_batch(3, codec=1), leader_epoch=0, now_ms=T0 + 77)
    assert r.log_append_time_ms == T0 + 77
    data = log.read(0, 1 << 20).records
    h = read_header(data, 0)
    assert h.timestamp_type == 1 and h.max_timestamp == T0 + 77
    assert {r[3] for r in decode_with_kafka_python(data)} == {T0 + 77}


@pytest.mark.parametrize("target", ["uncompressed", "gzip", "snappy", "lz4", "zstd"])
@pytest.mark.parametrize("source", [0, 1, 2, 3, 4])
def test_compression_conversion(tmp_path: Path, source: int, target: str) -> None:
    codes = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
    log = open_log(tmp_path, LogConfig(compression_type=target))
    batch = client_batch(
        [(b"k%d" % i, b"value-%d" % i * 20, T0 + i) for i in range(5)],
        codec=source,
        producer_id=9,
        producer_epoch=0,
        base_sequence=0,
    )
    log.append_as_leader(simple_batch(1), leader_epoch=0, now_ms=T0)
    log.append_as_leader(batch, leader_epoch=2, now_ms=T0)
    data = log.read(1, 1 << 20).records
    h = read_header(data, 0)
    assert h.compression == codes[target]
    assert (h.base_offset, h.last_offset, h.partition_leader_epoch) == (1, 5, 2)
    assert (h.producer_id, h.base_sequence) == (9, 0)
    decoded = decode_with_kafka_python(data)
    assert [(o, k, v) for o, k, v, _ in decoded] == [
        (1 + i, b"k%d" % i, b"value-%d" % i * 20) for i in range(5)
    ]


def test_offset_for_timestamp_and_max_timestamp(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(30):
        batch = client_batch([(b"k", b"v", T0 + 10 * i + j) for j in range(3)], codec=i % 5)
        log.append_as_leader(batch, leader_epoch=0, now_ms=T0)
    assert log.segment_count > 1
    assert log.offset_for_timestamp(T0) == (0, T0)
    assert log.offset_for_timestamp(T0 + 101) == (31, T0 + 101)
    assert log.offset_for_timestamp(T0 + 103) == (33, T0 + 110)
    assert log.offset_for_timestamp(T0 + 10_000) is None
    assert log.max_timestamp() == (89, T0 + 292)


def test_max_timestamp_out_of_order(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append_as_leader(
        client_batch([(b"k", b"v", T0 + 5), (b"k", b"v", T0 + 50), (b"k", b"v", T0 + 7)]),
        leader_epoch=0,
        now_ms=T0,
    )
    log.append_as_leader(simple_batch(2, ts=T0 + 10), leader_epoch=0, now_ms=T0)
    assert log.max_timestamp() == (1, T0 + 50)
    assert log.offset_for_timestamp(T0 + 6) == (1, T0 + 50)


def test_delete_records_before(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 40)
    segments = log.segment_count
    assert log.delete_records_before(61) == 61
    assert log.segment_count < segments
    with pytest.raises(StorageError):
        log.read(60, 100)
    assert read_header(log.read(61, 100).records, 0).base_offset == 60
    with pytest.raises(StorageError) as info:
        log.delete_records_before(log.log_end_offset + 1)
    assert info.value.error_code == ErrorCode.offset_out_of_range
    log.close()
    reopened = open_log(tmp_path)
    assert reopened.log_start_offset == 61
    assert reopened.delete_records_before(10) == 61


def test_retention_by_time_and_size(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1024, index_interval_bytes=128, retention_ms=1000)
    log = open_log(tmp_path, config)
    for i in range(40):
        log.append_as_leader(simple_batch(3, ts=T0 + i * 100), leader_epoch=0, now_ms=T0)
    before = log.size_bytes
    freed = log.run_retention(T0 + 3000)
    assert freed > 0 and log.size_bytes == before - freed
    assert log.log_start_offset > 0 and log.log_start_offset == log.segments[0].base_offset
    # every remaining segment but the first is younger than retention
    log.update_config(
        LogConfig(
            segment_bytes=1024, index_interval_bytes=128, retention_ms=-1, retention_bytes=1500
        )
    )
    log.run_retention(T0 + 3000)
    assert log.size_bytes <= 1500 + 1024
    # everything old: the active segment goes too, replaced by an empty one at LEO
    end = log.log_end_offset
    log.update_config(config)
    log.run_retention(T0 + 100_000)
    assert log.size_bytes == 0 and log.log_start_offset == end == log.log_end_offset
    r = log.append_as_leader(simple_batch(1), leader_epoch=0, now_ms=T0)
    assert r.base_offset == end


def test_truncate_to_and_follower_append(tmp_path: Path) -> None:
    leader = open_log(tmp_path)
    fill(leader, 30)
    follower = PartitionLog.open(tmp_path / "f-0", SMALL, now_ms=T0)
    offset = 0
    while offset < leader.log_end_offset:
        data = leader.read(offset, 500).records
        offset = follower.append_as_follower(data, now_ms=T0)
    assert follower.log_end_offset == leader.log_end_offset == 90
    assert bytes(follower.read(0, 1 << 20).records) == bytes(leader.read(0, 1 << 20).records)
    follower.truncate_to(45)
    assert follower.log_end_offset == 45
    offset = 45
    while offset < leader.log_end_offset:
        offset = follower.append_as_follower(leader.read(offset, 1 << 20).records, now_ms=T0)
    assert follower.log_end_offset == 90
    leader.truncate_to(4)
    assert leader.log_end_offset == 3 and leader.segment_count == 1


def test_inactive_segments_hold_one_descriptor(tmp_path: Path) -> None:
    import os

    from millrace_broker.storage.segment import FSYNC_POOL

    def open_fds() -> int:
        FSYNC_POOL.submit(lambda: None).result()  # background fsyncs hold dup'd fds
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    log = open_log(tmp_path)
    fill(log, 100)
    segments = log.segment_count
    assert segments > 10
    assert open_fds() - before <= segments + 2 + 2  # one per .log, indexes of the active
    log.close()
    assert open_fds() == before
    log = open_log(tmp_path)
    assert open_fds() - before <= segments + 4
    log.close()


def _with_log_append_time_bit(batch: bytes) -> bytes:
    from millrace_broker.protocol.record_batch import set_crc

    raw = bytearray(batch)
    raw[22] |= 0x08  # attributes low byte: timestamp type
    set_crc(raw, 0)
    return bytes(raw)


def test_client_log_append_time_bit(tmp_path: Path) -> None:
    batch = _with_log_append_time_bit(simple_batch(1))
    create_time = PartitionLog.open(tmp_path / "a-0", LogConfig(), now_ms=T0)
    assert create_time.append_as_leader(batch, leader_epoch=0, now_ms=T0).base_offset == 0
    log_append = PartitionLog.open(
        tmp_path / "b-0", LogConfig(message_timestamp_type="LogAppendTime"), now_ms=T0
    )
    with pytest.raises(StorageError) as info:
        log_append.append_as_leader(batch, leader_epoch=0, now_ms=T0)
    assert info.value.error_code == ErrorCode.invalid_timestamp


def test_client_batches_must_start_at_offset_zero(tmp_path: Path) -> None:
    from millrace_broker.protocol.record_batch import patch_batch

    raw = bytearray(simple_batch(1))
    patch_batch(raw, 0, base_offset=5, partition_leader_epoch=0)
    log = open_log(tmp_path)
    with pytest.raises(StorageError) as info:
        log.append_as_leader(bytes(raw), leader_epoch=0, now_ms=T0)
    assert info.value.error_code == ErrorCode.invalid_record


def test_full_disk_keeps_the_log_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os as real_os

    from millrace_broker.storage import segment as segment_module

    log = open_log(tmp_path, LogConfig())
    log.append_as_leader(simple_batch(2), leader_epoch=0, now_ms=T0)
    calls = {"n": 0}

    def failing_write(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_os.write(fd, bytes(data)[:10])  # a short write ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(segment_module.os, "write", failing_write)
    with pytest.raises(StorageError) as info:
        log.append_as_leader(simple_batch(3), leader_epoch=0, now_ms=T0)
    assert info.value.error_code == ErrorCode.kafka_storage_error
    monkeypatch.undo()
    assert log.log_end_offset == 2
    r = log.append_as_leader(simple_batch(3), leader_epoch=0, now_ms=T0)
    assert (r.base_offset, r.last_offset) == (2, 4)
    assert batch_offsets(log.read(0, 1 << 20).records) == [(0, 1), (2, 4)]
    log.close()
    assert batch_offsets(open_log(tmp_path, LogConfig()).read(0, 1 << 20).records) == [
        (0, 1),
        (2, 4),
    ]
