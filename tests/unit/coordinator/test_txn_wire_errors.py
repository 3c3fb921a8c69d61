"""Error codes as each client version understands them: PRODUCER_FENCED only from the
versions that know it (KIP-588), verification errors translated for producers, and
offset commits failed as a whole when their write missed the in-sync replicas."""

from __future__ import annotations

import datetime

import pytest
from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode as E

from millrace_broker.server.group_handlers import _fail_offsets
from millrace_broker.server.kio_build import make, nested
from millrace_broker.server.transactions import for_version
from millrace_broker.server.txn_verification import to_produce_error


def request(api_key: int, version: int) -> object:
    cls = load_request_schema(api_key, version)
    fields = {
        22: dict(transactional_id="t", transaction_timeout=datetime.timedelta(seconds=1)),
        25: dict(transactional_id="t", producer_id=1, producer_epoch=0, group_id="g"),
        26: dict(transactional_id="t", producer_id=1, producer_epoch=0, committed=True),
    }[api_key]
    return make(cls, **{"producer_id": -1, "producer_epoch": -1, **fields})


@pytest.mark.parametrize(("api_key", "old", "new"), [(22, 3, 4), (25, 1, 2), (26, 1, 2)])
def test_producer_fenced_reaches_only_versions_that_know_it(
    api_key: int, old: int, new: int
) -> None:
    assert for_version(E.producer_fenced, request(api_key, old)) is E.invalid_producer_epoch
    assert for_version(E.producer_fenced, request(api_key, new)) is E.producer_fenced
    assert for_version(E.concurrent_transactions, request(api_key, old)) is (
        E.concurrent_transactions
    )


def test_verification_errors_as_producers_expect_them() -> None:
    assert to_produce_error(E.invalid_txn_state) is E.invalid_txn_state
    assert to_produce_error(E.producer_fenced) is E.invalid_producer_epoch
    for retriable in (E.not_coordinator, E.coordinator_not_available, E.concurrent_transactions):
        assert to_produce_error(retriable) is E.not_enough_replicas


def test_a_commit_that_missed_the_isr_fails_every_committed_partition() -> None:
    cls = load_response_schema(8, 8)
    part, topic = (
        nested(cls, "OffsetCommitResponsePartition"),
        nested(cls, "OffsetCommitResponseTopic"),
    )
    response = make(
        cls,
        throttle_time=datetime.timedelta(0),
        topics=(
            make(
                topic,
                name="t",
                partitions=(
                    make(part, partition_index=0, error_code=E.none),
                    make(part, partition_index=1, error_code=E.unknown_topic_or_partition),
                ),
            ),
        ),
    )
    failed = _fail_offsets(response, E.not_coordinator)
    codes = [p.error_code for p in failed.topics[0].partitions]
    assert codes == [E.not_coordinator, E.unknown_topic_or_partition]
