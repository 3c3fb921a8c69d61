"""The ACL authorizer: Kafka's StandardAuthorizer decisions, plus the audit log.

A decision for (principal, host, operation, resource type, resource name):

1. a principal listed in `super.users` is allowed everything;
2. every stored ACL whose pattern covers the resource is considered (LITERAL name,
   LITERAL `*`, PREFIXED prefix); a matching DENY entry decides DENIED at once;
3. otherwise a matching ALLOW entry decides ALLOWED;
4. otherwise, if no ACL at all covers the resource, `allow.everyone.if.no.acl.found`
   decides (false by default); if some ACL covers it (for another principal or
   operation), DENIED.

`decide_any` is Kafka's `authorizeByResourceType` (used for an idempotent producer's
"WRITE on any topic"): allowed if some matching ALLOW entry of that resource type is not
cancelled by a matching DENY whose pattern covers it.

Every decision for an explicitly requested resource is written to the `millrace.audit`
logger, one line per decision in Kafka's kafka.authorizer.logger wording: denied at INFO,
allowed at DEBUG (so production logs show refusals without drowning in successes).
Decisions used only to filter lists (Metadata for all topics, ListGroups) are logged at
DEBUG either way, as Kafka logs them at TRACE.

The ACL set is read from the metadata image on every call (`acls` callable) and indexed
by resource type; the index is rebuilt only when the image's ACL mapping changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..config.errors import ConfigError
from .acl import (
    RESOURCE_TYPE_NAMES,
    WILDCARD,
    Acl,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    entry_decides,
    pattern_matches,
)

audit = logging.getLogger("millrace.audit")

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ACCEPTED_CLASS_NAMES = frozenset({STANDARD_AUTHORIZER})
_MAX_DECISIONS = 10_000


@dataclass(frozen=True, slots=True)
class AuthorizerSettings:
    super_users: frozenset[str]
    allow_everyone_if_no_acl_found: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str  # "SuperUser", "DefaultAllow", "DefaultDeny" or "MatchingAcl(...)"


class AuthorizerConfigError(ConfigError):
    """A broker setting the authorizer cannot run with (start-up fails, exit status 2)."""


def parse_super_users(raw: str | None) -> frozenset[str]:
    """`super.users` is a semicolon-separated list of principals (User:alice;User:bob)."""
    if not raw:
        return frozenset()
    return frozenset(p.strip() for p in raw.split(";") if p.strip())


def settings_from(
    class_name: str | None, super_users: str | None, allow_everyone: str | None
) -> AuthorizerSettings | None:
    """The authorizer's settings from the broker properties, or None when it is off."""
    if not class_name:
        return None
    if class_name not in ACCEPTED_CLASS_NAMES:
        raise AuthorizerConfigError(
            f"authorizer.class.name={class_name} is not supported: Millrace stores ACLs in "
            f"the metadata log as KRaft does; use {STANDARD_AUTHORIZER} or leave it empty"
        )
    flag = (allow_everyone or "false").strip().lower()
    if flag not in ("true", "false"):
        raise AuthorizerConfigError(
            f"allow.everyone.if.no.acl.found={allow_everyone}: expected true or false"
        )
    return AuthorizerSettings(parse_super_users(super_users), flag == "true")


def decide(
    acls: Iterable[Acl],
    settings: AuthorizerSettings,
    *,
    principal: str,
    host: str,
    operation: Operation,
    resource_type: ResourceType,
    name: str,
) -> Decision:
    if principal in settings.super_users:
        return Decision(True, "SuperUser")
    allow: Acl | None = None
    covered = False
    for acl in acls:
        if not pattern_matches(acl, resource_type, name):
            continue
        covered = True
        verdict = entry_decides(acl, principal, host, operation)
        if verdict == Permission.DENY:
            return Decision(False, f"MatchingAcl(acl={acl.describe()})")
        if verdict == Permission.ALLOW and allow is None:
            allow = acl
    if allow is not None:
        return Decision(True, f"MatchingAcl(acl={allow.describe()})")
    if not covered and settings.allow_everyone_if_no_acl_found:
        return Decision(True, "DefaultAllow")
    return Decision(False, "DefaultDeny")


