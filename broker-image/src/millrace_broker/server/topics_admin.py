"""CreateTopics (19), DeleteTopics (20), CreatePartitions (37): planned by the controller.

Each topic is decided on its own: one bad topic in a batch gets its error, the others
proceed. `validate_only` runs the full plan (name, partitions, replication factor,
configs) and commits nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from ..config import ConfigError, describe_topic_configs, validate_topic_configs
from ..metadata.controller import (
    ControllerError,
    NewTopic,
    plan_create_partitions,
    plan_create_topic,
    plan_delete_topic,
)
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, field_names, make, nested, response_class


async def handle_create_topics(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "CreatableTopicResult")
    seen: dict[str, int] = {}
    for t in request.topics:
        seen[t.name] = seen.get(t.name, 0) + 1
    results = []
    for t in request.topics:
        common = dict(name=t.name, topic_id=None, configs=None, topic_config_error_code=0)
        if seen[t.name] > 1:
            results.append(
                make(
                    result_cls,
                    **common,
                    error_code=ErrorCode.invalid_request,
                    error_message="Duplicate topic name in the request.",
                )
            )
            continue
        try:
            configs = validate_topic_configs(
                {c.name: c.value for c in t.configs}, broker=broker.effective_config()
            )
            num_partitions = t.num_partitions
            if num_partitions == -1:
                num_partitions = broker.config.get_int("num.partitions")
            rf = t.replication_factor
            if rf == -1:
                rf = broker.config.get_int("default.replication.factor")
            new = NewTopic(
                name=t.name,
                num_partitions=num_partitions,
                replication_factor=rf,
                assignments={a.partition_index: tuple(a.broker_ids) for a in t.assignments},
                configs=configs,
            )
            if t.assignments and (t.num_partitions != -1 or t.replication_factor != -1):
                raise ControllerError(
                    ErrorCode.invalid_request,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. "
                    "Both cannot be used at the same time.",
                )
            if request.validate_only:
                plan_create_topic(broker.image, new)
                image = broker.image
            else:
                image = await broker.controller.submit(partial(plan_create_topic, topic=new))
        except (ControllerError, ConfigError) as exc:
            results.append(
                make(result_cls, **common, error_code=exc.error_code, error_message=exc.message)
            )
            continue
        created = image.topics.get(t.name)
        results.append(
            make(
                result_cls,
                **{
                    **common,
                    "topic_id": created.topic_id if created else None,
                    "configs": _created_configs(broker, result_cls, configs),
                },
                error_code=ErrorCode.none,
                error_message=None,
                num_partitions=len(new.assignments) or new.num_partitions,
                replication_factor=len(next(iter(new.assignments.values())))
                if new.assignments
                else new.replication_factor,
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, topics=tuple(results))


def _created_configs(broker: Broker, result_cls: type[Any], overrides: dict[str, str]) -> Any:
    """CreateTopics v5+ returns the new topic's full config, as DescribeConfigs would."""
    if "configs" not in field_names(result_cls):
        return None
    config_cls = nested(result_cls, "CreatableTopicConfigs")
    dynamic = broker.effective_config()
    return tuple(
        make(
            config_cls,
            name=d.name,
            value=d.value,
            read_only=d.read_only,
            config_source=int(d.source),
            is_sensitive=d.is_sensitive,
        )
        for d in describe_topic_configs(overrides, dynamic)
    )


async def handle_delete_topics(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "DeletableTopicResult")
    if hasattr(request, "topic_names"):
        targets = [(name, None) for name in request.topic_names]
    else:
        targets = [(t.name, t.topic_id) for t in request.topics]
    results = []
    enabled = broker.config.get_bool("delete.topic.enable")
    for name, topic_id in targets:
        image = broker.image
        if name is None and topic_id is not None:
            found = image.topic_by_id(topic_id)
            resolved = found.name if found else None
        else:
            resolved = name
        try:
            if not enabled:
                raise ControllerError(
                    ErrorCode.topic_deletion_disabled,
                    "Topic deletion is disabled (delete.topic.enable=false).",
                )
            if resolved is None:
                raise ControllerError(
                    ErrorCode.unknown_topic_id, "This server does not host this topic ID."
                )
            topic = image.topics.get(resolved)
            await broker.controller.submit(partial(plan_delete_topic, name=resolved))
            results.append(
                make(
                    result_cls,
                    name=resolved,
                    topic_id=topic.topic_id if topic else None,
                    error_code=ErrorCode.none,
                    error_message=None,
                )
            )
        except ControllerError as exc:
            results.append(
                make(
                    result_cls,
                    name=name,
                    topic_id=topic_id,
                    error_code=exc.error_code,
                    error_message=exc.message,
                )
            )
    return make(cls, throttle_time=ZERO_THROTTLE, responses=tuple(results))


async def handle_create_partitions(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "CreatePartitionsTopicResult")
    results = []
    for t in request.topics:
        assignments = (
            [tuple(a.broker_ids) for a in t.assignments] if t.assignments is not None else None
        )
        try:
            if request.validate_only:
                plan_create_partitions(broker.image, t.name, t.count, assignments)
            else:
                await broker.controller.submit(
                    partial(
                        plan_create_partitions, name=t.name, total=t.count, assignments=assignments
                    )
                )
            results.append(
                make(result_cls, name=t.name, error_code=ErrorCode.none, error_message=None)
            )
        except ControllerError as exc:
            results.append(
                make(result_cls, name=t.name, error_code=exc.error_code, error_message=exc.message)
            )
    return make(cls, throttle_time=ZERO_THROTTLE, results=tuple(results))
