"""Transaction markers: the COMMIT/ABORT control batches that end a transaction on each of
its partitions, wherever the partitions' leaders are.

`write_markers(broker, job)` is the transaction coordinator's side: the partitions of the
transaction are grouped by leader (from this broker's metadata image); those led here are
appended directly, the others go to their leaders in one WriteTxnMarkers (API 27)
request per broker, over the inter-broker listener, all in parallel. It returns once
every marker is in its partition's in-sync replicas, and raises when one is not, so that
the coordinator retries the job (a marker written twice is harmless: the second finds no
open transaction). A partition that no longer exists is skipped.

`handle_write_txn_markers` is the partition leader's side (also what Kafka's own brokers
send): append, then answer once the markers are replicated, as Kafka does (acks=all).
`append_marker` on a `__consumer_offsets` partition also publishes or drops the offsets the
transaction committed there.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from ..coordinator.transaction import MarkerJob
from ..storage.errors import StorageError
from ..storage.records import Record, build_batch
from .broker import Broker
from .context import RequestContext
from .coordinator_appends import wait_replicated, write_timeout_s
from .group_wiring import OFFSETS_TOPIC, coordinator_for
from .kio_build import make, nested, response_class

log = logging.getLogger(__name__)
CONTROL_TRANSACTIONAL = 0x30  # control bit | transactional bit
ABORT, COMMIT = 0, 1
WRITE_TXN_MARKERS_VERSION = 1  # the only version Kafka 4.1 serves
Partition = tuple[str, int]


class MarkerError(Exception):
    """A marker could not be written or replicated; the coordinator retries the job."""


def append_marker(
    broker: Broker,
    topic: str,
    partition: int,
    *,
    producer_id: int,
    producer_epoch: int,
    commit: bool,
    coordinator_epoch: int = 0,
) -> ErrorCode:
    """Append one COMMIT/ABORT control batch to a partition this broker leads."""
    found = broker.image.topics.get(topic)
    part = found.partitions.get(partition) if found is not None else None
    plog = broker.partition_log(topic, partition)
    if part is None or plog is None:
        return ErrorCode.unknown_topic_or_partition
    if part.leader != broker.node_id:
        return ErrorCode.not_leader_or_follower
    now = broker.clock_ms()
    marker = Record(
        0,
        now,
        struct.pack(">hh", 0, COMMIT if commit else ABORT),
        struct.pack(">hi", 0, coordinator_epoch),
    )
    batch = bytes(
        build_batch(
            [marker],
            base_offset=0,
            attributes=CONTROL_TRANSACTIONAL,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=-1,
        )
    )
    try:
        plog.append_as_leader(
            batch, leader_epoch=part.leader_epoch, now_ms=now, origin="coordinator"
        )
    except StorageError as exc:
        return exc.error_code
    broker.purgatory.notify((topic, partition))
    if topic == OFFSETS_TOPIC:
        coordinator_for(broker).complete_txn(producer_id, partition, commit)
    return ErrorCode.none


async def append_markers_replicated(
    broker: Broker,
    partitions: list[Partition],
    *,
    producer_id: int,
    producer_epoch: int,
    commit: bool,
    coordinator_epoch: int,
) -> dict[Partition, ErrorCode]:
    """Append a marker to each partition led here, then wait for the in-sync replicas
    of those that took it; the error code of each partition."""
    codes = {
        tp: append_marker(
            broker,
            *tp,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            commit=commit,
            coordinator_epoch=coordinator_epoch,
        )
        for tp in partitions
    }
    for tp, code in codes.items():
        if code is ErrorCode.none:
            codes[tp] = await wait_replicated(broker, *tp)
    return codes


def _check(job: MarkerJob, codes: dict[Partition, ErrorCode], where: str) -> None:
    failed = []
    for (topic, partition), code in sorted(codes.items()):
        if code is ErrorCode.unknown_topic_or_partition:
            log.warning(
                "transaction %s: partition %s-%d is gone; no marker",
                job.transactional_id,
                topic,
                partition,
            )
        elif code is not ErrorCode.none:
            failed.append(f"{topic}-{partition}: {code.name}")
    if failed:
        raise MarkerError(f"markers {where} failed: {', '.join(failed)}")


async def write_markers(broker: Broker, job: MarkerJob, *, coordinator_epoch: int = 0) -> None:
    """Write the job's markers on every partition's leader; raises MarkerError."""
    by_leader: dict[int, list[Partition]] = {}
    for topic, partition in sorted(job.partitions):
        found = broker.image.topics.get(topic)
        part = found.partitions.get(partition) if found is not None else None
        if part is None:
            _check(job, {(topic, partition): ErrorCode.unknown_topic_or_partition}, "")
            continue
        by_leader.setdefault(part.leader, []).append((topic, partition))
    if -1 in by_leader:
        raise MarkerError(f"no leader for {by_leader[-1]}")
    local = by_leader.pop(broker.node_id, [])

    async def here() -> None:
        codes = await append_markers_replicated(
            broker,
            local,
            producer_id=job.producer_id,
            producer_epoch=job.producer_epoch,
            commit=job.commit,
            coordinator_epoch=coordinator_epoch,
        )
        _check(job, codes, "here")

    async def there(leader: int, partitions: list[Partition]) -> None:
        codes = await _send_markers(broker, leader, job, partitions, coordinator_epoch)
        _check(job, codes, f"on broker {leader}")

    results = await asyncio.gather(
        here(),
        *(there(leader, parts) for leader, parts in by_leader.items()),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise MarkerError("; ".join(str(e) for e in errors))


async def _send_markers(
    broker: Broker,
    leader: int,
    job: MarkerJob,
    partitions: list[Partition],
    coordinator_epoch: int,
) -> dict[Partition, ErrorCode]:
    """One WriteTxnMarkers request to another broker (a connection per job: markers are
    rare next to produce traffic, and a fresh connection needs no sharing rules)."""
    node = broker.image.brokers.get(leader)
    connect = broker.replication.connect
    if node is None or not node.endpoints or connect is None:
        raise MarkerError(f"broker {leader} cannot be reached")
    wanted = broker.config.inter_broker_listener_name
    endpoint = next((e for e in node.endpoints if e[0] == wanted), node.endpoints[0])
    cls: Any = load_request_schema(27, WRITE_TXN_MARKERS_VERSION)
    marker_cls, topic_cls = nested(cls, "WritableTxnMarker"), nested(cls, "WritableTxnMarkerTopic")
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    request = cls(
        markers=(
            marker_cls(
                producer_id=job.producer_id,
                producer_epoch=job.producer_epoch,
                transaction_result=job.commit,
                coordinator_epoch=coordinator_epoch,
                topics=tuple(
                    topic_cls(name=t, partition_indexes=tuple(ps)) for t, ps in by_topic.items()
                ),
            ),
        )
    )
    timeout_s = write_timeout_s(broker) + 5
    conn = await connect(endpoint[1], endpoint[2])
    try:
        response = await conn.request(request, timeout_s=timeout_s)
    finally:
        conn.close()
    codes: dict[Partition, ErrorCode] = dict.fromkeys(partitions, ErrorCode.unknown_server_error)
    for result in response.markers:
        for t in result.topics:
            for p in t.partitions:
                codes[(t.name, int(p.partition_index))] = ErrorCode(p.error_code)
    return codes


async def handle_write_txn_markers(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    """WriteTxnMarkers (27): a transaction coordinator's markers for partitions led here,
    answered once they are in the in-sync replicas."""
    cls = response_class(request)
    result_cls = nested(cls, "WritableTxnMarkerResult")
    topic_cls = nested(cls, "WritableTxnMarkerTopicResult")
    part_cls = nested(cls, "WritableTxnMarkerPartitionResult")
    results = []
    for m in request.markers:
        wanted = [(t.name, int(p)) for t in m.topics for p in t.partition_indexes]
        codes = await append_markers_replicated(
            broker,
            wanted,
            producer_id=m.producer_id,
            producer_epoch=m.producer_epoch,
            commit=bool(m.transaction_result),
            coordinator_epoch=m.coordinator_epoch,
        )
        topics = tuple(
            make(
                topic_cls,
                name=t.name,
                partitions=tuple(
                    make(part_cls, partition_index=p, error_code=codes[(t.name, int(p))])
                    for p in t.partition_indexes
                ),
            )
            for t in m.topics
        )
        results.append(make(result_cls, producer_id=m.producer_id, topics=topics))
    return make(cls, markers=tuple(results))
