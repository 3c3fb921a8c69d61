"""ACLs and client quotas in the metadata image: replay of their records, and back.

ACLs are keyed by the record's id (RemoveAccessControlEntryRecord names it). Client
quotas are keyed by their entity, a sorted tuple of (entity type, name) pairs where a
None name is the type's default (`--entity-default`); an entity whose last quota is
removed disappears. `acl_and_quota_records` lists the records that rebuild both (for
metadata snapshots).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..auth.acl import Acl, Operation, PatternType, Permission, ResourceType
from .records import (
    AccessControlEntryRecord,
    ClientQuotaRecord,
    MetadataRecord,
    RemoveAccessControlEntryRecord,
)

QuotaEntity = tuple[tuple[str, str | None], ...]
Acls = Mapping[str, Acl]
ClientQuotas = Mapping[QuotaEntity, Mapping[str, float]]


def acl_of(record: AccessControlEntryRecord) -> Acl:
    return Acl(
        ResourceType(record.resource_type),
        record.resource_name,
        PatternType(record.pattern_type),
        record.principal,
        record.host,
        Operation(record.operation),
        Permission(record.permission_type),
        acl_id=record.id,
    )


def record_of(acl: Acl) -> AccessControlEntryRecord:
    return AccessControlEntryRecord(
        acl.acl_id,
        int(acl.resource_type),
        acl.resource_name,
        int(acl.pattern_type),
        acl.principal,
        acl.host,
        int(acl.operation),
        int(acl.permission),
    )


def replay_acl(
    current: Acls, record: AccessControlEntryRecord | RemoveAccessControlEntryRecord
) -> Acls:
    if isinstance(record, AccessControlEntryRecord):
        return {**current, record.id: acl_of(record)}
    return {k: v for k, v in current.items() if k != record.id}


def normalized_entity(entity: QuotaEntity) -> QuotaEntity:
    return tuple(sorted(entity, key=lambda part: part[0]))


def replay_client_quota(current: ClientQuotas, record: ClientQuotaRecord) -> ClientQuotas:
    entity = normalized_entity(record.entity)
    values = dict(current.get(entity, {}))
    if record.remove:
        values.pop(record.key, None)
    else:
        values[record.key] = record.value
    updated = {**current, entity: values}
    if not values:
        del updated[entity]
    return updated


def acl_and_quota_records(acls: Acls, quotas: ClientQuotas) -> Iterator[MetadataRecord]:
    for acl in acls.values():
        yield record_of(acl)
    for entity, values in quotas.items():
        for key, value in values.items():
            yield ClientQuotaRecord(entity, key, value)
