"""Transaction verification on Produce (KIP-890 part 1), as Kafka 4.1 does by default.

A transactional batch that would start a transaction on a partition (its producer has no
transaction open there) is appended only once the transaction coordinator confirms that
the partition was added to the transaction: locally when this broker coordinates the
transactional id, otherwise with AddPartitionsToTxn v4 `verify_only` to the broker that
does. Without this check a batch for a partition never added would open a transaction
that no marker ever ends, holding that partition's last stable offset back for good (a
"hanging transaction").

Errors, as Kafka translates them for producers: a partition not in the transaction is
INVALID_TXN_STATE ("Partition was not added to the transaction"), a fenced producer is
INVALID_PRODUCER_EPOCH, and a coordinator that cannot answer now is NOT_ENOUGH_REPLICAS
(retriable without a metadata refresh). When any partition of a request fails, nothing
of the request is appended: the other partitions get NOT_ENOUGH_REPLICAS and the client
resends them (Kafka appends them).

`with_txn_verification(handle_produce)` wraps the Produce handler: requests without a
transactional id, and transactional ones whose partitions already have their producer's
transaction open, go straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from ..coordinator.records import partition_for
from ..protocol.produce_response import (
    PartitionProduceResult,
    TopicProduceResult,
    encode_produce_response,
)
from ..protocol.record_batch import read_header
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .group_wiring import TRANSACTION_TOPIC
from .kio_build import nested

log = logging.getLogger(__name__)
Partition = tuple[str, int]
RETRIABLE = {
    ErrorCode.concurrent_transactions,
    ErrorCode.network_exception,
    ErrorCode.coordinator_load_in_progress,
    ErrorCode.coordinator_not_available,
    ErrorCode.not_coordinator,
}
VERIFY_TIMEOUT_S = 10.0


def to_produce_error(error: ErrorCode) -> ErrorCode:
    if error in RETRIABLE:
        return ErrorCode.not_enough_replicas
    if error is ErrorCode.producer_fenced:
        return ErrorCode.invalid_producer_epoch
    return error


def unverified(broker: Broker, request: Any) -> tuple[int, int, list[Partition]]:
    """(producer id, epoch, partitions) whose transactional batch would open a
    transaction on a partition led here; no partitions when nothing needs checking."""
    image = broker.image
    producer_id, epoch, wanted = -1, -1, []
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        if name is None:
            found = image.topic_by_id(topic_data.topic_id)
            name = found.name if found is not None else None
        if name is None:
            continue
        for pdata in topic_data.partition_data:
            records = pdata.records
            if not records or len(records) < 61:
                continue
            try:
                header = read_header(records)
            except Exception:
                continue  # the log refuses a malformed batch with its own error
            if not header.is_transactional or header.is_control:
                continue
            plog = broker.partition_log(name, pdata.index)
            part = image.topics[name].partitions.get(pdata.index) if name in image.topics else None
            if plog is None or part is None or part.leader != broker.node_id:
                continue
            entry = plog.producer_state(header.producer_id)
            if (
                entry is not None
                and entry.current_txn_first_offset is not None
                and entry.epoch == header.producer_epoch
            ):
                continue  # its transaction is already open here: verified before
            producer_id, epoch = header.producer_id, header.producer_epoch
            wanted.append((name, int(pdata.index)))
    return producer_id, epoch, wanted


async def verify(
    broker: Broker, transactional_id: str, producer_id: int, epoch: int, wanted: list[Partition]
) -> dict[Partition, ErrorCode]:
    """The coordinator's verdict per partition (NONE when it is in the transaction)."""
    topic = broker.image.topics.get(TRANSACTION_TOPIC)
    if topic is None or not topic.partitions:
        return dict.fromkeys(wanted, ErrorCode.invalid_txn_state)  # no transaction at all
    part = topic.partitions.get(partition_for(transactional_id, len(topic.partitions)))
    leader = part.leader if part is not None else -1
    if leader == broker.node_id:
        from .transactions import transaction_coordinator_for

        coordinator = transaction_coordinator_for(broker)
        coordinator.ensure_loaded()
        txn = coordinator.txns.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return dict.fromkeys(wanted, ErrorCode.invalid_producer_id_mapping)
        if txn.producer_epoch != epoch:
            return dict.fromkeys(wanted, ErrorCode.producer_fenced)
        return {
            w: ErrorCode.none if w in txn.partitions else ErrorCode.invalid_txn_state
            for w in wanted
        }
    try:
        return await _ask(broker, leader, transactional_id, producer_id, epoch, wanted)
    except Exception as exc:
        log.info("cannot verify the transaction of %s: %s", transactional_id, exc)
        return dict.fromkeys(wanted, ErrorCode.coordinator_not_available)


