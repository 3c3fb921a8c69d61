"""The quota wrapper around handlers: throttled answers carry throttle_time and mute the
connection; replica fetches, exempt APIs and unquoted clients pass untouched."""

from __future__ import annotations

import dataclasses
import datetime
import typing
from typing import Any

from kio.index import load_request_schema

from millrace_broker.metadata.image import MetadataImage
from millrace_broker.server.authz import blank
from millrace_broker.server.client_quotas import with_quotas
from millrace_broker.server.context import RequestContext
from millrace_broker.server.kio_build import response_class
from millrace_broker.server.throttled import Throttled


class _Config:
    def get_int(self, name: str) -> int:
        return {"quota.window.num": 11, "quota.window.size.seconds": 1}[name]


class _Broker:
    controller_listener_names = frozenset({"CONTROLLER"})

    def __init__(self, quotas: Any) -> None:
        self.config = _Config()
        self.image = MetadataImage(cluster_id="c", client_quotas=quotas)


def _answer(_broker: Any, _ctx: Any, request: Any) -> Any:
    return blank(response_class(request))


def _ctx(key: int, version: int, client_id: str = "app") -> RequestContext:
    return RequestContext(key, version, 1, client_id, "PLAINTEXT", "127.0.0.1", "User:alice")


def test_request_percentage_throttles_any_client_api() -> None:
    quotas = {(("client-id", "app"),): {"request_percentage": 1e-9}}
    handlers = with_quotas({3: _answer, 63: _answer})
    broker = _Broker(quotas)
    request = blank(load_request_schema(3, 12), topics=None)
    out = handlers[3](broker, _ctx(3, 12), request)  # type: ignore[arg-type]
    assert isinstance(out, Throttled) and out.mute_s > 0
    assert out.answer.throttle_time == datetime.timedelta(seconds=out.mute_s)
    # Another client id has no quota; BrokerHeartbeat is inter-broker and exempt.
    assert not isinstance(handlers[3](broker, _ctx(3, 12, "other"), request), Throttled)  # type: ignore[arg-type]
    heartbeat = blank(load_request_schema(63, 1))
    assert handlers[63] is _answer
    assert not isinstance(handlers[63](broker, _ctx(63, 1), heartbeat), Throttled)  # type: ignore[arg-type]


def test_replica_fetches_are_not_client_quota_traffic() -> None:
    quotas = {(("client-id", None),): {"consumer_byte_rate": 1.0}}
    fetch = with_quotas({1: lambda b, c, r: [b"\x00" * 4096]})[1]
    broker = _Broker(quotas)
    follower = blank(load_request_schema(1, 12), replica_id=2, topics=(), forgotten_topics_data=())
    assert fetch(broker, _ctx(1, 12), follower) == [b"\x00" * 4096]  # type: ignore[arg-type]


def test_no_quota_no_wrapper_cost() -> None:
    sentinel = object()
    produce = with_quotas({0: lambda b, c, r: sentinel})[0]
    assert produce(_Broker({}), _ctx(0, 9), object()) is sentinel  # type: ignore[arg-type]


def test_controller_mutation_rate_refuses_strict_versions_once_over() -> None:
    from kio.schema.errors import ErrorCode

    class _MutationConfig(_Config):
        def get_int(self, name: str) -> int:
            return 1 if name == "num.partitions" else super().get_int(name)

    quotas = {(("user", "alice"),): {"controller_mutation_rate": 1.0}}
    broker = _Broker(quotas)
    broker.config = _MutationConfig()
    served: list[Any] = []

    def create(_b: Any, _c: Any, request: Any) -> Any:
        served.append(request)
        return blank(response_class(request))

    handler = with_quotas({19: create})[19]
    request_cls = load_request_schema(19, 7)
    topic_cls = next(
        typing.get_args(f.type)[0] for f in dataclasses.fields(request_cls) if f.name == "topics"
    )
    request = blank(
        request_cls,
        topics=(blank(topic_cls, name="big", num_partitions=50, assignments=(), configs=()),),
    )
    first = handler(broker, _ctx(19, 7), request)  # type: ignore[arg-type]
    assert isinstance(first, Throttled) and first.mute_s > 0  # served, then throttled
    assert len(served) == 1
    second = handler(broker, _ctx(19, 7), request)  # type: ignore[arg-type]
    assert isinstance(second, Throttled) and len(served) == 1  # refused, not served
    (refused,) = second.answer.topics
    assert refused.name == "big"
    assert refused.error_code == ErrorCode.throttling_quota_exceeded


def test_connection_creation_rate_per_address() -> None:
    from millrace_broker.server.client_quotas import admit_connection

    broker = _Broker({(("ip", None),): {"connection_creation_rate": 1.0}})
    # Kafka's window counts at least 10 s: about ten connections fit in a burst.
    admitted = [admit_connection(broker, "10.0.0.1", "EXTERNAL") for _ in range(15)]  # type: ignore[arg-type]
    assert admitted[:10] == [True] * 10 and admitted[-3:] == [False] * 3
    assert admit_connection(broker, "10.0.0.2", "EXTERNAL")  # type: ignore[arg-type]
    assert admit_connection(_Broker({}), "10.0.0.1", "EXTERNAL")  # type: ignore[arg-type]
    # Controller listeners are exempt: only cluster nodes connect there.
    assert admit_connection(broker, "10.0.0.1", "CONTROLLER")  # type: ignore[arg-type]
