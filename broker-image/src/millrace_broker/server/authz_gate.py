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
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from ..auth.acl import CLUSTER_NAME, Operation, ResourceType
from ..auth.authorizer import Authorizer
from .authz import TX, C, G, T, allowed, authorizer_for, blank, denied_names, has_field
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .kio_build import response_class

Gate = Callable[[Authorizer, Handler, Broker, RequestContext, Any], Any]

_NAME_FIELDS = (
    "name",
    "topic",
    "topic_id",
    "group_id",
    "key",
    "resource_type",
    "resource_name",
    "entity_type",
    "entity_name",
)
_INDEX_FIELDS = ("partition_index", "partition", "index")
# Response list -> the request list it answers, where the names differ.
_TAIL = {
    "partition_responses": ("partition_data",),
    "partitions": ("partition_data", "partition_indexes"),
    "responses": ("topic_data", "topics", "resources"),
    "results": ("creations", "resources", "topics"),
    "filter_results": ("filters",),
}


def authorizing(handlers: dict[int, Handler]) -> dict[int, Handler]:
    wrapped = {key: _wrap(handler, GATES.get(key)) for key, handler in handlers.items()}
    for key, fill in OPERATIONS_FILLERS.items():
        if key in wrapped:
            wrapped[key] = _with_operations(wrapped[key], fill)
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


# ---- authorized operations (KIP-430) ------------------------------------------------

OperationsOf = Callable[[ResourceType, str], int]
Filler = Callable[[Any, Any, OperationsOf], Any]


def _with_operations(handler: Handler, fill: Filler) -> Handler:
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

        return _then(handler(broker, ctx, request), lambda out: fill(request, out, operations))

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


# ---- building refusals ---------------------------------------------------------------


def _item_class(cls: type[Any], field_name: str) -> type[Any]:
    for f in dataclasses.fields(cls):
        if f.name == field_name:
            item: type[Any] = typing.get_args(f.type)[0]
            return item
    raise KeyError(field_name)


def mirror(cls: type[Any], source: Any, code: ErrorCode) -> Any:
    """A result of `cls` for the request item `source`: its names and partition indexes
    copied, every error code set to `code`."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "error_code":
            values[f.name] = code
        elif f.name in _NAME_FIELDS and hasattr(source, f.name):
            values[f.name] = getattr(source, f.name)
        elif f.name in _INDEX_FIELDS:
            for alias in _INDEX_FIELDS:
                if hasattr(source, alias):
                    values[f.name] = getattr(source, alias)
                    break
        elif f.name == "name" and hasattr(source, "topic"):
            values[f.name] = source.topic
        elif f.name == "topic" and hasattr(source, "name"):
            values[f.name] = source.name
        elif typing.get_origin(f.type) is tuple and f.name != "tagged_fields":
            sub = getattr(source, f.name, None)
            for alias in _TAIL.get(f.name, ()) if sub is None else ():
                sub = getattr(source, alias, None)
                if sub is not None:
                    break
            if isinstance(sub, tuple) and sub and dataclasses.is_dataclass(sub[0]):
                sub_cls = typing.get_args(f.type)[0]
                values[f.name] = tuple(mirror(sub_cls, s, code) for s in sub)
            elif isinstance(sub, tuple) and sub and isinstance(sub[0], int):
                sub_cls = typing.get_args(f.type)[0]  # partitions named by index only
                values[f.name] = tuple(_index_result(sub_cls, i, code) for i in sub)
    return blank(cls, **values)


def _index_result(cls: type[Any], index: int, code: ErrorCode) -> Any:
    field = next(n for n in _INDEX_FIELDS if has_field(cls, n))
    return blank(cls, **{field: index, "error_code": code})


def _as_entity(request: Any, output: Any) -> Any:
    """The handler's answer as a kio entity (hand-encoded bytes are decoded)."""
    if not isinstance(output, bytes | list):
        return output
    data = output if isinstance(output, bytes) else b"".join(bytes(c) for c in output)
    cls = response_class(request)
    offset = 8 + (1 if cls.__flexible__ else 0)  # size, correlation id, header tags
    entity, _size = entity_reader(cls)(data, offset)
    return entity


