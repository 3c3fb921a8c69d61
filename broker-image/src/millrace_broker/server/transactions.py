"""Transaction APIs: InitProducerId with a transactional.id (22), AddPartitionsToTxn (24),
AddOffsetsToTxn (25), EndTxn (26), TxnOffsetCommit (28), DescribeTransactions (65),
ListTransactions (66); the coordinator's wiring.

The transaction coordinator lives beside the group coordinator (`transaction_coordinator_for`
finds or creates it); its `__transaction_state` writes wait for the in-sync replicas
(`coordinator_appends`) and its markers go to the partitions' leaders (`txn_markers`).
It follows the leadership of `__transaction_state` partitions through metadata changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import weakref
from typing import Any

from kio.schema.errors import ErrorCode

from ..coordinator import offsets as group_offsets
from ..coordinator.records import partition_for
from ..coordinator.transaction import KAFKA_STATE_NAMES, MarkerJob, TxnConfig, TxnState
from ..coordinator.txn_runtime import TransactionCoordinator
from .broker import Broker
from .context import RequestContext
from .coordinator_appends import wait_coordinator_write
from .group_offsets import _partition_exists, commit_partitions
from .group_wiring import (
    OFFSETS_TOPIC,
    TRANSACTION_TOPIC,
    BrokerOffsetsLog,
    ready_coordinator,
)
from .kio_build import ZERO_THROTTLE, make, nested, response_class
from .producer_ids import ProducerIdError, allocate_producer_id
from .txn_markers import handle_write_txn_markers, write_markers

__all__ = ["handle_write_txn_markers"]  # served from here with the other transaction APIs

log = logging.getLogger(__name__)

_TXN_COORDINATORS: weakref.WeakKeyDictionary[Broker, TransactionCoordinator] = (
    weakref.WeakKeyDictionary()
)
_TIMERS: weakref.WeakKeyDictionary[Broker, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def _ms(value: Any) -> int:
    return int(value.total_seconds() * 1000)


# The first version of each API that knows PRODUCER_FENCED (KIP-588); older requests get
# INVALID_PRODUCER_EPOCH instead, as Kafka answers: librdkafka (AddOffsetsToTxn v0) treats
# only the old code as fatal fencing there.
PRODUCER_FENCED_SINCE = {22: 4, 24: 2, 25: 2, 26: 2}


def for_version(error: ErrorCode, request: Any) -> ErrorCode:
    """`error` as a client of the request's version understands it."""
    since = PRODUCER_FENCED_SINCE.get(request.__api_key__)
    if error is ErrorCode.producer_fenced and since is not None and request.__version__ < since:
        return ErrorCode.invalid_producer_epoch
    return error


# -- wiring ---------------------------------------------------------------------------------


def transaction_coordinator_for(broker: Broker) -> TransactionCoordinator:
    found = _TXN_COORDINATORS.get(broker)
    if found is None:
        found = TransactionCoordinator(
            config=TxnConfig(max_timeout_ms=broker.config.get_int("transaction.max.timeout.ms")),
            log=BrokerOffsetsLog(broker, topic=TRANSACTION_TOPIC),
            write_markers=lambda job: _write_markers(broker, job),
            clock_ms=broker.clock_ms,
            replicated=lambda p: wait_coordinator_write(broker, TRANSACTION_TOPIC, p),
            id_expiration_ms=broker.config.get_int("transactional.id.expiration.ms"),
        )
        _TXN_COORDINATORS[broker] = found
        coordinator = found

        def on_metadata_change(old: object, new: object) -> None:
            # As for groups: follow the leadership of __transaction_state partitions,
            # and run the timer (timeouts, marker retries) once anything is loaded.
            if coordinator.loaded:
                coordinator.refresh_leadership()
            elif TRANSACTION_TOPIC in broker.image.topics:
                coordinator.ensure_loaded()
            if coordinator.loaded:
                _start_timer(broker, coordinator)

        broker.controller.subscribe(on_metadata_change)
    return found


async def _write_markers(broker: Broker, job: MarkerJob) -> None:
    """Markers carry the coordinator's epoch: the leader epoch of the transactional id's
    `__transaction_state` partition."""
    coordinator = transaction_coordinator_for(broker)
    topic = broker.image.topics.get(TRANSACTION_TOPIC)
    part = (
        topic.partitions.get(coordinator.partition_of(job.transactional_id))
        if topic is not None
        else None
    )
    epoch = part.leader_epoch if part is not None else 0
    await write_markers(broker, job, coordinator_epoch=epoch)


def install_transaction_coordinator(broker: Broker) -> TransactionCoordinator:
    """Create the coordinator now; load it (and start its timer) if the topic exists."""
    coordinator = transaction_coordinator_for(broker)
    if TRANSACTION_TOPIC in broker.image.topics:
        coordinator.ensure_loaded()
        _start_timer(broker, coordinator)
    return coordinator


