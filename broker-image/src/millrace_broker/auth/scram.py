"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as pure state machines.

Credentials are stored as Kafka stores them (UserScramCredentialRecord): salt, StoredKey,
ServerKey and the iteration count, never the password. AlterUserScramCredentials
carries the client-computed SaltedPassword = Hi(password, salt, i) (PBKDF2-HMAC);
`credential_from_salted_password` derives the two keys from it:

    ClientKey = HMAC(SaltedPassword, "Client Key")    StoredKey = H(ClientKey)
    ServerKey = HMAC(SaltedPassword, "Server Key")

The exchange (two round trips, all messages UTF-8, comma-separated `k=v` attributes):

    client-first  n,,n=<user>,r=<client nonce>[,extensions]
    server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
    client-final  c=<base64 gs2 header>,r=<nonce>,p=<base64 ClientProof>
    server-final  v=<base64 ServerSignature>

The server checks ClientProof: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage)
must hash to StoredKey, where AuthMessage = client-first-bare "," server-first ","
client-final-without-proof. Any failure raises `ScramError`, whose message never contains
credential material. `ScramClient` is the other side, for broker-to-broker connections.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .errors import AuthenticationFailed

MIN_ITERATIONS: Final = 4096
MAX_ITERATIONS: Final = 16384


@dataclass(frozen=True, slots=True)
class ScramMechanism:
    name: str
    type_id: int  # Kafka's org.apache.kafka.clients.admin.ScramMechanism type
    hash_name: str

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hash_name).digest()

    def hi(self, password: bytes, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac(self.hash_name, password, salt, iterations)


SCRAM_SHA_256: Final = ScramMechanism("SCRAM-SHA-256", 1, "sha256")
SCRAM_SHA_512: Final = ScramMechanism("SCRAM-SHA-512", 2, "sha512")
MECHANISMS: Final = {m.name: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
BY_TYPE: Final = {m.type_id: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def __repr__(self) -> str:  # never print key material
        return f"ScramCredential(iterations={self.iterations}, salt=[hidden], keys=[hidden])"


class ScramError(AuthenticationFailed):
    """A SCRAM exchange failed (safe to log, see AuthenticationFailed)."""


def credential_from_salted_password(
    mechanism: ScramMechanism, *, salt: bytes, salted_password: bytes, iterations: int
) -> ScramCredential:
    client_key = mechanism.hmac(salted_password, b"Client Key")
    return ScramCredential(
        salt=salt,
        stored_key=mechanism.digest(client_key),
        server_key=mechanism.hmac(salted_password, b"Server Key"),
        iterations=iterations,
    )


def credential_from_password(
    mechanism: ScramMechanism, password: str, *, iterations: int = MIN_ITERATIONS
) -> ScramCredential:
    salt = secrets.token_bytes(32)
    salted = mechanism.hi(password.encode(), salt, iterations)
    return credential_from_salted_password(
        mechanism, salt=salt, salted_password=salted, iterations=iterations
    )


def _attributes(message: str) -> dict[str, str]:
    """`a=1,b=2` -> {"a": "1", "b": "2"}; malformed parts raise ScramError."""
    result: dict[str, str] = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError("Invalid SCRAM message: malformed attribute")
        result.setdefault(part[0], part[2:])
    return result


def _decode_username(saslname: str) -> str:
    """RFC 5802 saslname: ',' and '=' arrive as '=2C' and '=3D'."""
    if "=" in saslname.replace("=2C", "").replace("=3D", ""):
        raise ScramError("Invalid SCRAM message: bad username encoding")
    return saslname.replace("=2C", ",").replace("=3D", "=")


def _encode_username(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ScramError("Invalid SCRAM message: bad base64") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


Lookup = Callable[[str], ScramCredential | None]


class ScramServer:
    """One server-side exchange. `step(token)` returns the next server message; after
    the second step `complete` is true and `username` is authenticated."""

    def __init__(self, mechanism: ScramMechanism, lookup: Lookup) -> None:
        self.mechanism = mechanism
        self._lookup = lookup
        self._state = "first"
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credential: ScramCredential | None = None
        self.username: str | None = None
        self.complete = False

    def step(self, token: bytes) -> bytes:
        try:
            message = token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScramError("Invalid SCRAM message: not UTF-8") from exc
        if self._state == "first":
            return self._first(message)
        if self._state == "final":
            return self._final(message)
        raise ScramError("SCRAM exchange already finished")

    def _first(self, message: str) -> bytes:
        # gs2-header: "n,," or "y,," (no channel binding) with an optional "a=authzid"
        parts = message.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y"):
            raise ScramError("Invalid SCRAM client first message")
        if parts[1] and not parts[1].startswith("a="):
            raise ScramError("Invalid SCRAM client first message: bad authorization id")
        bare = parts[2]
        attrs = _attributes(bare)
        if "n" not in attrs or "r" not in attrs or not attrs["r"]:
            raise ScramError("Invalid SCRAM client first message: missing user or nonce")
        if "m" in attrs:
            raise ScramError("Invalid SCRAM client first message: mandatory extension")
        extensions = {k for k in attrs if k not in ("n", "r")}
        if "t" in extensions or "tokenauth=true" in bare:
            raise ScramError("Authentication failed: delegation tokens are not supported")
        username = _decode_username(attrs["n"])
        authzid = parts[1][2:] if parts[1] else ""
        if authzid and _decode_username(authzid) != username:
            raise ScramError(
                "Authentication failed: Client requested an authorization id "
                "that is different from username"
            )
        credential = self._lookup(username)
        if credential is None:
            raise ScramError("Authentication failed: Invalid user credentials")
        self._credential = credential
        self.username = username
        self._client_first_bare = bare
        self._nonce = attrs["r"] + secrets.token_urlsafe(24)
        self._server_first = f"r={self._nonce},s={_b64(credential.salt)},i={credential.iterations}"
        self._state = "final"
        return self._server_first.encode()

    def _final(self, message: str) -> bytes:
        self._state = "done"
        proof_at = message.rfind(",p=")
        if proof_at < 0:
            raise ScramError("Invalid SCRAM client final message: missing proof")
        without_proof = message[:proof_at]
        attrs = _attributes(message)
        if attrs.get("r") != self._nonce:
            raise ScramError("Invalid SCRAM client final message: nonce mismatch")
        gs2 = _b64decode(attrs.get("c", ""))
        if not gs2.startswith((b"n,", b"y,")):
            raise ScramError("Invalid SCRAM client final message: bad channel binding")
        proof = _b64decode(attrs["p"])
        credential = self._credential
        assert credential is not None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = self.mechanism.hmac(credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("Authentication failed: Invalid client final message")
        client_key = _xor(proof, signature)
        if not hmac.compare_digest(self.mechanism.digest(client_key), credential.stored_key):
            raise ScramError(
                f"Authentication failed during authentication due to invalid credentials "
                f"with SASL mechanism {self.mechanism.name}"
            )
        server_signature = self.mechanism.hmac(credential.server_key, auth_message)
        self.complete = True
        return f"v={_b64(server_signature)}".encode()


class ScramClient:
    """The client side (broker-to-broker connections on a SCRAM listener)."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str) -> None:
        self.mechanism = mechanism
        self._password = password.encode()
        self._nonce = secrets.token_urlsafe(24)
        self._bare = f"n={_encode_username(username)},r={self._nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self._bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode("utf-8", errors="replace")
        attrs = _attributes(text)
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self._nonce) or not iterations.isdigit():
            raise ScramError("Invalid SCRAM server first message")
        salted = self.mechanism.hi(self._password, _b64decode(salt), int(iterations))
        without_proof = f"c={_b64(b'n,,')},r={nonce}"
        auth_message = f"{self._bare},{text},{without_proof}".encode()
        client_key = self.mechanism.hmac(salted, b"Client Key")
        signature = self.mechanism.hmac(self.mechanism.digest(client_key), auth_message)
        server_key = self.mechanism.hmac(salted, b"Server Key")
        self._server_signature = self.mechanism.hmac(server_key, auth_message)
        return f"{without_proof},p={_b64(_xor(client_key, signature))}".encode()

    def verify(self, server_final: bytes) -> None:
        attrs = _attributes(server_final.decode("utf-8", errors="replace"))
        if "e" in attrs:
            raise ScramError(f"SCRAM authentication failed: {attrs['e']}")
        if not hmac.compare_digest(_b64decode(attrs.get("v", "")), self._server_signature):
            raise ScramError("SCRAM server signature does not verify")
