"""The mechanics of authorization gates: refusals in a response's own shape, splitting a
request into served and refused resources, and the simplest gates (per topic, cluster).

`mirror` answers a request item with its names and partition indexes copied and every
error code set; `split` serves the items a gate lets through and adds the refusals to the
handler's response (decoding hand-encoded Produce/Fetch bytes with kio only then);
`refuse_all` refuses a whole request (a top-level error code, or every item mirrored).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from ..auth.acl import Operation
from ..auth.authorizer import Authorizer
from .authz import TX, C, G, T, allowed, blank, denied_names, has_field
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
    "responses": ("topic_data", "topics", "resources", "topic_names"),
    "results": ("creations", "resources", "topics"),
    "filter_results": ("filters",),
}


# ---- building refusals ---------------------------------------------------------------


def item_class(cls: type[Any], field_name: str) -> type[Any]:
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
            elif isinstance(sub, tuple) and sub and isinstance(sub[0], str):
                sub_cls = typing.get_args(f.type)[0]  # resources named by a string only
                values[f.name] = tuple(_named_result(sub_cls, n, code) for n in sub)
            elif isinstance(sub, tuple) and sub and isinstance(sub[0], int):
                sub_cls = typing.get_args(f.type)[0]  # partitions named by index only
                values[f.name] = tuple(_index_result(sub_cls, i, code) for i in sub)
    return blank(cls, **values)


def _named_result(cls: type[Any], name: str, code: ErrorCode) -> Any:
    field = next(n for n in _NAME_FIELDS if has_field(cls, n))
    return blank(cls, **{field: name, "error_code": code})


def _index_result(cls: type[Any], index: int, code: ErrorCode) -> Any:
    field = next(n for n in _INDEX_FIELDS if has_field(cls, n))
    return blank(cls, **{field: index, "error_code": code})


def as_entity(request: Any, output: Any) -> Any:
    """The handler's answer as a kio entity (hand-encoded bytes are decoded)."""
    if not isinstance(output, bytes | list):
        return output
    data = output if isinstance(output, bytes) else b"".join(bytes(c) for c in output)
    cls = response_class(request)
    offset = 8 + (1 if cls.__flexible__ else 0)  # size, correlation id, header tags
    entity, _size = entity_reader(cls)(data, offset)
    return entity


def then(result: Any, finish: Callable[[Any], Any]) -> Any:
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
    item_cls = item_class(cls, out_field)
    refusals = tuple(mirror(item_cls, i, c) for i, c in zip(items, codes, strict=True) if c)
    kept = tuple(i for i, c in zip(items, codes, strict=True) if not c)

    def merge(output: Any) -> Any:
        if output is None:  # acks=0
            return None
        entity = as_entity(request, output)
        return dataclasses.replace(
            entity, **{out_field: tuple(getattr(entity, out_field)) + refusals}
        )

    if not kept and not call_when_empty:
        return blank(cls, **{out_field: refusals})
    return then(handler(broker, ctx, dataclasses.replace(request, **{field: kept})), merge)


def refuse_all(request: Any, code: ErrorCode, message: str | None = None) -> Any:
    """The whole request refused: a top-level error code, or every item mirrored."""
    cls = response_class(request)
    values: dict[str, Any] = {}
    if has_field(cls, "error_code"):
        values["error_code"] = code
        if has_field(cls, "error_message"):
            values["error_message"] = message
    return dataclasses.replace(mirror(cls, request, code), **values)


def topic_name(broker: Broker, item: Any) -> str | None:
    name = getattr(item, "name", None) or getattr(item, "topic", None)
    if name is None and getattr(item, "topic_id", None) is not None:
        topic = broker.image.topic_by_id(item.topic_id)
        return topic.name if topic else None
    return name if isinstance(name, str) else None


def topics_gate(field: str, out_field: str, operation: Operation) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        names = [topic_name(b, i) for i in getattr(request, field) or ()]
        denied = denied_names(a, ctx, operation, T, names)
        return split(
            h,
            b,
            ctx,
            request,
            field=field,
            out_field=out_field,
            refused=lambda i: (
                ErrorCode.topic_authorization_failed if topic_name(b, i) in denied else None
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
        return (then or pass_through)(a, h, b, ctx, request)

    return gate


def pass_through(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
    return h(b, ctx, request)


def transactional(then: Gate | None = None) -> Gate:
    def gate(a: Authorizer, h: Handler, b: Broker, ctx: RequestContext, request: Any) -> Any:
        if not allowed(a, ctx, Operation.WRITE, TX, request.transactional_id):
            return refuse_all(request, ErrorCode.transactional_id_authorization_failed)
        return (then or pass_through)(a, h, b, ctx, request)

    return gate
