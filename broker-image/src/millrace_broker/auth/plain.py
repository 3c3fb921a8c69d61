"""SASL/PLAIN (RFC 4616): one client message, `authzid NUL authcid NUL password`.

Checked against the `user_<name>` entries of the listener's JAAS config, as Kafka's
PlainServerCallbackHandler does. The password is compared in constant time and never
appears in an error message.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from .errors import AuthenticationFailed


class PlainError(AuthenticationFailed):
    """Authentication failed; the message is safe to log and to send to the client."""


Verify = Callable[[str, str], bool]


def verify_against(users: dict[str, str]) -> Verify:
    def verify(username: str, password: str) -> bool:
        expected = users.get(username)
        if expected is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work either way
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    return verify


class PlainServer:
    def __init__(self, verify: Verify) -> None:
        self._verify = verify
        self.username: str | None = None
        self.complete = False

    def step(self, token: bytes) -> bytes:
        if self.complete:
            raise PlainError("SASL/PLAIN exchange already finished")
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlainError("Invalid SASL/PLAIN message: not UTF-8") from exc
        parts = text.split("\x00")
        if len(parts) != 3:
            raise PlainError("Invalid SASL/PLAIN message: expected 3 tokens")
        authzid, username, password = parts
        if not username:
            raise PlainError("Authentication failed: username not specified")
        if not password:
            raise PlainError("Authentication failed: password not specified")
        if authzid and authzid != username:
            raise PlainError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        if not self._verify(username, password):
            raise PlainError("Authentication failed: Invalid username or password")
        self.username = username
        self.complete = True
        return b""


def plain_client_token(username: str, password: str) -> bytes:
    return f"\x00{username}\x00{password}".encode()
