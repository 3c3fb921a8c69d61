"""The transaction coordinator's state: one `TxnMetadata` per transactional.id, pure.

States as Kafka's TransactionState (their numbers are the log's):

    Empty(0) -> Ongoing(1)              AddPartitionsToTxn / AddOffsetsToTxn
    Ongoing -> PrepareCommit(2) / PrepareAbort(3)   EndTxn (or the transaction timeout:
                                        abort, with an epoch bump that fences the producer)
    Prepare* -> CompleteCommit(4) / CompleteAbort(5)   once every partition has its marker
    Complete* -> Ongoing                the next transaction

InitProducerId with a transactional.id bumps the producer epoch (a new producer id when
the epoch is exhausted), fencing any older producer instance: its requests get
PRODUCER_FENCED from then on. A transaction still open at InitProducerId is aborted first.
An operation while markers are being written answers CONCURRENT_TRANSACTIONS (retriable).

Writing markers is the driver's job: decisions here return `MarkerJob`s (partitions,
producer id/epoch, commit or abort); the driver writes them and calls `complete`.

`__transaction_state` records (Kafka's TransactionLogKey/Value v0 layout):
    key:   version int16 (0), transactionalId string
    value: version int16 (0), producerId int64, producerEpoch int16, timeoutMs int32,
           status int8, partitions [topic string, [partition int32]], lastUpdate int64,
           start int64
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from kio.schema.errors import ErrorCode

from .records import RecordFormatError, _Reader, _str

E = ErrorCode
MAX_EPOCH = 32767
NO_PRODUCER_ID = -1


class TxnState(IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7


KAFKA_STATE_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}


@dataclass
class TxnMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[tuple[str, int]] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = -1


@dataclass(frozen=True, slots=True)
class MarkerJob:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    partitions: frozenset[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class TxnConfig:
    max_timeout_ms: int = 900_000


class TxnError(Exception):
    def __init__(self, error_code: ErrorCode, message: str = "") -> None:
        super().__init__(message or error_code.name)
        self.error_code = error_code


def check_producer(txn: TxnMetadata | None, producer_id: int, epoch: int) -> TxnMetadata:
    if txn is None:
        raise TxnError(E.invalid_producer_id_mapping, "unknown transactional id")
    if txn.producer_id != producer_id:
        raise TxnError(
            E.invalid_producer_id_mapping,
            f"producer id {producer_id} is not the transactional id's",
        )
    if txn.producer_epoch != epoch:
        raise TxnError(E.producer_fenced, f"epoch {epoch} is fenced by {txn.producer_epoch}")
    if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE):
        raise TxnError(E.concurrent_transactions, "the previous transaction is completing")
    return txn


def init_producer(
    txns: dict[str, TxnMetadata],
    cfg: TxnConfig,
    *,
    transactional_id: str,
    timeout_ms: int,
    expected_producer_id: int,
    expected_epoch: int,
    new_producer_id: int,
    now: int,
) -> tuple[TxnMetadata, MarkerJob | None]:
    """Bump the epoch (or start with a new producer id); abort an open transaction first.

    `new_producer_id` is used only when a fresh id is needed. Raises TxnError.
    """
    if not 0 < timeout_ms <= cfg.max_timeout_ms:
        raise TxnError(
            E.invalid_transaction_timeout,
            f"transaction.timeout.ms must be in (0, {cfg.max_timeout_ms}]",
        )
    txn = txns.get(transactional_id)
    if txn is None:
        txn = TxnMetadata(transactional_id, new_producer_id, 0, timeout_ms, last_update_ms=now)
        txns[transactional_id] = txn
        return txn, None
    if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE):
        raise TxnError(E.concurrent_transactions, "the previous transaction is completing")
    if expected_producer_id != NO_PRODUCER_ID and (
        expected_producer_id != txn.producer_id or expected_epoch != txn.producer_epoch
    ):
        raise TxnError(E.producer_fenced, "another producer instance took over this id")
    job = None
    if txn.state is TxnState.ONGOING:
        txn.producer_epoch = min(txn.producer_epoch + 1, MAX_EPOCH)
        job = _prepare(txn, commit=False, now=now)
        return txn, job
    if txn.producer_epoch >= MAX_EPOCH - 1:
        txn.producer_id, txn.producer_epoch = new_producer_id, 0
    else:
        txn.producer_epoch += 1
    txn.timeout_ms = timeout_ms
    txn.last_update_ms = now
    return txn, None


def add_partitions(txn: TxnMetadata, partitions: set[tuple[str, int]], now: int) -> None:
    if txn.state not in (TxnState.ONGOING,):
        txn.partitions = set()
        txn.start_ms = now
    txn.partitions |= partitions
    txn.state = TxnState.ONGOING
    txn.last_update_ms = now


def end_txn(txn: TxnMetadata, *, commit: bool, now: int) -> MarkerJob | None:
    """EndTxn after check_producer; None when it is a retry of a finished decision."""
    if txn.state is TxnState.ONGOING:
        return _prepare(txn, commit=commit, now=now)
    done = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
    if txn.state is done:
        return None
    if txn.state is TxnState.EMPTY and not commit:
        return None  # aborting nothing
    raise TxnError(
        E.invalid_txn_state,
        f"cannot {'commit' if commit else 'abort'} in state {KAFKA_STATE_NAMES[txn.state]}",
    )


def _prepare(txn: TxnMetadata, *, commit: bool, now: int) -> MarkerJob:
    txn.state = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
    txn.last_update_ms = now
    return MarkerJob(
        txn.transactional_id, txn.producer_id, txn.producer_epoch, commit, frozenset(txn.partitions)
    )


def complete(txn: TxnMetadata, job: MarkerJob, now: int) -> None:
    txn.state = TxnState.COMPLETE_COMMIT if job.commit else TxnState.COMPLETE_ABORT
    txn.partitions = set()
    txn.last_update_ms = now


def expired(txns: dict[str, TxnMetadata], now: int) -> list[MarkerJob]:
    """Abort transactions open past their timeout, bumping the epoch to fence the producer."""
    jobs = []
    for txn in txns.values():
        if txn.state is TxnState.ONGOING and now - txn.start_ms > txn.timeout_ms:
            txn.producer_epoch = min(txn.producer_epoch + 1, MAX_EPOCH)
            jobs.append(_prepare(txn, commit=False, now=now))
    return jobs


IDLE_STATES = (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)


def idle_expired(txns: dict[str, TxnMetadata], now: int, expiration_ms: int) -> list[TxnMetadata]:
    """Transactional ids with no transaction open and no change for `expiration_ms`
    (`transactional.id.expiration.ms`): Kafka removes them with a tombstone."""
    return [
        t
        for t in txns.values()
        if t.state in IDLE_STATES and now - t.last_update_ms >= expiration_ms
    ]


def pending_jobs(txns: dict[str, TxnMetadata]) -> list[MarkerJob]:
    """Marker jobs to redo after a restart (transactions left in a Prepare state)."""
    return [
        MarkerJob(
            t.transactional_id,
            t.producer_id,
            t.producer_epoch,
            t.state is TxnState.PREPARE_COMMIT,
            frozenset(t.partitions),
        )
        for t in txns.values()
        if t.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)
    ]


# -- records --------------------------------------------------------------------------------


def encode_key(transactional_id: str) -> bytes:
    return struct.pack(">h", 0) + _str(transactional_id)


def encode_value(txn: TxnMetadata) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(txn.partitions):
        by_topic.setdefault(topic, []).append(partition)
    out = bytearray(
        struct.pack(
            ">hqhib", 0, txn.producer_id, txn.producer_epoch, txn.timeout_ms, int(txn.state)
        )
    )
    out += struct.pack(">i", len(by_topic))
    for topic, parts in by_topic.items():
        out += _str(topic) + struct.pack(">i", len(parts))
        out += b"".join(struct.pack(">i", p) for p in parts)
    out += struct.pack(">qq", txn.last_update_ms, txn.start_ms)
    return bytes(out)


def decode_key(data: bytes) -> str:
    r = _Reader(data)
    if r.take(">h") != 0:
        raise RecordFormatError("unknown __transaction_state key version")
    return r.required()


def decode_value(transactional_id: str, data: bytes) -> TxnMetadata:
    r = _Reader(data)
    if r.take(">h") not in (0, 1):
        raise RecordFormatError("unknown __transaction_state value version")
    producer_id, epoch, timeout = r.take(">q"), r.take(">h"), r.take(">i")
    state = TxnState(r.take(">b"))
    partitions = set()
    for _ in range(max(r.take(">i"), 0)):
        topic = r.required()
        for _ in range(r.take(">i")):
            partitions.add((topic, r.take(">i")))
    last_update, start = r.take(">q"), r.take(">q")
    return TxnMetadata(
        transactional_id, producer_id, epoch, timeout, state, partitions, start, last_update
    )
