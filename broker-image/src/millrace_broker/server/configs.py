"""DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44).

Topic configs are overrides stored as metadata ConfigRecords; broker configs are the
static file plus dynamic overrides (per broker id, or cluster-wide under the empty
resource name), as Kafka does. What a config means, its default, its source and its
synonyms come from the config package; this module only maps requests to it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from ..config import (
    ConfigError,
    ConfigSource,
    apply_incremental,
    describe_broker_configs,
    describe_topic_configs,
    validate_dynamic_broker_configs,
    validate_topic_configs,
)
from ..metadata.controller import plan_config_changes
from ..metadata.image import MetadataImage
from ..metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE, MetadataRecord
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

BROKER_LOGGER_RESOURCE = 8


class _ResourceError(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def handle_describe_configs(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "DescribeConfigsResult")
    entry_cls = nested(cls, "DescribeConfigsResourceResult")
    synonym_cls = nested(cls, "DescribeConfigsSynonym")
    include_synonyms = bool(getattr(request, "include_synonyms", False))
    include_docs = bool(getattr(request, "include_documentation", False))
    results = []
    for resource in request.resources:
        keys = (
            list(resource.configuration_keys) if resource.configuration_keys is not None else None
        )
        try:
            descriptions = _describe(
                broker,
                resource.resource_type,
                resource.resource_name,
                keys,
                include_synonyms,
                include_docs,
            )
        except _ResourceError as exc:
            results.append(
                make(
                    result_cls,
                    error_code=exc.error_code,
                    error_message=exc.message,
                    resource_type=resource.resource_type,
                    resource_name=resource.resource_name,
                    configs=(),
                )
            )
            continue
        configs = tuple(
            make(
                entry_cls,
                name=d.name,
                value=d.value,
                read_only=d.read_only,
                is_default=d.source == ConfigSource.DEFAULT_CONFIG,
                config_source=int(d.source),
                is_sensitive=d.is_sensitive,
                synonyms=tuple(
                    make(synonym_cls, name=n, value=v, source=int(s)) for n, v, s in d.synonyms
                )
                if include_synonyms
                else (),
                config_type=int(d.config_type),
                documentation=d.documentation if include_docs else None,
            )
            for d in descriptions
        )
        results.append(
            make(
                result_cls,
                error_code=ErrorCode.none,
                error_message=None,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
                configs=configs,
            )
        )
    return make(cls, throttle_time=ZERO_THROTTLE, results=tuple(results))


def _describe(
    broker: Broker, rtype: int, name: str, keys: list[str] | None, synonyms: bool, docs: bool
) -> list[Any]:
    if rtype == TOPIC_RESOURCE:
        if name not in broker.image.topics:
            raise _ResourceError(
                ErrorCode.unknown_topic_or_partition, f"Topic '{name}' does not exist."
            )
        return describe_topic_configs(
            broker.image.configs_of_topic(name),
            broker.effective_config(),
            keys=keys,
            include_synonyms=synonyms,
            include_documentation=docs,
        )
    if rtype == BROKER_RESOURCE:
        _check_broker_name(broker, name)
        image = broker.image
        return describe_broker_configs(
            broker.config,
            dynamic=dict(image.broker_configs.get(str(broker.node_id), {})),
            dynamic_default=dict(image.broker_configs.get("", {})),
            cluster_default=name == "",
            keys=keys,
            include_synonyms=synonyms,
            include_documentation=docs,
        )
    if rtype == BROKER_LOGGER_RESOURCE:
        _check_broker_name(broker, name)
        return []
    raise _ResourceError(ErrorCode.invalid_request, f"Unsupported resource type {rtype}")


def _check_alterable_broker(broker: Broker, name: str) -> None:
    """Alters are decided by the active controller, for any registered broker: clients
    send them to the broker they describe, which forwards them (as in KRaft)."""
    if name.isdigit() and int(name) in broker.image.brokers:
        return
    _check_broker_name(broker, name)


def _check_broker_name(broker: Broker, name: str) -> None:
    if name not in ("", str(broker.node_id)):
        raise _ResourceError(
            ErrorCode.invalid_request,
            f"Broker id {name!r} is not this broker ({broker.node_id}); "
            "send broker config requests to the broker they describe",
        )


async def handle_alter_configs(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    def desired(rtype: int, name: str, resource: Any) -> dict[str, str]:
        return {c.name: c.value for c in resource.configs if c.value is not None}

    return await _alter(broker, request, desired)


async def handle_incremental_alter_configs(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    def desired(rtype: int, name: str, resource: Any) -> dict[str, str]:
        current = _current_overrides(broker, rtype, name)
        ops = [(c.name, int(c.config_operation), c.value) for c in resource.configs]
        return apply_incremental(current, ops, resource_type=rtype)

    return await _alter(broker, request, desired)


def _plan_alter(
    image: MetadataImage, *, rtype: int, name: str, desired: dict[str, str]
) -> list[MetadataRecord]:
    return plan_config_changes(rtype, name, _overrides_in(image, rtype, name), desired)


def _current_overrides(broker: Broker, rtype: int, name: str) -> dict[str, str]:
    return _overrides_in(broker.image, rtype, name)


def _overrides_in(image: MetadataImage, rtype: int, name: str) -> dict[str, str]:
    if rtype == TOPIC_RESOURCE:
        return dict(image.configs_of_topic(name))
    return dict(image.broker_configs.get(name, {}))


async def _alter(broker: Broker, request: Any, desired_of: Any) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "AlterConfigsResourceResponse")
    results = []
    for resource in request.resources:
        rtype, name = resource.resource_type, resource.resource_name
        try:
            if rtype == TOPIC_RESOURCE:
                if name not in broker.image.topics:
                    raise _ResourceError(
                        ErrorCode.unknown_topic_or_partition, f"Topic '{name}' does not exist."
                    )
                desired = validate_topic_configs(
                    desired_of(rtype, name, resource), broker=broker.effective_config()
                )
            elif rtype == BROKER_RESOURCE:
                _check_alterable_broker(broker, name)
                desired = validate_dynamic_broker_configs(
                    desired_of(rtype, name, resource), per_broker=bool(name)
                )
            else:
                raise _ResourceError(
                    ErrorCode.invalid_request, f"Unsupported resource type {rtype}"
                )
            if not request.validate_only:
                await broker.controller.submit(
                    partial(_plan_alter, rtype=rtype, name=name, desired=desired)
                )
            results.append(
                make(
                    result_cls,
                    error_code=ErrorCode.none,
                    error_message=None,
                    resource_type=rtype,
                    resource_name=name,
                )
            )
        except (_ResourceError, ConfigError) as exc:
            results.append(
                make(
                    result_cls,
                    error_code=exc.error_code,
                    error_message=exc.message,
                    resource_type=rtype,
                    resource_name=name,
                )
            )
    return make(cls, throttle_time=ZERO_THROTTLE, responses=tuple(results))
