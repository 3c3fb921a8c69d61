"""Authorization around the handlers: one gate per API family, applied from one table.

`authorizing(handlers)` wraps every handler; with the authorizer off the wrapper calls
the handler directly. With it on, the API's gate (chosen by API key) decides, as
Kafka's KafkaApis does:

- whole-request gates (cluster operations, one group, one transactional id) answer a
  refusal in the response's own shape with the *_AUTHORIZATION_FAILED code;
- per-resource gates split the request: resources the principal may not use are taken
  out, the handler serves the rest, and the refused resources are added to its response
  with the error code (partitions mirrored from the request). When nothing is left the
  handler is not called at all (a Fetch would otherwise long-poll for nothing);
- listing gates (Metadata for all topics, ListGroups) drop what the principal may not
  describe, without audit lines at INFO, as Kafka filters them.

Produce and Fetch encode their own responses; when a refusal must be merged into one,
its bytes are decoded with kio first (only then: the allowed hot path is untouched).

This module holds the table and the topic/admin gates; the mechanics are in
authz_common.py, the group and transaction gates in authz_group_gates.py, KIP-430's
authorized operations in authz_operations.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.acl import Operation
from ..auth.authorizer import Authorizer
from ..protocol.framing import MalformedRequest
from .authz import TX, C, T, allowed, authorizer_for, blank, denied_names, has_field
from .authz_common import (
    Gate,
    cluster_gate,
    group_gate,
    item_class,
    refuse_all,
    split,
    then,
    topic_name,
    topics_gate,
    transactional,
)
from .authz_group_gates import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    describe_transactions,
    find_coordinator,
    groups_list_gate,
    list_groups,
    list_transactions,
    offset_delete,
    offset_fetch,
    txn_offset_commit,
)
from .authz_operations import OPERATIONS_FILLERS, with_operations
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .kio_build import response_class


def authorizing(handlers: dict[int, Handler]) -> dict[int, Handler]:
    wrapped = {key: _wrap(handler, GATES.get(key)) for key, handler in handlers.items()}
    for key, fill in OPERATIONS_FILLERS.items():
        if key in wrapped:
            wrapped[key] = with_operations(wrapped[key], fill)
    return wrapped


def _wrap(handler: Handler, gate: Gate | None) -> Handler:
    if gate is None:
        return handler

    def handle(broker: Broker, ctx: RequestContext, request: Any) -> Any:
        authorizer = authorizer_for(broker)
        if authorizer is None:
            return handler(broker, ctx, request)
        return gate(authorizer, handler, broker, ctx, request)

    return handle


def _produce(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    txn = request.transactional_id
    if txn is not None and not allowed(a, ctx, Operation.WRITE, TX, txn):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    names = [topic_name(b, i) for i in request.topic_data]
    denied = denied_names(a, ctx, Operation.WRITE, T, names)
    answer = split(
        h,
        b,
        ctx,
        request,
        field="topic_data",
        out_field="responses",
        call_when_empty=True,
        refused=lambda i: (
            ErrorCode.topic_authorization_failed if topic_name(b, i) in denied else None
        ),
    )
    if denied and request.acks == 0:
        # No response can carry the error: Kafka closes the connection instead, so the
        # client notices and refreshes its metadata (the allowed topics were appended).
        raise MalformedRequest(f"acks=0 produce to unauthorized topic(s) {sorted(denied)}")
    return answer


def _fetch(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    from .fetch import replica_id_of

    if replica_id_of(request) >= 0:  # a follower replicating: inter-broker traffic
        if allowed(a, ctx, Operation.CLUSTER_ACTION, C):
            return h(b, ctx, request)
        return refuse_all(request, ErrorCode.topic_authorization_failed)
    return topics_gate("topics", "responses", Operation.READ)(a, h, b, ctx, request)


def _init_producer_id(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if request.transactional_id is not None:
        return transactional()(a, h, b, ctx, request)
    # Idempotent producers: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679).
    if allowed(a, ctx, Operation.IDEMPOTENT_WRITE, C) or a.authorize_any(
        principal=ctx.principal,
        host=ctx.client_host,
        operation=Operation.WRITE,
        resource_type=T,
        request="INIT_PRODUCER_ID",
    ):
        return h(b, ctx, request)
    return refuse_all(request, ErrorCode.cluster_authorization_failed)


def _metadata(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if request.topics is None:  # every topic: list only those the principal may describe

        def visible(output: Any) -> Any:
            kept = tuple(
                t
                for t in output.topics
                if allowed(a, ctx, Operation.DESCRIBE, T, t.name, explicit=False)
            )
            return dataclasses.replace(output, topics=kept)

        return then(h(b, ctx, request), visible)
    image = b.image
    auto_create = bool(getattr(request, "allow_auto_topic_creation", True)) and bool(
        b.config.get_bool("auto.create.topics.enable")
    )
    names = [topic_name(b, t) for t in request.topics]
    denied = denied_names(a, ctx, Operation.DESCRIBE, T, names)
    missing = {n for n in names if n is not None and n not in image.topics and n not in denied}
    if missing and auto_create and not allowed(a, ctx, Operation.CREATE, C, explicit=False):
        denied |= denied_names(a, ctx, Operation.CREATE, T, missing)
    return split(
        h,
        b,
        ctx,
        request,
        field="topics",
        out_field="topics",
        call_when_empty=True,
        refused=lambda t: (
            ErrorCode.topic_authorization_failed if topic_name(b, t) in denied else None
        ),
    )


def _create_topics(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if allowed(a, ctx, Operation.CREATE, C, explicit=False):
        result = h(b, ctx, request)
    else:
        result = topics_gate("topics", "topics", Operation.CREATE)(a, h, b, ctx, request)

    def hide_configs(output: Any) -> Any:
        """v5+ return the new topic's configs only to who may describe them (Kafka)."""
        if not output.topics or not has_field(type(output.topics[0]), "topic_config_error_code"):
            return output
        return dataclasses.replace(
            output,
            topics=tuple(
                dataclasses.replace(
                    t,
                    configs=None,
                    topic_config_error_code=ErrorCode.topic_authorization_failed,
                )
                if t.error_code == ErrorCode.none
                and not allowed(a, ctx, Operation.DESCRIBE_CONFIGS, T, t.name, explicit=False)
                else t
                for t in output.topics
            ),
        )

    return then(result, hide_configs)


