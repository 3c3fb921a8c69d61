"""Security settings Millrace cannot honour stop start-up with exit status 2 and a
message naming the key and the fix (a broker never starts half-secured)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support_broker import free_port


def start_with(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    port, controller = free_port(), free_port()
    base = [
        f"listeners=SECURE://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=SECURE://127.0.0.1:{port}",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        "inter.broker.listener.name=SECURE",
        f"log.dirs={tmp_path / 'data'}",
    ]
    args = [a for item in (*base, *overrides) for a in ("--override", item)]
    return subprocess.run(
        [sys.executable, "-m", "millrace_broker.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


PLAIN_JAAS = (
    "listener.name.secure.plain.sasl.jaas.config="
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_admin="admin-secret";'
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # Kafka's default mechanism is GSSAPI (Kerberos), which Millrace does not offer
        (
            ["listener.security.protocol.map=SECURE:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"],
            "sasl.enabled.mechanisms",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
            ],
            "defines no users",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                PLAIN_JAAS,
            ],
            "sasl.mechanism.inter.broker.protocol",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SSL,CONTROLLER:PLAINTEXT",
                "ssl.keystore.location=/nonexistent/keystore.jks",
            ],
            "ssl.keystore.type=PEM",
        ),
        (
            ["listener.security.protocol.map=SECURE:SSL,CONTROLLER:PLAINTEXT"],
            "ssl.keystore.location",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SSL,CONTROLLER:PLAINTEXT",
                "ssl.keystore.type=PEM",
                "ssl.keystore.location=/nonexistent/keystore.pem",
            ],
            "cannot load the TLS key material",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SSL,CONTROLLER:PLAINTEXT",
                "ssl.principal.mapping.rules=RULE:^CN=(.*$/$1/",
            ],
            "ssl.principal.mapping.rules",
        ),
        (
            [
                "listener.security.protocol.map=SECURE:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                PLAIN_JAAS,
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            ],
            "must be one of listener SECURE's sasl.enabled.mechanisms",
        ),
    ],
)
def test_unusable_security_settings_stop_start_up(
    tmp_path: Path, overrides: list[str], expected: str
) -> None:
    result = start_with(tmp_path, *overrides)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "configuration error" in result.stderr and expected in result.stderr, result.stderr
    assert "admin-secret" not in result.stderr
    assert "Traceback" not in result.stderr
