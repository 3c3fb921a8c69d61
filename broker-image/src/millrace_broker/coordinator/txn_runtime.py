"""The transaction coordinator's driver: `__transaction_state`, markers, timeouts.

Every state change is written to the transactional id's `__transaction_state` partition
before it is answered. Ending a transaction writes Prepare{Commit,Abort}, then a marker
(control batch) to every partition of the transaction through `write_markers` (the
broker's logs; `__consumer_offsets` partitions also publish or drop the transaction's
offsets), then Complete{Commit,Abort}. A restart redoes the markers of transactions left
in a Prepare state. A periodic check aborts transactions open past their timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from kio.schema.errors import ErrorCode

from ..storage.records import Record, build_batch, decode_batch
from . import transaction as tx
from .records import RecordFormatError, partition_for
from .runtime import OffsetsLog

log = logging.getLogger(__name__)
E = ErrorCode


class TransactionCoordinator:
    def __init__(
        self,
        *,
        config: tx.TxnConfig,
        log: OffsetsLog,
        write_markers: Callable[[tx.MarkerJob], None],
        clock_ms: Callable[[], int],
    ) -> None:
        self.config = config
        self.log = log
        self.write_markers = write_markers
        self.clock_ms = clock_ms
        self.txns: dict[str, tx.TxnMetadata] = {}
        self.loaded = False
        self.loaded_partitions: set[int] = set()

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
            wanted = set(fresh)
            pending = [
                j
                for j in tx.pending_jobs(self.txns)
                if self.partition_of(j.transactional_id) in wanted
            ]
            for job in pending:
                self._finish(job)

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

    def _store(self, txn: tx.TxnMetadata) -> None:
        now = self.clock_ms()
        batch = build_batch(
            [Record(0, now, tx.encode_key(txn.transactional_id), tx.encode_value(txn))],
            base_offset=0,
            attributes=0,
        )
        self.log.append(self.partition_of(txn.transactional_id), bytes(batch), now)

    def _finish(self, job: tx.MarkerJob) -> ErrorCode:
        """Write the markers of a prepared transaction, then record it complete."""
        txn = self.txns.get(job.transactional_id)
        if txn is None:
            return E.invalid_producer_id_mapping
        try:
            self.write_markers(job)
        except Exception:
            log.exception("cannot write the markers of %s; will retry", job.transactional_id)
            return E.coordinator_not_available
        tx.complete(txn, job, self.clock_ms())
        self._store(txn)
        return E.none

    def _guarded(self, action: Callable[[], ErrorCode]) -> ErrorCode:
        try:
            return action()
        except tx.TxnError as exc:
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
                self._store(txn)
                error = self._finish(job)
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
            self._store(txn)
        except tx.TxnError as exc:
            return exc.error_code, -1, -1
        except Exception:
            log.exception("cannot persist transactional id %s", transactional_id)
            return E.coordinator_not_available, -1, -1
        return E.none, txn.producer_id, txn.producer_epoch

    def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: set[tuple[str, int]],
    ) -> ErrorCode:
        self.ensure_loaded()

        def act() -> ErrorCode:
            txn = tx.check_producer(self.txns.get(transactional_id), producer_id, producer_epoch)
            if txn.state is tx.TxnState.ONGOING and partitions <= txn.partitions:
                return E.none
            tx.add_partitions(txn, partitions, self.clock_ms())
            self._store(txn)
            return E.none

        return self._guarded(act)

    def end_txn(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool
    ) -> ErrorCode:
        self.ensure_loaded()

        def act() -> ErrorCode:
            txn = tx.check_producer(self.txns.get(transactional_id), producer_id, producer_epoch)
            job = tx.end_txn(txn, commit=commit, now=self.clock_ms())
            if job is None:
                return E.none
            self._store(txn)
            return self._finish(job)

        return self._guarded(act)

    def tick(self, now: int) -> None:
        """Abort expired transactions; retry markers that could not be written."""
        if not self.loaded:
            return
        for job in tx.expired(self.txns, now):
            log.info(
                "aborting transaction of %s: open longer than its timeout", job.transactional_id
            )
            txn = self.txns[job.transactional_id]
            try:
                self._store(txn)
            except Exception:
                log.exception("cannot persist the abort of %s", job.transactional_id)
                continue
            self._finish(job)
        for job in tx.pending_jobs(self.txns):
            self._finish(job)