def _delete_topics(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    field = "topic_names" if hasattr(request, "topic_names") else "topics"
    if field == "topics":
        return topics_gate("topics", "responses", Operation.DELETE)(a, h, b, ctx, request)
    denied = denied_names(a, ctx, Operation.DELETE, T, request.topic_names)
    if not denied:
        return h(b, ctx, request)
    cls = response_class(request)
    item_cls = item_class(cls, "responses")
    refusals = tuple(
        blank(item_cls, name=n, error_code=ErrorCode.topic_authorization_failed)
        for n in request.topic_names
        if n in denied
    )
    kept = tuple(n for n in request.topic_names if n not in denied)

    def merge(output: Any) -> Any:
        return dataclasses.replace(output, responses=tuple(output.responses) + refusals)

    return then(h(b, ctx, dataclasses.replace(request, topic_names=kept)), merge)


_CONFIG_TOPIC, _CONFIG_BROKER, _CONFIG_BROKER_LOGGER = 2, 4, 8


def configs_gate(operation: Operation, out_field: str) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        def refused(resource: Any) -> ErrorCode | None:
            if resource.resource_type == _CONFIG_TOPIC:
                ok = allowed(a, ctx, operation, T, resource.resource_name)
                return None if ok else ErrorCode.topic_authorization_failed
            ok = allowed(a, ctx, operation, C)
            return None if ok else ErrorCode.cluster_authorization_failed

        return split(h, b, ctx, request, field="resources", out_field=out_field, refused=refused)

    return gate


def _offset_for_leader_epoch(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if getattr(request, "replica_id", -1) >= 0:
        if allowed(a, ctx, Operation.CLUSTER_ACTION, C):
            return h(b, ctx, request)
        return refuse_all(request, ErrorCode.cluster_authorization_failed)
    return topics_gate("topics", "topics", Operation.DESCRIBE)(a, h, b, ctx, request)


GATES: dict[int, Gate] = {
    0: _produce,
    1: _fetch,
    2: topics_gate("topics", "topics", Operation.DESCRIBE),
    3: _metadata,
    8: group_gate(Operation.READ, topics_gate("topics", "topics", Operation.READ)),
    9: offset_fetch,
    10: find_coordinator,
    11: group_gate(Operation.READ),
    12: group_gate(Operation.READ),
    13: group_gate(Operation.READ),
    14: group_gate(Operation.READ),
    15: groups_list_gate("groups", "groups", Operation.DESCRIBE),
    16: list_groups,
    19: _create_topics,
    20: _delete_topics,
    21: topics_gate("topics", "topics", Operation.DELETE),
    22: _init_producer_id,
    23: _offset_for_leader_epoch,
    24: add_partitions_to_txn,
    25: add_offsets_to_txn,
    26: transactional(),
    27: cluster_gate(Operation.CLUSTER_ACTION),
    28: txn_offset_commit,
    29: cluster_gate(Operation.DESCRIBE),
    30: cluster_gate(Operation.ALTER),
    31: cluster_gate(Operation.ALTER),
    32: configs_gate(Operation.DESCRIBE_CONFIGS, "results"),
    33: configs_gate(Operation.ALTER_CONFIGS, "responses"),
    37: topics_gate("topics", "results", Operation.ALTER),
    42: groups_list_gate("groups_names", "results", Operation.DELETE),
    43: cluster_gate(Operation.ALTER),
    45: cluster_gate(Operation.ALTER),
    46: cluster_gate(Operation.DESCRIBE),
    44: configs_gate(Operation.ALTER_CONFIGS, "responses"),
    47: offset_delete,
    48: cluster_gate(Operation.DESCRIBE_CONFIGS),
    49: cluster_gate(Operation.ALTER_CONFIGS),
    50: cluster_gate(Operation.DESCRIBE),
    51: cluster_gate(Operation.ALTER),
    55: cluster_gate(Operation.DESCRIBE),
    56: cluster_gate(Operation.CLUSTER_ACTION),
    60: cluster_gate(Operation.DESCRIBE),
    62: cluster_gate(Operation.CLUSTER_ACTION),
    63: cluster_gate(Operation.CLUSTER_ACTION),
    65: describe_transactions,
    66: list_transactions,
    68: group_gate(Operation.READ),
    69: groups_list_gate("group_ids", "groups", Operation.DESCRIBE),
    80: cluster_gate(Operation.ALTER),
    81: cluster_gate(Operation.ALTER),
    82: cluster_gate(Operation.CLUSTER_ACTION),
}
