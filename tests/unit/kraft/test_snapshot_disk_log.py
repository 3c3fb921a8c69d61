"""The metadata log on disk with snapshots: files, trimming, reopening, damaged files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from millrace_broker.kraft import disk_log
from millrace_broker.kraft.disk_log import DiskLog, checkpoint_name, metadata_log_directory
from millrace_broker.raft.records import DataRecord, Entry, OffsetAndEpoch
from millrace_broker.raft.snapshot import Snapshot, encode_snapshot
from millrace_broker.raft.voters import ReplicaKey, VoterSet
from millrace_broker.storage.log_manager import parse_partition_dir

VOTERS = VoterSet.from_keys([ReplicaKey(1)])


def fill(log: DiskLog, count: int, *, epoch: int = 1) -> None:
    start = log.end_offset
    log.append(
        [Entry(start + i, epoch, DataRecord(f"r{start + i}".encode())) for i in range(count)]
    )


def snap(log: DiskLog, end: int) -> Snapshot:
    epoch = log.epoch_at(end - 1)
    assert epoch is not None
    snapshot = Snapshot(OffsetAndEpoch(end, epoch), VOTERS, f"state@{end}".encode())
    log.install_snapshot(snapshot)
    return snapshot


def payloads(log: DiskLog) -> list[bytes]:
    entries = log.read(log.start_offset, log.end_offset - log.start_offset)
    return [e.record.payload for e in entries if isinstance(e.record, DataRecord)]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_the_log_starts_at_the_previous_snapshot_and_files_are_kafka_named(
    tmp_path: Path,
) -> None:
    log = DiskLog(tmp_path)
    fill(log, 10)
    snap(log, 4)
    # the first snapshot trims nothing: fetchers a little behind still get records
    assert (log.start_offset, log.end_offset) == (0, 10)
    assert log.latest_snapshot() == Snapshot(OffsetAndEpoch(4, 1), VOTERS, b"state@4")
    fill(log, 2)
    snap(log, 9)
    assert (log.start_offset, log.end_offset) == (4, 12)
    assert names(tmp_path) == [checkpoint_name(4, 1), checkpoint_name(9, 1), "log"]
    assert checkpoint_name(9, 1) == "00000000000000000009-0000000001.checkpoint"
    snap(log, 11)
    assert (log.start_offset, log.end_offset) == (9, 12)
    assert names(tmp_path) == [checkpoint_name(9, 1), checkpoint_name(11, 1), "log"]
    assert log.latest_snapshot() == Snapshot(OffsetAndEpoch(11, 1), VOTERS, b"state@11")
    log.close()

    reopened = DiskLog(tmp_path)
    assert reopened.latest_snapshot() == Snapshot(OffsetAndEpoch(11, 1), VOTERS, b"state@11")
    assert (reopened.start_offset, reopened.end_offset) == (9, 12)
    assert payloads(reopened) == [b"r9", b"r10", b"r11"]
    # appends and truncation still work on the rewritten file
    fill(reopened, 3)
    reopened.truncate_to(13)
    reopened.close()
    again = DiskLog(tmp_path)
    assert payloads(again) == [b"r9", b"r10", b"r11", b"r12"]
    again.close()


def test_a_damaged_older_snapshot_starts_the_log_at_the_newest(tmp_path: Path) -> None:
    log = DiskLog(tmp_path)
    fill(log, 10)
    snap(log, 3)
    snap(log, 7)
    log.close()
    (tmp_path / checkpoint_name(3, 1)).write_bytes(b"garbage")
    reopened = DiskLog(tmp_path)
    assert reopened.latest_snapshot() == Snapshot(OffsetAndEpoch(7, 1), VOTERS, b"state@7")
    assert (reopened.start_offset, reopened.end_offset) == (7, 10)
    reopened.close()


def test_a_damaged_newest_snapshot_falls_back_to_the_previous_and_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = DiskLog(tmp_path)
    fill(log, 10)
    snap(log, 3)
    snap(log, 7)
    log.close()
    newest = tmp_path / checkpoint_name(7, 1)
    raw = bytearray(newest.read_bytes())
    raw[-1] ^= 0xFF  # one flipped bit in the state
    newest.write_bytes(bytes(raw))

    with caplog.at_level(logging.WARNING):
        reopened = DiskLog(tmp_path)
    assert "is damaged" in caplog.text
    assert reopened.latest_snapshot() == Snapshot(OffsetAndEpoch(3, 1), VOTERS, b"state@3")
    assert (reopened.start_offset, reopened.end_offset) == (3, 10)
    assert payloads(reopened) == [f"r{i}".encode() for i in range(3, 10)]
    assert (tmp_path / (newest.name + ".corrupt")).exists()
    reopened.close()


def test_a_damaged_first_snapshot_falls_back_to_the_whole_log(tmp_path: Path) -> None:
    log = DiskLog(tmp_path)
    fill(log, 6)
    snap(log, 4)
    log.close()
    path = tmp_path / checkpoint_name(4, 1)
    path.write_bytes(path.read_bytes()[:-3])  # torn
    reopened = DiskLog(tmp_path)
    assert reopened.latest_snapshot() is None
    assert (reopened.start_offset, reopened.end_offset) == (0, 6)
    reopened.close()


def test_a_snapshot_from_the_leader_beyond_our_log_replaces_it(tmp_path: Path) -> None:
    log = DiskLog(tmp_path)
    fill(log, 5)
    snap(log, 2)
    leader_snapshot = Snapshot(OffsetAndEpoch(40, 3), VOTERS, b"leader state")
    log.install_snapshot(leader_snapshot)
    assert (log.start_offset, log.end_offset, log.last_epoch) == (40, 40, 3)
    assert names(tmp_path) == [checkpoint_name(40, 3), "log"]
    fill(log, 2, epoch=3)
    log.close()
    reopened = DiskLog(tmp_path)
    assert reopened.latest_snapshot() == leader_snapshot
    assert payloads(reopened) == [b"r40", b"r41"]
    # an older snapshot arriving late changes nothing
    reopened.install_snapshot(Snapshot(OffsetAndEpoch(30, 3), VOTERS, b"old"))
    assert reopened.start_offset == 40 and names(tmp_path)[0] == checkpoint_name(40, 3)
    reopened.close()


def test_the_bootstrap_checkpoint_is_kept_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    bootstrap = tmp_path / checkpoint_name(0, 0)
    bootstrap.write_bytes(encode_snapshot(Snapshot(OffsetAndEpoch(0, 0), VOTERS, b"")))
    (tmp_path / "log.tmp").write_bytes(b"half a rewrite")
    log = DiskLog(tmp_path)
    assert not (tmp_path / "log.tmp").exists()
    assert log.latest_snapshot() is not None and log.start_offset == 0
    fill(log, 9)
    for end in (3, 6, 9):
        snap(log, end)
    assert names(tmp_path) == [
        checkpoint_name(0, 0),
        checkpoint_name(6, 1),
        checkpoint_name(9, 1),
        "log",
    ]
    assert log.start_offset == 6
    log.close()


def test_a_log_at_the_old_place_is_moved(tmp_path: Path) -> None:
    old = tmp_path / "__millrace_raft" / "log"
    log = DiskLog(old)
    fill(log, 3)
    log.close()
    directory = metadata_log_directory(tmp_path)
    assert directory == tmp_path / "__cluster_metadata-0"
    assert not old.exists()
    moved = DiskLog(directory)
    assert payloads(moved) == [b"r0", b"r1", b"r2"]
    moved.close()


def test_the_partition_log_manager_leaves_the_metadata_log_alone() -> None:
    assert parse_partition_dir("__cluster_metadata-0") is None
    assert parse_partition_dir("orders-0") == ("orders", 0)


def test_a_failed_log_rewrite_keeps_the_old_file_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = DiskLog(tmp_path)
    fill(log, 10)
    snap(log, 3)
    real = disk_log._write_durably

    def full_disk(path: Path, data: bytes) -> None:
        if path.name == "log":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(disk_log, "_write_durably", full_disk)
    with pytest.raises(OSError):
        snap(log, 7)  # the checkpoint is written; rewriting the log file fails
    monkeypatch.setattr(disk_log, "_write_durably", real)
    assert log.start_offset == 3
    fill(log, 2)
    log.truncate_to(11)  # positions still match the old file
    log.close()
    reopened = DiskLog(tmp_path)
    assert reopened.latest_snapshot() == Snapshot(OffsetAndEpoch(7, 1), VOTERS, b"state@7")
    # the old file still starts at 0: the log keeps it all, which is safe
    assert (reopened.start_offset, reopened.end_offset) == (0, 11)
    assert payloads(reopened) == [f"r{i}".encode() for i in range(11)]
    reopened.close()
