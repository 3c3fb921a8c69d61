"""The leader-epoch cache (storage/leader_epochs.py) as tables, plus the log's hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace_broker.storage.leader_epochs import LeaderEpochCache
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog
from millrace_broker.storage.records import Record, build_batch

ENTRIES = [(1, 0), (3, 10), (4, 25)]


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (4, (4, 40)),  # latest: ends at the log end
        (3, (3, 25)),  # known earlier epoch: ends where the next starts
        (2, (1, 10)),  # unknown, between: the largest epoch below, ending at the next start
        (0, (0, 0)),  # below every known epoch: ends where the first starts
        (5, (-1, -1)),  # above the latest
        (-1, (-1, -1)),
    ],
)
def test_end_offset_for(epoch: int, expected: tuple[int, int]) -> None:
    assert LeaderEpochCache(None, ENTRIES).end_offset_for(epoch, 40) == expected


def test_empty_cache_is_undefined() -> None:
    assert LeaderEpochCache(None).end_offset_for(0, 5) == (-1, -1)


def test_assign_ignores_old_epochs_and_replaces_entries_at_or_above_new_start() -> None:
    cache = LeaderEpochCache(None, ENTRIES)
    cache.assign(4, 30)
    cache.assign(2, 50)
    assert cache.entries() == ENTRIES
    cache.assign(7, 25)
    assert cache.entries() == [(1, 0), (3, 10), (7, 25)]


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(25, [(1, 0), (3, 10)]), (26, ENTRIES), (10, [(1, 0)]), (0, [])],
)
def test_truncate_from_end(offset: int, expected: list[tuple[int, int]]) -> None:
    cache = LeaderEpochCache(None, ENTRIES)
    cache.truncate_from_end(offset)
    assert cache.entries() == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, ENTRIES), (5, [(1, 5), (3, 10), (4, 25)]), (12, [(3, 12), (4, 25)]), (30, [(4, 30)])],
)
def test_truncate_from_start(offset: int, expected: list[tuple[int, int]]) -> None:
    cache = LeaderEpochCache(None, ENTRIES)
    cache.truncate_from_start(offset)
    assert cache.entries() == expected


def test_checkpoint_round_trips_in_kafkas_format(tmp_path: Path) -> None:
    cache = LeaderEpochCache.rebuild(tmp_path, [(1, 0), (1, 3), (3, 10), (4, 25)])
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n1 0\n3 10\n4 25\n"
    loaded = LeaderEpochCache.load(tmp_path)
    assert loaded is not None and loaded.entries() == cache.entries()
    (tmp_path / "leader-epoch-checkpoint").write_text("0\n5\n1 0\n")
    assert LeaderEpochCache.load(tmp_path) is None


def _batch(n: int) -> bytes:
    records = [Record(i, 0, None, f"v{i}".encode()) for i in range(n)]
    return bytes(build_batch(records, base_offset=0, attributes=0))


def test_log_maintains_the_cache_on_append_truncate_and_reopen(tmp_path: Path) -> None:
    d = tmp_path / "t-0"
    log = PartitionLog.open(d, LogConfig(), now_ms=0)
    log.append_as_leader(_batch(3), leader_epoch=0, now_ms=0)
    log.append_as_leader(_batch(2), leader_epoch=0, now_ms=0)
    log.append_as_leader(_batch(2), leader_epoch=2, now_ms=0)
    assert log.epochs.entries() == [(0, 0), (2, 5)]
    log.truncate_to(5)
    assert log.epochs.entries() == [(0, 0)]
    log.append_as_leader(_batch(1), leader_epoch=3, now_ms=0)
    log.close()
    reopened = PartitionLog.open(d, LogConfig(), now_ms=0)
    assert reopened.epochs.entries() == [(0, 0), (3, 5)]
    (d / "leader-epoch-checkpoint").unlink()
    reopened.close()
    rebuilt = PartitionLog.open(d, LogConfig(), now_ms=0)
    assert rebuilt.epochs.entries() == [(0, 0), (3, 5)]
    rebuilt.close()
