"""Connections from this node to a secured listener of another node: TLS, then SASL.

Used for everything one node sends another — replica fetches (inter-broker listener),
Raft messages and forwarded controller requests (controller listener). With SSL or
SASL_SSL the connection is wrapped in TLS (the listener's `ssl.*` settings, host name
verification per `ssl.endpoint.identification.algorithm`); with SASL_PLAINTEXT or
SASL_SSL it then authenticates as a Kafka client does: SaslHandshake v1, then
SaslAuthenticate v2 rounds (PLAIN: one; SCRAM: two, and the server's signature is
verified), with the `username`/`password` of the listener's JAAS config. When the peer
grants a limited session (`connections.max.reauth.ms`), the connection is closed at 85%
of it and its owner reconnects (Kafka's clients re-authenticate instead). A refusal
raises `AuthenticationError` (retried by the caller like any connection failure, but
logged with the broker's reason so a wrong inter-broker password is obvious).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from kio.index import load_response_schema
from kio.schema.sasl_authenticate.v2.request import SaslAuthenticateRequest
from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest
from kio.serial import entity_reader

from ..auth.errors import AuthenticationFailed
from ..auth.plain import plain_client_token
from ..auth.scram import MECHANISMS, ScramClient
from ..config import BrokerConfig
from ..protocol.codec import encode_request
from ..protocol.framing import skip_tagged_fields
from ..server.sasl_config import ClientSecurity, client_security
from .tls import build_client_context

_SIZE = struct.Struct(">i")
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connector = Callable[[str, int, float], Awaitable[Streams]]


class AuthenticationError(ConnectionError):
    """The peer refused this node's credentials (or the exchange broke)."""


async def _round_trip(streams: Streams, request: Any, correlation_id: int, timeout_s: float) -> Any:
    reader, writer = streams
    frame = encode_request(request, correlation_id=correlation_id)
    writer.write(_SIZE.pack(len(frame)) + frame)
    await asyncio.wait_for(writer.drain(), timeout_s)
    (size,) = _SIZE.unpack(await asyncio.wait_for(reader.readexactly(4), timeout_s))
    if not 4 <= size <= 1024 * 1024:
        raise AuthenticationError(f"bad SASL response size {size}")
    body = await asyncio.wait_for(reader.readexactly(size), timeout_s)
    schema = load_response_schema(request.__api_key__, request.__version__)
    pos = skip_tagged_fields(body, 4) if schema.__flexible__ else 4
    response, _ = entity_reader(schema)(body, pos)
    return response


async def authenticate(streams: Streams, security: ClientSecurity, timeout_s: float) -> int:
    """Authenticate; the session lifetime the peer granted in ms (0: unlimited)."""
    mechanism = security.mechanism
    assert mechanism is not None and security.username is not None
    password = security.password or ""
    handshake = await _round_trip(streams, SaslHandshakeRequest(mechanism=mechanism), 1, timeout_s)
    if handshake.error_code != 0:
        raise AuthenticationError(
            f"{security.listener}: SASL mechanism {mechanism} refused (error "
            f"{int(handshake.error_code)}; the peer enables {', '.join(handshake.mechanisms)})"
        )
    correlation = iter(range(2, 10))

    lifetime_ms = [0]

    async def step(token: bytes) -> bytes:
        request = SaslAuthenticateRequest(auth_bytes=token)
        response = await _round_trip(streams, request, next(correlation), timeout_s)
        lifetime_ms[0] = int(response.session_lifetime.total_seconds() * 1000)
        if response.error_code != 0:
            raise AuthenticationError(
                f"{security.listener}: authentication as {security.username} with "
                f"{mechanism} failed: {response.error_message}"
            )
        return bytes(response.auth_bytes)

    if mechanism == "PLAIN":
        await step(plain_client_token(security.username, password))
        return lifetime_ms[0]
    scram = ScramClient(MECHANISMS[mechanism], security.username, password)
    try:
        server_first = await step(scram.first())
        scram.verify(await step(scram.final(server_first)))
    except AuthenticationFailed as exc:
        raise AuthenticationError(f"{security.listener}: {exc}") from exc
    return lifetime_ms[0]


def secured_connector(security: ClientSecurity | None) -> Connector:
    """open_connection(host, port, timeout) for the listener `security` describes."""
    context = None
    if security is not None and security.tls is not None:
        context = build_client_context(security.tls)

    async def connect(host: str, port: int, timeout_s: float) -> Streams:
        if context is not None:
            opened = asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if context.check_hostname else None
            )
        else:
            opened = asyncio.open_connection(host, port)
        streams = await asyncio.wait_for(opened, timeout_s)
        if security is not None and security.mechanism is not None:
            try:
                lifetime_ms = await authenticate(streams, security, timeout_s)
            except BaseException:
                streams[1].close()
                raise
            if lifetime_ms > 0:
                # The peer closes a connection used after its session lifetime
                # (connections.max.reauth.ms). Rather than re-authenticate in the middle
                # of a stream, close it a little before; its owner reconnects.
                loop = asyncio.get_running_loop()
                loop.call_later(lifetime_ms * 0.85 / 1000, streams[1].close)
        return streams

    return connect


async def plain_connect(host: str, port: int, timeout_s: float) -> Streams:
    return await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)


def inter_node_connector(config: BrokerConfig, *, controller: bool) -> Connector:
    """How this node reaches the controller listener (Raft, forwarding) or the
    inter-broker listener (replica fetches) of the other nodes."""
    if controller:
        names = config.controller_listener_names
        if not names:
            return plain_connect
        listener = names[0]
    else:
        listener = config.inter_broker_listener_name
    return secured_connector(client_security(config, listener, controller=controller))
