"""The controller: turns admin requests into metadata records, then commits them.

Decisions are pure functions of (image, request) returning records or raising
`ControllerError` with the Kafka error code; `LocalController` commits the records to the
journal, replays them into a new image and tells listeners. With KRaft the commit step
becomes "append to the Raft log and wait for the high watermark"; the planning functions
stay as they are.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kio.schema.errors import ErrorCode

from .image import MetadataImage, replay
from .journal import MetadataJournal
from .placement import BrokerSlot, PlacementError, place_replicas
from .records import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RemoveTopicRecord,
    TopicRecord,
)

_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME_LENGTH = 249
PRODUCER_ID_BLOCK = 1000


class ControllerError(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def validate_topic_name(name: str) -> None:
    if not name:
        raise ControllerError(ErrorCode.invalid_topic_exception, "Topic name is empty")
    if name in (".", ".."):
        raise ControllerError(ErrorCode.invalid_topic_exception, f"Topic name cannot be '{name}'")
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise ControllerError(
            ErrorCode.invalid_topic_exception,
            f"Topic name is longer than {MAX_TOPIC_NAME_LENGTH} characters",
        )
    if not _LEGAL_TOPIC.match(name):
        raise ControllerError(
            ErrorCode.invalid_topic_exception,
            f"Topic name '{name}' is illegal: it contains a character other than "
            "ASCII alphanumerics, '.', '_' and '-'",
        )


@dataclass(frozen=True, slots=True)
class NewTopic:
    name: str
    num_partitions: int
    replication_factor: int
    assignments: Mapping[int, Sequence[int]]
    configs: Mapping[str, str]


def plan_create_topic(image: MetadataImage, topic: NewTopic) -> list[MetadataRecord]:
    validate_topic_name(topic.name)
    if topic.name in image.topics:
        raise ControllerError(
            ErrorCode.topic_already_exists, f"Topic '{topic.name}' already exists."
        )
    broker_ids = sorted(image.brokers)
    if topic.assignments:
        assignments = {p: tuple(replicas) for p, replicas in topic.assignments.items()}
        if sorted(assignments) != list(range(len(assignments))):
            raise ControllerError(
                ErrorCode.invalid_replica_assignment,
                "Partitions in the replica assignment must be consecutive from 0",
            )
        _check_assignment_brokers(assignments.values(), broker_ids)
    else:
        if topic.num_partitions <= 0:
            raise ControllerError(
                ErrorCode.invalid_partitions, "Number of partitions must be larger than 0."
            )
        assignments = _place(image, topic.name, 0, topic.num_partitions, topic.replication_factor)
    topic_id = str(uuid.uuid4())
    records: list[MetadataRecord] = [TopicRecord(topic.name, topic_id)]
    for partition, replicas in sorted(assignments.items()):
        records.append(_new_partition(image, topic_id, partition, replicas))
    for key, value in sorted(topic.configs.items()):
        records.append(ConfigRecord(TOPIC_RESOURCE, topic.name, key, value))
    return records


def _place(
    image: MetadataImage, topic: str, first_partition: int, count: int, replication_factor: int
) -> dict[int, tuple[int, ...]]:
    """Rack-aware placement (metadata/placement.py) over the registered brokers, seeded by
    the topic and first partition so that every controller plans the same assignment."""
    slots = [BrokerSlot(b.broker_id, b.rack, b.fenced) for b in image.brokers.values()]
    seed = zlib.crc32(f"{topic}:{first_partition}".encode())
    try:
        return place_replicas(
            slots,
            first_partition=first_partition,
            count=count,
            replication_factor=replication_factor,
            seed=seed,
        )
    except PlacementError as exc:
        raise ControllerError(ErrorCode.invalid_replication_factor, str(exc)) from exc


def _check_assignment_brokers(
    assignments: Iterable[Sequence[int]], broker_ids: Sequence[int]
) -> None:
    for replicas in assignments:
        if not replicas or len(set(replicas)) != len(replicas):
            raise ControllerError(
                ErrorCode.invalid_replica_assignment,
                f"Replica assignment {list(replicas)} is empty or has duplicates",
            )
        unknown = [b for b in replicas if b not in broker_ids]
        if unknown:
            raise ControllerError(
                ErrorCode.invalid_replica_assignment,
                f"Replica assignment names unknown broker(s) {unknown}",
            )


def plan_delete_topic(image: MetadataImage, name: str) -> list[MetadataRecord]:
    topic = image.topics.get(name)
    if topic is None:
        raise ControllerError(
            ErrorCode.unknown_topic_or_partition, "This server does not host this topic-partition."
        )
    return [RemoveTopicRecord(str(topic.topic_id))]


def plan_create_partitions(
    image: MetadataImage, name: str, total: int, assignments: Sequence[Sequence[int]] | None
) -> list[MetadataRecord]:
    topic = image.topics.get(name)
    if topic is None:
        raise ControllerError(
            ErrorCode.unknown_topic_or_partition, "This server does not host this topic-partition."
        )
    current = len(topic.partitions)
    if total < current:
        raise ControllerError(
            ErrorCode.invalid_partitions,
            f"Topic currently has {current} partitions, which is higher than the requested "
            f"{total}.",
        )
    if total == current:
        raise ControllerError(
            ErrorCode.invalid_partitions, f"Topic already has {current} partitions."
        )
    first = topic.partitions.get(0)
    # the replication factor of the target assignment, should partition 0 be moving
    rf = len([r for r in first.replicas if r not in first.removing_replicas]) if first else 1
    broker_ids = sorted(image.brokers)
    if assignments is not None:
        if len(assignments) != total - current:
            raise ControllerError(
                ErrorCode.invalid_replica_assignment,
                f"Increasing the number of partitions by {total - current} but "
                f"{len(assignments)} assignments provided.",
            )
        _check_assignment_brokers(assignments, broker_ids)
        new = {current + i: tuple(r) for i, r in enumerate(assignments)}
    else:
        new = _place(image, name, current, total - current, rf)
    tid = str(topic.topic_id)
    return [_new_partition(image, tid, p, r) for p, r in sorted(new.items())]


def _new_partition(
    image: MetadataImage, topic_id: str, partition: int, replicas: tuple[int, ...]
) -> PartitionRecord:
    """A new partition's ISR is its unfenced replicas, led by the first of them (fenced
    brokers may hold a replica, but cannot be in sync or lead until they return)."""
    isr = tuple(r for r in replicas if r in image.brokers and not image.brokers[r].fenced)
    if not isr:
        raise ControllerError(
            ErrorCode.invalid_replica_assignment,
            f"All brokers specified in the manual partition assignment for partition "
            f"{partition} are fenced or in controlled shutdown.",
        )
    return PartitionRecord(topic_id, partition, replicas, isr, isr[0])


def plan_config_changes(
    resource_type: int, resource_name: str, current: Mapping[str, str], desired: Mapping[str, str]
) -> list[MetadataRecord]:
    """Records that turn `current` overrides into `desired` overrides."""
    records: list[MetadataRecord] = []
    for key in sorted(current.keys() - desired.keys()):
        records.append(ConfigRecord(resource_type, resource_name, key, None))
    for key, value in sorted(desired.items()):
        if current.get(key) != value:
            records.append(ConfigRecord(resource_type, resource_name, key, value))
    return records


Listener = Callable[[MetadataImage, MetadataImage], None]
Plan = Callable[[MetadataImage], list[MetadataRecord]]


class MetadataController(Protocol):
    """What the broker needs from a controller: the single-node `LocalController` and
    the KRaft quorum controller both provide it."""

    @property
    def image(self) -> MetadataImage: ...

    def subscribe(self, listener: Listener) -> None: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def active_controller_id(self) -> int | None: ...

    async def submit(self, plan: Plan) -> MetadataImage: ...

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]: ...


class LocalController:
    """Commits planned records to the single-node journal and publishes new images."""

    def __init__(self, journal: MetadataJournal, image: MetadataImage) -> None:
        self._journal = journal
        self._image = image
        self._listeners: list[Listener] = []

    @classmethod
    def open(cls, journal: MetadataJournal, cluster_id: str) -> LocalController:
        image = MetadataImage(cluster_id=cluster_id)
        for record in journal.read_all():
            image = replay(image, record)
        return cls(journal, image)

    @property
    def image(self) -> MetadataImage:
        return self._image

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def commit(self, records: Sequence[MetadataRecord]) -> MetadataImage:
        if not records:
            return self._image
        self._journal.append(records)
        old = self._image
        new = old
        for record in records:
            new = replay(new, record)
        self._image = new
        for listener in self._listeners:
            listener(old, new)
        return new

    @property
    def is_active(self) -> bool:
        return True

    @property
    def active_controller_id(self) -> int | None:
        return None  # a single node: this one

    async def submit(self, plan: Plan) -> MetadataImage:
        """Decide and commit in one step (the interface the quorum controller shares)."""
        return self.commit(plan(self._image))

    async def commit_records(self, records: Sequence[MetadataRecord]) -> MetadataImage:
        return self.commit(records)

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]:
        """Reserve a block of producer ids; returns (first, count)."""
        first = self._image.next_producer_id
        self.commit([ProducerIdsRecord(broker_id, first + PRODUCER_ID_BLOCK)])
        return first, PRODUCER_ID_BLOCK

    def set_broker_configs(self, resource_name: str, desired: Mapping[str, str]) -> None:
        current = self._image.broker_configs.get(resource_name, {})
        self.commit(plan_config_changes(BROKER_RESOURCE, resource_name, current, desired))
