"""The SASL state machine on the wire, with hand-made frames: what is served before
authentication, what closes the connection, v0 handshakes with bare tokens,
re-authentication and session expiry (`connections.max.reauth.ms`); none of it crashes
the broker or puts a secret in its log. Also librdkafka re-authenticating by itself."""

from __future__ import annotations

import socket
import struct
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader

from millrace_broker.auth.scram import SCRAM_SHA_512, ScramClient
from millrace_broker.protocol.codec import encode_request
from millrace_broker.protocol.framing import skip_tagged_fields
from support_broker import free_port
from support_security import SECRETS, SecureBroker, librdkafka_conf, secure_broker
from support_wire import RawConnection

REAUTH_MS = 3000
METRICS_PORT = free_port()
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    extra = [f"connections.max.reauth.ms={REAUTH_MS}"]
    args = ["--metrics-address", f"127.0.0.1:{METRICS_PORT}"]
    with secure_broker(tmp_path_factory.mktemp("sasl-bad"), extra, extra_args=args) as broker:
        yield broker
    log = broker.broker.log()
    assert "Traceback" not in log, log[-3000:]
    leaked = [s for s in (*SECRETS, "never-logged-pw") if s in log]
    assert not leaked, f"secrets in the broker log: {leaked}"


_correlation = iter(range(1, 1_000_000))


def call(conn: RawConnection, api_key: int, version: int, **fields: Any) -> Any:
    request = load_request_schema(api_key, version)(**fields)
    body = conn.request(encode_request(request, correlation_id=next(_correlation)))
    schema = load_response_schema(api_key, version)
    pos = 4
    if schema.__flexible__ and api_key != 18:
        pos = skip_tagged_fields(body, pos)
    response, _ = entity_reader(schema)(body, pos)
    return response


def closed_by_broker(conn: RawConnection, timeout: float = 10.0) -> bool:
    conn.sock.settimeout(timeout)
    try:
        return conn.sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def metadata(conn: RawConnection) -> Any:
    return call(
        conn,
        3,
        12,
        topics=(),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )


def plain_login(conn: RawConnection, user: str = "alice", password: str = "alice-secret") -> Any:
    handshake = call(conn, 17, 1, mechanism="PLAIN")
    assert handshake.error_code == 0
    return call(conn, 36, 2, auth_bytes=f"\0{user}\0{password}".encode())


