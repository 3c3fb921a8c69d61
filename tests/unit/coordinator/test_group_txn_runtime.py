"""The transaction coordinator driver over an in-memory `__transaction_state` (see
test_group_runtime.py for why): persistence, replay, redoing interrupted markers."""

from __future__ import annotations

import asyncio

from kio.schema.errors import ErrorCode as E
from test_group_runtime import MemoryLog

from millrace_broker.coordinator.transaction import MarkerJob, TxnConfig, TxnState
from millrace_broker.coordinator.txn_runtime import TransactionCoordinator


class Markers:
    def __init__(self) -> None:
        self.jobs: list[MarkerJob] = []
        self.fail = False

    def __call__(self, job: MarkerJob) -> None:
        if self.fail:
            raise OSError("partition unavailable")
        self.jobs.append(job)


def coordinator(log: MemoryLog, markers: Markers) -> TransactionCoordinator:
    c = TransactionCoordinator(
        config=TxnConfig(), log=log, write_markers=markers, clock_ms=lambda: 1000
    )
    c.ensure_loaded()
    return c


def init(c: TransactionCoordinator) -> tuple[E, int, int]:
    async def allocate() -> int:
        return 42

    return asyncio.run(
        c.init_producer(
            transactional_id="tx",
            timeout_ms=60_000,
            producer_id=-1,
            producer_epoch=-1,
            allocate=allocate,
        )
    )


def test_commit_persists_and_replays() -> None:
    log, markers = MemoryLog(), Markers()
    c = coordinator(log, markers)
    assert init(c) == (E.none, 42, 0)
    assert c.add_partitions("tx", 42, 0, {("t", 0)}) is E.none
    assert c.add_partitions("tx", 42, 1, {("t", 1)}) is E.producer_fenced
    assert c.end_txn("tx", 42, 0, True) is E.none
    assert [(j.commit, set(j.partitions)) for j in markers.jobs] == [(True, {("t", 0)})]
    again = coordinator(MemoryLog(log.data), Markers())
    assert again.txns["tx"].state is TxnState.COMPLETE_COMMIT
    assert init(again) == (E.none, 42, 1)


def test_markers_interrupted_by_a_crash_are_redone_on_load() -> None:
    log, markers = MemoryLog(), Markers()
    c = coordinator(log, markers)
    init(c)
    c.add_partitions("tx", 42, 0, {("t", 0)})
    markers.fail = True
    assert c.end_txn("tx", 42, 0, False) is E.coordinator_not_available
    assert c.txns["tx"].state is TxnState.PREPARE_ABORT
    assert c.end_txn("tx", 42, 0, False) is E.concurrent_transactions
    redo = Markers()
    restarted = coordinator(MemoryLog(log.data), redo)
    assert [j.commit for j in redo.jobs] == [False]
    assert restarted.txns["tx"].state is TxnState.COMPLETE_ABORT