async def _ask(
    broker: Broker,
    leader: int,
    transactional_id: str,
    producer_id: int,
    epoch: int,
    wanted: list[Partition],
) -> dict[Partition, ErrorCode]:
    node = broker.image.brokers.get(leader)
    connect = broker.replication.connect
    if node is None or not node.endpoints or connect is None:
        raise ConnectionError(f"the coordinator (broker {leader}) cannot be reached")
    listener = broker.config.inter_broker_listener_name
    endpoint = next((e for e in node.endpoints if e[0] == listener), node.endpoints[0])
    cls: Any = load_request_schema(24, 4)
    by_topic: dict[str, list[int]] = {}
    for name, index in wanted:
        by_topic.setdefault(name, []).append(index)
    request = cls(
        transactions=(
            nested(cls, "AddPartitionsToTxnTransaction")(
                transactional_id=transactional_id,
                producer_id=producer_id,
                producer_epoch=epoch,
                verify_only=True,
                topics=tuple(
                    nested(cls, "AddPartitionsToTxnTopic")(name=t, partitions=tuple(ps))
                    for t, ps in by_topic.items()
                ),
            ),
        )
    )
    conn = await connect(endpoint[1], endpoint[2])
    try:
        response = await conn.request(request, timeout_s=VERIFY_TIMEOUT_S)
    finally:
        conn.close()
    if response.error_code:
        return dict.fromkeys(wanted, ErrorCode(response.error_code))
    verdict = dict.fromkeys(wanted, ErrorCode.invalid_txn_state)
    for result in response.results_by_transaction:
        for t in result.topic_results:
            for p in t.results_by_partition:
                verdict[(t.name, int(p.partition_index))] = ErrorCode(p.partition_error_code)
    return verdict


def with_txn_verification(produce: Handler) -> Handler:
    def handle(broker: Broker, ctx: RequestContext, request: Any) -> Any:
        transactional_id = request.transactional_id
        if transactional_id is None:
            return produce(broker, ctx, request)
        producer_id, epoch, wanted = unverified(broker, request)
        if not wanted:
            return produce(broker, ctx, request)
        return _verified(
            produce, broker, ctx, request, transactional_id, producer_id, epoch, wanted
        )

    return handle


async def _verified(
    produce: Handler,
    broker: Broker,
    ctx: RequestContext,
    request: Any,
    transactional_id: str,
    producer_id: int,
    epoch: int,
    wanted: list[Partition],
) -> Any:
    verdict = await verify(broker, transactional_id, producer_id, epoch, wanted)
    failed = {w: to_produce_error(e) for w, e in verdict.items() if e is not ErrorCode.none}
    if not failed:
        result = produce(broker, ctx, request)
        return await result if isinstance(result, Awaitable) else result
    if request.acks == 0:
        return None
    log.info("transaction %s: refused produce to %s", transactional_id, sorted(failed))
    topics = []
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        found = broker.image.topic_by_id(topic_data.topic_id) if name is None else None
        key_name = name if name is not None else (found.name if found is not None else "")
        parts = []
        for pdata in topic_data.partition_data:
            code = failed.get((key_name, int(pdata.index)), ErrorCode.not_enough_replicas)
            message = (
                "Partition was not added to the transaction"
                if code is ErrorCode.invalid_txn_state
                else "Unable to verify the partition has been added to the transaction"
            )
            parts.append(PartitionProduceResult(pdata.index, code, error_message=message))
        topics.append(TopicProduceResult(name or "", getattr(topic_data, "topic_id", None), parts))
    return encode_produce_response(ctx.correlation_id, ctx.api_version, topics)