def decide_any(
    acls: Iterable[Acl],
    settings: AuthorizerSettings,
    *,
    principal: str,
    host: str,
    operation: Operation,
    resource_type: ResourceType,
) -> Decision:
    """Whether the principal may do `operation` on at least one resource of the type."""
    if principal in settings.super_users:
        return Decision(True, "SuperUser")
    of_type = [a for a in acls if a.resource_type == resource_type]
    denies = [a for a in of_type if entry_decides(a, principal, host, operation) == Permission.DENY]
    if any(d.pattern_type == PatternType.LITERAL and d.resource_name == WILDCARD for d in denies):
        return Decision(False, "MatchingAcl(deny on every resource)")
    for acl in of_type:
        if entry_decides(acl, principal, host, operation) != Permission.ALLOW:
            continue
        if not any(_cancels(d, acl) for d in denies):
            return Decision(True, f"MatchingAcl(acl={acl.describe()})")
    if not of_type and settings.allow_everyone_if_no_acl_found:
        return Decision(True, "DefaultAllow")
    return Decision(False, "DefaultDeny")


def _cancels(deny: Acl, allow: Acl) -> bool:
    """A DENY pattern covering everything an ALLOW pattern grants."""
    if deny.pattern_type == PatternType.LITERAL:
        return (
            allow.pattern_type == PatternType.LITERAL and deny.resource_name == allow.resource_name
        )
    return allow.resource_name.startswith(deny.resource_name)


class Authorizer:
    """Decisions against the current ACLs, with the audit log."""

    def __init__(self, settings: AuthorizerSettings, acls: Callable[[], Mapping[str, Acl]]) -> None:
        self.settings = settings
        self._acls = acls
        self._source: Mapping[str, Acl] | None = None
        self._by_type: dict[ResourceType, tuple[Acl, ...]] = {}
        # Decisions for the current ACL set: the hot path (a produce per topic) repeats
        # the same questions; dropped whenever the ACLs change, bounded in size.
        self._decided: dict[tuple[str, str, Operation, ResourceType, str], Decision] = {}

    def _index(self) -> dict[ResourceType, tuple[Acl, ...]]:
        current = self._acls()
        if current is not self._source:
            by_type: dict[ResourceType, list[Acl]] = {}
            for acl in current.values():
                by_type.setdefault(acl.resource_type, []).append(acl)
            self._by_type = {k: tuple(v) for k, v in by_type.items()}
            self._source = current
            self._decided = {}
        return self._by_type

    def authorize(
        self,
        *,
        principal: str,
        host: str,
        operation: Operation,
        resource_type: ResourceType,
        name: str,
        request: str,
        explicit: bool = True,
    ) -> bool:
        index = self._index()
        key = (principal, host, operation, resource_type, name)
        decision = self._decided.get(key)
        if decision is None:
            decision = decide(
                index.get(resource_type, ()),
                self.settings,
                principal=principal,
                host=host,
                operation=operation,
                resource_type=resource_type,
                name=name,
            )
            if len(self._decided) >= _MAX_DECISIONS:
                self._decided.clear()
            self._decided[key] = decision
        _audit(decision, principal, host, operation, resource_type, name, request, explicit)
        return decision.allowed

    def authorize_any(
        self,
        *,
        principal: str,
        host: str,
        operation: Operation,
        resource_type: ResourceType,
        request: str,
    ) -> bool:
        decision = decide_any(
            self._index().get(resource_type, ()),
            self.settings,
            principal=principal,
            host=host,
            operation=operation,
            resource_type=resource_type,
        )
        _audit(decision, principal, host, operation, resource_type, WILDCARD, request, True)
        return decision.allowed


def _audit(
    decision: Decision,
    principal: str,
    host: str,
    operation: Operation,
    resource_type: ResourceType,
    name: str,
    request: str,
    explicit: bool,
) -> None:
    level = logging.INFO if explicit and not decision.allowed else logging.DEBUG
    if not audit.isEnabledFor(level):
        return
    audit.log(
        level,
        "Principal = %s is %s operation = %s from host = %s on resource = %s:LITERAL:%s "
        "for request = %s based on rule %s",
        principal,
        "Allowed" if decision.allowed else "Denied",
        operation.name,
        host,
        RESOURCE_TYPE_NAMES.get(resource_type, resource_type.name),
        name,
        request,
        decision.rule,
    )
