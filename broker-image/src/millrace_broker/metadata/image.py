"""The immutable metadata image: cluster state as replayed from metadata records.

`replay(image, record)` returns a new image; nothing mutates an image in place, so a
request handler holding one sees a consistent snapshot while the controller moves on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..auth.scram import ScramCredential
from .acl_image import Acls, ClientQuotas, replay_acl, replay_client_quota
from .records import (
    BROKER_RESOURCE,
    NO_LEADER_CHANGE,
    TOPIC_RESOURCE,
    AccessControlEntryRecord,
    BrokerRegistrationChangeRecord,
    ClientQuotaRecord,
    ConfigRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveAccessControlEntryRecord,
    RemoveTopicRecord,
    RemoveUserScramCredentialRecord,
    TopicRecord,
    UserScramCredentialRecord,
)
from .scram_image import replay_scram

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PartitionImage:
    partition_id: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int
    adding_replicas: tuple[int, ...] = ()  # a reassignment in progress (KIP-455)
    removing_replicas: tuple[int, ...] = ()

    @property
    def reassigning(self) -> bool:
        return bool(self.adding_replicas or self.removing_replicas)


@dataclass(frozen=True, slots=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: Mapping[int, PartitionImage]


@dataclass(frozen=True, slots=True)
class BrokerImage:
    broker_id: int
    endpoints: tuple[tuple[str, str, int, str], ...]
    rack: str | None
    fenced: bool = False


@dataclass(frozen=True, slots=True)
class MetadataImage:
    cluster_id: str
    topics: Mapping[str, TopicImage] = field(default_factory=dict)
    topic_names: Mapping[uuid.UUID, str] = field(default_factory=dict)
    topic_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    broker_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    brokers: Mapping[int, BrokerImage] = field(default_factory=dict)
    next_producer_id: int = 0
    # user -> SCRAM mechanism type (1 SHA-256, 2 SHA-512) -> credential
    scram_credentials: Mapping[str, Mapping[int, ScramCredential]] = field(default_factory=dict)
    acls: Acls = field(default_factory=dict)  # ACL id -> ACL binding
    client_quotas: ClientQuotas = field(default_factory=dict)  # entity -> quota -> value

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        name = self.topic_names.get(topic_id)
        return None if name is None else self.topics.get(name)

    def configs_of_topic(self, name: str) -> Mapping[str, str]:
        return self.topic_configs.get(name, _EMPTY)


def replay(image: MetadataImage, record: MetadataRecord) -> MetadataImage:
    match record:
        case TopicRecord(name=name, topic_id=topic_id):
            tid = uuid.UUID(topic_id)
            topic = TopicImage(name, tid, {})
            return replace(
                image,
                topics={**image.topics, name: topic},
                topic_names={**image.topic_names, tid: name},
            )
        case PartitionRecord():
            tid = uuid.UUID(record.topic_id)
            name = image.topic_names[tid]
            topic = image.topics[name]
            part = PartitionImage(
                record.partition_id,
                record.replicas,
                record.isr,
                record.leader,
                record.leader_epoch,
                record.partition_epoch,
                record.adding_replicas,
                record.removing_replicas,
            )
            partitions = {**topic.partitions, record.partition_id: part}
            return replace(
                image, topics={**image.topics, name: replace(topic, partitions=partitions)}
            )
        case PartitionChangeRecord():
            return _replay_partition_change(image, record)
        case ConfigRecord():
            target = (
                image.topic_configs
                if record.resource_type == TOPIC_RESOURCE
                else image.broker_configs
            )
            current = dict(target.get(record.resource_name, _EMPTY))
            if record.value is None:
                current.pop(record.name, None)
            else:
                current[record.name] = record.value
            updated = {**target, record.resource_name: current}
            if record.resource_type == TOPIC_RESOURCE:
                return replace(image, topic_configs=updated)
            if record.resource_type == BROKER_RESOURCE:
                return replace(image, broker_configs=updated)
            return image
        case RemoveTopicRecord(topic_id=topic_id):
            tid = uuid.UUID(topic_id)
            removed = image.topic_names.get(tid)
            if removed is None:
                return image
            topics = {k: v for k, v in image.topics.items() if k != removed}
            names = {k: v for k, v in image.topic_names.items() if k != tid}
            configs = {k: v for k, v in image.topic_configs.items() if k != removed}
            return replace(image, topics=topics, topic_names=names, topic_configs=configs)
        case ProducerIdsRecord(next_producer_id=next_id):
            return replace(image, next_producer_id=max(next_id, image.next_producer_id))
        case RegisterBrokerRecord():
            broker = BrokerImage(record.broker_id, record.endpoints, record.rack)
            return replace(image, brokers={**image.brokers, record.broker_id: broker})
        case BrokerRegistrationChangeRecord(broker_id=broker_id, fenced=fenced):
            known = image.brokers.get(broker_id)
            if known is None:
                return image
            changed = replace(known, fenced=fenced)
            return replace(image, brokers={**image.brokers, broker_id: changed})
        case UserScramCredentialRecord() | RemoveUserScramCredentialRecord():
            return replace(image, scram_credentials=replay_scram(image.scram_credentials, record))
        case AccessControlEntryRecord() | RemoveAccessControlEntryRecord():
            return replace(image, acls=replay_acl(image.acls, record))
        case ClientQuotaRecord():
            return replace(image, client_quotas=replay_client_quota(image.client_quotas, record))
    raise TypeError(f"unknown metadata record {record!r}")


def _replay_partition_change(image: MetadataImage, record: PartitionChangeRecord) -> MetadataImage:
    tid = uuid.UUID(record.topic_id)
    name = image.topic_names.get(tid)
    if name is None:
        return image
    topic = image.topics[name]
    part = topic.partitions.get(record.partition_id)
    if part is None:
        return image
    leader = part.leader if record.leader == NO_LEADER_CHANGE else record.leader
    changed = replace(
        part,
        replicas=part.replicas if record.replicas is None else record.replicas,
        isr=part.isr if record.isr is None else record.isr,
        adding_replicas=(
            part.adding_replicas if record.adding_replicas is None else record.adding_replicas
        ),
        removing_replicas=(
            part.removing_replicas if record.removing_replicas is None else record.removing_replicas
        ),
        leader=leader,
        leader_epoch=part.leader_epoch + (1 if leader != part.leader else 0),
        partition_epoch=part.partition_epoch + 1,
    )
    partitions = {**topic.partitions, record.partition_id: changed}
    return replace(image, topics={**image.topics, name: replace(topic, partitions=partitions)})
