"""The transaction coordinator's state machine and the group side of TxnOffsetCommit."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode as E

from millrace_broker.coordinator import offsets
from millrace_broker.coordinator import transaction as tx
from millrace_broker.coordinator.manager import GroupConfig, GroupManager
from millrace_broker.coordinator.transaction import TxnConfig, TxnError, TxnState

CFG = TxnConfig(max_timeout_ms=60_000)


def init(
    txns: dict[str, tx.TxnMetadata],
    *,
    new_id: int = 7,
    pid: int = -1,
    epoch: int = -1,
    now: int = 0,
) -> tuple[tx.TxnMetadata, tx.MarkerJob | None]:
    return tx.init_producer(
        txns,
        CFG,
        transactional_id="t",
        timeout_ms=10_000,
        expected_producer_id=pid,
        expected_epoch=epoch,
        new_producer_id=new_id,
        now=now,
    )


def test_init_bumps_the_epoch_and_fences_older_instances() -> None:
    txns: dict[str, tx.TxnMetadata] = {}
    first, _ = init(txns)
    assert (first.producer_id, first.producer_epoch) == (7, 0)
    again, _ = init(txns, new_id=99)
    assert (again.producer_id, again.producer_epoch) == (7, 1)
    with pytest.raises(TxnError) as fenced:
        tx.check_producer(txns["t"], 7, 0)
    assert fenced.value.error_code is E.producer_fenced
    with pytest.raises(TxnError) as other:
        tx.check_producer(txns["t"], 8, 1)
    assert other.value.error_code is E.invalid_producer_id_mapping
    with pytest.raises(TxnError) as bad_timeout:
        tx.init_producer(
            txns,
            CFG,
            transactional_id="t",
            timeout_ms=120_000,
            expected_producer_id=-1,
            expected_epoch=-1,
            new_producer_id=1,
            now=0,
        )
    assert bad_timeout.value.error_code is E.invalid_transaction_timeout


def test_exhausted_epoch_takes_a_new_producer_id() -> None:
    txns: dict[str, tx.TxnMetadata] = {}
    txn, _ = init(txns)
    txn.producer_epoch = tx.MAX_EPOCH - 1
    again, _ = init(txns, new_id=42)
    assert (again.producer_id, again.producer_epoch) == (42, 0)


def test_commit_flow_and_retries() -> None:
    txns: dict[str, tx.TxnMetadata] = {}
    txn, _ = init(txns)
    tx.add_partitions(txn, {("a", 0), ("a", 1)}, now=5)
    tx.add_partitions(txn, {("b", 0)}, now=6)
    assert txn.state is TxnState.ONGOING and txn.start_ms == 5
    job = tx.end_txn(txn, commit=True, now=10)
    assert job is not None and job.commit and job.partitions == {("a", 0), ("a", 1), ("b", 0)}
    assert txn.state is TxnState.PREPARE_COMMIT
    with pytest.raises(TxnError) as busy:
        tx.check_producer(txn, txn.producer_id, txn.producer_epoch)
    assert busy.value.error_code is E.concurrent_transactions
    tx.complete(txn, job, now=11)
    assert txn.state is TxnState.COMPLETE_COMMIT and not txn.partitions
    assert tx.end_txn(txn, commit=True, now=12) is None  # a retried EndTxn
    with pytest.raises(TxnError) as wrong:
        tx.end_txn(txn, commit=False, now=13)
    assert wrong.value.error_code is E.invalid_txn_state


def test_init_during_an_open_transaction_aborts_it() -> None:
    txns: dict[str, tx.TxnMetadata] = {}
    txn, _ = init(txns)
    tx.add_partitions(txn, {("a", 0)}, now=0)
    txn2, job = init(txns)
    assert job is not None and not job.commit and job.producer_epoch == 1
    assert txn2.state is TxnState.PREPARE_ABORT


def test_timeout_aborts_with_an_epoch_bump() -> None:
    txns: dict[str, tx.TxnMetadata] = {}
    txn, _ = init(txns)
    tx.add_partitions(txn, {("a", 0)}, now=1000)
    assert tx.expired(txns, 11_000) == []
    (job,) = tx.expired(txns, 11_001)
    assert not job.commit and job.producer_epoch == 1
    assert tx.pending_jobs(txns) == [job]


def test_state_records_round_trip() -> None:
    txn = tx.TxnMetadata("t", 5, 3, 60000, TxnState.ONGOING, {("a", 0), ("b", 2)}, 10, 20)
    assert tx.decode_key(tx.encode_key("t")) == "t"
    assert tx.decode_value("t", tx.encode_value(txn)) == txn


def test_txn_offsets_are_pending_until_the_marker() -> None:
    written: list[object] = []

    def persist(group_id: str, records: object, producer: object = None) -> None:
        written.append((group_id, producer))

    mgr = GroupManager(GroupConfig(), persist)
    errors = offsets.txn_commit(
        mgr,
        group_id="g",
        producer_id=9,
        producer_epoch=2,
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 5)],
        partition_exists=lambda t, p: True,
        now=1,
    )
    assert errors == [E.none] and written == [("g", (9, 2))]
    assert offsets.fetch(mgr, "g", [("t", [0])]) == [("t", 0, None)]
    assert mgr.has_pending_txn("g", "t", 0)
    mgr.complete_txn(9, False, lambda g: g == "g")
    assert not mgr.has_pending_txn("g", "t", 0)
    assert offsets.fetch(mgr, "g", [("t", [0])]) == [("t", 0, None)]
    offsets.txn_commit(
        mgr,
        group_id="g",
        producer_id=9,
        producer_epoch=3,
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 6)],
        partition_exists=lambda t, p: True,
        now=2,
    )
    mgr.complete_txn(9, True, lambda g: False)  # a marker for another partition
    assert mgr.has_pending_txn("g", "t", 0)
    mgr.complete_txn(9, True, lambda g: g == "g")
    (row,) = offsets.fetch(mgr, "g", [("t", [0])])
    assert row[2] is not None and row[2].offset == 6
