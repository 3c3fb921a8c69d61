"""All partition logs of a broker across its log directories.

Each partition lives in ``<log dir>/<topic>-<partition>``; ``load_all`` opens every such
directory (recovering it if it was not closed cleanly). New partitions go to the log dir
holding the fewest partitions. Deleting a topic renames each partition directory to
``<topic>-<partition>.<uuid hex>-delete`` (atomic, so a crash either keeps the topic or
leaves only marked directories) and removes marked directories later from
``run_maintenance`` and at startup, like Kafka's asynchronous delete.

``run_maintenance`` does one bounded round: time-based flushes, retention for every
partition, then compaction steps (each about 1 MiB of work, see ``compaction``)
round-robin over compacted partitions for at most ``cleaner_time_budget_s``, since the
server calls it on its event loop. Retention never deletes at or above a partition's high
watermark: ``high_watermark`` (set by the replica manager) tells it per log; without it
the log end is used (a log nobody replicates).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog

log = logging.getLogger(__name__)

_PARTITION_DIR = re.compile(r"^(.+)-(\d+)$")
_DELETE_SUFFIX = "-delete"
METADATA_TOPIC = "__cluster_metadata"  # kraft/disk_log.py keeps its own directory
PRODUCER_ID_EXPIRATION_MS = 24 * 3600 * 1000


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    if name.endswith(_DELETE_SUFFIX) or name.startswith("."):
        return None
    match = _PARTITION_DIR.match(name)
    if match is None or match.group(1) == METADATA_TOPIC:
        return None  # the KRaft metadata log is not a partition log (as in Kafka)
    return match.group(1), int(match.group(2))


class LogManager:
    def __init__(self, log_dirs: list[Path], *, now_ms: Callable[[], int] = _wall_clock_ms) -> None:
        if not log_dirs:
            raise ValueError("at least one log directory is required")
        self.log_dirs = [Path(d) for d in log_dirs]
        self.now_ms = now_ms
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        self._dir_of: dict[tuple[str, int], Path] = {}
        self._compaction_cursor = 0
        self.high_watermark: Callable[[PartitionLog], int] | None = None
        self.cleaner_time_budget_s = 0.2
        for d in self.log_dirs:
            d.mkdir(parents=True, exist_ok=True)

    def load_all(self, configs: Callable[[str], LogConfig]) -> None:
        self._remove_deleted_dirs()
        now = self.now_ms()
        for root in self.log_dirs:
            for path in sorted(root.iterdir()):
                parsed = parse_partition_dir(path.name) if path.is_dir() else None
                if parsed is None or parsed in self._logs:
                    continue
                self._logs[parsed] = PartitionLog.open(path, configs(parsed[0]), now_ms=now)
                self._dir_of[parsed] = root

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def create(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        key = (topic, partition)
        existing = self._logs.get(key)
        if existing is not None:
            return existing
        counts = {d: 0 for d in self.log_dirs}
        for d in self._dir_of.values():
            counts[d] += 1
        # A directory left from before (not loaded yet) wins over the emptiest log dir.
        existing_dirs = [d for d in self.log_dirs if (d / f"{topic}-{partition}").is_dir()]
        root = existing_dirs[0] if existing_dirs else min(self.log_dirs, key=lambda d: counts[d])
        opened = PartitionLog.open(root / f"{topic}-{partition}", config, now_ms=self.now_ms())
        self._logs[key] = opened
        self._dir_of[key] = root
        return opened

    def delete_topic(self, topic: str) -> None:
        for key in [k for k in self._logs if k[0] == topic]:
            self._delete_partition(key)

    def delete_partition(self, topic: str, partition: int) -> None:
        if (topic, partition) in self._logs:
            self._delete_partition((topic, partition))

    def _delete_partition(self, key: tuple[str, int]) -> None:
        partition_log = self._logs.pop(key)
        self._dir_of.pop(key, None)
        partition_log.close()
        directory = partition_log.directory
        target = directory.with_name(f"{directory.name}.{uuid.uuid4().hex}{_DELETE_SUFFIX}")
        directory.rename(target)

    def _remove_deleted_dirs(self) -> None:
        for root in self.log_dirs:
            for path in root.iterdir():
                if path.is_dir() and path.name.endswith(_DELETE_SUFFIX):
                    shutil.rmtree(path, ignore_errors=True)

    def partitions(self) -> Iterable[tuple[str, int, PartitionLog]]:
        return [(t, p, partition_log) for (t, p), partition_log in self._logs.items()]

    def run_maintenance(self, now_ms: int) -> None:
        self._remove_deleted_dirs()
        for (topic, partition), partition_log in list(self._logs.items()):
            try:
                partition_log.maybe_flush(now_ms)
                hw = None if self.high_watermark is None else self.high_watermark(partition_log)
                partition_log.run_retention(now_ms, high_watermark=hw)
                partition_log.producers.remove_expired(now_ms, PRODUCER_ID_EXPIRATION_MS)
            except (OSError, StorageError):
                log.exception("maintenance of %s-%d failed", topic, partition)
        self._run_cleaner(now_ms)

    def _run_cleaner(self, now_ms: int) -> None:
        """Bounded compaction steps, round-robin over compacted partitions, for at most
        ``cleaner_time_budget_s`` (one step may overrun it; steps are ~1 MiB of work)."""
        compactable = [
            (key, pl) for key, pl in self._logs.items() if "compact" in pl.config.cleanup_policy
        ]
        if not compactable:
            return
        deadline = time.monotonic() + self.cleaner_time_budget_s
        idle = 0
        while idle < len(compactable) and time.monotonic() < deadline:
            self._compaction_cursor %= len(compactable)
            key, partition_log = compactable[self._compaction_cursor]
            try:
                worked = partition_log.run_compaction(now_ms)
            except (OSError, StorageError):
                log.exception("compaction of %s-%d failed", key[0], key[1])
                worked = False
            if worked:
                idle = 0  # stay on this partition until its pass is done
            else:
                idle += 1
                self._compaction_cursor += 1

    def close(self) -> None:
        for partition_log in self._logs.values():
            partition_log.close()
        self._logs.clear()
        self._dir_of.clear()
