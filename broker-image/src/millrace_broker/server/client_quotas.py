"""DescribeClientQuotas (48), AlterClientQuotas (49), and quota enforcement on the
Produce and Fetch paths.

Quotas are ClientQuotaRecords in the metadata log (alterations are decided by the active
controller; brokers forward them) and replayed into `image.client_quotas`. Enforcement
(auth/quota.py decides): `with_quotas` wraps the client handlers; Produce and Fetch
record their bytes (produce: the record batches it carries; fetch: the response size),
every request its handling time (request_percentage), against the quota that applies to its
(user, client id); over the quota the response carries `throttle_time_ms` and is sent
at once, and the connection then reads nothing more for that time (server/throttled.py),
as Kafka mutes a throttled channel (KIP-219). With no quota configured at all the
wrapper costs one lookup.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import time
import weakref
from collections.abc import Awaitable
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.quota import (
    CONNECTION_CREATION_RATE,
    CONSUMER_BYTE_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    QuotaError,
    QuotaSensors,
    entity_of,
    matches_filter,
    resolve_ip,
    validate_op,
)
from ..metadata.image import MetadataImage
from ..metadata.records import ClientQuotaRecord, MetadataRecord
from .authz import has_field
from .authz_common import as_entity
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .fetch import replica_id_of
from .kio_build import ZERO_THROTTLE, make, nested, response_class
from .mutation_quota import STRICT_FROM, with_mutation_quota
from .throttled import Throttled

_SENSORS: weakref.WeakKeyDictionary[Broker, QuotaSensors] = weakref.WeakKeyDictionary()


def handle_describe_client_quotas(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    entry_cls, entity_cls, value_cls = (
        nested(cls, "EntryData"),
        nested(cls, "EntityData"),
        nested(cls, "ValueData"),
    )
    components = [(c.entity_type, int(c.match_type), c.match) for c in request.components]
    if any(m not in (0, 1, 2) for _, m, _ in components):
        return make(
            cls,
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.invalid_request,
            error_message="Unknown match type (0 exact, 1 default, 2 any specified)",
            entries=None,
        )
    entries = tuple(
        make(
            entry_cls,
            entity=tuple(make(entity_cls, entity_type=t, entity_name=n) for t, n in entity),
            values=tuple(make(value_cls, key=k, value=v) for k, v in sorted(values.items())),
        )
        for entity, values in sorted(broker.image.client_quotas.items(), key=lambda e: str(e[0]))
        if matches_filter(entity, components, bool(request.strict))
    )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        entries=entries,
    )


def plan_quota_changes(
    image: MetadataImage, changes: list[tuple[Any, list[tuple[str, float, bool]]]]
) -> list[MetadataRecord]:
    """Records for the quotas that change (as Kafka: an unchanged value or the removal of
    an unset key writes nothing)."""
    records: list[MetadataRecord] = []
    for entity, ops in changes:
        current = image.client_quotas.get(entity, {})
        for key, value, remove in ops:
            if remove and key in current:
                records.append(ClientQuotaRecord(entity, key, 0.0, remove=True))
            elif not remove and current.get(key) != value:
                records.append(ClientQuotaRecord(entity, key, float(value)))
    return records


async def handle_alter_client_quotas(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    entry_cls, entity_cls = nested(cls, "EntryData"), nested(cls, "EntityData")
    results = []
    changes = []
    for entry in request.entries:
        pairs = [(e.entity_type, e.entity_name) for e in entry.entity]
        echo = tuple(make(entity_cls, entity_type=t, entity_name=n) for t, n in pairs)
        try:
            entity = entity_of(pairs)
            ops = [(o.key, float(o.value), bool(o.remove)) for o in entry.ops]
            keys = [k for k, _, _ in ops]
            if len(set(keys)) != len(keys):
                raise QuotaError(f"Duplicate quota key in {keys}")
            for key, value, remove in ops:
                validate_op(entity, key, value, remove)
        except QuotaError as exc:
            results.append(
                make(
                    entry_cls,
                    error_code=ErrorCode.invalid_request,
                    error_message=str(exc),
                    entity=echo,
                )
            )
            continue
        changes.append((entity, ops))
        results.append(make(entry_cls, error_code=ErrorCode.none, error_message=None, entity=echo))
    if changes and not request.validate_only:
        await broker.controller.submit(lambda image: plan_quota_changes(image, changes))
    return make(cls, throttle_time=ZERO_THROTTLE, entries=tuple(results))


# ---- enforcement ---------------------------------------------------------------------


def sensors_for(broker: Broker) -> QuotaSensors:
    sensors = _SENSORS.get(broker)
    if sensors is None:
        config = broker.config
        sensors = _SENSORS[broker] = QuotaSensors(
            samples=config.get_int("quota.window.num"),
            window_ms=config.get_int("quota.window.size.seconds") * 1000,
        )
    return sensors


def admit_connection(broker: Broker, ip: str, listener: str) -> bool:
    """KIP-612: a new connection from `ip` counts against its connection_creation_rate;
    over the quota it is refused (closed at once), as Kafka does for IP quotas. Controller
    listeners are exempt: only cluster nodes connect there."""
    quotas = broker.image.client_quotas
    if not quotas or listener in broker.controller_listener_names:
        return True
    found = resolve_ip(quotas, ip, CONNECTION_CREATION_RATE)
    if found is None:
        return True
    bound, sensor_key = found
    sensors = sensors_for(broker)
    sensor = sensors.ip_sensor(sensor_key[0])
    now_ms = time.monotonic() * 1000
    if sensor.rate(now_ms) >= bound:
        return False
    sensor.record(1, now_ms)
    return True


def user_of(principal: str) -> str:
    return principal.partition(":")[2] or principal


# Kafka exempts authentication, ApiVersions and inter-broker (cluster action) requests
# from request quotas.
EXEMPT = frozenset({17, 18, 27, 36, 56, 58, 62, 63, 82})


def with_quotas(handlers: dict[int, Handler]) -> dict[int, Handler]:
    """Produce and Fetch count bytes and time; every other client API counts its handling
    time against request_percentage."""
    out = dict(handlers)
    for api_key, handler in handlers.items():
        if api_key == 0:
            out[api_key] = _enforcing(handler, PRODUCER_BYTE_RATE)
        elif api_key == 1:
            out[api_key] = _enforcing(handler, CONSUMER_BYTE_RATE)
        elif api_key not in EXEMPT:
            out[api_key] = _enforcing(handler, None)
        if api_key in STRICT_FROM:  # CreateTopics, DeleteTopics, CreatePartitions
            out[api_key] = with_mutation_quota(out[api_key], api_key, sensors_for)
    return out


def _produced_bytes(request: Any) -> int:
    return sum(len(p.records) for t in request.topic_data for p in t.partition_data if p.records)


def _output_bytes(output: Any) -> int:
    if isinstance(output, bytes):
        return len(output)
    if isinstance(output, list):
        return sum(len(c) for c in output)
    return 0


def _enforcing(handler: Handler, quota_key: str | None) -> Handler:
    def handle(broker: Broker, ctx: RequestContext, request: Any) -> Any:
        quotas = broker.image.client_quotas
        if not quotas or (quota_key == CONSUMER_BYTE_RATE and replica_id_of(request) >= 0):
            # Followers replicating are inter-broker traffic (replication quotas, not these).
            return handler(broker, ctx, request)
        started = time.perf_counter()
        result = handler(broker, ctx, request)
        busy_s = time.perf_counter() - started
        if quota_key != CONSUMER_BYTE_RATE:
            # The produced size is known now: an unthrottled answer (a pipelined acks=all
            # one included) goes back untouched.
            size = _produced_bytes(request) if quota_key == PRODUCER_BYTE_RATE else 0
            throttle = _record(broker, ctx, quota_key, size, busy_s)
            if throttle <= 0:
                return result
            if inspect.isawaitable(result):
                return _throttle_later(request, result, throttle)
            return _throttled(request, result, throttle)
        if inspect.isawaitable(result):
            return _fetch_later(broker, ctx, request, result, busy_s)
        throttle = _record(broker, ctx, quota_key, _output_bytes(result), busy_s)
        return _throttled(request, result, throttle) if throttle > 0 else result

    return handle


async def _throttle_later(request: Any, pending: Awaitable[Any], throttle_ms: int) -> Any:
    return _throttled(request, await pending, throttle_ms)


async def _fetch_later(
    broker: Broker, ctx: RequestContext, request: Any, pending: Awaitable[Any], busy_s: float
) -> Any:
    output = await pending
    throttle = _record(broker, ctx, CONSUMER_BYTE_RATE, _output_bytes(output), busy_s)
    return _throttled(request, output, throttle) if throttle > 0 else output


def _record(
    broker: Broker, ctx: RequestContext, quota_key: str | None, size: int, busy_s: float
) -> int:
    """Record the request's bytes (for a byte-rate quota) and handling time; the throttle
    time in ms."""
    quotas = broker.image.client_quotas
    sensors = sensors_for(broker)
    now_ms = time.monotonic() * 1000
    user, client = user_of(ctx.principal), ctx.client_id or ""
    throttle = 0
    if quota_key is not None:
        throttle = sensors.record(
            quotas, key=quota_key, user=user, client_id=client, value=size, now_ms=now_ms
        )
    # request_percentage: handling time as a percentage of one thread's time.
    throttle = max(
        throttle,
        sensors.record(
            quotas,
            key=REQUEST_PERCENTAGE,
            user=user,
            client_id=client,
            value=busy_s * 100,
            now_ms=now_ms,
        ),
    )
    return min(throttle, sensors.samples * sensors.window_ms)


def _throttled(request: Any, output: Any, throttle_ms: int) -> Any:
    """The answer with its throttle time, muting the connection for as long (KIP-219)."""
    if output is not None:
        entity = as_entity(request, output)
        if has_field(type(entity), "throttle_time"):
            output = dataclasses.replace(
                entity, throttle_time=datetime.timedelta(milliseconds=throttle_ms)
            )
    return Throttled(output, throttle_ms / 1000)
