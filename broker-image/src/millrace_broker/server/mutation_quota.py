"""controller_mutation_rate (KIP-599): partitions created or deleted per second.

CreateTopics, CreatePartitions and DeleteTopics count the partitions they create or
delete against the principal's `controller_mutation_rate` quota (Kafka's entity
precedence, auth/quota.py). From CreateTopics v6, DeleteTopics v5 and CreatePartitions v3
clients accept a strict answer: while the measured rate is over the quota the request is
refused with THROTTLING_QUOTA_EXCEEDED for each topic and the throttle time; older
versions are served and throttled afterwards, as Kafka does.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.quota import CONTROLLER_MUTATION_RATE
from .authz import has_field
from .authz_common import refuse_all, then
from .broker import Broker
from .context import RequestContext
from .dispatch import Handler
from .throttled import Throttled

STRICT_FROM = {19: 6, 20: 5, 37: 3}


def mutations(broker: Broker, api_key: int, request: Any) -> int:
    """How many partitions the request would create or delete."""
    image = broker.image
    if api_key == 19:
        default = broker.config.get_int("num.partitions")
        return sum(
            len(t.assignments) or (t.num_partitions if t.num_partitions > 0 else default)
            for t in request.topics
        )
    if api_key == 20:
        names = (
            list(request.topic_names)
            if hasattr(request, "topic_names")
            else [t.name for t in request.topics]
        )
        return sum(len(image.topics[n].partitions) for n in names if n in image.topics)
    return sum(
        max(t.count - len(image.topics[t.name].partitions), 0)
        for t in request.topics
        if t.name in image.topics
    )


def with_mutation_quota(handler: Handler, api_key: int, sensors_for: Any) -> Handler:
    def handle(broker: Broker, ctx: RequestContext, request: Any) -> Any:
        quotas = broker.image.client_quotas
        if not quotas:
            return handler(broker, ctx, request)
        user = ctx.principal.partition(":")[2] or ctx.principal
        found = sensors_for(broker).sensor(
            quotas, key=CONTROLLER_MUTATION_RATE, user=user, client_id=ctx.client_id or ""
        )
        if found is None:
            return handler(broker, ctx, request)
        bound, sensor = found
        now_ms = time.monotonic() * 1000
        if ctx.api_version >= STRICT_FROM[api_key] and sensor.rate(now_ms) > bound:
            throttle = sensor.throttle_ms(bound, now_ms)
            refused = refuse_all(
                request,
                ErrorCode.throttling_quota_exceeded,
                "The throttling quota has been exceeded.",
            )
            return Throttled(_with_throttle(refused, throttle), throttle / 1000)
        sensor.record(mutations(broker, api_key, request), now_ms)
        throttle = sensor.throttle_ms(bound, now_ms)
        result = handler(broker, ctx, request)
        if throttle <= 0:
            return result
        return then(result, lambda out: Throttled(_with_throttle(out, throttle), throttle / 1000))

    return handle


def _with_throttle(entity: Any, throttle_ms: int) -> Any:
    if has_field(type(entity), "throttle_time"):
        return dataclasses.replace(
            entity, throttle_time=datetime.timedelta(milliseconds=throttle_ms)
        )
    return entity