def _then(result: Any, finish: Callable[[Any], Any]) -> Any:
    if inspect.isawaitable(result):

        async def later(pending: Awaitable[Any]) -> Any:
            return finish(await pending)

        return later(result)
    return finish(result)


def split(
    handler: Handler,
    broker: Broker,
    ctx: RequestContext,
    request: Any,
    *,
    field: str,
    refused: Callable[[Any], ErrorCode | None],
    out_field: str,
    call_when_empty: bool = False,
) -> Any:
    """Serve the items of `request.<field>` that `refused` lets through; answer the
    others in `response.<out_field>` with their error code."""
    items = getattr(request, field) or ()
    codes = [refused(item) for item in items]
    if not any(codes):
        return handler(broker, ctx, request)
    cls = response_class(request)
    item_cls = _item_class(cls, out_field)
    refusals = tuple(mirror(item_cls, i, c) for i, c in zip(items, codes, strict=True) if c)
    kept = tuple(i for i, c in zip(items, codes, strict=True) if not c)

    def merge(output: Any) -> Any:
        if output is None:  # acks=0
            return None
        entity = _as_entity(request, output)
        return dataclasses.replace(
            entity, **{out_field: tuple(getattr(entity, out_field)) + refusals}
        )

    if not kept and not call_when_empty:
        return blank(cls, **{out_field: refusals})
    return _then(handler(broker, ctx, dataclasses.replace(request, **{field: kept})), merge)


def refuse_all(request: Any, code: ErrorCode, message: str | None = None) -> Any:
    """The whole request refused: a top-level error code, or every item mirrored."""
    cls = response_class(request)
    values: dict[str, Any] = {}
    if has_field(cls, "error_code"):
        values["error_code"] = code
        if has_field(cls, "error_message"):
            values["error_message"] = message
    return dataclasses.replace(mirror(cls, request, code), **values)


# ---- gates ---------------------------------------------------------------------------


def _topic_name(broker: Broker, item: Any) -> str | None:
    name = getattr(item, "name", None) or getattr(item, "topic", None)
    if name is None and getattr(item, "topic_id", None) is not None:
        topic = broker.image.topic_by_id(item.topic_id)
        return topic.name if topic else None
    return name if isinstance(name, str) else None


def topics_gate(field: str, out_field: str, operation: Operation) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        names = [_topic_name(b, i) for i in getattr(request, field) or ()]
        denied = denied_names(a, ctx, operation, T, names)
        return split(
            h,
            b,
            ctx,
            request,
            field=field,
            out_field=out_field,
            refused=lambda i: (
                ErrorCode.topic_authorization_failed if _topic_name(b, i) in denied else None
            ),
        )

    return gate


def cluster_gate(operation: Operation) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        if allowed(a, ctx, operation, C):
            return h(b, ctx, request)
        return refuse_all(request, ErrorCode.cluster_authorization_failed)

    return gate


def group_gate(operation: Operation, then: Gate | None = None) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        if not allowed(a, ctx, operation, G, request.group_id):
            return refuse_all(request, ErrorCode.group_authorization_failed)
        return (then or _pass)(a, h, b, ctx, request)

    return gate


def _pass(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    return h(b, ctx, request)


def _transactional(then: Gate | None = None) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
            return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
        return (then or _pass)(a, h, b, ctx, request)

    return gate


def _produce(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    txn = request.transactional_id
    if txn is not None and not allowed(a, ctx, Operation.WRITE, TX, txn):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    names = [_topic_name(b, i) for i in request.topic_data]
    denied = denied_names(a, ctx, Operation.WRITE, T, names)
    return split(
        h,
        b,
        ctx,
        request,
        field="topic_data",
        out_field="responses",
        call_when_empty=True,  # acks=0 still gets no response
        refused=lambda i: (
            ErrorCode.topic_authorization_failed if _topic_name(b, i) in denied else None
        ),
    )


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
        return _transactional()(a, h, b, ctx, request)
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

        return _then(h(b, ctx, request), visible)
    image = b.image
    auto_create = bool(getattr(request, "allow_auto_topic_creation", True)) and bool(
        b.config.get_bool("auto.create.topics.enable")
    )
    names = [_topic_name(b, t) for t in request.topics]
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
            ErrorCode.topic_authorization_failed if _topic_name(b, t) in denied else None
        ),
    )


