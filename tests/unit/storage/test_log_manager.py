"""LogManager: partition directories across log dirs, creation, loading and deletion."""

from __future__ import annotations

from pathlib import Path

from storage_support import T0, simple_batch

from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.log_manager import LogManager, parse_partition_dir


def test_parse_partition_dir() -> None:
    assert parse_partition_dir("orders-3") == ("orders", 3)
    assert parse_partition_dir("my-topic-12") == ("my-topic", 12)
    assert parse_partition_dir("orders-3.abc-delete") is None
    assert parse_partition_dir("__millrace_metadata") is None


def test_create_spreads_over_dirs_and_is_idempotent(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager(dirs, now_ms=lambda: T0)
    logs = [manager.create("t", p, LogConfig()) for p in range(4)]
    assert manager.create("t", 0, LogConfig()) is logs[0]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["t-0", "t-2"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["t-1", "t-3"]
    assert manager.get("t", 1) is logs[1] and manager.get("t", 9) is None
    assert sorted((t, p) for t, p, _ in manager.partitions()) == [("t", i) for i in range(4)]


def test_load_all_reopens_everything(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager(dirs, now_ms=lambda: T0)
    for p in range(3):
        manager.create("t", p, LogConfig()).append_as_leader(
            simple_batch(p + 1), leader_epoch=0, now_ms=T0
        )
    manager.close()
    again = LogManager(dirs, now_ms=lambda: T0)
    again.load_all(lambda topic: LogConfig())
    assert {p: log.log_end_offset for _, p, log in again.partitions()} == {0: 1, 1: 2, 2: 3}


def test_delete_topic_renames_then_removes(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], now_ms=lambda: T0)
    manager.create("gone", 0, LogConfig()).append_as_leader(
        simple_batch(1), leader_epoch=0, now_ms=T0
    )
    manager.create("kept", 0, LogConfig())
    manager.delete_topic("gone")
    assert manager.get("gone", 0) is None
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "gone-0" not in names and any(n.endswith("-delete") for n in names)
    manager.run_maintenance(T0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept-0"]
    # a recreated topic starts empty
    assert manager.create("gone", 0, LogConfig()).log_end_offset == 0


def test_maintenance_applies_retention(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], now_ms=lambda: T0)
    log = manager.create("t", 0, LogConfig(segment_bytes=500, retention_ms=1000))
    for _ in range(20):
        log.append_as_leader(simple_batch(3), leader_epoch=0, now_ms=T0)
    manager.run_maintenance(T0 + 10_000)
    assert log.size_bytes == 0 and log.log_start_offset == log.log_end_offset == 60
