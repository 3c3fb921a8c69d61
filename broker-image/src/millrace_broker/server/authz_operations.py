"""KIP-430 authorized operations: Metadata, DescribeCluster, DescribeGroups and
ConsumerGroupDescribe report, when asked, the operations the principal may perform on
each resource as Kafka's bit set (1 << operation code); every supported operation when
no authorizer is configured, as Kafka does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.acl import CLUSTER_NAME, Operation, ResourceType
from .authz import C, G, T, allowed, authorizer_for, has_field
from .authz_common import then
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler

OperationsOf = Callable[[ResourceType, str], int]
Filler = Callable[[Any, Any, OperationsOf], Any]


def with_operations(handler: Handler, fill: Filler) -> Handler:
    """Fill `*_authorized_operations` when the request asks for them: the operations the
    principal may perform, as Kafka's bit set (1 << operation code); every supported
    operation when no authorizer is configured."""

    def handle(broker: Broker, ctx: RequestContext, request: Any) -> Any:
        authorizer = authorizer_for(broker)

        def operations(rtype: ResourceType, name: str) -> int:
            ops = SUPPORTED_OPERATIONS[rtype]
            if authorizer is not None:
                ops = tuple(
                    op for op in ops if allowed(authorizer, ctx, op, rtype, name, explicit=False)
                )
            return sum(1 << int(op) for op in ops)

        return then(handler(broker, ctx, request), lambda out: fill(request, out, operations))

    return handle


SUPPORTED_OPERATIONS: dict[ResourceType, tuple[Operation, ...]] = {
    T: (
        Operation.READ,
        Operation.WRITE,
        Operation.CREATE,
        Operation.DELETE,
        Operation.ALTER,
        Operation.DESCRIBE,
        Operation.DESCRIBE_CONFIGS,
        Operation.ALTER_CONFIGS,
    ),
    G: (Operation.READ, Operation.DESCRIBE, Operation.DELETE),
    C: (
        Operation.CREATE,
        Operation.CLUSTER_ACTION,
        Operation.DESCRIBE_CONFIGS,
        Operation.ALTER_CONFIGS,
        Operation.IDEMPOTENT_WRITE,
        Operation.ALTER,
        Operation.DESCRIBE,
    ),
}


def _metadata_operations(request: Any, out: Any, operations: OperationsOf) -> Any:
    if getattr(request, "include_topic_authorized_operations", False):
        out = dataclasses.replace(
            out,
            topics=tuple(
                dataclasses.replace(t, topic_authorized_operations=operations(T, t.name))
                if t.error_code == ErrorCode.none and t.name
                else t
                for t in out.topics
            ),
        )
    if getattr(request, "include_cluster_authorized_operations", False) and has_field(
        type(out), "cluster_authorized_operations"
    ):
        out = dataclasses.replace(out, cluster_authorized_operations=operations(C, CLUSTER_NAME))
    return out


def _cluster_operations(request: Any, out: Any, operations: OperationsOf) -> Any:
    if getattr(request, "include_cluster_authorized_operations", False):
        return dataclasses.replace(out, cluster_authorized_operations=operations(C, CLUSTER_NAME))
    return out


def _group_operations(request: Any, out: Any, operations: OperationsOf) -> Any:
    if not getattr(request, "include_authorized_operations", False):
        return out
    return dataclasses.replace(
        out,
        groups=tuple(
            dataclasses.replace(g, authorized_operations=operations(G, g.group_id))
            if g.error_code == ErrorCode.none
            else g
            for g in out.groups
        ),
    )


OPERATIONS_FILLERS: dict[int, Filler] = {
    3: _metadata_operations,
    15: _group_operations,
    60: _cluster_operations,
    69: _group_operations,
}
