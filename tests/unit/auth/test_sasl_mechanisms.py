"""SCRAM (RFC 5802/7677 test vectors), PLAIN, JAAS parsing, the SASL session state
machine and TLS principal mapping, without a broker."""

from __future__ import annotations

import base64

import pytest

from millrace_broker.auth.errors import AuthenticationFailed
from millrace_broker.auth.jaas import JaasError, options_of, parse_jaas_config, plain_users
from millrace_broker.auth.plain import PlainServer, verify_against
from millrace_broker.auth.principal import (
    PrincipalMappingError,
    map_principal,
    parse_rules,
    rfc2253_name,
)
from millrace_broker.auth.scram import (
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramClient,
    ScramCredential,
    ScramMechanism,
    ScramServer,
    credential_from_password,
    credential_from_salted_password,
)
from millrace_broker.auth.session import (
    ILLEGAL_SASL_STATE,
    SASL_AUTHENTICATION_FAILED,
    UNSUPPORTED_SASL_MECHANISM,
    Admit,
    SaslSession,
    State,
)

# ----- SCRAM -----------------------------------------------------------------------------


def test_rfc7677_scram_sha_256_vector() -> None:
    """The exchange of RFC 7677 section 3 (user, pencil), server side."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    salted = SCRAM_SHA_256.hi(b"pencil", salt, 4096)
    credential = credential_from_salted_password(
        SCRAM_SHA_256, salt=salt, salted_password=salted, iterations=4096
    )
    server = ScramServer(SCRAM_SHA_256, lambda user: credential if user == "user" else None)
    # the RFC's server nonce is random: splice ours into the client's final message
    first = server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    nonce = first.decode().split(",")[0][2:]
    assert nonce.startswith("rOprNGfwEbeRWgbNEkqO")
    client = ScramClient(SCRAM_SHA_256, "user", "pencil")
    client._nonce = "rOprNGfwEbeRWgbNEkqO"  # the RFC's client nonce
    client._bare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = server.step(client.final(first))
    client.verify(final)
    assert server.complete and server.username == "user"


def test_rfc7677_stored_and_server_keys() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    salted = SCRAM_SHA_256.hi(b"pencil", salt, 4096)
    credential = credential_from_salted_password(
        SCRAM_SHA_256, salt=salt, salted_password=salted, iterations=4096
    )
    # ServerSignature of the RFC's exchange, recomputed from our ServerKey
    auth_message = (
        b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
        b"i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    signature = SCRAM_SHA_256.hmac(credential.server_key, auth_message)
    assert base64.b64encode(signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


@pytest.mark.parametrize("mechanism", [SCRAM_SHA_256, SCRAM_SHA_512])
def test_scram_round_trip_and_wrong_password(mechanism: ScramMechanism) -> None:
    credential = credential_from_password(mechanism, "s3cret", iterations=4096)
    lookup = {"a,b=c": credential}.get
    good = ScramClient(mechanism, "a,b=c", "s3cret")
    server = ScramServer(mechanism, lookup)
    good.verify(server.step(good.final(server.step(good.first()))))
    assert server.username == "a,b=c"
    bad = ScramClient(mechanism, "a,b=c", "nope")
    server = ScramServer(mechanism, lookup)
    with pytest.raises(AuthenticationFailed, match="invalid credentials") as info:
        server.step(bad.final(server.step(bad.first())))
    assert "nope" not in str(info.value) and "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        b"",
        b"garbage",
        b"p=tls-unique,,n=u,r=x",  # channel binding
        b"n,,n=u",  # no nonce
        b"n,,n=nobody,r=abc",  # unknown user
        b"n,,n=u,r=abc,m=ext",  # mandatory extension
        b"n,,n=u,r=abc,tokenauth=true",  # delegation token
        b"n,,n=u=XX,r=abc",  # bad saslname escape
        b"n,a=other,n=u,r=abc",  # authzid differs
        b"\xff\xfe",
    ],
)
def test_scram_rejects_bad_client_first(first: bytes) -> None:
    credential = credential_from_password(SCRAM_SHA_256, "pw")
    server = ScramServer(SCRAM_SHA_256, {"u": credential}.get)
    with pytest.raises(AuthenticationFailed):
        server.step(first)


def test_scram_rejects_wrong_nonce_and_replays() -> None:
    credential = credential_from_password(SCRAM_SHA_256, "pw")
    server = ScramServer(SCRAM_SHA_256, {"u": credential}.get)
    client = ScramClient(SCRAM_SHA_256, "u", "pw")
    first = server.step(client.first())
    final = client.final(first).replace(b"r=", b"r=X", 1)
    with pytest.raises(AuthenticationFailed, match="nonce"):
        server.step(final)
    with pytest.raises(AuthenticationFailed):
        server.step(final)  # finished: nothing more is accepted


def test_credential_repr_hides_keys() -> None:
    credential = ScramCredential(b"salt", b"stored", b"server", 4096)
    assert "stored" not in repr(credential) and "salt'" not in repr(credential)


# ----- PLAIN and JAAS --------------------------------------------------------------------


def test_plain_accepts_configured_users_only() -> None:
    verify = verify_against({"alice": "pw"})
    server = PlainServer(verify)
    assert server.step(b"\0alice\0pw") == b"" and server.username == "alice"
    for token in (b"\0alice\0nope", b"\0bob\0pw", b"alice\0pw", b"x\0alice\0pw", b"\0\0pw"):
        with pytest.raises(AuthenticationFailed) as info:
            PlainServer(verify).step(token)
        assert "nope" not in str(info.value)
    assert PlainServer(verify).step(b"alice\0alice\0pw") == b""  # authzid = authcid is fine


def test_jaas_config_parsing() -> None:
    text = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        '  username="admin" password="admin-secret"\n'
        '  user_admin="admin-secret" user_alice="with \\"quote\\" and ;" user_bob=bare;'
    )
    options = options_of(text)
    assert options["username"] == "admin"
    assert plain_users(options) == {
        "admin": "admin-secret",
        "alice": 'with "quote" and ;',
        "bob": "bare",
    }
    assert len(parse_jaas_config("a required; b optional x=1;")) == 2
    for bad in ("", "Module", "Module sometimes;", 'Module required x="open;', "M required x=1"):
        with pytest.raises(JaasError) as info:
            parse_jaas_config(bad)
        assert "admin-secret" not in str(info.value)


# ----- the session state machine --------------------------------------------------------


def session(reauth_ms: int = 0) -> SaslSession:
    verify = verify_against({"alice": "pw", "bob": "pw"})
    return SaslSession(
        enabled=("PLAIN",), factory=lambda _name: PlainServer(verify), max_reauth_ms=reauth_ms
    )


def test_only_api_versions_and_handshake_before_authentication() -> None:
    s = session()
    assert s.admit(18, 0).action is Admit.DISPATCH
    assert s.admit(17, 0).action is Admit.HANDSHAKE
    for api_key in (0, 1, 3, 36, -1):
        assert s.admit(api_key, 0).action is Admit.CLOSE
    assert s.handshake("PLAIN", 1).error_code == 0
    assert s.admit(3, 0).action is Admit.CLOSE  # between handshake and authenticate
    assert s.admit(36, 0).action is Admit.AUTHENTICATE
    result = s.authenticate(b"\0alice\0pw", version=2, now_ms=0)
    assert result.error_code == 0 and s.principal == "User:alice"
    assert s.admit(0, 0).action is Admit.DISPATCH


def test_unknown_mechanism_lists_the_enabled_ones() -> None:
    s = session()
    result = s.handshake("GSSAPI", 1)
    assert result.error_code == UNSUPPORTED_SASL_MECHANISM and result.mechanisms == ("PLAIN",)
    assert result.close_after and s.admit(18, 0).action is Admit.CLOSE


def test_v0_handshake_expects_bare_tokens() -> None:
    s = session()
    s.handshake("PLAIN", 0)
    assert s.admit(-1, 0).action is Admit.RAW_TOKEN
    assert s.authenticate(b"\0alice\0pw", version=-1, now_ms=0).session_lifetime_ms == 0


def test_failure_is_final() -> None:
    s = session()
    s.handshake("PLAIN", 1)
    result = s.authenticate(b"\0alice\0wrong", version=2, now_ms=0)
    assert result.error_code == SASL_AUTHENTICATION_FAILED and result.close_after
    assert s.state is State.FAILED and s.admit(18, 0).action is Admit.CLOSE


def test_session_lifetime_and_reauthentication() -> None:
    s = session(reauth_ms=1000)
    s.handshake("PLAIN", 1)
    assert s.authenticate(b"\0alice\0pw", version=1, now_ms=0).session_lifetime_ms == 1000
    assert s.admit(3, 999).action is Admit.DISPATCH
    assert s.admit(3, 1000).action is Admit.CLOSE  # expired
    assert s.admit(17, 1500).action is Admit.HANDSHAKE  # but may re-authenticate
    assert s.handshake("PLAIN", 1).error_code == 0
    assert s.authenticate(b"\0alice\0pw", version=2, now_ms=1500).error_code == 0
    assert s.admit(3, 2400).action is Admit.DISPATCH
    # another principal, or another mechanism, on re-authentication is refused
    s.handshake("PLAIN", 1)
    assert s.authenticate(b"\0bob\0pw", version=2, now_ms=2500).error_code != 0
    other = session()
    other.handshake("PLAIN", 1)
    other.authenticate(b"\0alice\0pw", version=2, now_ms=0)
    assert other.handshake("SCRAM-SHA-256", 1).error_code == ILLEGAL_SASL_STATE


def test_v0_authenticate_gets_no_session_lifetime() -> None:
    s = session(reauth_ms=1000)
    s.handshake("PLAIN", 1)
    assert s.authenticate(b"\0alice\0pw", version=0, now_ms=0).session_lifetime_ms == 0
    assert s.admit(3, 10_000).action is Admit.DISPATCH  # old clients are not expired


# ----- TLS principals --------------------------------------------------------------------

SUBJECT = (
    (("countryName", "US"),),
    (("organizationName", "Acme, Inc"),),
    (("organizationalUnitName", "Apps"),),
    (("commonName", "App1"),),
)


def test_rfc2253_name_reverses_rdns_and_escapes() -> None:
    assert rfc2253_name(SUBJECT) == "CN=App1,OU=Apps,O=Acme\\, Inc,C=US"


def test_mapping_rules_as_kafka_documents_them() -> None:
    rules = parse_rules(
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"
        "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
        "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,"
        "DEFAULT"
    )
    assert map_principal("CN=kafka-1,OU=ServiceUsers,O=Org,C=US", rules) == "kafka-1"
    assert (
        map_principal("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=PA,ST=CA,C=US", rules)
        == "duke@javasoft"
    )
    assert map_principal("OU=x,CN=adminuser,O=y", rules) == "ADMINUSER"
    assert map_principal("O=only", rules) == "O=only"  # DEFAULT
    assert map_principal("CN=x", parse_rules("DEFAULT")) == "CN=x"


def test_no_matching_rule_refuses_and_bad_rules_are_config_errors() -> None:
    with pytest.raises(PrincipalMappingError, match="No rules apply"):
        map_principal("O=x", parse_rules("RULE:^CN=(.*)$/$1/"))
    for bad in ("RULE:^CN=(.*)$", "NOPE", "RULE:([/x/"):
        with pytest.raises(PrincipalMappingError):
            parse_rules(bad)
