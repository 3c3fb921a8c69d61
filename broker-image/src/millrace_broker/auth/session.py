"""The SASL state of one connection on a SASL_PLAINTEXT or SASL_SSL listener.

Kafka's SaslServerAuthenticator, as a pure state machine (the connection feeds it the
API key of every frame and the bodies of SaslHandshake/SaslAuthenticate; it never does
I/O):

    HANDSHAKE      ApiVersions -> served; SaslHandshake(mechanism) -> AUTHENTICATE if the
                   mechanism is enabled, else UNSUPPORTED_SASL_MECHANISM (with the enabled
                   list) and the connection closes; anything else closes the connection.
    AUTHENTICATE   SaslAuthenticate (after a v1 handshake) or a raw token frame (after a
                   v0 handshake) steps the mechanism; a failure answers
                   SASL_AUTHENTICATION_FAILED and closes; success -> AUTHENTICATED.
    AUTHENTICATED  every request is served with the principal User:<name>. A new
                   SaslHandshake starts re-authentication (KIP-368): same mechanism, same
                   principal. With `connections.max.reauth.ms` > 0 a client that
                   authenticated with SaslAuthenticate v1+ is told its session lifetime;
                   once it has passed, any request other than re-authentication closes
                   the connection.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .errors import AuthenticationFailed

SASL_HANDSHAKE_KEY = 17
API_VERSIONS_KEY = 18
SASL_AUTHENTICATE_KEY = 36

# Kafka error codes (kept here so that this module stays free of the protocol package).
NONE = 0
ILLEGAL_SASL_STATE = 34
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58


class Mechanism(Protocol):
    """A server-side mechanism exchange (PLAIN, SCRAM): tokens in, tokens out."""

    username: str | None
    complete: bool

    def step(self, token: bytes) -> bytes: ...


MechanismFactory = Callable[[str], Mechanism]


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATE = "authenticate"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


class Admit(enum.Enum):
    DISPATCH = "dispatch"  # serve as usual, with `principal`
    HANDSHAKE = "handshake"  # a SaslHandshake for this session
    AUTHENTICATE = "authenticate"  # a SaslAuthenticate for this session
    RAW_TOKEN = "raw_token"  # a bare SASL token (after a v0 handshake)
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Admission:
    action: Admit
    reason: str = ""


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    error_code: int
    mechanisms: tuple[str, ...]
    close_after: bool


@dataclass(frozen=True, slots=True)
class AuthenticateResult:
    error_code: int
    error_message: str | None
    token: bytes
    session_lifetime_ms: int
    close_after: bool


class SaslSession:
    def __init__(
        self,
        *,
        enabled: Sequence[str],
        factory: MechanismFactory,
        max_reauth_ms: int,
    ) -> None:
        self._enabled = tuple(enabled)
        self._factory = factory
        self._max_reauth_ms = max_reauth_ms
        self.state = State.HANDSHAKE
        self._mechanism_name: str | None = None
        self._mechanism: Mechanism | None = None
        self._handshake_version = 1
        self._reauthenticating = False
        self._expires_at_ms: int | None = None
        self.principal: str | None = None

    @property
    def mechanism_name(self) -> str | None:
        return self._mechanism_name

    @property
    def authenticated(self) -> bool:
        return self.state is State.AUTHENTICATED or self._reauthenticating

    def admit(self, api_key: int, now_ms: int) -> Admission:
        """What to do with the next frame, from its API key (-1: the frame has no
        parseable header)."""
        state = self.state
        if state is State.FAILED:
            return Admission(Admit.CLOSE, "authentication failed")
        if state is State.AUTHENTICATE:
            if self._handshake_version == 0:
                return Admission(Admit.RAW_TOKEN)
            if api_key == SASL_AUTHENTICATE_KEY:
                return Admission(Admit.AUTHENTICATE)
            return Admission(
                Admit.CLOSE, f"unexpected request (API key {api_key}) during SASL authentication"
            )
        if state is State.HANDSHAKE:
            if api_key == API_VERSIONS_KEY:
                return Admission(Admit.DISPATCH)
            if api_key == SASL_HANDSHAKE_KEY:
                return Admission(Admit.HANDSHAKE)
            return Admission(
                Admit.CLOSE,
                f"unexpected request (API key {api_key}) before SASL authentication",
            )
        # AUTHENTICATED
        if api_key == SASL_HANDSHAKE_KEY:
            return Admission(Admit.HANDSHAKE)
        if self._expires_at_ms is not None and now_ms >= self._expires_at_ms:
            return Admission(
                Admit.CLOSE,
                "the SASL session expired (connections.max.reauth.ms) without re-authentication",
            )
        return Admission(Admit.DISPATCH)

    def handshake(self, mechanism: str, version: int) -> HandshakeResult:
        reauth = self.state is State.AUTHENTICATED
        if reauth and (version == 0 or mechanism != self._mechanism_name):
            self.state = State.FAILED
            return HandshakeResult(ILLEGAL_SASL_STATE, self._enabled, close_after=True)
        if mechanism not in self._enabled:
            self.state = State.FAILED
            return HandshakeResult(UNSUPPORTED_SASL_MECHANISM, self._enabled, close_after=True)
        self._mechanism_name = mechanism
        self._mechanism = self._factory(mechanism)
        self._handshake_version = version
        self._reauthenticating = reauth
        self.state = State.AUTHENTICATE
        return HandshakeResult(NONE, self._enabled, close_after=False)

    def authenticate(self, token: bytes, *, version: int, now_ms: int) -> AuthenticateResult:
        """One SaslAuthenticate (`version`) or raw token (`version` -1)."""
        mechanism = self._mechanism
        assert mechanism is not None and self.state is State.AUTHENTICATE
        try:
            reply = mechanism.step(token)
        except AuthenticationFailed as exc:
            return self._fail(str(exc))
        if not mechanism.complete:
            return AuthenticateResult(NONE, None, reply, 0, close_after=False)
        principal = f"User:{mechanism.username}"
        if self._reauthenticating and principal != self.principal:
            return self._fail(
                f"Cannot change principals during re-authentication from {self.principal}: "
                f"{principal}"
            )
        self.principal = principal
        self.state = State.AUTHENTICATED
        self._reauthenticating = False
        lifetime = self._max_reauth_ms if version >= 1 else 0
        self._expires_at_ms = now_ms + lifetime if lifetime > 0 else None
        return AuthenticateResult(NONE, None, reply, lifetime, close_after=False)

    def _fail(self, message: str) -> AuthenticateResult:
        self.state = State.FAILED
        self._reauthenticating = False
        return AuthenticateResult(SASL_AUTHENTICATION_FAILED, message, b"", 0, close_after=True)
