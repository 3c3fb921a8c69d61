"""TLS contexts for SSL and SASL_SSL listeners (server side) and for this broker's own
connections to secured listeners of other nodes (client side), with Python's ssl module.

Key material is PEM, as Kafka's `ssl.keystore.type=PEM`: either a file
(`ssl.keystore.location`, private key and certificate chain in one file) or inline text
(`ssl.keystore.key` + `ssl.keystore.certificate.chain`); trust anchors likewise
(`ssl.truststore.location` or `ssl.truststore.certificates`). JKS and PKCS12 stores are
not read (a configuration error says so).

Rotation without restart: the listener's socket keeps one base context whose SNI
callback (OpenSSL calls it for every ClientHello, with or without a server name) hands
each new connection the current context. Before that it compares the key and trust
files' (mtime, size, inode) with those it last loaded and, when they changed, builds a
new context; if that fails (say, a certificate written before its key) the previous one
stays in use and the failure is logged without any key material. Established
connections keep the certificate they were accepted with.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..auth.tls_settings import TlsSettings
from ..config.errors import ConfigError

log = logging.getLogger(__name__)

_PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TlsConfigError(ConfigError):
    """TLS settings or files that cannot be used (stops start-up with exit status 2)."""


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[float, int, int], ...]:
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append((st.st_mtime, st.st_size, st.st_ino))
        except OSError:
            stamps.append((0.0, -1, -1))
    return tuple(stamps)


def _load_key_material(ctx: ssl.SSLContext, settings: TlsSettings) -> None:
    password = settings.key_password
    if settings.keystore_location:
        ctx.load_cert_chain(settings.keystore_location, password=password)
    elif settings.certificate_chain and settings.private_key:
        # ssl only loads key material from files: a private temporary directory, removed
        # as soon as the context holds the key.
        with tempfile.TemporaryDirectory(prefix="millrace-tls-") as tmp:
            cert = Path(tmp) / "chain.pem"
            key = Path(tmp) / "key.pem"
            cert.write_text(settings.certificate_chain)
            key.touch(mode=0o600)
            key.write_text(settings.private_key)
            ctx.load_cert_chain(str(cert), str(key), password=password)


def _load_trust(ctx: ssl.SSLContext, settings: TlsSettings) -> bool:
    if settings.truststore_location:
        ctx.load_verify_locations(cafile=settings.truststore_location)
        return True
    if settings.truststore_certificates:
        ctx.load_verify_locations(cadata=settings.truststore_certificates)
        return True
    return False


def _set_protocols(ctx: ssl.SSLContext, settings: TlsSettings) -> None:
    versions = [_PROTOCOLS[p] for p in settings.enabled_protocols if p in _PROTOCOLS]
    if not versions:
        raise TlsConfigError(
            f"ssl.enabled.protocols {','.join(settings.enabled_protocols)}: none of "
            "TLSv1.2, TLSv1.3"
        )
    ctx.minimum_version = min(versions)
    ctx.maximum_version = max(versions)


def build_server_context(settings: TlsSettings) -> ssl.SSLContext:
    if not (settings.keystore_location or (settings.certificate_chain and settings.private_key)):
        raise TlsConfigError(
            "an SSL listener needs a key and certificate: set ssl.keystore.location (a PEM "
            "file with the private key and the certificate chain) or ssl.keystore.key and "
            "ssl.keystore.certificate.chain"
        )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_protocols(ctx, settings)
    try:
        _load_key_material(ctx, settings)
        trusted = _load_trust(ctx, settings)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"cannot load the TLS key material: {exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None
    if settings.client_auth in ("required", "requested"):
        if not trusted:
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        ctx.verify_mode = (
            ssl.CERT_REQUIRED if settings.client_auth == "required" else ssl.CERT_OPTIONAL
        )
    return ctx


def build_client_context(settings: TlsSettings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _set_protocols(ctx, settings)
    if not _load_trust(ctx, settings):
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    _load_key_material(ctx, settings)
    ctx.check_hostname = settings.endpoint_identification
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class ReloadingServerContext:
    """The context a TLS listener is created with; new connections get the newest key
    material (see the module docstring)."""

    def __init__(self, settings: TlsSettings, *, listener: str) -> None:
        self._settings = settings
        self._listener = listener
        self._files = settings.watched_files()
        self._stamps = _stamp(self._files)
        self._failed: tuple[tuple[float, int, int], ...] = ()
        self._current = build_server_context(settings)
        self.base = build_server_context(settings)
        self.base.sni_callback = self._choose
        self.reloads = 0

    def current(self) -> ssl.SSLContext:
        stamps = _stamp(self._files)
        if stamps != self._stamps and stamps != self._failed:
            try:
                fresh = build_server_context(self._settings)
            except TlsConfigError as exc:
                self._failed = stamps  # retried once the files change again
                log.warning(
                    "listener %s: changed TLS files do not load yet, keeping the previous "
                    "certificate: %s",
                    self._listener,
                    exc,
                )
            else:
                self._current = fresh
                self._stamps = stamps
                self.reloads += 1
                log.info("listener %s: TLS key material reloaded", self._listener)
        return self._current

    def _choose(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext
    ) -> None:
        try:
            chosen = self.current()
        except Exception:  # an exception here would fail the handshake: serve the last one
            log.exception("listener %s: checking the TLS files failed", self._listener)
            chosen = self._current
        sslobj.context = chosen


ContextFactory = Callable[[], ssl.SSLContext]
