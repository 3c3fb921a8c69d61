"""Authorization gates of the group and transaction APIs (Kafka's KafkaApis checks):
groups by READ/DESCRIBE/DELETE on the group, coordinators by DESCRIBE on the group or
transactional id, transactional requests by WRITE on the transactional id, committed
offsets by READ/DESCRIBE on their topics."""

from __future__ import annotations

import dataclasses
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.acl import Operation
from ..auth.authorizer import Authorizer
from .authz import TX, C, G, T, allowed, blank, denied_names
from .authz_common import (
    Gate,
    cluster_gate,
    group_gate,
    item_class,
    mirror,
    refuse_all,
    then,
    topics_gate,
)
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .kio_build import response_class


def groups_list_gate(field: str, out_field: str, operation: Operation) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        items = list(getattr(request, field))
        denied = denied_names(a, ctx, operation, G, items)
        if not denied:
            return h(b, ctx, request)
        cls = response_class(request)
        item_cls = item_class(cls, out_field)
        refusals = tuple(
            blank(item_cls, group_id=g, error_code=ErrorCode.group_authorization_failed)
            for g in items
            if g in denied
        )
        kept = tuple(g for g in items if g not in denied)

        def merge(output: Any) -> Any:
            return dataclasses.replace(
                output, **{out_field: tuple(getattr(output, out_field)) + refusals}
            )

        return then(h(b, ctx, dataclasses.replace(request, **{field: kept})), merge)

    return gate


