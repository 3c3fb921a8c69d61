"""Log compaction: latest value per key, tombstones with a delete horizon, crash-safe swap."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_support import T0, client_batch

from millrace_broker.protocol.record_batch import iter_batches, read_header
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog
from millrace_broker.storage.records import decode_batch

COMPACT = LogConfig(
    cleanup_policy=frozenset({"compact"}),
    segment_bytes=600,
    index_interval_bytes=64,
    min_cleanable_dirty_ratio=0.01,
    delete_retention_ms=1000,
)


def contents(log: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).records
        last = offset
        for pos, header in iter_batches(data):
            _, records = decode_batch(memoryview(data)[pos : pos + header.total_size])
            out += [(header.base_offset + r.offset_delta, r.key, r.value) for r in records]
            last = header.last_offset
        offset = last + 1
    return out


def put(
    log: PartitionLog, key: bytes, value: bytes | None, *, codec: int = 0, ts: int = T0
) -> None:
    log.append_as_leader(client_batch([(key, value, ts)], codec=codec), leader_epoch=0, now_ms=T0)


def test_keeps_latest_value_per_key_and_offsets(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    for i in range(60):
        put(log, b"key-%d" % (i % 5), b"value-%d" % i, codec=i % 5)
    before = contents(log)
    size = log.size_bytes
    assert log.run_compaction(T0)
    after = contents(log)
    assert log.size_bytes < size / 2
    latest = {k: (o, v) for o, k, v in before}
    active_base = log.active.base_offset
    # every key's latest value survives at its original offset
    for key, (offset, value) in latest.items():
        assert (offset, key, value) in after
    # below the active segment each key appears once: its latest value in that range
    cleaned_latest = {k: o for o, k, _ in before if o < active_base}
    seen = [(o, k) for o, k, _ in after if o < active_base]
    assert sorted(seen) == sorted((o, k) for k, o in cleaned_latest.items())
    # offsets stay increasing and the log keeps working
    offsets = [o for o, _, _ in after]
    assert offsets == sorted(offsets)
    put(log, b"key-0", b"new")
    assert contents(log)[-1] == (60, b"key-0", b"new")
    # reopen (clean) and after a crash (no close) give the same data
    log.close()
    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    assert contents(log)[-1] == (60, b"key-0", b"new")


def test_not_dirty_enough_does_nothing(tmp_path: Path) -> None:
    config = LogConfig(
        cleanup_policy=frozenset({"compact"}), segment_bytes=600, min_cleanable_dirty_ratio=0.5
    )
    log = PartitionLog.open(tmp_path / "c-0", config, now_ms=T0)
    for i in range(30):
        put(log, b"k%d" % i, b"v")
    assert log.run_compaction(T0)  # first cleaning: everything is dirty
    assert not log.run_compaction(T0)  # nothing new since


def test_min_compaction_lag_protects_recent_segments(tmp_path: Path) -> None:
    config = LogConfig(
        cleanup_policy=frozenset({"compact"}),
        segment_bytes=600,
        min_cleanable_dirty_ratio=0.01,
        min_compaction_lag_ms=10_000,
    )
    log = PartitionLog.open(tmp_path / "c-0", config, now_ms=T0)
    for i in range(30):
        put(log, b"same", b"v%d" % i, ts=T0 + i * 1000)
    assert not log.run_compaction(T0 + 5_000)
    assert log.run_compaction(T0 + 100_000)


def test_tombstones_removed_after_delete_horizon(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    for i in range(10):
        put(log, b"k%d" % i, b"v")
    for i in range(5):
        put(log, b"k%d" % i, None)  # tombstones
    for i in range(20):
        put(log, b"other", b"x%d" % i)
    assert log.run_compaction(T0)
    after = contents(log)
    assert not any(k == b"k0" and v == b"v" for _, k, v in after)
    tombstones = [o for o, k, v in after if v is None]
    assert len(tombstones) == 5  # kept until the horizon, which is now stamped
    data = log.read(tombstones[0], 1 << 20).records
    assert read_header(data, 0).has_delete_horizon
    # more writes make it dirty again; past the horizon the tombstones go
    for i in range(20):
        put(log, b"other", b"y%d" % i)
    assert log.run_compaction(T0 + 5_000)
    assert not any(v is None for _, _, v in contents(log))


@pytest.mark.parametrize("stage", ["cleaned", "swap"])
def test_crash_during_swap_is_completed_or_discarded(tmp_path: Path, stage: str) -> None:
    import millrace_broker.storage.compaction as compaction

    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    for i in range(60):
        put(log, b"key-%d" % (i % 5), b"value-%d" % i)
    expected_latest = {k: v for _, k, v in contents(log)}
    original = compaction.LogSegment.rename_suffix

    class Crash(Exception):
        pass

    def crashing(self: compaction.LogSegment, old: str, new: str) -> None:
        if stage == "cleaned" and old == ".cleaned":
            raise Crash
        original(self, old, new)
        if stage == "swap" and new == ".swap":
            raise Crash

    compaction.LogSegment.rename_suffix = crashing  # type: ignore[method-assign]
    try:
        with pytest.raises(Crash):
            log.run_compaction(T0)
    finally:
        compaction.LogSegment.rename_suffix = original  # type: ignore[method-assign]
    for segment in log.segments:
        segment.close()
    reopened = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    after = contents(reopened)
    assert {k: v for _, k, v in after} == expected_latest
    offsets = [o for o, _, _ in after]
    assert offsets == sorted(set(offsets))
    assert not list((tmp_path / "c-0").glob("*.cleaned")) and not list(
        (tmp_path / "c-0").glob("*.swap")
    )


def test_cleaning_is_budgeted_across_calls(tmp_path: Path) -> None:
    from millrace_broker.storage import compaction

    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    for i in range(80):
        put(log, b"key-%d" % (i % 4), b"value-%d" % i)
    expected = {k: v for _, k, v in contents(log)}
    calls = 0
    while compaction.compact(log, now_ms=T0, budget_bytes=700):
        calls += 1
        assert calls < 100
        # reads stay correct in the middle of a pass
        assert {k: v for _, k, v in contents(log)} == expected
    assert calls > 3 and log.cleaning is None
    # once complete, the segments below the active one hold one record per key
    below = [k for o, k, _ in contents(log) if o < log.active.base_offset]
    assert len(below) == len(set(below))


def test_truncation_abandons_a_pass(tmp_path: Path) -> None:
    from millrace_broker.storage import compaction

    log = PartitionLog.open(tmp_path / "c-0", COMPACT, now_ms=T0)
    for i in range(200):
        put(log, b"key-%d" % (i % 40), b"value-%d" % i)
    while log.run_compaction(T0):
        pass
    for i in range(30):
        put(log, b"key-%d" % (i % 40), b"again-%d" % i)
    assert compaction.compact(log, now_ms=T0, budget_bytes=1500)
    assert log.cleaning is not None  # the clean prefix is still to be rewritten
    log.truncate_to(10)
    assert log.cleaning is None and log.log_end_offset == 10
    while log.run_compaction(T0):
        pass
    assert all(o < 10 for o, _, _ in contents(log))
    put(log, b"key-0", b"after")
    assert contents(log)[-1] == (10, b"key-0", b"after")
