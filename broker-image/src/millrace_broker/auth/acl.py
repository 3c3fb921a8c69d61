"""ACL values and matching, with Kafka's codes and rules (pure, no I/O).

An ACL binds a resource pattern (type, name, LITERAL or PREFIXED) to an access control
entry (principal, host, operation, ALLOW or DENY). The enum values are Kafka's wire
codes (`ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType`), so requests
and the metadata log carry them unchanged.

`entry_decides(acl, principal, host, operation)` is Kafka's
`StandardAuthorizerData.findResult`: the principal must be the session's or `User:*`,
the host the client's or `*`; an ALLOW entry for READ, WRITE, DELETE or ALTER also allows
DESCRIBE, and ALTER_CONFIGS also allows DESCRIBE_CONFIGS; DENY entries imply nothing; ALL
matches every operation. `pattern_matches` says whether an ACL's resource pattern covers
a concrete resource name: LITERAL equal names, LITERAL `*` any name, PREFIXED a name
starting with the pattern. Filters (DescribeAcls, DeleteAcls) follow Kafka's
`AclBindingFilter`: ANY and null match everything, MATCH selects every pattern that
would match the given name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import IntEnum

WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"
CLUSTER_NAME = "kafka-cluster"


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


IMPLIES_DESCRIBE = frozenset(
    {Operation.DESCRIBE, Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER}
)
IMPLIES_DESCRIBE_CONFIGS = frozenset({Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS})

# Kafka's SecurityUtils.resourceTypeName, as audit lines and kafka-acls print them.
RESOURCE_TYPE_NAMES = {
    ResourceType.TOPIC: "Topic",
    ResourceType.GROUP: "Group",
    ResourceType.CLUSTER: "Cluster",
    ResourceType.TRANSACTIONAL_ID: "TransactionalId",
    ResourceType.DELEGATION_TOKEN: "DelegationToken",
    ResourceType.USER: "User",
}


@dataclass(frozen=True, slots=True)
class Acl:
    """One stored ACL binding (Kafka's StandardAcl plus the record's id)."""

    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: Operation
    permission: Permission
    acl_id: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)

    def describe(self) -> str:
        return (
            f"(principal={self.principal}, host={self.host}, operation={self.operation.name}, "
            f"permissionType={self.permission.name}) on "
            f"{RESOURCE_TYPE_NAMES.get(self.resource_type, self.resource_type.name)}:"
            f"{self.pattern_type.name}:{self.resource_name}"
        )


class AclError(ValueError):
    """An ACL a client asked to create is not valid (INVALID_REQUEST on the wire)."""


def validate_new_acl(acl: Acl) -> None:
    """Kafka's AclControlManager.validateNewAcl: only concrete values may be stored."""
    if acl.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise AclError(f"Invalid resourceType {acl.resource_type.name}")
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise AclError(f"Invalid patternType {acl.pattern_type.name}")
    if acl.operation in (Operation.UNKNOWN, Operation.ANY):
        raise AclError(f"Invalid operation {acl.operation.name}")
    if acl.permission not in (Permission.ALLOW, Permission.DENY):
        raise AclError(f"Invalid permissionType {acl.permission.name}")
    if not acl.resource_name:
        raise AclError("Resource name should not be empty")
    if acl.resource_type == ResourceType.CLUSTER and acl.resource_name != CLUSTER_NAME:
        raise AclError(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    kind, sep, name = acl.principal.partition(":")
    if not sep or not kind or not name:
        raise AclError(
            f"Could not parse principal from `{acl.principal}` (no colon is present "
            "separating the principal type from the principal name)"
        )
    if not acl.host:
        raise AclError("Invalid host: it must be '*' or an address")


def pattern_matches(acl: Acl, resource_type: ResourceType, name: str) -> bool:
    """Whether the ACL's resource pattern covers this concrete resource."""
    if acl.resource_type != resource_type:
        return False
    if acl.pattern_type == PatternType.LITERAL:
        return acl.resource_name == name or acl.resource_name == WILDCARD
    if acl.pattern_type == PatternType.PREFIXED:
        return name.startswith(acl.resource_name)
    return False


def entry_decides(acl: Acl, principal: str, host: str, operation: Operation) -> Permission | None:
    """ALLOW or DENY if this entry applies to the request, None if it does not."""
    if acl.principal != principal and acl.principal != WILDCARD_PRINCIPAL:
        return None
    if acl.host != WILDCARD and acl.host != host:
        return None
    if acl.operation != Operation.ALL:
        if acl.permission == Permission.ALLOW:
            if operation == Operation.DESCRIBE:
                if acl.operation not in IMPLIES_DESCRIBE:
                    return None
            elif operation == Operation.DESCRIBE_CONFIGS:
                if acl.operation not in IMPLIES_DESCRIBE_CONFIGS:
                    return None
            elif operation != acl.operation:
                return None
        elif operation != acl.operation:
            return None
    return acl.permission


@dataclass(frozen=True, slots=True)
class AclFilter:
    """Kafka's AclBindingFilter: None (or ANY) fields match anything."""

    resource_type: ResourceType = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: Operation = Operation.ANY
    permission: Permission = Permission.ANY

    def invalid_reason(self) -> str | None:
        """Why this filter cannot match anything meaningful (UNKNOWN values), or None."""
        if self.resource_type == ResourceType.UNKNOWN:
            return "Resource type UNKNOWN is not a valid filter"
        if self.pattern_type == PatternType.UNKNOWN:
            return "Pattern type UNKNOWN is not a valid filter"
        if self.operation == Operation.UNKNOWN:
            return "Operation UNKNOWN is not a valid filter"
        if self.permission == Permission.UNKNOWN:
            return "Permission type UNKNOWN is not a valid filter"
        return None

    def matches(self, acl: Acl) -> bool:
        return self._pattern_matches(acl) and self._entry_matches(acl)

    def _pattern_matches(self, acl: Acl) -> bool:
        if self.resource_type not in (ResourceType.ANY, acl.resource_type):
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, acl.pattern_type):
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type in (PatternType.ANY, acl.pattern_type):
            return self.resource_name == acl.resource_name
        # MATCH: every stored pattern that would cover the named resource.
        if acl.pattern_type == PatternType.LITERAL:
            return acl.resource_name in (self.resource_name, WILDCARD)
        if acl.pattern_type == PatternType.PREFIXED:
            return self.resource_name.startswith(acl.resource_name)
        return False

    def _entry_matches(self, acl: Acl) -> bool:
        if self.principal is not None and self.principal != acl.principal:
            return False
        if self.host is not None and self.host != acl.host:
            return False
        if self.operation not in (Operation.ANY, acl.operation):
            return False
        return self.permission in (Permission.ANY, acl.permission)