def list_groups(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if allowed(a, ctx, Operation.DESCRIBE, C, explicit=False):
        return h(b, ctx, request)

    def visible(output: Any) -> Any:
        kept = tuple(
            g
            for g in output.groups
            if allowed(a, ctx, Operation.DESCRIBE, G, g.group_id, explicit=False)
        )
        return dataclasses.replace(output, groups=kept)

    return then(h(b, ctx, request), visible)


def find_coordinator(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    kind = getattr(request, "key_type", 0)
    rtype = TX if kind == 1 else G
    code = (
        ErrorCode.transactional_id_authorization_failed
        if kind == 1
        else ErrorCode.group_authorization_failed
    )
    keys = getattr(request, "coordinator_keys", None)
    if keys is None:  # v0-3: one key
        if allowed(a, ctx, Operation.DESCRIBE, rtype, request.key):
            return h(b, ctx, request)
        return refuse_all(request, code)
    denied = denied_names(a, ctx, Operation.DESCRIBE, rtype, keys)
    if not denied:
        return h(b, ctx, request)
    cls = response_class(request)
    item_cls = item_class(cls, "coordinators")
    refusals = tuple(blank(item_cls, key=k, error_code=code) for k in keys if k in denied)
    kept = tuple(k for k in keys if k not in denied)
    if not kept:
        return blank(cls, coordinators=refusals)

    def merge(output: Any) -> Any:
        return dataclasses.replace(output, coordinators=tuple(output.coordinators) + refusals)

    return then(h(b, ctx, dataclasses.replace(request, coordinator_keys=kept)), merge)


def offset_fetch(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    groups = getattr(request, "groups", None)
    if groups is None:  # v0-7: one group
        if not allowed(a, ctx, Operation.DESCRIBE, G, request.group_id):
            return blank(response_class(request), error_code=ErrorCode.group_authorization_failed)
        if request.topics is None:
            return then(h(b, ctx, request), lambda out: _visible_topics(a, ctx, out))
        return topics_gate("topics", "topics", Operation.DESCRIBE)(a, h, b, ctx, request)
    denied = denied_names(a, ctx, Operation.DESCRIBE, G, [g.group_id for g in groups])
    cls = response_class(request)
    group_cls = item_class(cls, "groups")
    topic_cls = item_class(group_cls, "topics")
    group_refusals = tuple(
        blank(group_cls, group_id=g.group_id, error_code=ErrorCode.group_authorization_failed)
        for g in groups
        if g.group_id in denied
    )
    kept = []
    topic_refusals: dict[str, tuple[Any, ...]] = {}
    for g in groups:
        if g.group_id in denied:
            continue
        if g.topics is not None:  # named topics: refused ones answer with the error
            hidden = denied_names(a, ctx, Operation.DESCRIBE, T, [t.name for t in g.topics])
            if hidden:
                topic_refusals[g.group_id] = tuple(
                    mirror(topic_cls, t, ErrorCode.topic_authorization_failed)
                    for t in g.topics
                    if t.name in hidden
                )
                g = dataclasses.replace(
                    g, topics=tuple(t for t in g.topics if t.name not in hidden)
                )
        kept.append(g)
    if not kept:
        return blank(cls, groups=group_refusals)

    def merge(output: Any) -> Any:
        answered = []
        for group in output.groups:
            group = _visible_topics(a, ctx, group)  # all topics: only describable ones
            extra = topic_refusals.get(group.group_id, ())
            if extra:
                group = dataclasses.replace(group, topics=tuple(group.topics) + extra)
            answered.append(group)
        return dataclasses.replace(output, groups=tuple(answered) + group_refusals)

    return then(h(b, ctx, dataclasses.replace(request, groups=tuple(kept))), merge)


def _visible_topics(a: Authorizer, ctx: RequestContext, holder: Any) -> Any:
    """Committed offsets of topics the principal may not describe are not shown."""
    kept = tuple(
        t for t in holder.topics if allowed(a, ctx, Operation.DESCRIBE, T, t.name, explicit=False)
    )
    return dataclasses.replace(holder, topics=kept)


def add_partitions_to_txn(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if not hasattr(request, "v3_and_below_transactional_id"):
        # v4+: batches from brokers verifying transactions (inter-broker traffic).
        return cluster_gate(Operation.CLUSTER_ACTION)(a, h, b, ctx, request)
    txn = request.v3_and_below_transactional_id
    if not allowed(a, ctx, Operation.WRITE, TX, txn):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    names = [t.name for t in request.v3_and_below_topics]
    denied = denied_names(a, ctx, Operation.WRITE, T, names)
    if not denied:
        return h(b, ctx, request)
    # Kafka: one refused topic fails the request; the others are not attempted.
    cls = response_class(request)
    topic_cls = item_class(cls, "results_by_topic_v3_and_below")
    results = tuple(
        mirror(
            topic_cls,
            dataclasses.replace(t, partitions=tuple(_Index(p) for p in t.partitions)),
            ErrorCode.topic_authorization_failed
            if t.name in denied
            else ErrorCode.operation_not_attempted,
        )
        for t in request.v3_and_below_topics
    )
    return blank(cls, results_by_topic_v3_and_below=results)


@dataclasses.dataclass(frozen=True)
class _Index:
    partition_index: int


def txn_offset_commit(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    if not allowed(a, ctx, Operation.READ, G, request.group_id):
        return refuse_all(request, ErrorCode.group_authorization_failed)
    return topics_gate("topics", "topics", Operation.READ)(a, h, b, ctx, request)


def add_offsets_to_txn(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    return group_gate(Operation.READ)(a, h, b, ctx, request)


def describe_transactions(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    ids = list(request.transactional_ids)
    denied = denied_names(a, ctx, Operation.DESCRIBE, TX, ids)
    if not denied:
        return h(b, ctx, request)
    cls = response_class(request)
    item_cls = item_class(cls, "transaction_states")
    refusals = tuple(
        blank(
            item_cls,
            transactional_id=t,
            error_code=ErrorCode.transactional_id_authorization_failed,
        )
        for t in ids
        if t in denied
    )
    kept = tuple(t for t in ids if t not in denied)

    def merge(output: Any) -> Any:
        return dataclasses.replace(
            output, transaction_states=tuple(output.transaction_states) + refusals
        )

    return then(h(b, ctx, dataclasses.replace(request, transactional_ids=kept)), merge)


def list_transactions(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    def visible(output: Any) -> Any:
        kept = tuple(
            s
            for s in output.transaction_states
            if allowed(a, ctx, Operation.DESCRIBE, TX, s.transactional_id, explicit=False)
        )
        return dataclasses.replace(output, transaction_states=kept)

    return then(h(b, ctx, request), visible)


def offset_delete(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if not allowed(a, ctx, Operation.DELETE, G, request.group_id):
        return refuse_all(request, ErrorCode.group_authorization_failed)
    return topics_gate("topics", "topics", Operation.READ)(a, h, b, ctx, request)
