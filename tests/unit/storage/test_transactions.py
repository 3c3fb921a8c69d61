"""Transaction markers: the aborted-transaction index and the last stable offset."""

from __future__ import annotations

import struct
from pathlib import Path

from storage_support import T0, simple_batch

from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog
from millrace_broker.storage.records import Record, build_batch
from millrace_broker.storage.txn_index import ABORTED_TXNS_FILE


def marker(pid: int, epoch: int, *, commit: bool) -> bytes:
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 3)
    return bytes(
        build_batch(
            [Record(0, T0, key, value)],
            base_offset=0,
            attributes=0x30,
            producer_id=pid,
            producer_epoch=epoch,
            base_sequence=-1,
        )
    )


def txn_data(pid: int, seq: int, n: int = 2) -> bytes:
    return simple_batch(n, producer_id=pid, producer_epoch=0, base_sequence=seq, transactional=True)


def open_log(d: Path) -> PartitionLog:
    return PartitionLog.open(d, LogConfig(segment_bytes=600), now_ms=T0)


def coordinator(log: PartitionLog, batch: bytes) -> int:
    return log.append_as_leader(batch, leader_epoch=0, now_ms=T0, origin="coordinator").base_offset


def test_abort_is_indexed_and_commit_is_not(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(simple_batch(1), leader_epoch=0, now_ms=T0)  # 0
    log.append_as_leader(txn_data(7, 0), leader_epoch=0, now_ms=T0)  # 1-2 (pid 7)
    log.append_as_leader(txn_data(8, 0), leader_epoch=0, now_ms=T0)  # 3-4 (pid 8)
    assert log.last_stable_offset(5) == 1
    assert coordinator(log, marker(7, 0, commit=False)) == 5  # abort pid 7
    assert log.last_stable_offset(6) == 3  # pid 8 still open
    assert coordinator(log, marker(8, 0, commit=True)) == 6  # commit pid 8
    assert log.last_stable_offset(7) == 7
    assert log.aborted_transactions(0, 7) == [(7, 1)]
    assert log.aborted_transactions(6, 7) == []  # marker below the fetch offset
    assert log.aborted_transactions(0, 1) == []  # transaction starts at the bound
    (entry,) = log.aborted.entries
    assert (entry.first_offset, entry.last_offset, entry.last_stable_offset) == (1, 5, 3)


def test_index_survives_reopen_and_follows_truncation(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    for round_ in range(6):
        log.append_as_leader(txn_data(7, 2 * round_), leader_epoch=0, now_ms=T0)
        coordinator(log, marker(7, 0, commit=round_ % 2 == 1))
    assert [first for _, first in log.aborted_transactions(0, 100)] == [0, 6, 12]
    log.close()
    log = open_log(d)
    assert [first for _, first in log.aborted_transactions(0, 100)] == [0, 6, 12]
    for segment in log.segments:  # crash
        segment.close()
    log = open_log(d)
    assert [first for _, first in log.aborted_transactions(0, 100)] == [0, 6, 12]
    log.truncate_to(14)  # cuts the last abort marker (offset 14)
    assert [first for _, first in log.aborted_transactions(0, 100)] == [0, 6]
    log.delete_records_before(3)
    assert [first for _, first in log.aborted_transactions(0, 100)] == [6]


def test_entry_without_its_marker_is_dropped(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    log.append_as_leader(txn_data(7, 0), leader_epoch=0, now_ms=T0)
    coordinator(log, marker(7, 0, commit=False))
    data = (d / ABORTED_TXNS_FILE).read_bytes()
    # a crash after the index write, before the marker: an entry beyond the log end
    (d / ABORTED_TXNS_FILE).write_bytes(data + data[:18] + struct.pack(">q", 99) + data[26:34])
    for segment in log.segments:
        segment.close()
    log = open_log(d)
    assert log.aborted_transactions(0, 100) == [(7, 0)]


def test_follower_indexes_aborts_replicated_with_their_data(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "l-0")
    leader.append_as_leader(txn_data(7, 0), leader_epoch=0, now_ms=T0)
    leader.append_as_leader(simple_batch(1), leader_epoch=0, now_ms=T0)
    coordinator(leader, marker(7, 0, commit=False))
    follower = open_log(tmp_path / "f-0")
    offset = 0
    while offset < leader.log_end_offset:
        offset = follower.append_as_follower(leader.read(offset, 1 << 20).records, now_ms=T0)
    assert follower.aborted_transactions(0, 100) == leader.aborted_transactions(0, 100) == [(7, 0)]
    assert follower.last_stable_offset(100) == 100
