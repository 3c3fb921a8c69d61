"""Metadata (key 3): brokers, topics and partitions from the metadata image.

Requested topics that do not exist are auto-created when both the broker
(`auto.create.topics.enable`) and the request (`allow_auto_topic_creation`) allow it,
with `num.partitions` and `default.replication.factor`, as Kafka does.
"""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from ..metadata.controller import ControllerError, NewTopic
from ..metadata.image import MetadataImage, TopicImage
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

log = logging.getLogger(__name__)
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
UNAUTHORIZED_OPS = -2147483648


def handle_metadata(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    missing = _missing_topics(broker, request)
    if missing and _may_auto_create(broker, request):
        return _create_then_describe(broker, ctx, request, missing)
    return _describe(broker, ctx, request, broker.image)


async def _create_then_describe(
    broker: Broker, ctx: RequestContext, request: Any, missing: list[str]
) -> Any:
    for name in missing:
        await _auto_create(broker, name)
    return _describe(broker, ctx, request, broker.image)


def _missing_topics(broker: Broker, request: Any) -> list[str]:
    if request.topics is None:
        return []
    image = broker.image
    names = [getattr(t, "name", None) for t in request.topics]
    return [n for n in names if n is not None and n not in image.topics]


def _describe(broker: Broker, ctx: RequestContext, request: Any, image: MetadataImage) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "MetadataResponseTopic")
    wanted: list[tuple[str | None, TopicImage | None]]
    if request.topics is None:
        wanted = [(t.name, t) for t in image.topics.values()]
    else:
        wanted = []
        for requested in request.topics:
            name = getattr(requested, "name", None)
            topic_id = getattr(requested, "topic_id", None)
            if name is None and topic_id is not None:
                found = image.topic_by_id(topic_id)
                wanted.append((found.name if found else None, found))
                continue
            topic = image.topics.get(name) if name is not None else None
            wanted.append((name, topic))
    topics = []
    for name, topic in wanted:
        if topic is None:
            error = (
                ErrorCode.unknown_topic_id if name is None else ErrorCode.unknown_topic_or_partition
            )
            topics.append(
                make(
                    topic_cls,
                    error_code=error,
                    name=name,
                    topic_id=None,
                    is_internal=False,
                    partitions=(),
                    topic_authorized_operations=UNAUTHORIZED_OPS,
                )
            )
        else:
            topics.append(_describe_topic(cls, topic))
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        brokers=_brokers(cls, broker, ctx, image),
        cluster_id=image.cluster_id,
        controller_id=broker.active_controller_id(),
        topics=tuple(topics),
        cluster_authorized_operations=UNAUTHORIZED_OPS,
        error_code=ErrorCode.none,
    )


def _may_auto_create(broker: Broker, request: Any) -> bool:
    allowed = getattr(request, "allow_auto_topic_creation", True)
    return bool(allowed and broker.config.get_bool("auto.create.topics.enable"))


async def _auto_create(broker: Broker, name: str) -> None:
    new = NewTopic(
        name=name,
        num_partitions=broker.config.get_int("num.partitions"),
        replication_factor=broker.config.get_int("default.replication.factor"),
        assignments={},
        configs={},
    )
    try:
        await broker.create_topic(new)
    except ControllerError as exc:
        log.info("auto-creation of topic %r refused: %s", name, exc.message)


def _describe_topic(cls: type[Any], topic: TopicImage) -> Any:
    part_cls = nested(cls, "MetadataResponsePartition")
    partitions = tuple(
        make(
            part_cls,
            error_code=ErrorCode.none,
            partition_index=p.partition_id,
            leader_id=p.leader,
            leader_epoch=p.leader_epoch,
            replica_nodes=p.replicas,
            isr_nodes=p.isr,
            offline_replicas=(),
        )
        for _, p in sorted(topic.partitions.items())
    )
    return make(
        nested(cls, "MetadataResponseTopic"),
        error_code=ErrorCode.none,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=partitions,
        topic_authorized_operations=UNAUTHORIZED_OPS,
    )


def _brokers(cls: type[Any], broker: Broker, ctx: RequestContext, image: MetadataImage) -> Any:
    broker_cls = nested(cls, "MetadataResponseBroker")
    out = []
    for node in sorted(image.brokers.values(), key=lambda b: b.broker_id):
        endpoint = next((e for e in node.endpoints if e[0] == ctx.listener), None)
        if endpoint is None:
            continue
        out.append(
            make(
                broker_cls,
                node_id=node.broker_id,
                host=endpoint[1],
                port=endpoint[2],
                rack=node.rack,
            )
        )
    return tuple(out)
