"""SaslHandshake (17) and SaslAuthenticate (36) on the wire, for one connection.

The connection (network/connection.py) asks its `SaslSession` (auth/session.py) what to
do with each frame; SASL frames come here to be decoded, stepped through the session
and answered. A v0 handshake is followed by bare SASL tokens (size-prefixed, no Kafka
header) as in Kafka before KIP-152; v1 wraps tokens in SaslAuthenticate. Where a token
comes from a mechanism, `SaslServerConfig.mechanism` builds it: PLAIN against the
listener's JAAS `user_<name>` entries, SCRAM against the credentials of the current
metadata image (so a credential added with AlterUserScramCredentials is usable at once).
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i64Timedelta

from ..auth.plain import PlainServer, verify_against
from ..auth.scram import MECHANISMS, ScramCredential, ScramServer
from ..auth.session import Mechanism, SaslSession, State
from ..metadata.image import MetadataImage
from ..protocol.codec import decode_request, encode_response, request_schema
from ..protocol.framing import MalformedRequest, parse_request_header, peek_api
from .kio_build import make, response_class

SUPPORTED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_SIZE = struct.Struct(">i")


@dataclass(frozen=True)
class SaslServerConfig:
    """A listener's SASL settings, resolved from the broker config (sasl_config.py)."""

    listener: str
    enabled: tuple[str, ...]
    plain_users: dict[str, str] = field(default_factory=dict, repr=False)
    max_reauth_ms: int = 0
    max_receive_bytes: int = 524288  # sasl.server.max.receive.size
    failed_delay_ms: int = 100  # connection.failed.authentication.delay.ms

    def mechanism(self, name: str, image: Callable[[], MetadataImage]) -> Mechanism:
        if name == "PLAIN":
            return PlainServer(verify_against(self.plain_users))
        scram = MECHANISMS[name]

        def lookup(user: str) -> ScramCredential | None:
            return image().scram_credentials.get(user, {}).get(scram.type_id)

        return ScramServer(scram, lookup)

    def new_session(self, image: Callable[[], MetadataImage]) -> SaslSession:
        return SaslSession(
            enabled=self.enabled,
            factory=lambda name: self.mechanism(name, image),
            max_reauth_ms=self.max_reauth_ms,
        )


@dataclass(frozen=True, slots=True)
class SaslReply:
    data: bytes  # the response frame (with its size prefix)
    close_after: bool
    failure: str | None = None  # why authentication failed (safe to log)
    completed: bool = False  # the exchange succeeded with this step


def _decode(frame: bytes, api_key: int) -> tuple[object, int, int]:
    key, version, correlation_id = peek_api(frame)
    schema = request_schema(key, version)
    if key != api_key or schema is None:
        raise MalformedRequest(f"bad SASL request (API key {key} v{version})")
    header = parse_request_header(frame, flexible=bool(schema.__flexible__))
    return decode_request(schema, frame, header.size), version, correlation_id


def serve_handshake(session: SaslSession, frame: bytes) -> SaslReply:
    request, version, correlation_id = _decode(frame, 17)
    if version > 1:
        raise MalformedRequest(f"unsupported SaslHandshake version {version}")
    result = session.handshake(str(request.mechanism), version)  # type: ignore[attr-defined]
    response = make(
        response_class(request),
        error_code=ErrorCode(result.error_code),
        mechanisms=result.mechanisms,
    )
    failure = None
    if result.error_code:
        failure = (
            f"SaslHandshake error {result.error_code} for mechanism {request.mechanism!r} "  # type: ignore[attr-defined]
            f"(enabled: {', '.join(result.mechanisms)})"
        )
    return SaslReply(
        encode_response(correlation_id, 17, version, response), result.close_after, failure
    )


def serve_authenticate(session: SaslSession, frame: bytes, now_ms: int) -> SaslReply:
    request, version, correlation_id = _decode(frame, 36)
    if version > 2:
        raise MalformedRequest(f"unsupported SaslAuthenticate version {version}")
    token = bytes(request.auth_bytes)  # type: ignore[attr-defined]
    result = session.authenticate(token, version=version, now_ms=now_ms)
    response = make(
        response_class(request),
        error_code=ErrorCode(result.error_code),
        error_message=result.error_message,
        auth_bytes=result.token,
        session_lifetime=i64Timedelta.parse(
            datetime.timedelta(milliseconds=result.session_lifetime_ms)
        ),
    )
    return SaslReply(
        encode_response(correlation_id, 36, version, response),
        result.close_after,
        result.error_message if result.error_code else None,
        completed=not result.error_code and session.state is State.AUTHENTICATED,
    )


def serve_raw_token(session: SaslSession, token: bytes, now_ms: int) -> SaslReply:
    """After a v0 handshake: a bare token in, a bare token out (a failure just closes)."""
    result = session.authenticate(token, version=-1, now_ms=now_ms)
    if result.error_code:
        return SaslReply(b"", close_after=True, failure=result.error_message)
    return SaslReply(
        _SIZE.pack(len(result.token)) + result.token,
        close_after=False,
        completed=session.state is State.AUTHENTICATED,
    )


def handle_sasl_handshake(_broker: object, _ctx: object, request: Any) -> Any:
    """A SaslHandshake that reached the dispatcher: the listener is not a SASL listener
    (or the connection is already past it), as Kafka answers in KafkaApis."""
    return make(response_class(request), error_code=ErrorCode.illegal_sasl_state, mechanisms=())


def handle_sasl_authenticate(_broker: object, _ctx: object, request: Any) -> Any:
    return make(
        response_class(request),
        error_code=ErrorCode.illegal_sasl_state,
        error_message="SaslAuthenticate request received after successful authentication",
        auth_bytes=b"",
    )
