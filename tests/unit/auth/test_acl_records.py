"""ACL and client-quota records: JSON round trip and replay into the metadata image."""

from __future__ import annotations

from millrace_broker.auth.acl import Acl, Operation, PatternType, Permission, ResourceType
from millrace_broker.metadata.acl_image import acl_and_quota_records, record_of
from millrace_broker.metadata.image import MetadataImage, replay
from millrace_broker.metadata.records import (
    ClientQuotaRecord,
    MetadataRecord,
    RemoveAccessControlEntryRecord,
    decode_record,
    encode_record,
)

ACL = Acl(
    ResourceType.TOPIC,
    "pay-",
    PatternType.PREFIXED,
    "User:alice",
    "*",
    Operation.WRITE,
    Permission.ALLOW,
)


def test_records_round_trip_and_replay() -> None:
    records: list[MetadataRecord] = [
        record_of(ACL),
        ClientQuotaRecord((("user", "alice"), ("client-id", None)), "producer_byte_rate", 1024.0),
        ClientQuotaRecord((("user", "alice"),), "consumer_byte_rate", 2048.0),
    ]
    image = MetadataImage(cluster_id="c")
    for record in records:
        decoded = decode_record(encode_record(record))
        assert decoded == record
        image = replay(image, decoded)
    assert list(image.acls.values()) == [ACL]
    assert image.acls[ACL.acl_id].acl_id == ACL.acl_id
    assert image.client_quotas == {
        (("client-id", None), ("user", "alice")): {"producer_byte_rate": 1024.0},
        (("user", "alice"),): {"consumer_byte_rate": 2048.0},
    }
    rebuilt = MetadataImage(cluster_id="c")
    for record in acl_and_quota_records(image.acls, image.client_quotas):
        rebuilt = replay(rebuilt, record)
    assert rebuilt.acls == image.acls and rebuilt.client_quotas == image.client_quotas

    image = replay(image, RemoveAccessControlEntryRecord(ACL.acl_id))
    image = replay(
        image, ClientQuotaRecord((("user", "alice"),), "consumer_byte_rate", 0.0, remove=True)
    )
    assert image.acls == {}
    assert (("user", "alice"),) not in image.client_quotas
