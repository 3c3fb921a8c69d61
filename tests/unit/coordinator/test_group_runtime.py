"""The coordinator driver: replaying `__consumer_offsets` (including transactional batches
and markers) and following partition leadership.

Multi-broker leadership cannot run yet, so the partitions here are an in-memory
implementation of the driver's `OffsetsLog` seam holding real v2 batches."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kio.schema.errors import ErrorCode as E

from millrace_broker.coordinator import offsets
from millrace_broker.coordinator.manager import GroupConfig
from millrace_broker.coordinator.records import partition_for
from millrace_broker.coordinator.runtime import GroupCoordinator
from millrace_broker.storage.records import Record, build_batch

PARTITIONS = 4


class MemoryLog:
    def __init__(self, data: dict[int, list[bytes]] | None = None) -> None:
        self.data: dict[int, list[bytes]] = data or {p: [] for p in range(PARTITIONS)}
        self.local = set(range(PARTITIONS))

    def partition_count(self) -> int:
        return PARTITIONS

    def is_local(self, partition: int) -> bool:
        return partition in self.local

    def append(self, partition: int, batch: bytes, now_ms: int) -> None:
        self.data[partition].append(batch)

    def batches(self, partition: int) -> Iterator[bytes]:
        return iter(list(self.data[partition]))


def group_in(partition: int, prefix: str) -> str:
    for i in range(1000):
        name = f"{prefix}-{i}"
        if partition_for(name, PARTITIONS) == partition:
            return name
    raise AssertionError("no group id found")


def coordinator(log: MemoryLog) -> GroupCoordinator:
    c = GroupCoordinator(config=GroupConfig(), log=log, clock_ms=lambda: 1000)
    c.ensure_loaded()
    return c


def commit(c: GroupCoordinator, group: str, offset: int) -> list[E]:
    return c.commit(
        group_id=group,
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, offset)],
        partition_exists=lambda t, p: True,
        api_version=8,
    )


def committed(c: GroupCoordinator, group: str) -> int | None:
    (row,) = offsets.fetch(c.manager, group, [("t", [0])])
    return None if row[2] is None else row[2].offset


def marker(producer_id: int, epoch: int, commit: bool) -> bytes:
    record = Record(0, 1000, struct.pack(">hh", 0, 1 if commit else 0), struct.pack(">hi", 0, 0))
    return bytes(
        build_batch(
            [record],
            base_offset=0,
            attributes=0x30,
            producer_id=producer_id,
            producer_epoch=epoch,
            base_sequence=-1,
        )
    )


def test_reload_restores_offsets_and_transactional_outcomes() -> None:
    log = MemoryLog()
    c = coordinator(log)
    plain, txn_ok, txn_aborted = (group_in(p, "g") for p in (0, 1, 2))
    assert commit(c, plain, 5) == [E.none]
    for group, pid in ((txn_ok, 11), (txn_aborted, 12)):
        assert offsets.txn_commit(
            c.manager,
            group_id=group,
            producer_id=pid,
            producer_epoch=0,
            member_id="",
            instance_id=None,
            generation=-1,
            partitions=[offsets.CommitPartition("t", 0, 9)],
            partition_exists=lambda t, p: True,
            now=1000,
        ) == [E.none]
    log.append(1, marker(11, 0, commit=True), 0)
    c.complete_txn(11, 1, True)
    log.append(2, marker(12, 0, commit=False), 0)
    c.complete_txn(12, 2, False)
    before = {g: committed(c, g) for g in (plain, txn_ok, txn_aborted)}
    assert before == {plain: 5, txn_ok: 9, txn_aborted: None}

    reloaded = coordinator(MemoryLog(log.data))
    assert {g: committed(reloaded, g) for g in before} == before
    assert not reloaded.manager.pending_txn.get(11) and not reloaded.manager.pending_txn.get(12)


def test_leadership_changes_load_and_unload_partitions() -> None:
    log = MemoryLog()
    c = coordinator(log)
    a, b = group_in(0, "a"), group_in(3, "b")
    commit(c, a, 1)
    commit(c, b, 2)

    moved = MemoryLog(log.data)
    moved.local = {0}
    other = coordinator(moved)
    assert committed(other, a) == 1 and committed(other, b) is None
    moved.local = {0, 3}  # this broker became the leader of partition 3
    other.refresh_leadership()
    assert committed(other, b) == 2
    moved.local = {3}  # and lost partition 0
    other.refresh_leadership()
    assert committed(other, a) is None and committed(other, b) == 2
    assert commit(other, a, 7) == [E.not_coordinator]
