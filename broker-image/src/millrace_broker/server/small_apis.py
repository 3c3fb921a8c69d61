"""Small APIs: DescribeCluster (60), InitProducerId (22, idempotent producers only).
DeleteRecords (21) is in delete_records.py."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class
from .producer_ids import ProducerIdError, allocate_producer_id
from .raft_voters import controller_nodes

UNAUTHORIZED_OPS = -2147483648
CONTROLLER_ENDPOINTS = 2


def handle_describe_cluster(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    broker_cls = nested(cls, "DescribeClusterBroker")
    image = broker.image
    brokers = []
    if getattr(request, "endpoint_type", 1) == CONTROLLER_ENDPOINTS:
        # --bootstrap-controller clients discover the controllers (KIP-919).
        for node_id, host, port in controller_nodes(broker):  # the current voters
            brokers.append(
                make(
                    broker_cls,
                    broker_id=node_id,
                    host=host,
                    port=port,
                    rack=None,
                    is_fenced=False,
                )
            )
    for node in sorted(image.brokers.values(), key=lambda b: b.broker_id):
        if brokers and getattr(request, "endpoint_type", 1) == CONTROLLER_ENDPOINTS:
            break
        endpoint = next((e for e in node.endpoints if e[0] == ctx.listener), None)
        if endpoint is not None:
            brokers.append(
                make(
                    broker_cls,
                    broker_id=node.broker_id,
                    host=endpoint[1],
                    port=endpoint[2],
                    rack=node.rack,
                    is_fenced=False,
                )
            )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=getattr(request, "endpoint_type", 1),
        cluster_id=image.cluster_id,
        controller_id=broker.active_controller_id(),
        brokers=tuple(brokers),
        cluster_authorized_operations=UNAUTHORIZED_OPS,
    )


async def handle_init_producer_id(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    """Idempotent producers get a fresh id; transactional ones go to the transaction
    coordinator (server/transactions.py)."""
    cls = response_class(request)
    if request.transactional_id is not None:
        from .transactions import handle_init_producer_id_transactional

        return await handle_init_producer_id_transactional(broker, ctx, request)
    try:
        producer_id, error = await allocate_producer_id(broker, ctx), ErrorCode.none
    except ProducerIdError:  # no controller reachable now: retriable for the client
        producer_id, error = -1, ErrorCode.coordinator_not_available
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=error,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
    )
