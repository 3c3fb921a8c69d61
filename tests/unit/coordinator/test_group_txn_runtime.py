"""The transaction coordinator driver over an in-memory `__transaction_state` (see
test_group_runtime.py for why): persistence, replay, redoing interrupted markers,
transactional id expiration, leadership moving away and back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kio.schema.errors import ErrorCode as E
from test_group_runtime import MemoryLog

from millrace_broker.coordinator.transaction import MarkerJob, TxnConfig, TxnState
from millrace_broker.coordinator.txn_runtime import TransactionCoordinator

T = TypeVar("T")


def run(step: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await step()

    return asyncio.run(go())


class Markers:
    def __init__(self) -> None:
        self.jobs: list[MarkerJob] = []
        self.fail = False

    async def __call__(self, job: MarkerJob) -> None:
        if self.fail:
            raise OSError("partition unavailable")
        self.jobs.append(job)


class Clock:
    def __init__(self) -> None:
        self.now = 1000

    def __call__(self) -> int:
        return self.now


def coordinator(
    log: MemoryLog,
    markers: Markers,
    *,
    clock: Callable[[], int] = lambda: 1000,
    replicated: Callable[[int], Awaitable[E]] | None = None,
) -> TransactionCoordinator:
    extra = {"replicated": replicated} if replicated is not None else {}
    c = TransactionCoordinator(
        config=TxnConfig(),
        log=log,
        write_markers=markers,
        clock_ms=clock,
        id_expiration_ms=60_000,
        **extra,  # type: ignore[arg-type]
    )
    c.ensure_loaded()
    return c


def init(c: TransactionCoordinator) -> tuple[E, int, int]:
    async def allocate() -> int:
        return 42

    return run(
        lambda: c.init_producer(
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
    assert run(lambda: c.add_partitions("tx", 42, 0, {("t", 0)})) is E.none
    assert run(lambda: c.add_partitions("tx", 42, 1, {("t", 1)})) is E.producer_fenced
    assert run(lambda: c.end_txn("tx", 42, 0, True)) is E.none
    assert [(j.commit, set(j.partitions)) for j in markers.jobs] == [(True, {("t", 0)})]
    again = coordinator(MemoryLog(log.data), Markers())
    assert again.txns["tx"].state is TxnState.COMPLETE_COMMIT
    assert init(again) == (E.none, 42, 1)


def test_markers_interrupted_by_a_crash_are_redone_on_load() -> None:
    log, markers = MemoryLog(), Markers()
    c = coordinator(log, markers)
    init(c)
    run(lambda: c.add_partitions("tx", 42, 0, {("t", 0)}))
    markers.fail = True
    # The abort decision is durable (PrepareAbort): the answer is NONE, the markers wait.
    assert run(lambda: c.end_txn("tx", 42, 0, False)) is E.none
    assert c.txns["tx"].state is TxnState.PREPARE_ABORT
    assert run(lambda: c.end_txn("tx", 42, 0, False)) is E.concurrent_transactions
    redo = Markers()
    restarted = coordinator(MemoryLog(log.data), redo)
    run(lambda: restarted.tick(2000))
    assert [j.commit for j in redo.jobs] == [False]
    assert restarted.txns["tx"].state is TxnState.COMPLETE_ABORT


def test_a_write_that_misses_the_isr_fails_the_request() -> None:
    async def lost_leadership(partition: int) -> E:
        return E.not_coordinator

    c = coordinator(MemoryLog(), Markers(), replicated=lost_leadership)
    assert init(c) == (E.not_coordinator, -1, -1)


def test_idle_transactional_ids_expire_with_a_tombstone() -> None:
    log, markers, clock = MemoryLog(), Markers(), Clock()
    c = coordinator(log, markers, clock=clock)
    init(c)
    run(lambda: c.add_partitions("tx", 42, 0, {("t", 0)}))
    clock.now += 120_000
    run(lambda: c.tick(clock.now))  # open past its 60 s timeout: aborted, not expired
    assert c.txns["tx"].state is TxnState.COMPLETE_ABORT
    clock.now += 59_000
    run(lambda: c.tick(clock.now))
    assert "tx" in c.txns
    clock.now += 2_000
    run(lambda: c.tick(clock.now))
    assert "tx" not in c.txns
    assert "tx" not in coordinator(MemoryLog(log.data), Markers()).txns  # the tombstone


def test_losing_and_regaining_the_partition_unloads_and_replays() -> None:
    log, markers = MemoryLog(), Markers()
    c = coordinator(log, markers)
    init(c)
    run(lambda: c.add_partitions("tx", 42, 0, {("t", 0)}))
    partition = c.partition_of("tx")
    log.local.discard(partition)
    c.refresh_leadership()
    assert "tx" not in c.txns
    assert run(lambda: c.end_txn("tx", 42, 0, True)) is E.invalid_producer_id_mapping
    log.local.add(partition)
    c.refresh_leadership()
    assert c.txns["tx"].state is TxnState.ONGOING
    assert run(lambda: c.end_txn("tx", 42, 0, True)) is E.none
