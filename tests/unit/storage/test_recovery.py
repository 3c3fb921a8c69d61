"""Crash recovery: every batch fully written before a kill -9 is readable afterwards.

A "crash" is simply dropping the PartitionLog without ``close()`` (no clean-shutdown
marker, no final snapshot), optionally followed by damaging the files the way a torn
write or a lost page would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_support import T0, batch_offsets, simple_batch

from millrace_broker.protocol.record_batch import read_header
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog

SMALL = LogConfig(segment_bytes=2048, index_interval_bytes=100)


def open_log(directory: Path, config: LogConfig = SMALL) -> PartitionLog:
    return PartitionLog.open(directory, config, now_ms=T0)


def crash(log: PartitionLog) -> None:
    """Release file descriptors without any of close()'s clean-shutdown work."""
    for segment in log.segments:
        segment.close()


def all_offsets(log: PartitionLog) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        got = batch_offsets(log.read(offset, 1 << 20).records)
        out.extend(got)
        offset = got[-1][1] + 1
    return out


def write(log: PartitionLog, n: int, *, pid: int = 1, start_seq: int = 0) -> None:
    for i in range(n):
        log.append_as_leader(
            simple_batch(2, producer_id=pid, producer_epoch=0, base_sequence=start_seq + 2 * i),
            leader_epoch=0,
            now_ms=T0,
        )


def test_crash_without_damage_keeps_everything(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 50)
    expected = all_offsets(log)
    crash(log)
    log = open_log(d)
    assert log.log_end_offset == 100 and all_offsets(log) == expected
    # producer state was rebuilt by replaying headers: the next batch is in sequence,
    # and a retry of the last one is a duplicate with its original offsets.
    assert log.producer_state(1) is not None and log.producer_state(1).last_seq == 99  # type: ignore[union-attr]
    dup = log.append_as_leader(
        simple_batch(2, producer_id=1, producer_epoch=0, base_sequence=98),
        leader_epoch=0,
        now_ms=T0,
    )
    assert dup.duplicate and (dup.base_offset, dup.last_offset) == (98, 99)
    write(log, 1, start_seq=100)
    assert log.log_end_offset == 102


def test_torn_tail_is_truncated(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 10)
    last = log.active.log_path
    size = last.stat().st_size
    crash(log)
    with open(last, "r+b") as f:
        f.truncate(size - 7)
    log = open_log(d)
    assert log.log_end_offset == 18
    assert all_offsets(log)[-1] == (16, 17)
    write(log, 1, start_seq=18)  # sequence continues from the surviving batch
    assert log.log_end_offset == 20


def test_garbage_tail_and_corrupt_batch(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d, LogConfig())
    write(log, 10)
    path = log.active.log_path
    crash(log)
    data = bytearray(path.read_bytes())
    batch = read_header(data, 0).total_size
    data[batch * 6 + 70] ^= 0xFF  # corrupt the 7th batch's records
    path.write_bytes(bytes(data) + b"\x00" * 100)
    log = open_log(d, LogConfig())
    assert log.log_end_offset == 12
    assert [o for o, _ in all_offsets(log)] == [0, 2, 4, 6, 8, 10]


def test_missing_or_broken_indexes_are_rebuilt(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 80)
    expected = all_offsets(log)
    log.close()
    indexes = sorted(d.glob("*.index"))
    indexes[0].unlink()
    indexes[1].write_bytes(b"\x01\x02\x03")
    sorted(d.glob("*.timeindex"))[2].write_bytes(b"\xff" * 24)
    log = open_log(d)
    assert all_offsets(log) == expected
    assert log.offset_for_timestamp(T0 + 1) is not None


def test_clean_close_reopens_without_scan(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 30)
    expected = all_offsets(log)
    log.close()
    assert (d / "clean-shutdown").exists()
    log = open_log(d)
    assert not (d / "clean-shutdown").exists()
    assert all_offsets(log) == expected
    assert log.producer_state(1).last_seq == 59  # type: ignore[union-attr]


def test_crash_after_reopen_recovers_new_data(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 5)
    log.close()
    log = open_log(d)
    write(log, 5, start_seq=10)
    crash(log)
    log = open_log(d)
    assert log.log_end_offset == 20
    write(log, 1, start_seq=20)