def _create_topics(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if allowed(a, ctx, Operation.CREATE, C, explicit=False):
        return h(b, ctx, request)
    return topics_gate("topics", "topics", Operation.CREATE)(a, h, b, ctx, request)


def _delete_topics(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    field = "topic_names" if hasattr(request, "topic_names") else "topics"
    if field == "topics":
        return topics_gate("topics", "responses", Operation.DELETE)(a, h, b, ctx, request)
    denied = denied_names(a, ctx, Operation.DELETE, T, request.topic_names)
    if not denied:
        return h(b, ctx, request)
    cls = response_class(request)
    item_cls = _item_class(cls, "responses")
    refusals = tuple(
        blank(item_cls, name=n, error_code=ErrorCode.topic_authorization_failed)
        for n in request.topic_names
        if n in denied
    )
    kept = tuple(n for n in request.topic_names if n not in denied)

    def merge(output: Any) -> Any:
        return dataclasses.replace(output, responses=tuple(output.responses) + refusals)

    return _then(h(b, ctx, dataclasses.replace(request, topic_names=kept)), merge)


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


def _groups_list_gate(field: str, out_field: str, operation: Operation) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        items = list(getattr(request, field))
        denied = denied_names(a, ctx, operation, G, items)
        if not denied:
            return h(b, ctx, request)
        cls = response_class(request)
        item_cls = _item_class(cls, out_field)
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

        return _then(h(b, ctx, dataclasses.replace(request, **{field: kept})), merge)

    return gate


def _list_groups(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if allowed(a, ctx, Operation.DESCRIBE, C, explicit=False):
        return h(b, ctx, request)

    def visible(output: Any) -> Any:
        kept = tuple(
            g
            for g in output.groups
            if allowed(a, ctx, Operation.DESCRIBE, G, g.group_id, explicit=False)
        )
        return dataclasses.replace(output, groups=kept)

    return _then(h(b, ctx, request), visible)


def _find_coordinator(
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
    item_cls = _item_class(cls, "coordinators")
    refusals = tuple(blank(item_cls, key=k, error_code=code) for k in keys if k in denied)
    kept = tuple(k for k in keys if k not in denied)
    if not kept:
        return blank(cls, coordinators=refusals)

    def merge(output: Any) -> Any:
        return dataclasses.replace(output, coordinators=tuple(output.coordinators) + refusals)

    return _then(h(b, ctx, dataclasses.replace(request, coordinator_keys=kept)), merge)


def _offset_fetch(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    groups = getattr(request, "groups", None)
    if groups is None:  # v0-7: one group
        if not allowed(a, ctx, Operation.DESCRIBE, G, request.group_id):
            return blank(response_class(request), error_code=ErrorCode.group_authorization_failed)
        if request.topics is None:
            return _then(h(b, ctx, request), lambda out: _visible_topics(a, ctx, out))
        return topics_gate("topics", "topics", Operation.DESCRIBE)(a, h, b, ctx, request)
    denied = denied_names(a, ctx, Operation.DESCRIBE, G, [g.group_id for g in groups])
    cls = response_class(request)
    group_cls = _item_class(cls, "groups")
    topic_cls = _item_class(group_cls, "topics")
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

    return _then(h(b, ctx, dataclasses.replace(request, groups=tuple(kept))), merge)


def _visible_topics(a: Authorizer, ctx: RequestContext, holder: Any) -> Any:
    """Committed offsets of topics the principal may not describe are not shown."""
    kept = tuple(
        t for t in holder.topics if allowed(a, ctx, Operation.DESCRIBE, T, t.name, explicit=False)
    )
    return dataclasses.replace(holder, topics=kept)


def _offset_for_leader_epoch(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if getattr(request, "replica_id", -1) >= 0:
        if allowed(a, ctx, Operation.CLUSTER_ACTION, C):
            return h(b, ctx, request)
        return refuse_all(request, ErrorCode.cluster_authorization_failed)
    return topics_gate("topics", "topics", Operation.DESCRIBE)(a, h, b, ctx, request)


def _add_partitions_to_txn(
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
    topic_cls = _item_class(cls, "results_by_topic_v3_and_below")
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


def _txn_offset_commit(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    if not allowed(a, ctx, Operation.READ, G, request.group_id):
        return refuse_all(request, ErrorCode.group_authorization_failed)
    return topics_gate("topics", "topics", Operation.READ)(a, h, b, ctx, request)


def _add_offsets_to_txn(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
        return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
    return group_gate(Operation.READ)(a, h, b, ctx, request)


def _describe_transactions(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    ids = list(request.transactional_ids)
    denied = denied_names(a, ctx, Operation.DESCRIBE, TX, ids)
    if not denied:
        return h(b, ctx, request)
    cls = response_class(request)
    item_cls = _item_class(cls, "transaction_states")
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

    return _then(h(b, ctx, dataclasses.replace(request, transactional_ids=kept)), merge)


def _list_transactions(
    a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any
) -> Any:
    def visible(output: Any) -> Any:
        kept = tuple(
            s
            for s in output.transaction_states
            if allowed(a, ctx, Operation.DESCRIBE, TX, s.transactional_id, explicit=False)
        )
        return dataclasses.replace(output, transaction_states=kept)

    return _then(h(b, ctx, request), visible)


def _offset_delete(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    if not allowed(a, ctx, Operation.DELETE, G, request.group_id):
        return refuse_all(request, ErrorCode.group_authorization_failed)
    return topics_gate("topics", "topics", Operation.READ)(a, h, b, ctx, request)


GATES: dict[int, Gate] = {
    0: _produce,
    1: _fetch,
    2: topics_gate("topics", "topics", Operation.DESCRIBE),
    3: _metadata,
    8: group_gate(Operation.READ, topics_gate("topics", "topics", Operation.READ)),
    9: _offset_fetch,
    10: _find_coordinator,
    11: group_gate(Operation.READ),
    12: group_gate(Operation.READ),
    13: group_gate(Operation.READ),
    14: group_gate(Operation.READ),
    15: _groups_list_gate("groups", "groups", Operation.DESCRIBE),
    16: _list_groups,
    19: _create_topics,
    20: _delete_topics,
    21: topics_gate("topics", "topics", Operation.DELETE),
    22: _init_producer_id,
    23: _offset_for_leader_epoch,
    24: _add_partitions_to_txn,
    25: _add_offsets_to_txn,
    26: _transactional(),
    27: cluster_gate(Operation.CLUSTER_ACTION),
    28: _txn_offset_commit,
    29: cluster_gate(Operation.DESCRIBE),
    30: cluster_gate(Operation.ALTER),
    31: cluster_gate(Operation.ALTER),
    32: configs_gate(Operation.DESCRIBE_CONFIGS, "results"),
    33: configs_gate(Operation.ALTER_CONFIGS, "responses"),
    37: topics_gate("topics", "results", Operation.ALTER),
    42: _groups_list_gate("groups_names", "results", Operation.DELETE),
    43: cluster_gate(Operation.ALTER),
    45: cluster_gate(Operation.ALTER),
    46: cluster_gate(Operation.DESCRIBE),
    44: configs_gate(Operation.ALTER_CONFIGS, "responses"),
    47: _offset_delete,
    48: cluster_gate(Operation.DESCRIBE_CONFIGS),
    49: cluster_gate(Operation.ALTER_CONFIGS),
    50: cluster_gate(Operation.DESCRIBE),
    51: cluster_gate(Operation.ALTER),
    55: cluster_gate(Operation.DESCRIBE),
    56: cluster_gate(Operation.CLUSTER_ACTION),
    60: cluster_gate(Operation.DESCRIBE),
    62: cluster_gate(Operation.CLUSTER_ACTION),
    63: cluster_gate(Operation.CLUSTER_ACTION),
    65: _describe_transactions,
    66: _list_transactions,
    68: group_gate(Operation.READ),
    69: _groups_list_gate("group_ids", "groups", Operation.DESCRIBE),
    80: cluster_gate(Operation.ALTER),
    81: cluster_gate(Operation.ALTER),
    82: cluster_gate(Operation.CLUSTER_ACTION),
}
