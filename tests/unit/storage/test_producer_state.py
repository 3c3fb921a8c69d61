"""Idempotent producer semantics through PartitionLog.append_as_leader, and snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode
from storage_support import T0, simple_batch

from millrace_broker.protocol.record_batch import INT32_MAX
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import AppendResult, PartitionLog
from millrace_broker.storage.producer_state import ProducerStateManager


@pytest.fixture
def log(tmp_path: Path) -> PartitionLog:
    return PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=T0)


def send(
    log: PartitionLog,
    seq: int,
    n: int = 2,
    *,
    pid: int = 1,
    epoch: int = 0,
    transactional: bool = False,
) -> AppendResult:
    return log.append_as_leader(
        simple_batch(
            n, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=transactional
        ),
        leader_epoch=0,
        now_ms=T0,
    )


def refused(log: PartitionLog, seq: int, **kw: object) -> ErrorCode:
    with pytest.raises(StorageError) as info:
        send(log, seq, **kw)  # type: ignore[arg-type]
    return info.value.error_code


def test_in_sequence_batches_append(log: PartitionLog) -> None:
    assert send(log, 0).base_offset == 0
    assert send(log, 2).base_offset == 2
    entry = log.producer_state(1)
    assert entry is not None and entry.epoch == 0 and entry.last_seq == 3


def test_duplicates_of_last_five_return_original_offsets(log: PartitionLog) -> None:
    for i in range(7):
        send(log, 2 * i)
    end = log.log_end_offset
    for i in range(2, 7):
        dup = send(log, 2 * i)
        assert dup.duplicate and (dup.base_offset, dup.last_offset) == (2 * i, 2 * i + 1)
    assert log.log_end_offset == end
    # older than the retained five: not recognised, so it is out of order
    assert refused(log, 2) == ErrorCode.out_of_order_sequence_number


def test_gap_is_out_of_order(log: PartitionLog) -> None:
    send(log, 0)
    assert refused(log, 5) == ErrorCode.out_of_order_sequence_number
    assert log.log_end_offset == 2


def test_fenced_epoch(log: PartitionLog) -> None:
    send(log, 0, epoch=3)
    assert refused(log, 2, epoch=2) == ErrorCode.invalid_producer_epoch


def test_new_epoch_must_start_at_zero(log: PartitionLog) -> None:
    send(log, 0, epoch=0)
    assert refused(log, 2, epoch=1) == ErrorCode.out_of_order_sequence_number
    assert send(log, 0, epoch=1).base_offset == 2
    entry = log.producer_state(1)
    assert entry is not None and entry.epoch == 1 and len(entry.batches) == 1


def test_unknown_producer_accepts_any_sequence(log: PartitionLog) -> None:
    # Kafka: no known epoch (never seen, or its data deleted) -> any sequence is accepted.
    assert send(log, 17, pid=5).base_offset == 0
    assert send(log, 19, pid=5).base_offset == 2


def test_sequence_wraps(log: PartitionLog) -> None:
    send(log, INT32_MAX - 1, n=2)
    assert send(log, 0, n=2).base_offset == 2


def test_multi_batch_append_checks_batches_against_each_other(log: PartitionLog) -> None:
    send(log, 0)
    a = simple_batch(2, producer_id=1, producer_epoch=0, base_sequence=2)
    b = simple_batch(2, producer_id=1, producer_epoch=0, base_sequence=4)
    gap = simple_batch(2, producer_id=1, producer_epoch=0, base_sequence=9)
    with pytest.raises(StorageError):
        log.append_as_leader(a + gap, leader_epoch=0, now_ms=T0)
    entry = log.producer_state(1)
    assert log.log_end_offset == 2 and entry is not None and entry.last_seq == 1
    assert log.append_as_leader(a + b, leader_epoch=0, now_ms=T0).last_offset == 5
    assert log.producer_state(1).last_seq == 5  # type: ignore[union-attr]


def test_non_transactional_write_during_transaction(log: PartitionLog) -> None:
    send(log, 0, transactional=True)
    entry = log.producer_state(1)
    assert entry is not None and entry.current_txn_first_offset == 0
    assert log.first_unstable_offset() == 0
    assert refused(log, 2) == ErrorCode.invalid_txn_state


def test_snapshot_roundtrip_and_replay(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = PartitionLog.open(d, LogConfig(segment_bytes=600), now_ms=T0)
    for i in range(20):
        send(log, 2 * (i // 3), pid=1 + i % 3)
    assert len(list(d.glob("*.snapshot"))) >= 1  # written on roll
    log.close()
    manager = ProducerStateManager(d)
    offset = manager.load_snapshot(1 << 40)
    assert offset == 40
    assert {pid: e.last_seq for pid, e in manager.entries.items()} == {1: 13, 2: 13, 3: 11}
    assert len(manager.entries[1].batches) == 5
    # a corrupt newest snapshot falls back to an older one plus header replay
    newest = sorted(d.glob("*.snapshot"))[-1]
    newest.write_bytes(b"garbage")
    log = PartitionLog.open(d, LogConfig(segment_bytes=600), now_ms=T0)
    assert send(log, 12, pid=2).duplicate is True
    assert send(log, 14, pid=2).duplicate is False
    assert send(log, 14, pid=2).duplicate is True


def test_delete_records_forgets_producers_below_log_start(log: PartitionLog) -> None:
    send(log, 0, pid=1)
    send(log, 0, pid=2)
    log.delete_records_before(2)
    assert log.producer_state(1) is None and log.producer_state(2) is not None
    assert send(log, 77, pid=1).base_offset == 4


def control_batch(pid: int, epoch: int, *, commit: bool = True) -> bytes:
    """A transaction marker as the coordinator writes it (control bit, one record)."""
    import struct

    from millrace_broker.storage.records import Record, build_batch

    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 5)
    return bytes(
        build_batch(
            [Record(0, T0, key, value)],
            base_offset=0,
            attributes=0x10 | 0x20,
            producer_id=pid,
            producer_epoch=epoch,
            base_sequence=-1,
        )
    )


def test_clients_cannot_write_control_batches(log: PartitionLog) -> None:
    with pytest.raises(StorageError) as info:
        log.append_as_leader(control_batch(1, 0), leader_epoch=0, now_ms=T0)
    assert info.value.error_code == ErrorCode.invalid_record


def test_coordinator_marker_ends_transaction(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = PartitionLog.open(d, LogConfig(), now_ms=T0)
    send(log, 0, transactional=True)
    r = log.append_as_leader(control_batch(1, 0), leader_epoch=0, now_ms=T0, origin="coordinator")
    assert r.base_offset == 2
    entry = log.producer_state(1)
    assert entry is not None and entry.current_txn_first_offset is None
    send(log, 2)  # non-transactional again is fine, sequence continues
    # a fenced coordinator marker (older epoch) is refused
    send(log, 0, epoch=1, transactional=True)
    with pytest.raises(StorageError) as info:
        log.append_as_leader(control_batch(1, 0), leader_epoch=0, now_ms=T0, origin="coordinator")
    assert info.value.error_code == ErrorCode.invalid_producer_epoch
    # replaying the log after a crash reaches the same state (open transaction at 6)
    for segment in log.segments:
        segment.close()
    log = PartitionLog.open(d, LogConfig(), now_ms=T0)
    entry = log.producer_state(1)
    assert entry is not None and entry.epoch == 1 and entry.current_txn_first_offset == 5
