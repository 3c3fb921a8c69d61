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
from collections.abc import Iterator

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
    encode_record,
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
    for name, configs in image.topic_configs.items():
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


def encode_image(image: MetadataImage) -> bytes:
    return b"\n".join(encode_record(r) for r in image_records(image))


def decode_image(data: bytes, *, cluster_id: str) -> MetadataImage:
    """Replay a snapshot's records into an empty image (empty data: an empty image, as in
    the bootstrap checkpoint that only carries the voters)."""
    image = MetadataImage(cluster_id=cluster_id)
    for line in data.split(b"\n"):
        if line.strip():
            image = replay(image, decode_record(line))
    return image


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
