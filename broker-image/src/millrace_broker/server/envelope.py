"""Envelope (58): forwarded requests keep the client's principal, as in Kafka (KIP-590).

A broker forwarding a client's request to the active controller wraps the request frame
in an EnvelopeRequest carrying the client's principal and address; the controller serves
the inner frame as if that client had sent it (so its ACLs, quotas and audit lines are the
client's, not the forwarding broker's) and returns the inner response frame in an
EnvelopeResponse, which the broker relays unchanged. Only controller listeners accept
envelopes, and only from a principal allowed CLUSTER_ACTION when the authorizer is on.

`request_principal` is the principal's text ("User:alice"); Kafka serialises a
KafkaPrincipal with its principal builder instead, which only matters between Kafka
nodes.
"""

from __future__ import annotations

import inspect
import ipaddress
import struct
from typing import TYPE_CHECKING, Any

from kio.schema.envelope.v0.request import EnvelopeRequest
from kio.schema.envelope.v0.response import EnvelopeResponse
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from ..auth.acl import Operation
from ..protocol.codec import decode_request, encode_request, encode_response, request_schema
from ..protocol.framing import MalformedRequest, parse_request_header
from .authz import C, allowed, authorizer_for
from .context import RequestContext
from .forwarding import ForwardingError
from .throttled import Throttled

if TYPE_CHECKING:
    from .dispatch import Dispatcher

ENVELOPE_KEY = 58
ANONYMOUS = "User:ANONYMOUS"
_SIZE = struct.Struct(">i")
_READ_RESPONSE = entity_reader(EnvelopeResponse)


def wrap(frame: bytes, *, principal: str, client_host: str) -> bytes:
    """An Envelope request frame (without size) around a client's request frame."""
    try:
        address = ipaddress.ip_address(client_host).packed
    except ValueError:
        address = client_host.encode()
    return encode_request(
        EnvelopeRequest(
            request_data=frame,
            request_principal=principal.encode(),
            client_host_address=address,
        )
    )


def unwrap_response(raw: bytes) -> bytes:
    """The inner response frame (with its size prefix) from an Envelope response."""
    offset = 4 + 4 + 1  # size, correlation id, header tags (Envelope is flexible)
    entity, _size = _READ_RESPONSE(raw, offset)
    if entity.error_code != ErrorCode.none or entity.response_data is None:
        raise ForwardingError(f"the controller refused the envelope: {entity.error_code.name}")
    data = bytes(entity.response_data)
    return _SIZE.pack(len(data)) + data


def _host_of(address: bytes) -> str:
    if len(address) in (4, 16):
        return str(ipaddress.ip_address(address))
    return address.decode(errors="replace")


def serve_envelope(
    dispatcher: Dispatcher,
    frame: bytes,
    *,
    listener: str,
    client_host: str,
    principal: str,
    api_version: int,
    correlation_id: int,
) -> Any:
    """Serve a forwarded request; returns the Envelope response (bytes, or awaitable)."""
    schema = request_schema(ENVELOPE_KEY, api_version)
    if schema is None:
        raise MalformedRequest(f"unsupported version {api_version} of API key 58")
    header = parse_request_header(frame, flexible=True)
    envelope = decode_request(schema, frame, header.size)

    def answer(code: ErrorCode, data: bytes | None) -> bytes:
        body = EnvelopeResponse(response_data=data, error_code=code)
        return encode_response(correlation_id, ENVELOPE_KEY, api_version, body)

    broker = dispatcher.broker
    authorizer = authorizer_for(broker)
    if authorizer is not None:
        ctx = RequestContext(
            ENVELOPE_KEY,
            api_version,
            correlation_id,
            header.client_id,
            listener,
            client_host,
            principal,
        )
        if not allowed(authorizer, ctx, Operation.CLUSTER_ACTION, C):
            return answer(ErrorCode.cluster_authorization_failed, None)
    inner_principal = (
        envelope.request_principal.decode() if envelope.request_principal else ANONYMOUS
    )
    try:
        result = dispatcher.dispatch(
            bytes(envelope.request_data),
            listener=listener,
            client_host=_host_of(bytes(envelope.client_host_address)),
            principal=inner_principal,
        )
    except MalformedRequest:
        return answer(ErrorCode.invalid_request, None)

    def wrapped(output: Any) -> bytes:
        if isinstance(output, Throttled):
            output = output.answer
        if output is None:
            return answer(ErrorCode.none, b"")
        data = output if isinstance(output, bytes) else b"".join(bytes(c) for c in output)
        return answer(ErrorCode.none, data[4:])

    if inspect.isawaitable(result):

        async def later() -> bytes:
            return wrapped(await result)

        return later()
    return wrapped(result)
