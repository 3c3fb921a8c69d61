"""BrokerHeartbeat (API 63): brokers tell the active controller they are alive, and ask
to shut down (controlled shutdown moves their leadership away first).

Controller side: `handle_broker_heartbeat` records the heartbeat, unfences a fenced
broker that heartbeats again, and for `want_shut_down` fences it (moving leadership to
other ISR members) and answers `should_shut_down` once it leads nothing. `fencing_loop`
fences brokers whose heartbeats stopped for `broker.session.timeout.ms`.
Broker side: `heartbeat_loop` sends one every `broker.heartbeat.interval.ms`;
`controlled_shutdown` asks until the controller lets it go (bounded).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from functools import partial
from typing import Any

from kio.schema.broker_heartbeat.v1.request import BrokerHeartbeatRequest
from kio.schema.broker_heartbeat.v1.response import BrokerHeartbeatResponse
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.serial import entity_reader
from kio.static.primitive import i64

from ..kraft.fencing import HeartbeatTracker, leads_anything, plan_fence, plan_unfence
from ..metadata.controller import ControllerError
from ..protocol.codec import encode_request
from .broker import Broker
from .context import RequestContext
from .kio_build import make, response_class

log = logging.getLogger(__name__)
_TRACKERS: dict[int, HeartbeatTracker] = {}


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def tracker_for(broker: Broker) -> HeartbeatTracker:
    tracker = _TRACKERS.get(id(broker))
    if tracker is None:
        tracker = _TRACKERS[id(broker)] = HeartbeatTracker(
            broker.config.get_int("broker.session.timeout.ms")
        )
    return tracker


async def heartbeat(broker: Broker, broker_id: int, *, want_shut_down: bool) -> tuple[bool, bool]:
    """Controller side of one heartbeat; returns (is_fenced, should_shut_down)."""
    tracker_for(broker).record(broker_id, _now_ms())
    controller = broker.controller
    if want_shut_down:
        image = await controller.submit(lambda image: plan_fence(image, broker_id))
        return True, not leads_anything(image, broker_id)
    known = controller.image.brokers.get(broker_id)
    if known is not None and known.fenced:
        await controller.submit(lambda image: plan_unfence(image, broker_id))
    known = controller.image.brokers.get(broker_id)
    return bool(known and known.fenced), False


async def handle_broker_heartbeat(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    try:
        fenced, shut_down = await heartbeat(
            broker, int(request.broker_id), want_shut_down=bool(request.want_shut_down)
        )
    except ControllerError as exc:
        return make(
            cls,
            throttle_time=datetime.timedelta(0),
            error_code=exc.error_code,
            is_caught_up=False,
            is_fenced=True,
            should_shut_down=False,
        )
    return make(
        cls,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        is_caught_up=True,
        is_fenced=fenced,
        should_shut_down=shut_down,
    )


async def fencing_loop(broker: Broker) -> None:
    """On the active controller: fence brokers whose heartbeats stopped."""
    tracker = tracker_for(broker)
    was_active = False
    while True:
        await asyncio.sleep(0.5)
        controller = broker.controller
        if not controller.is_active:
            was_active = False
            continue
        now = _now_ms()
        image = controller.image
        unfenced = [b.broker_id for b in image.brokers.values() if not b.fenced]
        if not was_active:
            tracker.reset(image.brokers, now)  # a new active controller starts the clocks
            was_active = True
            continue
        for broker_id in tracker.expired(unfenced, now):
            log.warning(
                "fencing broker %d: no heartbeat for %d ms", broker_id, tracker.session_timeout_ms
            )
            try:
                await controller.submit(partial(plan_fence, broker_id=broker_id))
            except ControllerError as exc:
                log.info("fencing of %d deferred: %s", broker_id, exc.message)


def _frame(broker: Broker, *, want_shut_down: bool) -> bytes:
    request = BrokerHeartbeatRequest(
        broker_id=BrokerId(broker.node_id),
        broker_epoch=i64(0),
        current_metadata_offset=i64(0),
        want_fence=False,
        want_shut_down=want_shut_down,
        offline_log_dirs=(),
    )
    return encode_request(request)


async def send_heartbeat(broker: Broker, *, want_shut_down: bool = False) -> tuple[bool, bool]:
    """Broker side: one heartbeat to the active controller, wherever it is."""
    if broker.controller.is_active:
        return await heartbeat(broker, broker.node_id, want_shut_down=want_shut_down)
    active = broker.controller.active_controller_id
    if active is None or broker.forwarder is None:
        raise ControllerError(ErrorCode.not_controller, "no active controller known")
    # Bounded well inside the session: a heartbeat stuck on a controller that became
    # unreachable (a network partition) must not keep this broker from heartbeating to
    # the next active controller until that one fences it (Kafka times these out too).
    session_ms = broker.config.get_int("broker.session.timeout.ms")
    raw = await broker.forwarder.forward(
        active,
        _frame(broker, want_shut_down=want_shut_down),
        timeout_s=max(session_ms / 2000, 0.5),
    )
    response, _ = entity_reader(BrokerHeartbeatResponse)(raw, 4 + 5)  # size, corr id, tags
    if response.error_code != ErrorCode.none:
        raise ControllerError(response.error_code, "heartbeat refused")
    return bool(response.is_fenced), bool(response.should_shut_down)


async def heartbeat_loop(broker: Broker) -> None:
    interval = broker.config.get_int("broker.heartbeat.interval.ms") / 1000
    while True:
        try:
            await send_heartbeat(broker)
        except Exception as exc:  # the quorum may be electing; the next beat retries
            log.info("heartbeat not delivered: %s", exc)
        await asyncio.sleep(interval)


async def controlled_shutdown(broker: Broker, *, timeout_s: float = 15.0) -> None:
    """Ask the controller to move leadership away before exiting (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _fenced, may_go = await send_heartbeat(broker, want_shut_down=True)
            if may_go:
                log.info("controlled shutdown: leadership moved away")
                return
        except Exception as exc:
            log.info("controlled shutdown not acknowledged yet: %s", exc)
        await asyncio.sleep(0.2)
    log.warning("controlled shutdown timed out after %.0fs; exiting anyway", timeout_s)
