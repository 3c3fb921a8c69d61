"""Every gated API, at every version Millrace serves, refused by a deny-all authorizer:
the gate answers in the response's own shape (encodable by kio) with the API's
*_AUTHORIZATION_FAILED code, and never calls the handler with a refused resource."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from typing import Any

import pytest
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from millrace_broker.auth.authorizer import Authorizer, AuthorizerSettings
from millrace_broker.metadata.image import MetadataImage, TopicImage
from millrace_broker.protocol.api_versions import CONTROLLER_ONLY_RANGES, KAFKA_41_RANGES, is_served
from millrace_broker.protocol.codec import encode_response
from millrace_broker.server.authz import blank
from millrace_broker.server.authz_gate import GATES
from millrace_broker.server.context import RequestContext
from millrace_broker.server.kio_build import response_class

AUTH_CODES = {
    ErrorCode.topic_authorization_failed,
    ErrorCode.group_authorization_failed,
    ErrorCode.cluster_authorization_failed,
    ErrorCode.transactional_id_authorization_failed,
}


class _Config:
    def get_bool(self, name: str) -> bool:
        return True


_X = uuid.UUID(int=0)  # the topic id every blank request names


class _Broker:
    config = _Config()
    image = MetadataImage(
        cluster_id="c", topics={"x": TopicImage("x", _X, {})}, topic_names={_X: "x"}
    )


def _one_of_each(cls: type[Any]) -> Any:
    """A request with one item in every list and a name in every string."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = f.metadata.get("kafka_type")
        args = typing.get_args(f.type)
        inner = [a for a in args if a is not type(None)]
        if typing.get_origin(f.type) is tuple or (inner and typing.get_origin(inner[0]) is tuple):
            tup = f.type if typing.get_origin(f.type) is tuple else inner[0]
            item = typing.get_args(tup)[0]
            if dataclasses.is_dataclass(item):
                values[f.name] = (_one_of_each(item),)
            elif kind == "string":
                values[f.name] = ("x",)
            else:
                values[f.name] = (0,)
        elif kind == "string":
            values[f.name] = "x"
        elif kind == "uuid":
            values[f.name] = _X
    if "replica_id" in values or any(f.name == "replica_id" for f in dataclasses.fields(cls)):
        values["replica_id"] = -1
    return blank(cls, **values)


def _cases() -> list[Any]:
    cases = []
    for key in sorted(GATES):
        low, high = KAFKA_41_RANGES.get(key) or CONTROLLER_ONLY_RANGES[key]
        for version in range(low, high + 1):
            if not is_served(key, version):
                continue
            try:
                load_request_schema(key, version)
            except Exception:
                continue
            cases.append(pytest.param(key, version, id=f"{key}v{version}"))
    return cases


def _codes(entity: Any) -> set[Any]:
    found: set[Any] = set()
    if dataclasses.is_dataclass(entity):
        for f in dataclasses.fields(entity):
            value = getattr(entity, f.name)
            if f.name == "error_code":
                found.add(value)
            found |= _codes(value)
    elif isinstance(entity, tuple):
        for item in entity:
            found |= _codes(item)
    return found


@pytest.mark.parametrize(("key", "version"), _cases())
def test_deny_all_refusals_are_well_formed(key: int, version: int) -> None:
    request = _one_of_each(load_request_schema(key, version))
    deny_all = Authorizer(AuthorizerSettings(frozenset()), lambda: {})
    ctx = RequestContext(key, version, 7, "c", "PLAINTEXT", "127.0.0.1", "User:alice")
    seen: list[Any] = []

    def handler(_broker: Any, _ctx: Any, served: Any) -> Any:
        seen.append(served)
        return blank(response_class(served))

    out = GATES[key](deny_all, handler, _Broker(), ctx, request)  # type: ignore[arg-type]
    assert not hasattr(out, "__await__"), "a refusal needs no waiting"
    encode_response(7, key, version, out)
    listing = key in (16, 66)  # lists filter what may not be described, no error
    assert _codes(out) & AUTH_CODES or listing or not seen, (out, seen)
    for served in seen:  # what reached the handler carries no refused resource
        for name in (
            "topics",
            "topic_data",
            "groups",
            "groups_names",
            "group_ids",
            "resources",
            "coordinator_keys",
            "transactional_ids",
        ):
            items = getattr(served, name, None)
            if items and key not in (3, 9, 16, 66):
                pytest.fail(f"{name} reached the handler: {items}")