def ready_txn_coordinator(
    broker: Broker, transactional_id: str
) -> tuple[TransactionCoordinator | None, ErrorCode]:
    if TRANSACTION_TOPIC not in broker.image.topics:
        return None, ErrorCode.coordinator_not_available
    coordinator = transaction_coordinator_for(broker)
    if not coordinator.is_local(transactional_id):
        partition = coordinator.partition_of(transactional_id)
        log.info(
            "not the coordinator of %s: __transaction_state-%d is led by %s",
            transactional_id,
            partition,
            broker.image.topics[TRANSACTION_TOPIC].partitions.get(partition),
        )
        return None, ErrorCode.not_coordinator
    coordinator.ensure_loaded()
    _start_timer(broker, coordinator)
    return coordinator, ErrorCode.none


def _start_timer(broker: Broker, coordinator: TransactionCoordinator) -> None:
    task = _TIMERS.get(broker)
    if task is not None and not task.done():
        return
    interval_s = (
        max(
            broker.config.get_int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
            100,
        )
        / 1000
    )

    async def run() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await coordinator.tick(broker.clock_ms())
            except Exception:
                log.exception("transaction timeout check failed; continuing")

    with contextlib.suppress(RuntimeError):
        _TIMERS[broker] = asyncio.get_running_loop().create_task(run(), name="txn-timeouts")


# -- handlers -------------------------------------------------------------------------------


async def handle_init_producer_id_transactional(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    """InitProducerId for a transactional.id (the lead's handler delegates here)."""
    cls = response_class(request)
    coordinator, error = ready_txn_coordinator(broker, request.transactional_id)
    pid, epoch = -1, -1
    if coordinator is not None:
        try:
            error, pid, epoch = await coordinator.init_producer(
                transactional_id=request.transactional_id,
                timeout_ms=_ms(request.transaction_timeout),
                producer_id=getattr(request, "producer_id", -1),
                producer_epoch=getattr(request, "producer_epoch", -1),
                allocate=lambda: allocate_producer_id(broker, ctx),
            )
        except ProducerIdError:  # no controller reachable: the client retries
            error = ErrorCode.coordinator_not_available
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=for_version(error, request),
        producer_id=pid,
        producer_epoch=epoch,
    )


async def handle_add_partitions_to_txn(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "AddPartitionsToTxnTopicResult")
    part_cls = nested(cls, "AddPartitionsToTxnPartitionResult")
    if hasattr(request, "transactions"):  # v4+: batched, from clients or brokers
        result_cls = nested(cls, "AddPartitionsToTxnResult")
        results = []
        for t in request.transactions:
            results.append(
                make(
                    result_cls,
                    transactional_id=t.transactional_id,
                    topic_results=await _add_partitions(
                        broker,
                        t.transactional_id,
                        t.producer_id,
                        t.producer_epoch,
                        t.topics,
                        topic_cls,
                        part_cls,
                        verify_only=t.verify_only,
                    ),
                )
            )
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.none,
            results_by_transaction=tuple(results),
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        results_by_topic_v3_and_below=await _add_partitions(
            broker,
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            request.v3_and_below_topics,
            topic_cls,
            part_cls,
            legacy_request=request,
        ),
    )


async def _add_partitions(
    broker: Broker,
    transactional_id: str,
    producer_id: int,
    epoch: int,
    topics: Any,
    topic_cls: type[Any],
    part_cls: type[Any],
    *,
    verify_only: bool = False,
    legacy_request: Any = None,
) -> tuple[Any, ...]:
    wanted = [(t.name, int(p)) for t in topics for p in t.partitions]
    exists = _partition_exists(broker)
    unknown = {w for w in wanted if not exists(*w)}
    coordinator, error = ready_txn_coordinator(broker, transactional_id)
    errors: dict[tuple[str, int], ErrorCode] = {}
    if coordinator is None:
        errors = dict.fromkeys(wanted, error)
    elif unknown:
        errors = {
            w: ErrorCode.unknown_topic_or_partition
            if w in unknown
            else ErrorCode.operation_not_attempted
            for w in wanted
        }
    elif verify_only:
        txn = coordinator.txns.get(transactional_id)
        ok = txn is not None and txn.producer_id == producer_id and txn.producer_epoch == epoch
        errors = {
            w: ErrorCode.none
            if ok and txn is not None and w in txn.partitions
            else ErrorCode.invalid_txn_state
            for w in wanted
        }
    else:
        code = await coordinator.add_partitions(transactional_id, producer_id, epoch, set(wanted))
        if legacy_request is not None:
            code = for_version(code, legacy_request)
        errors = dict.fromkeys(wanted, code)
    return tuple(
        make(
            topic_cls,
            name=t.name,
            results_by_partition=tuple(
                make(part_cls, partition_index=p, partition_error_code=errors[(t.name, int(p))])
                for p in t.partitions
            ),
        )
        for t in topics
    )


