"""The transaction coordinator's driver: `__transaction_state`, markers, timeouts.

Every state change is written to the transactional id's `__transaction_state` partition
and, through `replicated(partition)`, waits until the partition's in-sync replicas have it
(as Kafka's coordinator appends with acks=all) before it is answered. Ending a transaction
writes Prepare{Commit,Abort}, then a marker (control batch) to every partition of the
transaction through `write_markers` (the partitions' leaders, here or on other brokers;
`__consumer_offsets` partitions also publish or drop the transaction's offsets), then
Complete{Commit,Abort}. A coordinator that takes over a `__transaction_state` partition
(a restart, or leadership moving) replays it and redoes the markers of transactions left
in a Prepare state; one that loses it forgets its transactional ids. A periodic check
aborts transactions open past their timeout, retries markers that failed, and removes
transactional ids idle longer than `transactional.id.expiration.ms`.

Operations are coroutines: between a state change and its replication other requests may
run. The state machine answers them (CONCURRENT_TRANSACTIONS while markers are written),
and `_in_flight` keeps the retry timer off a transaction whose markers are being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kio.schema.errors import ErrorCode

from ..storage.records import Record, build_batch, decode_batch
from . import transaction as tx
from .records import RecordFormatError, partition_for
from .runtime import OffsetsLog

log = logging.getLogger(__name__)
E = ErrorCode
WriteMarkers = Callable[[tx.MarkerJob], Awaitable[None]]
Replicated = Callable[[int], Awaitable[ErrorCode]]


async def _always_replicated(partition: int) -> ErrorCode:
    return E.none


class StoreError(Exception):
    """A `__transaction_state` write failed or did not reach the in-sync replicas."""

    def __init__(self, error_code: ErrorCode) -> None:
        super().__init__(error_code.name)
        self.error_code = error_code


class TransactionCoordinator:
    def __init__(
        self,
        *,
        config: tx.TxnConfig,
        log: OffsetsLog,
        write_markers: WriteMarkers,
        clock_ms: Callable[[], int],
        replicated: Replicated = _always_replicated,
        id_expiration_ms: int = 7 * 24 * 3600 * 1000,
    ) -> None:
        self.config = config
        self.log = log
        self.write_markers = write_markers
        self.clock_ms = clock_ms
        self.replicated = replicated
        self.id_expiration_ms = id_expiration_ms
        self.txns: dict[str, tx.TxnMetadata] = {}
        self.loaded = False
        self.loaded_partitions: set[int] = set()
        self._in_flight: set[str] = set()
        self._redo: asyncio.Task[None] | None = None

    def partition_of(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.log.partition_count())

    def is_local(self, transactional_id: str) -> bool:
        return self.log.is_local(self.partition_of(transactional_id))

    # -- loading and persistence ---------------------------------------------------------------

    def ensure_loaded(self) -> None:
        if not self.loaded:
            self.refresh_leadership()
            self.loaded = True

    def refresh_leadership(self) -> None:
        """Load the `__transaction_state` partitions newly led here; forget those lost."""
        local = {p for p in range(self.log.partition_count()) if self.log.is_local(p)}
        for partition in self.loaded_partitions - local:
            for tid in [t for t in self.txns if self.partition_of(t) == partition]:
                del self.txns[tid]
        self.loaded_partitions &= local
        fresh = sorted(local - self.loaded_partitions)
        for partition in fresh:
            self._load_partition(partition)
        self.loaded_partitions |= set(fresh)
        if fresh:
            log.info(
                "transaction coordinator loaded %d partitions: %d transactional ids",
                len(fresh),
                len(self.txns),
            )
            self._schedule_redo()

    def _schedule_redo(self) -> None:
        """Redo the markers of prepared transactions soon (needs a running loop; without
        one, `tick` redoes them)."""
        if not tx.pending_jobs(self.txns) or (self._redo is not None and not self._redo.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._redo = loop.create_task(self.redo_pending(), name="txn-redo-markers")

    async def redo_pending(self) -> None:
        for job in tx.pending_jobs(self.txns):
            if job.transactional_id not in self._in_flight:
                await self._finish(job)

    def _load_partition(self, partition: int) -> None:
        for batch in self.log.batches(partition):
            header, records = decode_batch(batch)
            if header.is_control:
                continue
            for record in records:
                if record.key is None:
                    continue
                try:
                    tid = tx.decode_key(record.key)
                    if record.value is None:
                        self.txns.pop(tid, None)
                    else:
                        self.txns[tid] = tx.decode_value(tid, record.value)
                except (RecordFormatError, ValueError) as exc:
                    log.warning("skipping a malformed __transaction_state record: %s", exc)

    async def _store(self, txn: tx.TxnMetadata, *, tombstone: bool = False) -> None:
        """Append the transactional id's record (or its tombstone) and wait for the
        in-sync replicas; raises StoreError."""
        now = self.clock_ms()
        partition = self.partition_of(txn.transactional_id)
        if not self.log.is_local(partition):
            raise StoreError(E.not_coordinator)
        record = None if tombstone else tx.encode_value(txn)
        batch = build_batch(
            [Record(0, now, tx.encode_key(txn.transactional_id), record)],
            base_offset=0,
            attributes=0,
        )
        try:
            self.log.append(partition, bytes(batch), now)
        except Exception as exc:
            log.warning("cannot write __transaction_state-%d: %s", partition, exc)
            raise StoreError(E.coordinator_not_available) from exc
        error = await self.replicated(partition)
        if error is not E.none:
            log.info(
                "__transaction_state-%d: %s not replicated (%s)",
                partition,
                txn.transactional_id,
                error.name,
            )
            raise StoreError(error)

    async def _finish(self, job: tx.MarkerJob) -> ErrorCode:
        """Write the markers of a prepared transaction, then record it complete."""
        txn = self.txns.get(job.transactional_id)
        if txn is None:
            return E.invalid_producer_id_mapping
        if job.transactional_id in self._in_flight:
            return E.concurrent_transactions
        self._in_flight.add(job.transactional_id)
        try:
            await self.write_markers(job)
        except Exception as exc:
            log.warning(
                "cannot write the markers of %s (%s); will retry", job.transactional_id, exc
            )
            return E.coordinator_not_available
        finally:
            self._in_flight.discard(job.transactional_id)
        if self.txns.get(job.transactional_id) is not txn or txn.state not in (
            tx.TxnState.PREPARE_COMMIT,
            tx.TxnState.PREPARE_ABORT,
        ):
            return E.none  # unloaded, or finished by another path meanwhile
        tx.complete(txn, job, self.clock_ms())
        try:
            await self._store(txn)
        except StoreError as exc:
            # The markers are written; a successor coordinator redoes them (harmless).
            return exc.error_code
        return E.none

    async def _guarded(self, action: Callable[[], Awaitable[ErrorCode]]) -> ErrorCode:
        try:
            return await action()
        except tx.TxnError as exc:
            return exc.error_code
        except StoreError as exc:
            return exc.error_code
        except Exception:
            log.exception("transaction coordinator write failed")
            return E.coordinator_not_available

    # -- operations ---------------------------------------------------------------------------

    async def init_producer(
        self,
        *,
        transactional_id: str,
        timeout_ms: int,
        producer_id: int,
        producer_epoch: int,
        allocate: Callable[[], Awaitable[int]],
    ) -> tuple[ErrorCode, int, int]:
        self.ensure_loaded()
        known = self.txns.get(transactional_id)
        need_new = known is None or known.producer_epoch >= tx.MAX_EPOCH - 1
        new_id = await allocate() if need_new else tx.NO_PRODUCER_ID
        try:
            txn, job = tx.init_producer(
                self.txns,
                self.config,
                transactional_id=transactional_id,
                timeout_ms=timeout_ms,
                expected_producer_id=producer_id,
                expected_epoch=producer_epoch,
                new_producer_id=new_id,
                now=self.clock_ms(),
            )
            if job is not None:
                # An open transaction: abort it (fencing its producer), then bump again.
                await self._store(txn)
                error = await self._finish(job)
                if error is not E.none:
                    return error, -1, -1
                if txn.producer_epoch >= tx.MAX_EPOCH - 1:
                    new_id = await allocate()
                txn, _ = tx.init_producer(
                    self.txns,
                    self.config,
                    transactional_id=transactional_id,
                    timeout_ms=timeout_ms,
                    expected_producer_id=tx.NO_PRODUCER_ID,
                    expected_epoch=-1,
                    new_producer_id=new_id,
                    now=self.clock_ms(),
                )
            await self._store(txn)
        except (tx.TxnError, StoreError) as exc:
            return exc.error_code, -1, -1
        except Exception:
            log.exception("cannot persist transactional id %s", transactional_id)
            return E.coordinator_not_available, -1, -1
        return E.none, txn.producer_id, txn.producer_epoch

    async def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: set[tuple[str, int]],
    ) -> ErrorCode:
        self.ensure_loaded()

        async def act() -> ErrorCode:
            txn = tx.check_producer(self.txns.get(transactional_id), producer_id, producer_epoch)
            if txn.state is tx.TxnState.ONGOING and partitions <= txn.partitions:
                return E.none
            tx.add_partitions(txn, partitions, self.clock_ms())
            await self._store(txn)
            return E.none

        return await self._guarded(act)

    async def end_txn(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool
    ) -> ErrorCode:
        """The decision is durable once Prepare* is replicated: if the markers cannot be
        written now, the answer is still NONE and the timer retries them (as Kafka
        answers EndTxn before its markers are written)."""
        self.ensure_loaded()

        async def act() -> ErrorCode:
            txn = tx.check_producer(self.txns.get(transactional_id), producer_id, producer_epoch)
            job = tx.end_txn(txn, commit=commit, now=self.clock_ms())
            if job is None:
                return E.none
            await self._store(txn)
            await self._finish(job)
            return E.none

        return await self._guarded(act)

    async def tick(self, now: int) -> None:
        """Abort expired transactions; retry markers that could not be written; remove
        transactional ids idle past `transactional.id.expiration.ms`."""
        if not self.loaded:
            return
        for job in tx.expired(self.txns, now):
            log.info(
                "aborting transaction of %s: open longer than its timeout", job.transactional_id
            )
            txn = self.txns[job.transactional_id]
            try:
                await self._store(txn)
            except StoreError as exc:
                log.warning("cannot persist the abort of %s: %s", job.transactional_id, exc)
                continue
            await self._finish(job)
        await self.redo_pending()
        for txn in tx.idle_expired(self.txns, now, self.id_expiration_ms):
            if self.txns.get(txn.transactional_id) is not txn:
                continue
            try:
                await self._store(txn, tombstone=True)
            except StoreError as exc:
                log.warning("cannot expire %s: %s", txn.transactional_id, exc)
                continue
            if self.txns.get(txn.transactional_id) is txn and txn.state in tx.IDLE_STATES:
                del self.txns[txn.transactional_id]
                log.info(
                    "transactional id %s expired (idle longer than transactional.id.expiration.ms)",
                    txn.transactional_id,
                )
