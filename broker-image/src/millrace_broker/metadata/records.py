"""Metadata records: the only way cluster state changes.

Names and fields follow Kafka's metadata records (TopicRecord, PartitionRecord,
ConfigRecord, RemoveTopicRecord, ProducerIdsRecord, RegisterBrokerRecord). They are kept
as small frozen dataclasses with a JSON encoding; the KRaft issue will carry the same
records in the Raft-replicated `__cluster_metadata` log.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4


@dataclass(frozen=True, slots=True)
class TopicRecord:
    kind: ClassVar[str] = "TopicRecord"
    name: str
    topic_id: str


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    kind: ClassVar[str] = "PartitionRecord"
    topic_id: str
    partition_id: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0
    # A reassignment in progress (KIP-455): `replicas` is the union of the old and the
    # target set; these are the replicas being added / removed.
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()


NO_LEADER_CHANGE = -2  # PartitionChangeRecord.leader: keep the current leader
NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class PartitionChangeRecord:
    """A change to one partition (Kafka's PartitionChangeRecord): None / NO_LEADER_CHANGE
    mean "unchanged". Replaying it bumps the partition epoch; a new leader also bumps the
    leader epoch."""

    kind: ClassVar[str] = "PartitionChangeRecord"
    topic_id: str
    partition_id: int
    isr: tuple[int, ...] | None = None
    leader: int = NO_LEADER_CHANGE
    replicas: tuple[int, ...] | None = None
    adding_replicas: tuple[int, ...] | None = None
    removing_replicas: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """A config set (value) or removed (value None) for a topic or broker resource."""

    kind: ClassVar[str] = "ConfigRecord"
    resource_type: int
    resource_name: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class RemoveTopicRecord:
    kind: ClassVar[str] = "RemoveTopicRecord"
    topic_id: str


@dataclass(frozen=True, slots=True)
class ProducerIdsRecord:
    """The next producer id not yet handed out (blocks are allocated up to it)."""

    kind: ClassVar[str] = "ProducerIdsRecord"
    broker_id: int
    next_producer_id: int


@dataclass(frozen=True, slots=True)
class RegisterBrokerRecord:
    kind: ClassVar[str] = "RegisterBrokerRecord"
    broker_id: int
    endpoints: tuple[tuple[str, str, int, str], ...]  # (listener, host, port, protocol)
    rack: str | None = None
    incarnation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class BrokerRegistrationChangeRecord:
    """A broker fenced (missed heartbeats, or shutting down) or unfenced (back and caught
    up), as Kafka's BrokerRegistrationChangeRecord. Fenced brokers lead nothing."""

    kind: ClassVar[str] = "BrokerRegistrationChangeRecord"
    broker_id: int
    fenced: bool


@dataclass(frozen=True, slots=True)
class UserScramCredentialRecord:
    """A user's SCRAM credential for one mechanism (Kafka's record of the same name):
    never the password, only what the server needs to verify a proof. Bytes are hex."""

    kind: ClassVar[str] = "UserScramCredentialRecord"
    name: str
    mechanism: int  # 1 SCRAM-SHA-256, 2 SCRAM-SHA-512
    salt: str
    stored_key: str
    server_key: str
    iterations: int

    def __repr__(self) -> str:  # keep key material out of logs
        return f"UserScramCredentialRecord(name={self.name!r}, mechanism={self.mechanism})"


@dataclass(frozen=True, slots=True)
class RemoveUserScramCredentialRecord:
    kind: ClassVar[str] = "RemoveUserScramCredentialRecord"
    name: str
    mechanism: int


@dataclass(frozen=True, slots=True)
class AccessControlEntryRecord:
    """An ACL binding (Kafka's AccessControlEntryRecord); codes are Kafka's enum values."""

    kind: ClassVar[str] = "AccessControlEntryRecord"
    id: str
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


@dataclass(frozen=True, slots=True)
class RemoveAccessControlEntryRecord:
    kind: ClassVar[str] = "RemoveAccessControlEntryRecord"
    id: str


@dataclass(frozen=True, slots=True)
class ClientQuotaRecord:
    """A client quota set or removed (Kafka's ClientQuotaRecord). `entity` is a tuple of
    (entity type, name) pairs: ("user", "alice"), ("client-id", None) is the default."""

    kind: ClassVar[str] = "ClientQuotaRecord"
    entity: tuple[tuple[str, str | None], ...]
    key: str
    value: float
    remove: bool = False


MetadataRecord = (
    TopicRecord
    | PartitionRecord
    | PartitionChangeRecord
    | ConfigRecord
    | RemoveTopicRecord
    | ProducerIdsRecord
    | RegisterBrokerRecord
    | BrokerRegistrationChangeRecord
    | UserScramCredentialRecord
    | RemoveUserScramCredentialRecord
    | AccessControlEntryRecord
    | RemoveAccessControlEntryRecord
    | ClientQuotaRecord
)

_KINDS: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        TopicRecord,
        PartitionRecord,
        PartitionChangeRecord,
        ConfigRecord,
        RemoveTopicRecord,
        ProducerIdsRecord,
        RegisterBrokerRecord,
        BrokerRegistrationChangeRecord,
        UserScramCredentialRecord,
        RemoveUserScramCredentialRecord,
        AccessControlEntryRecord,
        RemoveAccessControlEntryRecord,
        ClientQuotaRecord,
    )
}
_TUPLE_FIELDS = {
    "replicas",
    "isr",
    "endpoints",
    "adding_replicas",
    "removing_replicas",
    "entity",
}


def encode_record(record: MetadataRecord) -> bytes:
    return json.dumps({"kind": record.kind, **asdict(record)}, sort_keys=True).encode()


def decode_record(data: bytes) -> MetadataRecord:
    raw = json.loads(data)
    cls = _KINDS[raw.pop("kind")]
    for name in _TUPLE_FIELDS & raw.keys():
        if raw[name] is None:
            continue
        raw[name] = tuple(tuple(x) if isinstance(x, list) else x for x in raw[name])
    record: MetadataRecord = cls(**raw)
    return record