async def handle_add_offsets_to_txn(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    coordinator, error = ready_txn_coordinator(broker, request.transactional_id)
    if coordinator is not None:
        count = (
            len(broker.image.topics[OFFSETS_TOPIC].partitions)
            if (OFFSETS_TOPIC in broker.image.topics)
            else broker.config.get_int("offsets.topic.num.partitions")
        )
        partition = partition_for(request.group_id, count)
        error = await coordinator.add_partitions(
            request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            {(OFFSETS_TOPIC, partition)},
        )
    return make(cls, throttle_time=ZERO_THROTTLE, error_code=for_version(error, request))


async def handle_end_txn(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    coordinator, error = ready_txn_coordinator(broker, request.transactional_id)
    if coordinator is not None:
        error = await coordinator.end_txn(
            request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            bool(request.committed),
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=for_version(error, request),
        producer_id=request.producer_id,
        producer_epoch=request.producer_epoch,
    )


def handle_txn_offset_commit(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "TxnOffsetCommitResponseTopic")
    part_cls = nested(cls, "TxnOffsetCommitResponsePartition")
    wanted = commit_partitions(request)
    coordinator, error = ready_coordinator(broker, request.group_id)
    if coordinator is None:
        errors = [error] * len(wanted)
    else:
        errors = group_offsets.txn_commit(
            coordinator.manager,
            group_id=request.group_id,
            producer_id=request.producer_id,
            producer_epoch=request.producer_epoch,
            member_id=getattr(request, "member_id", ""),
            instance_id=getattr(request, "group_instance_id", None),
            generation=getattr(request, "generation_id", -1),
            partitions=wanted,
            partition_exists=_partition_exists(broker),
            now=broker.clock_ms(),
        )
    it = iter(errors)
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        topics=tuple(
            make(
                topic_cls,
                name=t.name,
                partitions=tuple(
                    make(part_cls, partition_index=p.partition_index, error_code=next(it))
                    for p in t.partitions
                ),
            )
            for t in request.topics
        ),
    )


# -- admin: DescribeTransactions (65), ListTransactions (66) -----------------------------------


def _start_time(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def handle_describe_transactions(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    state_cls = nested(cls, "TransactionState")
    topic_cls = nested(cls, "TopicData")
    out = []
    for tid in request.transactional_ids:
        coordinator, error = ready_txn_coordinator(broker, tid)
        txn = coordinator.txns.get(tid) if coordinator is not None else None
        if coordinator is not None and txn is None:
            error = ErrorCode.transactional_id_not_found
        if txn is None:
            out.append(
                make(
                    state_cls,
                    error_code=error,
                    transactional_id=tid,
                    transaction_state="",
                    transaction_timeout=ZERO_THROTTLE,
                    transaction_start_time=_start_time(-1),
                    producer_id=-1,
                    producer_epoch=-1,
                    topics=(),
                )
            )
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(txn.partitions):
            by_topic.setdefault(topic, []).append(partition)
        out.append(
            make(
                state_cls,
                error_code=ErrorCode.none,
                transactional_id=tid,
                transaction_state=KAFKA_STATE_NAMES[txn.state],
                transaction_timeout=datetime.timedelta(milliseconds=txn.timeout_ms),
                transaction_start_time=_start_time(
                    txn.start_ms if txn.state is TxnState.ONGOING else -1
                ),
                producer_id=txn.producer_id,
                producer_epoch=txn.producer_epoch,
                topics=tuple(
                    make(topic_cls, topic=t, partitions=tuple(ps)) for t, ps in by_topic.items()
                ),
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, transaction_states=tuple(out))


def handle_list_transactions(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    state_cls = nested(cls, "TransactionState")
    known = {name.lower(): name for name in KAFKA_STATE_NAMES.values()}
    wanted = {s.lower() for s in request.state_filters}
    unknown = tuple(s for s in request.state_filters if s.lower() not in known)
    pids = set(request.producer_id_filters)
    min_duration = getattr(request, "duration_filter", -1)
    now = broker.clock_ms()
    listed = []
    if TRANSACTION_TOPIC in broker.image.topics:
        coordinator = transaction_coordinator_for(broker)
        coordinator.ensure_loaded()
        for txn in coordinator.txns.values():
            name = KAFKA_STATE_NAMES[txn.state]
            if wanted and name.lower() not in wanted:
                continue
            if pids and txn.producer_id not in pids:
                continue
            if min_duration >= 0 and (
                txn.state is not TxnState.ONGOING or now - txn.start_ms < min_duration
            ):
                continue
            listed.append(
                make(
                    state_cls,
                    transactional_id=txn.transactional_id,
                    producer_id=txn.producer_id,
                    transaction_state=name,
                )
            )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        unknown_state_filters=unknown,
        transaction_states=tuple(listed),
    )


async def stop_transaction_timer(broker: Broker) -> None:
    task = _TIMERS.pop(broker, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
