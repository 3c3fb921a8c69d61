"""Log compaction (placeholder until the cleaner lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from millrace_broker.storage.partition_log import PartitionLog


def compact(log: PartitionLog, *, now_ms: int) -> bool:
    return False