def test_api_versions_before_sasl_is_served_and_lists_sasl_apis(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    versions = call(conn, 18, 3, client_software_name="t", client_software_version="1")
    keys = {k.api_key for k in versions.api_keys}
    assert {17, 36, 50, 51} <= keys
    assert plain_login(conn).error_code == 0
    assert metadata(conn).brokers
    conn.close()


def test_request_before_authentication_closes_the_connection(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    frame = encode_request(
        load_request_schema(3, 12)(
            topics=(), allow_auto_topic_creation=False, include_topic_authorized_operations=False
        )
    )
    conn.sock.sendall(struct.pack(">i", len(frame)) + frame)
    assert closed_by_broker(conn)
    # also between handshake and authenticate
    conn = RawConnection(sb.sasl_port)
    assert call(conn, 17, 1, mechanism="PLAIN").error_code == 0
    conn.sock.sendall(struct.pack(">i", len(frame)) + frame)
    assert closed_by_broker(conn)


def test_unknown_mechanism_gets_the_enabled_list_then_closes(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    response = call(conn, 17, 1, mechanism="GSSAPI")
    assert response.error_code == UNSUPPORTED_SASL_MECHANISM
    assert set(response.mechanisms) == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert closed_by_broker(conn)


@pytest.mark.parametrize(
    ("mechanism", "token"),
    [
        ("PLAIN", b"no-separators"),
        ("PLAIN", b"\0alice\0never-logged-pw"),
        ("PLAIN", b"\xff\xfe\0\0"),
        ("SCRAM-SHA-512", b"garbage"),
        ("SCRAM-SHA-512", b"n,,n=nobody,r=abc"),
        ("SCRAM-SHA-512", b"n,,n=alice"),
        ("SCRAM-SHA-256", b""),
    ],
)
def test_bad_sasl_tokens_fail_authentication_and_close(
    sb: SecureBroker, mechanism: str, token: bytes
) -> None:
    conn = RawConnection(sb.sasl_port)
    assert call(conn, 17, 1, mechanism=mechanism).error_code == 0
    response = call(conn, 36, 2, auth_bytes=token)
    assert response.error_code == SASL_AUTHENTICATION_FAILED
    assert response.error_message
    assert closed_by_broker(conn)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x24\x00\x02",  # SaslAuthenticate header cut short
        struct.pack(">hhi", 36, 2, 7) + b"\x00\x05ab",  # client id longer than the frame
        struct.pack(">hhi", 36, 9, 7) + b"\xff\xff\x00",  # unknown version
        struct.pack(">hhih", 36, 2, 7, -1) + b"\x00" + b"\x7f\xff\xff\xff",  # huge token
    ],
)
def test_malformed_sasl_frames_close_the_connection(sb: SecureBroker, body: bytes) -> None:
    conn = RawConnection(sb.sasl_port)
    assert call(conn, 17, 1, mechanism="PLAIN").error_code == 0
    conn.sock.sendall(struct.pack(">i", len(body)) + body)
    assert closed_by_broker(conn)
    # the broker still serves
    fresh = RawConnection(sb.sasl_port)
    assert plain_login(fresh).error_code == 0
    fresh.close()


def test_v0_handshake_then_bare_tokens(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    assert call(conn, 17, 0, mechanism="PLAIN").error_code == 0
    assert conn.request(b"\0alice\0alice-secret") == b""  # bare token in, bare token out
    assert metadata(conn).brokers
    conn.close()


def test_scram_exchange_by_hand_and_wrong_proof(sb: SecureBroker) -> None:
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism
    from confluent_kafka.admin import UserScramCredentialUpsertion as Upsert

    admin = AdminClient(
        librdkafka_conf(
            sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret", sb.ca
        )
    )
    upsert = Upsert("hand", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"hand-pw")
    admin.alter_user_scram_credentials([upsert])["hand"].result(timeout=20)
    for password, ok in (("hand-pw", True), ("not-it", False)):
        conn = RawConnection(sb.sasl_port)
        client = ScramClient(SCRAM_SHA_512, "hand", password)
        assert call(conn, 17, 1, mechanism="SCRAM-SHA-512").error_code == 0
        first = call(conn, 36, 2, auth_bytes=client.first())
        assert first.error_code == 0
        final = call(conn, 36, 2, auth_bytes=client.final(first.auth_bytes))
        if ok:
            assert final.error_code == 0
            client.verify(final.auth_bytes)  # the server proved it knows the credential
            assert final.session_lifetime.total_seconds() * 1000 == REAUTH_MS
            assert metadata(conn).brokers
        else:
            assert final.error_code == SASL_AUTHENTICATION_FAILED
            assert closed_by_broker(conn)
        conn.close()


def test_session_expires_without_reauthentication(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    login = plain_login(conn)
    assert login.error_code == 0
    assert login.session_lifetime.total_seconds() * 1000 == REAUTH_MS
    assert metadata(conn).brokers
    time.sleep(REAUTH_MS / 1000 + 0.5)
    frame = encode_request(
        load_request_schema(3, 12)(
            topics=(), allow_auto_topic_creation=False, include_topic_authorized_operations=False
        )
    )
    conn.sock.sendall(struct.pack(">i", len(frame)) + frame)
    assert closed_by_broker(conn)


def test_reauthentication_extends_the_session(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    assert plain_login(conn).error_code == 0
    time.sleep(REAUTH_MS / 1000 * 0.6)
    again = plain_login(conn)  # re-authenticate on the same connection
    assert again.error_code == 0
    time.sleep(REAUTH_MS / 1000 * 0.6)  # past the first session's end
    assert metadata(conn).brokers
    # a re-authentication as someone else is refused
    changed = plain_login(conn, "admin", "admin-secret")
    assert changed.error_code == SASL_AUTHENTICATION_FAILED
    assert "principal" in (changed.error_message or "")
    assert closed_by_broker(conn)


def test_librdkafka_reauthenticates_on_its_own(sb: SecureBroker) -> None:
    """With a 3 s session lifetime, a producer running for 8 s keeps its connection by
    re-authenticating (KIP-368) and delivers everything."""
    expired_before = sb.broker.log().count("SASL session expired")
    errors: list[Any] = []
    delivered: list[Any] = []
    conf = librdkafka_conf(
        sb.sasl_bootstrap, "SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret", sb.ca
    )
    producer = Producer({**conf, "error_cb": errors.append})
    topic = f"reauth-{time.monotonic_ns()}"
    deadline = time.monotonic() + 8
    sent = 0
    while time.monotonic() < deadline and sent < 400:
        producer.produce(topic, f"v{sent}".encode(), on_delivery=lambda e, m: delivered.append(e))
        sent += 1
        producer.poll(0.02)
    assert producer.flush(30) == 0
    assert len(delivered) == sent and not any(delivered)
    assert not [e for e in errors if "uthenticat" in e.str()], errors
    # no connection of this producer was closed for an expired session
    assert sb.broker.log().count("SASL session expired") == expired_before


def test_tls_listener_refuses_plaintext_bytes(sb: SecureBroker) -> None:
    """A plaintext Kafka request on a TLS port is a failed handshake, not a crash."""
    with socket.create_connection(("127.0.0.1", sb.sasl_ssl_port), timeout=10) as sock:
        frame = encode_request(load_request_schema(18, 0)())
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        sock.settimeout(10)
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(struct.pack(">i", len(frame)))
    fresh = RawConnection(sb.sasl_port)
    assert plain_login(fresh).error_code == 0


def test_oversized_frame_before_authentication_closes(sb: SecureBroker) -> None:
    """Before authentication a frame may not exceed sasl.server.max.receive.size (512 KiB):
    an unauthenticated peer cannot make the broker buffer 100 MB."""
    conn = RawConnection(sb.sasl_port)
    conn.sock.sendall(struct.pack(">i", 1_000_000) + b"\x00" * 100)
    assert closed_by_broker(conn)
    assert "sasl.server.max.receive.size" in sb.broker.log()


def test_authentication_metrics_count_successes_and_failures(sb: SecureBroker) -> None:
    conn = RawConnection(sb.sasl_port)
    assert plain_login(conn).error_code == 0
    bad = RawConnection(sb.sasl_port)
    assert plain_login(bad, "alice", "not-the-password").error_code != 0
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10) as r:
        text = r.read().decode()
    labels = '{listener="SASL_PLAINTEXT",mechanism="PLAIN"}'

    def value(name: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith(name + labels))
        return float(line.rsplit(" ", 1)[1])

    assert value("kafka_server_socketservermetrics_successful_authentication_total") >= 1
    assert value("kafka_server_socketservermetrics_failed_authentication_total") >= 1
    assert 'kafka_server_socketservermetrics_connection_count{listener="SASL_PLAINTEXT"}' in text
    conn.close()