def test_produce_split_and_merge_through_the_hand_encoder() -> None:
    """One allowed and one refused topic: the handler sees only the allowed one, and its
    hand-encoded answer is decoded and completed with the refused topic's partitions."""
    from millrace_broker.auth.acl import Acl, Operation, PatternType, Permission, ResourceType
    from millrace_broker.protocol.produce_response import (
        PartitionProduceResult,
        TopicProduceResult,
        encode_produce_response,
    )

    grant = Acl(
        ResourceType.TOPIC,
        "ok",
        PatternType.LITERAL,
        "User:alice",
        "*",
        Operation.WRITE,
        Permission.ALLOW,
    )
    authorizer = Authorizer(AuthorizerSettings(frozenset()), lambda: {"1": grant})
    request_cls = load_request_schema(0, 9)
    topic_cls = typing.get_args(
        next(f.type for f in dataclasses.fields(request_cls) if f.name == "topic_data")
    )[0]
    part_cls = typing.get_args(
        next(f.type for f in dataclasses.fields(topic_cls) if f.name == "partition_data")
    )[0]
    request = blank(
        request_cls,
        acks=1,
        topic_data=tuple(
            blank(topic_cls, name=n, partition_data=(blank(part_cls, index=0, records=b"r"),))
            for n in ("ok", "secret")
        ),
    )
    ctx = RequestContext(0, 9, 5, "c", "PLAINTEXT", "127.0.0.1", "User:alice")
    served: list[Any] = []

    def handler(_broker: Any, c: Any, r: Any) -> bytes:
        served.append([t.name for t in r.topic_data])
        return encode_produce_response(
            c.correlation_id,
            c.api_version,
            [TopicProduceResult("ok", None, [PartitionProduceResult(0, ErrorCode.none, 42)])],
        )

    out = GATES[0](authorizer, handler, _Broker(), ctx, request)  # type: ignore[arg-type]
    assert served == [["ok"]]
    by_topic = {t.name: t.partition_responses[0] for t in out.responses}
    assert by_topic["ok"].error_code == ErrorCode.none and by_topic["ok"].base_offset == 42
    assert by_topic["secret"].error_code == ErrorCode.topic_authorization_failed
    encode_response(5, 0, 9, out)


@pytest.mark.parametrize("version", [7, 9])
def test_offset_fetch_names_refused_topics_per_partition(version: int) -> None:
    from millrace_broker.auth.acl import Acl, Operation, PatternType, Permission, ResourceType

    group_ok = Acl(
        ResourceType.GROUP,
        "g",
        PatternType.LITERAL,
        "User:alice",
        "*",
        Operation.DESCRIBE,
        Permission.ALLOW,
    )
    authorizer = Authorizer(AuthorizerSettings(frozenset()), lambda: {"1": group_ok})
    request_cls = load_request_schema(9, version)
    request = _one_of_each(request_cls)
    if version >= 8:
        group = request.groups[0]
        topic = dataclasses.replace(group.topics[0], name="x", partition_indexes=(0, 1))
        request = dataclasses.replace(
            request, groups=(dataclasses.replace(group, group_id="g", topics=(topic,)),)
        )
    else:
        topic = dataclasses.replace(request.topics[0], name="x", partition_indexes=(0, 1))
        request = dataclasses.replace(request, group_id="g", topics=(topic,))
    ctx = RequestContext(9, version, 1, "c", "PLAINTEXT", "127.0.0.1", "User:alice")

    def handler(_b: Any, _c: Any, served: Any) -> Any:
        holder = served.groups[0] if version >= 8 else served
        assert not holder.topics, "a refused topic reached the handler"
        out = blank(response_class(served))
        if version >= 8:
            group_cls = typing.get_args(
                next(f.type for f in dataclasses.fields(type(out)) if f.name == "groups")
            )[0]
            out = dataclasses.replace(out, groups=(blank(group_cls, group_id="g"),))
        return out

    out = GATES[9](authorizer, handler, _Broker(), ctx, request)  # type: ignore[arg-type]
    holder = out.groups[0] if version >= 8 else out
    (refused,) = holder.topics
    assert refused.name == "x"
    assert [(p.partition_index, p.error_code) for p in refused.partitions] == [
        (0, ErrorCode.topic_authorization_failed),
        (1, ErrorCode.topic_authorization_failed),
    ]
    encode_response(1, 9, version, out)


def test_created_topic_configs_need_describe_configs() -> None:
    from millrace_broker.auth.acl import Acl, Operation, PatternType, Permission, ResourceType

    create_x = Acl(
        ResourceType.TOPIC,
        "x",
        PatternType.LITERAL,
        "User:alice",
        "*",
        Operation.CREATE,
        Permission.ALLOW,
    )
    authorizer = Authorizer(AuthorizerSettings(frozenset()), lambda: {"1": create_x})
    request = _one_of_each(load_request_schema(19, 7))
    ctx = RequestContext(19, 7, 1, "c", "PLAINTEXT", "127.0.0.1", "User:alice")

    def handler(_b: Any, _c: Any, served: Any) -> Any:
        cls = response_class(served)
        result_cls = typing.get_args(
            next(f.type for f in dataclasses.fields(cls) if f.name == "topics")
        )[0]
        config_cls = typing.get_args(
            typing.get_args(
                next(f.type for f in dataclasses.fields(result_cls) if f.name == "configs")
            )[0]
        )[0]
        created = blank(
            result_cls,
            name="x",
            error_code=ErrorCode.none,
            topic_config_error_code=ErrorCode.none,
            configs=(blank(config_cls, name="retention.ms", value="1"),),
        )
        return blank(cls, topics=(created,))

    out = GATES[19](authorizer, handler, _Broker(), ctx, request)  # type: ignore[arg-type]
    (created,) = out.topics
    assert created.error_code == ErrorCode.none
    assert created.configs is None
    assert created.topic_config_error_code == ErrorCode.topic_authorization_failed
    encode_response(1, 19, 7, out)


def test_acks0_produce_to_a_refused_topic_closes_the_connection() -> None:
    from millrace_broker.protocol.framing import MalformedRequest

    deny_all = Authorizer(AuthorizerSettings(frozenset()), lambda: {})
    request = dataclasses.replace(
        _one_of_each(load_request_schema(0, 9)), acks=0, transactional_id=None
    )
    ctx = RequestContext(0, 9, 1, "c", "PLAINTEXT", "127.0.0.1", "User:alice")
    with pytest.raises(MalformedRequest, match="unauthorized"):
        GATES[0](deny_all, lambda b, c, r: None, _Broker(), ctx, request)  # type: ignore[arg-type]
