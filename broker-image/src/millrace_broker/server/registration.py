"""Broker registration with the active controller (BrokerRegistration, API 62).

Each broker registers its advertised endpoints and rack once it has caught up with the
metadata log; the active controller turns the request into a RegisterBrokerRecord.
Security protocols travel as Kafka's ids (PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2,
SASL_SSL 3).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any

from kio.schema.broker_registration.v4.request import BrokerRegistrationRequest, Listener
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i16, i64, u16

from ..metadata.controller import ControllerError
from ..metadata.image import MetadataImage
from ..metadata.records import MetadataRecord, RegisterBrokerRecord
from ..protocol.codec import encode_request
from .broker import Broker
from .context import RequestContext
from .kio_build import make, response_class

log = logging.getLogger(__name__)
PROTOCOL_IDS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOL_IDS.items()}


def registration_record(broker: Broker) -> RegisterBrokerRecord:
    return RegisterBrokerRecord(
        broker.node_id,
        tuple((e.listener, e.host, e.port, e.security_protocol) for e in broker.endpoints),
        broker.config.get_str("broker.rack"),
    )


def _plan_registration(record: RegisterBrokerRecord, image: MetadataImage) -> list[MetadataRecord]:
    known = image.brokers.get(record.broker_id)
    if known is not None and known.endpoints == record.endpoints and known.rack == record.rack:
        return []
    return [record]


async def handle_broker_registration(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    if request.cluster_id != broker.cluster_id:
        return make(
            cls,
            throttle_time=datetime.timedelta(0),
            error_code=ErrorCode.inconsistent_cluster_id,
            broker_epoch=-1,
        )
    record = RegisterBrokerRecord(
        int(request.broker_id),
        tuple(
            (x.name, x.host, int(x.port), PROTOCOL_NAMES.get(int(x.security_protocol), "PLAINTEXT"))
            for x in request.listeners
        ),
        request.rack,
    )
    try:
        await broker.controller.submit(lambda image: _plan_registration(record, image))
    except ControllerError as exc:
        return make(
            cls, throttle_time=datetime.timedelta(0), error_code=exc.error_code, broker_epoch=-1
        )
    return make(cls, throttle_time=datetime.timedelta(0), error_code=ErrorCode.none, broker_epoch=0)


def registration_frame(broker: Broker) -> bytes:
    record = registration_record(broker)
    request = BrokerRegistrationRequest(
        broker_id=BrokerId(record.broker_id),
        cluster_id=broker.cluster_id,
        incarnation_id=uuid.uuid4(),
        listeners=tuple(
            Listener(
                name=name,
                host=host,
                port=u16(port),
                security_protocol=i16(PROTOCOL_IDS.get(proto, 0)),
            )
            for name, host, port, proto in record.endpoints
        ),
        features=(),
        rack=record.rack,
        log_dirs=(),
        previous_broker_epoch=i64(-1),
    )
    return encode_request(request)


async def register(broker: Broker, *, timeout_s: float = 60.0) -> None:
    """Register this broker through whichever node is the active controller; retried
    until it sticks (the image shows this node's endpoints) or the timeout passes."""
    record = registration_record(broker)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        known = broker.image.brokers.get(broker.node_id)
        if known is not None and known.endpoints == record.endpoints:
            return
        try:
            if broker.controller.is_active:
                await broker.controller.submit(lambda image: _plan_registration(record, image))
            elif broker.forwarder is not None and broker.controller.active_controller_id:
                await broker.forwarder.forward(
                    broker.controller.active_controller_id, registration_frame(broker)
                )
        except Exception as exc:  # retried: the quorum may still be electing
            log.info("registration not accepted yet: %s", exc)
        await asyncio.sleep(0.2)
    raise TimeoutError(f"broker {broker.node_id} could not register within {timeout_s}s")
