"""Producer ids for InitProducerId, on any broker.

Producer ids come in blocks reserved in the metadata log, which only the active
controller writes. On the active controller (or a single node) the broker's own block
serves; elsewhere the id comes from the active controller, through the broker's
forwarding channel, as an idempotent InitProducerId in an Envelope that carries the
client's principal, so the controller authorizes that client as it did when the whole
request was forwarded (Kafka's brokers ask the controller with AllocateProducerIds for a
block instead). So InitProducerId itself is served where the client sends it: a
transactional one must be, by the transactional id's coordinator.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader

from ..protocol.codec import encode_request
from .broker import Broker
from .context import RequestContext
from .envelope import unwrap_response, wrap
from .forwarding import UNKNOWN_CONTROLLER

INIT_PRODUCER_ID_VERSION = 1  # not flexible: a plain response header to skip


class ProducerIdError(Exception):
    """No producer id could be obtained (no active controller reachable)."""


async def allocate_producer_id(broker: Broker, ctx: RequestContext) -> int:
    """A producer id no other producer of the cluster has, for the client of `ctx`."""
    forwarder = broker.forwarder
    if forwarder is None or broker.controller.is_active:
        return await broker.next_producer_id()
    cls: Any = load_request_schema(22, INIT_PRODUCER_ID_VERSION)
    request = cls(transactional_id=None, transaction_timeout=datetime.timedelta(seconds=60))
    target = broker.controller.active_controller_id
    envelope = wrap(encode_request(request), principal=ctx.principal, client_host=ctx.client_host)
    try:
        frame = unwrap_response(
            await forwarder.forward(UNKNOWN_CONTROLLER if target is None else target, envelope)
        )
    except Exception as exc:
        raise ProducerIdError(f"cannot reach the active controller: {exc}") from exc
    schema: Any = load_response_schema(22, INIT_PRODUCER_ID_VERSION)
    response, _ = entity_reader(schema)(frame, 8)  # after the size and correlation id
    if response.error_code != 0 or response.producer_id < 0:
        raise ProducerIdError(f"the controller answered error {response.error_code}")
    return int(response.producer_id)
