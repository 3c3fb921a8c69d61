"""Connect the group coordinator to a broker: `__consumer_offsets` and one coordinator each.

`install_group_coordinator(broker)` builds the coordinator from the broker's `group.*` and
`offsets.*` properties; `coordinator_for(broker)` finds it (installing on first use), so
the group handlers need no change to the broker's own wiring. `ensure_offsets_topic`
creates `__consumer_offsets` the first time a client looks for a coordinator, as Kafka
does: compacted, `offsets.topic.num.partitions` partitions.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

from kio.schema.errors import ErrorCode

from ..coordinator.consumer_group import CgConfig
from ..coordinator.manager import GroupConfig
from ..coordinator.runtime import GroupCoordinator
from ..metadata.controller import ControllerError, NewTopic
from ..protocol.record_batch import iter_batches
from .broker import Broker

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
TRANSACTION_TOPIC = "__transaction_state"
READ_CHUNK_BYTES = 1 << 20

_COORDINATORS: weakref.WeakKeyDictionary[Broker, GroupCoordinator] = weakref.WeakKeyDictionary()


class BrokerOffsetsLog:
    """`__consumer_offsets` as seen through one broker's metadata image and logs."""

    def __init__(self, broker: Broker, *, topic: str = "__consumer_offsets") -> None:
        self.broker = broker
        self.topic = topic

    def partition_count(self) -> int:
        topic = self.broker.image.topics.get(self.topic)
        if topic is not None and topic.partitions:
            return len(topic.partitions)
        return self.broker.config.get_int("offsets.topic.num.partitions")

    def is_local(self, partition: int) -> bool:
        topic = self.broker.image.topics.get(self.topic)
        part = topic.partitions.get(partition) if topic is not None else None
        return (
            part is not None
            and part.leader == self.broker.node_id
            and self.broker.partition_log(self.topic, partition) is not None
        )

    def append(self, partition: int, batch: bytes, now_ms: int) -> None:
        plog = self.broker.partition_log(self.topic, partition)
        topic = self.broker.image.topics.get(self.topic)
        if plog is None or topic is None:
            raise RuntimeError(f"{self.topic}-{partition} is not hosted here")
        epoch = topic.partitions[partition].leader_epoch
        plog.append_as_leader(batch, leader_epoch=epoch, now_ms=now_ms, origin="coordinator")

    def batches(self, partition: int) -> Iterator[bytes | memoryview]:
        plog = self.broker.partition_log(self.topic, partition)
        if plog is None:
            return
        offset, end = plog.log_start_offset, plog.log_end_offset
        for _ in range(1 + end - offset):  # bounded: every pass moves past >= 1 record
            if offset >= end:
                return
            data = memoryview(plog.read(offset, READ_CHUNK_BYTES, max_offset=end).records)
            if not data:
                return
            for pos, header in iter_batches(data):
                yield data[pos : pos + header.total_size]
                offset = header.last_offset + 1


def group_config(broker: Broker) -> GroupConfig:
    c = broker.config
    return GroupConfig(
        min_session_timeout_ms=c.get_int("group.min.session.timeout.ms"),
        max_session_timeout_ms=c.get_int("group.max.session.timeout.ms"),
        initial_rebalance_delay_ms=c.get_int("group.initial.rebalance.delay.ms"),
        max_size=c.get_int("group.max.size"),
        offsets_retention_ms=c.get_int("offsets.retention.minutes") * 60_000,
        offset_metadata_max_bytes=c.get_int("offset.metadata.max.bytes"),
    )


def loaded_coordinator(broker: Broker) -> GroupCoordinator | None:
    """The broker's group coordinator if one was installed; never creates one."""
    return _COORDINATORS.get(broker)


