"""A listener's or a client's TLS settings (Kafka's `ssl.*` keys), as plain data.

Resolved from the broker configuration in server/sasl_config.py; network/tls.py turns
them into ssl contexts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TlsSettings:
    """A listener's (or a client's) `ssl.*` settings, already resolved per listener."""

    keystore_location: str | None = None
    certificate_chain: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)
    truststore_location: str | None = None
    truststore_certificates: str | None = field(default=None, repr=False)
    client_auth: str = "none"  # none | requested | required
    enabled_protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    endpoint_identification: bool = True  # client side: verify the peer's host name

    def watched_files(self) -> tuple[str, ...]:
        return tuple(p for p in (self.keystore_location, self.truststore_location) if p)
