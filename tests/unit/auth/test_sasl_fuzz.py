"""Whatever a client sends, a SASL mechanism either answers or fails authentication:
no other exception can escape to the connection (fuzzed with hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from millrace_broker.auth.errors import AuthenticationFailed
from millrace_broker.auth.plain import PlainServer, verify_against
from millrace_broker.auth.scram import SCRAM_SHA_256, ScramServer, credential_from_password

CREDENTIAL = credential_from_password(SCRAM_SHA_256, "pw")
tokens = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=120).map(str.encode),
    st.lists(
        st.sampled_from(
            ["n", "y", "p=x", "a=u", "n=u", "r=abc", "c=biws", "p=AAAA", "m=x", "=", ""]
        ),
        max_size=8,
    ).map(lambda parts: ",".join(parts).encode()),
)


@settings(max_examples=400, deadline=None)
@given(first=tokens, final=tokens)
def test_scram_server_only_fails_authentication(first: bytes, final: bytes) -> None:
    server = ScramServer(SCRAM_SHA_256, {"u": CREDENTIAL}.get)
    try:
        server.step(first)
        server.step(final)
    except AuthenticationFailed:
        return
    raise AssertionError("a random client final message authenticated")


@settings(max_examples=300, deadline=None)
@given(token=tokens)
def test_plain_server_only_fails_authentication(token: bytes) -> None:
    server = PlainServer(verify_against({"u": "pw"}))
    try:
        server.step(token)
    except AuthenticationFailed:
        return
    assert token in (b"\0u\0pw", b"u\0u\0pw")