def install_group_coordinator(broker: Broker) -> GroupCoordinator:
    """Create (once) the coordinator of this broker; load it if `__consumer_offsets` exists."""
    existing = _COORDINATORS.get(broker)
    if existing is not None:
        return existing
    coordinator = GroupCoordinator(
        config=group_config(broker),
        log=BrokerOffsetsLog(broker),
        clock_ms=broker.clock_ms,
        retention_check_interval_ms=broker.config.get_int("offsets.retention.check.interval.ms"),
    )
    c = broker.config
    coordinator.manager.cg_config = CgConfig(
        session_timeout_ms=c.get_int("group.consumer.session.timeout.ms"),
        heartbeat_interval_ms=c.get_int("group.consumer.heartbeat.interval.ms"),
        max_size=c.get_int("group.consumer.max.size"),
        assignors=tuple(c.get_list("group.consumer.assignors")) or ("uniform", "range"),
    )
    _COORDINATORS[broker] = coordinator

    def on_metadata_change(old: object, new: object) -> None:
        # Leadership of __consumer_offsets partitions moves with the metadata: load the
        # ones gained, unload the ones lost (Kafka's onElection / onResignation).
        if coordinator.loaded:
            coordinator.refresh_leadership()
        elif OFFSETS_TOPIC in broker.image.topics:
            coordinator.ensure_loaded()

    broker.controller.subscribe(on_metadata_change)
    if OFFSETS_TOPIC in broker.image.topics:
        coordinator.ensure_loaded()
    return coordinator


def coordinator_for(broker: Broker) -> GroupCoordinator:
    return _COORDINATORS.get(broker) or install_group_coordinator(broker)


def ready_coordinator(
    broker: Broker, group_id: str | None = None
) -> tuple[GroupCoordinator | None, ErrorCode]:
    """The loaded coordinator, or the error to answer.

    COORDINATOR_NOT_AVAILABLE until `__consumer_offsets` exists; NOT_COORDINATOR when
    another broker leads the group's partition.
    """
    coordinator = coordinator_for(broker)
    if OFFSETS_TOPIC not in broker.image.topics:
        return None, ErrorCode.coordinator_not_available
    coordinator.ensure_loaded()
    if group_id is not None and not coordinator.log.is_local(coordinator.partition_of(group_id)):
        return None, ErrorCode.not_coordinator
    return coordinator, ErrorCode.none


async def ensure_internal_topic(broker: Broker, name: str) -> ErrorCode:
    """Create `__consumer_offsets` or `__transaction_state` if missing."""
    if name in broker.image.topics:
        return ErrorCode.none
    c = broker.config
    if name == OFFSETS_TOPIC:
        partitions = c.get_int("offsets.topic.num.partitions")
        wanted_rf = c.get_int("offsets.topic.replication.factor")
        segment_bytes = c.get_int("offsets.topic.segment.bytes")
        configs = {
            "cleanup.policy": "compact",
            "compression.type": "producer",
            "segment.bytes": str(segment_bytes),
        }
    else:
        partitions = c.get_int("transaction.state.log.num.partitions")
        wanted_rf = c.get_int("transaction.state.log.replication.factor")
        configs = {
            "cleanup.policy": "compact",
            "compression.type": "uncompressed",
            "min.insync.replicas": str(c.get_int("transaction.state.log.min.isr")),
            "segment.bytes": str(c.get_int("transaction.state.log.segment.bytes")),
        }
    live = len(broker.image.brokers)
    if live < max(wanted_rf, 1):
        log.warning(
            "cannot create %s yet: replication factor %d needs more than the %d "
            "registered broker(s)",
            name,
            wanted_rf,
            live,
        )
        return ErrorCode.coordinator_not_available
    rf = wanted_rf
    try:
        # Through the active controller wherever it is (forwarded from other nodes).
        await broker.create_topic(NewTopic(name, partitions, rf, {}, configs))
    except ControllerError as exc:
        if exc.error_code == ErrorCode.topic_already_exists:
            return ErrorCode.none
        log.warning("cannot create %s: %s", name, exc.message)
        return ErrorCode.coordinator_not_available
    except Exception as exc:  # the controller could not be reached: the client retries
        log.warning("cannot create %s yet: %s", name, exc)
        return ErrorCode.coordinator_not_available
    if name not in broker.image.topics:
        return ErrorCode.coordinator_not_available  # not in this node's metadata yet
    log.info("created %s with %d partitions", name, partitions)
    if name == OFFSETS_TOPIC:
        coordinator_for(broker).ensure_loaded()
    return ErrorCode.none