def test_interrupted_roll_leaves_usable_log(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = open_log(d)
    write(log, 40)
    end = log.log_end_offset
    crash(log)
    # A roll that created the next segment file but wrote nothing.
    (d / f"{end:020d}.log").write_bytes(b"")
    log = open_log(d)
    assert log.log_end_offset == end
    write(log, 1, start_seq=end)
    assert log.log_end_offset == end + 2


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=40),
    cut_fraction=st.floats(0, 1),
)
def test_property_every_complete_batch_survives(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], cut_fraction: float
) -> None:
    d = tmp_path_factory.mktemp("prop") / "p-0"
    log = open_log(d, LogConfig(segment_bytes=1500, index_interval_bytes=64))
    boundaries = []
    for n in sizes:
        log.append_as_leader(simple_batch(n), leader_epoch=0, now_ms=T0)
        boundaries.append((log.active.base_offset, log.active.size, log.log_end_offset))
    expected = all_offsets(log)
    active = log.active
    crash(log)
    # Tear the active segment at an arbitrary byte.
    cut = int(active.size * cut_fraction)
    with open(active.log_path, "r+b") as f:
        f.truncate(cut)
    survivors = [b for b in boundaries if b[0] < active.base_offset or b[1] <= cut]
    log = open_log(d, LogConfig(segment_bytes=1500, index_interval_bytes=64))
    want_end = survivors[-1][2] if survivors else 0
    assert log.log_end_offset == want_end
    assert all_offsets(log) == [o for o in expected if o[1] < want_end]
    # and the log accepts appends at the right offset
    r = log.append_as_leader(simple_batch(1), leader_epoch=0, now_ms=T0)
    assert r.base_offset == want_end


_WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from storage_support import T0, simple_batch
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog
log = PartitionLog.open(Path(sys.argv[1]), LogConfig(segment_bytes=20000), now_ms=T0)
seq = log.log_end_offset
while True:
    r = log.append_as_leader(simple_batch(3, size=50, producer_id=7, producer_epoch=0,
                                          base_sequence=seq), leader_epoch=0, now_ms=T0)
    seq += 3
    print(r.last_offset, flush=True)
"""


@pytest.mark.parametrize("rounds", [3])
def test_kill_9_loses_no_acknowledged_batch(tmp_path: Path, rounds: int) -> None:
    d = tmp_path / "k-0"
    acked = -1
    for _ in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(d), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 0.5
        last = acked
        for line in proc.stdout:
            last = int(line)
            if time.monotonic() > deadline and last > acked + 300:
                break
        proc.kill()
        assert proc.wait() == -9  # killed mid-write, not crashed on its own
        assert last > acked
        acked = last
        log = open_log(d, LogConfig(segment_bytes=20000))
        assert log.log_end_offset >= acked + 1
        assert all_offsets(log)[-1][1] + 1 == log.log_end_offset
        assert len(all_offsets(log)) * 3 == log.log_end_offset
        crash(log)


def test_batches_larger_than_read_chunks(tmp_path: Path) -> None:
    d = tmp_path / "big-0"
    config = LogConfig(segment_bytes=500_000, index_interval_bytes=4096)
    log = open_log(d, config)
    for i in range(8):
        log.append_as_leader(simple_batch(2, size=100_000 + i), leader_epoch=0, now_ms=T0)
    assert log.segment_count > 1
    expected = all_offsets(log)
    assert len(log.read(5, 1).records) > 200_000  # one whole batch despite max_bytes
    crash(log)
    path = sorted(d.glob("*.log"))[-1]
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 50_000)
    log = open_log(d, config)
    assert all_offsets(log) == expected[:-1]


def test_recovery_point_follows_background_fsync_of_rolled_segments(tmp_path: Path) -> None:
    from millrace_broker.storage.checkpoint import RECOVERY_POINT_FILE, read_offset
    from millrace_broker.storage.segment import FSYNC_POOL

    d = tmp_path / "rp-0"
    log = open_log(d)
    write(log, 80)
    assert log.segment_count > 2
    FSYNC_POOL.submit(lambda: None).result()  # the single fsync worker is FIFO: a barrier
    log.maybe_flush(T0)
    assert read_offset(d / RECOVERY_POINT_FILE, 0) == log.active.base_offset
    # nothing after the recovery point is trusted without validation
    crash(log)
    data = bytearray(log.active.log_path.read_bytes())
    data[-5] ^= 0xFF
    log.active.log_path.write_bytes(bytes(data))
    log = open_log(d)
    assert log.log_end_offset == 158
