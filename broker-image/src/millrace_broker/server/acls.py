"""DescribeAcls (29), CreateAcls (30), DeleteAcls (31): ACLs in the metadata log.

Creations and deletions are decided by the active controller (brokers forward them, as
KRaft brokers do) and committed as AccessControlEntryRecord /
RemoveAccessControlEntryRecord; every node's image then has them. Descriptions are
served from the local image. As in Kafka: with no authorizer configured every call
answers SECURITY_DISABLED; an invalid creation (ANY/MATCH/UNKNOWN values, a CLUSTER name
other than kafka-cluster, an unparsable principal) gets INVALID_REQUEST on its own and the
others proceed; creating an ACL that already exists succeeds without a new record; an
ACL matched by several deletion filters is removed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.acl import (
    Acl,
    AclError,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    validate_new_acl,
)
from ..metadata.acl_image import record_of
from ..metadata.image import MetadataImage
from ..metadata.records import MetadataRecord, RemoveAccessControlEntryRecord
from .authz import authorizer_for
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _filter_of(item: Any) -> AclFilter:
    return AclFilter(
        resource_type=_enum(ResourceType, item.resource_type_filter),
        resource_name=item.resource_name_filter,
        pattern_type=_enum(PatternType, item.pattern_type_filter),
        principal=item.principal_filter,
        host=item.host_filter,
        operation=_enum(Operation, item.operation),
        permission=_enum(Permission, item.permission_type),
    )


def _enum(kind: Any, value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return kind(0)  # UNKNOWN


def handle_describe_acls(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    if authorizer_for(broker) is None:
        return _describe_error(cls, ErrorCode.security_disabled, NO_AUTHORIZER)
    flt = _filter_of(request)
    reason = flt.invalid_reason()
    if reason is not None:
        return _describe_error(cls, ErrorCode.invalid_request, reason)
    grouped: dict[tuple[int, str, int], list[Acl]] = {}
    for acl in broker.image.acls.values():
        if flt.matches(acl):
            key = (int(acl.resource_type), acl.resource_name, int(acl.pattern_type))
            grouped.setdefault(key, []).append(acl)
    resource_cls = nested(cls, "DescribeAclsResource")
    description_cls = nested(cls, "AclDescription")
    resources = tuple(
        make(
            resource_cls,
            resource_type=rtype,
            resource_name=name,
            pattern_type=pattern,
            acls=tuple(
                make(
                    description_cls,
                    principal=a.principal,
                    host=a.host,
                    operation=int(a.operation),
                    permission_type=int(a.permission),
                )
                for a in acls
            ),
        )
        for (rtype, name, pattern), acls in sorted(grouped.items())
    )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        resources=resources,
    )


def _describe_error(cls: type[Any], code: ErrorCode, message: str) -> Any:
    return make(
        cls, throttle_time=ZERO_THROTTLE, error_code=code, error_message=message, resources=()
    )


def plan_create_acls(image: MetadataImage, acls: list[Acl]) -> list[MetadataRecord]:
    """Records for the ACLs not already stored (identical bindings are not duplicated)."""
    existing = set(image.acls.values())
    records: list[MetadataRecord] = []
    for acl in acls:
        if acl not in existing:
            existing.add(acl)
            records.append(record_of(acl))
    return records


def plan_delete_acls(image: MetadataImage, filters: list[AclFilter]) -> list[MetadataRecord]:
    doomed: dict[str, None] = {}
    for flt in filters:
        for acl_id, acl in image.acls.items():
            if flt.matches(acl):
                doomed[acl_id] = None
    return [RemoveAccessControlEntryRecord(acl_id) for acl_id in doomed]


async def handle_create_acls(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "AclCreationResult")
    if authorizer_for(broker) is None:
        results = tuple(
            make(result_cls, error_code=ErrorCode.security_disabled, error_message=NO_AUTHORIZER)
            for _ in request.creations
        )
        return make(cls, throttle_time=ZERO_THROTTLE, results=results)
    outcomes: list[tuple[ErrorCode, str | None]] = []
    valid: list[Acl] = []
    for c in request.creations:
        acl = Acl(
            _enum(ResourceType, c.resource_type),
            c.resource_name,
            _enum(PatternType, c.resource_pattern_type),
            c.principal,
            c.host,
            _enum(Operation, c.operation),
            _enum(Permission, c.permission_type),
        )
        try:
            validate_new_acl(acl)
        except AclError as exc:
            outcomes.append((ErrorCode.invalid_request, str(exc)))
            continue
        valid.append(acl)
        outcomes.append((ErrorCode.none, None))
    if valid:
        await broker.controller.submit(lambda image: plan_create_acls(image, valid))
    results = tuple(make(result_cls, error_code=code, error_message=msg) for code, msg in outcomes)
    return make(cls, throttle_time=ZERO_THROTTLE, results=results)


async def handle_delete_acls(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "DeleteAclsFilterResult")
    matching_cls = nested(cls, "DeleteAclsMatchingAcl")
    if authorizer_for(broker) is None:
        results = tuple(
            make(
                result_cls,
                error_code=ErrorCode.security_disabled,
                error_message=NO_AUTHORIZER,
                matching_acls=(),
            )
            for _ in request.filters
        )
        return make(cls, throttle_time=ZERO_THROTTLE, filter_results=results)
    filters = [_filter_of(f) for f in request.filters]
    before: Mapping[str, Acl] = broker.image.acls
    removed: dict[str, Acl] = {}
    valid = [f for f in filters if f.invalid_reason() is None]
    if valid:
        image = await broker.controller.submit(lambda image: plan_delete_acls(image, valid))
        removed = {k: v for k, v in before.items() if k not in image.acls}
    claimed: set[str] = set()
    answers: list[Any] = []
    for flt in filters:
        reason = flt.invalid_reason()
        if reason is not None:
            answers.append(
                make(
                    result_cls,
                    error_code=ErrorCode.invalid_request,
                    error_message=reason,
                    matching_acls=(),
                )
            )
            continue
        matched = []
        for acl_id, acl in removed.items():
            if acl_id in claimed or not flt.matches(acl):
                continue
            claimed.add(acl_id)
            matched.append(
                make(
                    matching_cls,
                    error_code=ErrorCode.none,
                    error_message=None,
                    resource_type=int(acl.resource_type),
                    resource_name=acl.resource_name,
                    pattern_type=int(acl.pattern_type),
                    principal=acl.principal,
                    host=acl.host,
                    operation=int(acl.operation),
                    permission_type=int(acl.permission),
                )
            )
        answers.append(
            make(
                result_cls,
                error_code=ErrorCode.none,
                error_message=None,
                matching_acls=tuple(matched),
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, filter_results=tuple(answers))
