"""Open one listener socket with its security: TLS for SSL/SASL_SSL, SASL state per
connection for SASL_PLAINTEXT/SASL_SSL (see connection.py)."""

from __future__ import annotations

import asyncio
import logging

from ..config import BrokerConfig
from ..config.listeners import Listener
from ..server.broker import Broker
from ..server.dispatch import Dispatcher
from ..server.sasl_config import listener_security
from .connection import make_protocol_factory
from .tls import ReloadingServerContext

log = logging.getLogger(__name__)


async def open_listener(
    config: BrokerConfig, listener: Listener, dispatcher: Dispatcher, broker: Broker
) -> asyncio.Server:
    security = listener_security(config, listener)
    tls = None
    if security.tls is not None:
        tls = ReloadingServerContext(security.tls, listener=listener.name)
    factory = make_protocol_factory(
        dispatcher,
        listener=listener.name,
        max_request_bytes=config.get_int("socket.request.max.bytes"),
        security=security,
        image=lambda: broker.image,
        metrics=broker.metrics,
    )
    server = await asyncio.get_running_loop().create_server(
        factory,
        listener.host or None,
        listener.port,
        reuse_address=True,
        ssl=tls.base if tls is not None else None,
    )
    mechanisms = f" ({', '.join(security.sasl.enabled)})" if security.sasl else ""
    log.info(
        "listening on %s://%s:%s, %s%s",
        listener.name,
        listener.host,
        listener.port,
        listener.security_protocol,
        mechanisms,
    )
    return server
