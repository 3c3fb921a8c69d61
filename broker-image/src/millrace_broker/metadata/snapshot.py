"""A metadata image as a snapshot: the records that rebuild it, and back (KIP-630).

Kafka writes a snapshot as the minimal list of metadata records whose replay yields the
image at the snapshot's offset; so do we.  ``image_records`` lists them in an order that
replays (a topic before its partitions, a broker's registration before its fencing),
``encode_image`` writes them one JSON record per line (the encoding of
``metadata/records.py``, whose JSON never contains a raw newline), and ``decode_image``
replays them into an empty image with the ordinary ``replay``.

The image type grows as features land (ACLs, credentials, reassignments...).  A field
this module does not write would silently vanish from every snapshot, so
``verified_encoding`` decodes what it encoded and refuses (``IncompleteSnapshot``) when
the round trip does not give back an equal image: the caller then keeps the log instead
of trimming it.  A unit test also pins the fields known here.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

from .acl_image import acl_and_quota_records
from .image import MetadataImage, replay
from .records import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UserScramCredentialRecord,
    decode_record,
)

SNAPSHOT_PRODUCER = -1  # ProducerIdsRecord.broker_id in a snapshot: no broker asked


class IncompleteSnapshot(ValueError):
    """The records do not rebuild the image: some of its state has no record here."""


def image_records(image: MetadataImage) -> Iterator[MetadataRecord]:
    for broker in image.brokers.values():
        yield RegisterBrokerRecord(broker.broker_id, broker.endpoints, broker.rack)
        if broker.fenced:
            yield BrokerRegistrationChangeRecord(broker.broker_id, fenced=True)
    for name, configs in image.broker_configs.items():
        for key, value in configs.items():
            yield ConfigRecord(BROKER_RESOURCE, name, key, value)
    for topic in image.topics.values():
        topic_id = str(topic.topic_id)
        yield TopicRecord(topic.name, topic_id)
        for part in topic.partitions.values():
            yield PartitionRecord(
                topic_id,
                part.partition_id,
                part.replicas,
                part.isr,
                part.leader,
                part.leader_epoch,
                part.partition_epoch,
                part.adding_replicas,
                part.removing_replicas,
            )
        for key, value in image.topic_configs.get(topic.name, {}).items():
            yield ConfigRecord(TOPIC_RESOURCE, topic.name, key, value)
    for name, configs in image.topic_configs.items():
        if name not in image.topics:  # configs of a name with no topic (kept as replayed)
            for key, value in configs.items():
                yield ConfigRecord(TOPIC_RESOURCE, name, key, value)
    for user, by_mechanism in image.scram_credentials.items():
        for mechanism, cred in by_mechanism.items():
            yield UserScramCredentialRecord(
                user,
                mechanism,
                cred.salt.hex(),
                cred.stored_key.hex(),
                cred.server_key.hex(),
                cred.iterations,
            )
    yield from acl_and_quota_records(image.acls, image.client_quotas)
    if image.next_producer_id:
        yield ProducerIdsRecord(SNAPSHOT_PRODUCER, image.next_producer_id)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _encode(record: MetadataRecord) -> bytes:
    """``encode_record``'s exact bytes without ``asdict``'s deep copies (records hold only
    scalars and tuples), which made large snapshots slow."""
    raw: dict[str, Any] = {"kind": record.kind}
    for name in _field_names(type(record)):
        raw[name] = getattr(record, name)
    return json.dumps(raw, sort_keys=True).encode()


def encode_image(image: MetadataImage) -> bytes:
    return b"\n".join(_encode(r) for r in image_records(image))


def decode_image(data: bytes, *, cluster_id: str) -> MetadataImage:
    """Replay a snapshot's records into an empty image (empty data: an empty image, as in
    the bootstrap checkpoint that only carries the voters).

    Replay copies the image's maps on every record, which is quadratic in the number of
    topics; so each topic's group (its TopicRecord, PartitionRecords and topic
    ConfigRecords, which ``image_records`` writes together) is replayed into an image of
    its own, and the groups are merged at the end.  Everything else replays in order.
    """
    image = MetadataImage(cluster_id=cluster_id)
    topics: dict[str, Any] = {}
    names: dict[Any, str] = {}
    configs: dict[str, Any] = {}
    group: MetadataImage | None = None

    def close_group() -> None:
        if group is not None:
            topics.update(group.topics)
            names.update(group.topic_names)
            configs.update(group.topic_configs)

    for line in data.split(b"\n"):
        if not line.strip():
            continue
        record = decode_record(line)
        if isinstance(record, TopicRecord):
            close_group()
            group = replay(MetadataImage(cluster_id=cluster_id), record)
        elif group is not None and _in_group(group, record):
            group = replay(group, record)
        else:
            close_group()
            group = None
            image = replay(image, record)
    close_group()
    if not topics:
        return image
    return dataclasses.replace(
        image,
        topics={**image.topics, **topics},
        topic_names={**image.topic_names, **names},
        topic_configs={**image.topic_configs, **configs},
    )


def _in_group(group: MetadataImage, record: MetadataRecord) -> bool:
    if isinstance(record, PartitionRecord):
        return uuid.UUID(record.topic_id) in group.topic_names
    if isinstance(record, ConfigRecord):
        return record.resource_type == TOPIC_RESOURCE and record.resource_name in group.topics
    return False


def _comparable(image: MetadataImage) -> MetadataImage:
    """The image without empty config maps (a resource whose last config was deleted
    keeps an empty map, which no record needs to restore)."""
    return dataclasses.replace(
        image,
        topic_configs={k: v for k, v in image.topic_configs.items() if v},
        broker_configs={k: v for k, v in image.broker_configs.items() if v},
    )


def differing_fields(a: MetadataImage, b: MetadataImage) -> list[str]:
    a, b = _comparable(a), _comparable(b)
    return [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]


def verified_encoding(image: MetadataImage) -> bytes:
    """``encode_image(image)``, checked to rebuild ``image`` exactly."""
    data = encode_image(image)
    rebuilt = decode_image(data, cluster_id=image.cluster_id)
    fields = ", ".join(differing_fields(rebuilt, image))
    if fields:
        raise IncompleteSnapshot(
            f"a snapshot would not restore the metadata image's {fields}: "
            "metadata/snapshot.py needs records for them"
        )
    return data
