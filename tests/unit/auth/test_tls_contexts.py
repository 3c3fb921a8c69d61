"""TLS contexts from PEM settings: client authentication modes, inline key material, and
the reloading listener context (new files picked up, broken files ignored)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from millrace_broker.auth.tls_settings import TlsSettings
from millrace_broker.network.tls import (
    ReloadingServerContext,
    TlsConfigError,
    build_client_context,
    build_server_context,
)
from support_security import TestCA


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA.create(tmp_path / "ca")


@pytest.mark.parametrize(
    ("mode", "verify"),
    [("none", ssl.CERT_NONE), ("requested", ssl.CERT_OPTIONAL), ("required", ssl.CERT_REQUIRED)],
)
def test_client_auth_modes(ca: TestCA, mode: str, verify: ssl.VerifyMode) -> None:
    keystore, _, _ = ca.issue("srv", "localhost", server=True)
    settings = TlsSettings(
        keystore_location=str(keystore), truststore_location=str(ca.ca_file), client_auth=mode
    )
    assert build_server_context(settings).verify_mode == verify


def test_inline_pem_and_protocol_range(ca: TestCA) -> None:
    _, cert, key = ca.issue("srv", "localhost", server=True)
    settings = TlsSettings(
        certificate_chain=cert.read_text(),
        private_key=key.read_text(),
        truststore_certificates=ca.ca_file.read_text(),
        enabled_protocols=("TLSv1.3",),
    )
    ctx = build_server_context(settings)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    client = build_client_context(settings)
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED


def test_missing_key_material_is_a_config_error(ca: TestCA, tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="needs a key and certificate"):
        build_server_context(TlsSettings())
    with pytest.raises(TlsConfigError, match="cannot load"):
        build_server_context(TlsSettings(keystore_location=str(tmp_path / "nope.pem")))
    keystore, _, _ = ca.issue("srv", "localhost", server=True)
    with pytest.raises(TlsConfigError, match=r"ssl\.enabled\.protocols"):
        build_server_context(
            TlsSettings(keystore_location=str(keystore), enabled_protocols=("SSLv3",))
        )


def test_reloading_context_follows_the_files(ca: TestCA) -> None:
    keystore, _, _ = ca.issue("srv", "localhost", server=True)
    reloading = ReloadingServerContext(TlsSettings(keystore_location=str(keystore)), listener="X")
    first = reloading.current()
    assert reloading.current() is first  # unchanged files: same context
    half = keystore.read_bytes()[:100]
    keystore.write_bytes(half)
    assert reloading.current() is first and reloading.reloads == 0  # broken: keep the old
    rotated, _, _ = ca.issue("srv2", "localhost", server=True)
    staged = keystore.with_suffix(".tmp")
    staged.write_bytes(rotated.read_bytes())
    os.replace(staged, keystore)
    fresh = reloading.current()
    assert fresh is not first and reloading.reloads == 1
