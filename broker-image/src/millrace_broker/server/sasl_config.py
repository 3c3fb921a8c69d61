"""Each listener's security settings, resolved from Kafka's property names.

A listener's security protocol (`listener.security.protocol.map`) decides what applies:
SSL and SASL_SSL need TLS settings, SASL_PLAINTEXT and SASL_SSL SASL settings. Each
`ssl.*` / `sasl.*` key may be given per listener as `listener.name.<listener>.<key>`
(listener name lower case), which wins over the unprefixed key, as in Kafka; JAAS
configs and `connections.max.reauth.ms` may also be per mechanism:
`listener.name.<listener>.<mechanism>.sasl.jaas.config`.

The same JAAS config's `username`/`password` options are what this node presents when
it connects to that listener on another node (inter-broker and controller traffic), with
the mechanism from `sasl.mechanism.inter.broker.protocol` /
`sasl.mechanism.controller.protocol`.

Invalid combinations stop start-up with a message naming the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..auth.jaas import JaasError, options_of, plain_users
from ..auth.principal import PrincipalMappingError, Rule, parse_rules
from ..auth.tls_settings import TlsSettings
from ..config import BrokerConfig, ConfigError
from ..config.listeners import Listener
from .sasl import SUPPORTED_MECHANISMS, SaslServerConfig


@dataclass(frozen=True)
class ListenerSecurity:
    name: str
    protocol: str
    sasl: SaslServerConfig | None
    tls: TlsSettings | None
    principal_rules: tuple[Rule, ...]

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


@dataclass(frozen=True)
class ClientSecurity:
    """How this node connects to a secured listener of another node."""

    listener: str
    protocol: str
    tls: TlsSettings | None
    mechanism: str | None
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        return (
            f"ClientSecurity({self.listener}, {self.protocol}, mechanism={self.mechanism}, "
            f"username={self.username})"
        )


def _value(config: BrokerConfig, listener: str, key: str) -> object:
    prefixed = config.get(f"listener.name.{listener.lower()}.{key}")
    return prefixed if prefixed is not None else config.get(key)


def _str(config: BrokerConfig, listener: str, key: str) -> str | None:
    value = _value(config, listener, key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else ",".join(value)  # type: ignore[arg-type]


def _list(config: BrokerConfig, listener: str, key: str) -> tuple[str, ...]:
    value = _value(config, listener, key)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def tls_settings(config: BrokerConfig, listener: str) -> TlsSettings:
    for store in ("keystore", "truststore"):
        kind = (_str(config, listener, f"ssl.{store}.type") or "JKS").upper()
        given = _str(config, listener, f"ssl.{store}.location") or (
            _str(config, listener, "ssl.truststore.certificates")
            if store == "truststore"
            else _str(config, listener, "ssl.keystore.key")
        )
        if given and kind != "PEM":
            raise ConfigError(
                f"listener {listener}: ssl.{store}.type={kind} is not supported; Millrace "
                f"reads PEM files only: set ssl.{store}.type=PEM (convert a JKS/PKCS12 store "
                "with keytool and openssl)",
                key=f"ssl.{store}.type",
            )
    auth = (_str(config, listener, "ssl.client.auth") or "none").lower()
    return TlsSettings(
        keystore_location=_str(config, listener, "ssl.keystore.location"),
        certificate_chain=_str(config, listener, "ssl.keystore.certificate.chain"),
        private_key=_str(config, listener, "ssl.keystore.key"),
        key_password=_str(config, listener, "ssl.key.password"),
        truststore_location=_str(config, listener, "ssl.truststore.location"),
        truststore_certificates=_str(config, listener, "ssl.truststore.certificates"),
        client_auth=auth,
        enabled_protocols=_list(config, listener, "ssl.enabled.protocols")
        or ("TLSv1.2", "TLSv1.3"),
        endpoint_identification=bool(
            _str(config, listener, "ssl.endpoint.identification.algorithm")
        ),
    )


def _jaas_options(config: BrokerConfig, listener: str, mechanism: str) -> dict[str, str]:
    key = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
    text = config.get(key)
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        return options_of(text)
    except JaasError as exc:
        raise ConfigError(f"{key}: {exc}", key=key) from None


def sasl_settings(config: BrokerConfig, listener: str) -> SaslServerConfig:
    enabled = tuple(m.upper() for m in _list(config, listener, "sasl.enabled.mechanisms"))
    unsupported = [m for m in enabled if m not in SUPPORTED_MECHANISMS]
    if unsupported or not enabled:
        raise ConfigError(
            f"listener {listener}: sasl.enabled.mechanisms={','.join(enabled)} — Millrace "
            f"supports {', '.join(SUPPORTED_MECHANISMS)}; set sasl.enabled.mechanisms (or "
            f"listener.name.{listener.lower()}.sasl.enabled.mechanisms) to some of them",
            key="sasl.enabled.mechanisms",
        )
    users: dict[str, str] = {}
    if "PLAIN" in enabled:
        options = _jaas_options(config, listener, "PLAIN")
        users = plain_users(options)
        if not users:
            key = f"listener.name.{listener.lower()}.plain.sasl.jaas.config"
            raise ConfigError(
                f"listener {listener} enables PLAIN but {key} defines no users: add "
                'user_<name>="<password>" options to '
                "org.apache.kafka.common.security.plain.PlainLoginModule required ...;",
                key=key,
            )
    receive = _value(config, listener, "sasl.server.max.receive.size")
    delay = _value(config, listener, "connection.failed.authentication.delay.ms")
    return SaslServerConfig(
        listener,
        enabled,
        users,
        _reauth_ms(config, listener, enabled),
        max_receive_bytes=receive if isinstance(receive, int) else 524288,
        failed_delay_ms=delay if isinstance(delay, int) else 100,
    )


def _reauth_ms(config: BrokerConfig, listener: str, enabled: tuple[str, ...]) -> int:
    """Per mechanism, else per listener, else broker-wide (one lifetime per listener)."""
    for mechanism in enabled:
        value = config.get(
            f"listener.name.{listener.lower()}.{mechanism.lower()}.connections.max.reauth.ms"
        )
        if isinstance(value, int):
            return max(value, 0)
    fallback = _value(config, listener, "connections.max.reauth.ms")
    return max(fallback, 0) if isinstance(fallback, int) else 0


def listener_security(config: BrokerConfig, listener: Listener) -> ListenerSecurity:
    name, protocol = listener.name, listener.security_protocol
    sasl = sasl_settings(config, name) if protocol.startswith("SASL_") else None
    tls = None
    if protocol in ("SSL", "SASL_SSL"):
        tls = tls_settings(config, name)
    rules_text = _str(config, name, "ssl.principal.mapping.rules") or "DEFAULT"
    try:
        rules = tuple(parse_rules(rules_text))
    except PrincipalMappingError as exc:
        raise ConfigError(str(exc), key="ssl.principal.mapping.rules") from None
    return ListenerSecurity(name, protocol, sasl, tls, rules)


def client_security(config: BrokerConfig, listener: str, *, controller: bool) -> ClientSecurity:
    """What this node needs to connect to `listener` on another node."""
    protocol = config.listener_security_protocol_map.get(listener, "PLAINTEXT")
    tls = tls_settings(config, listener) if protocol.endswith("SSL") else None
    if not protocol.startswith("SASL_"):
        return ClientSecurity(listener, protocol, tls, None, None, None)
    key = (
        "sasl.mechanism.controller.protocol"
        if controller
        else "sasl.mechanism.inter.broker.protocol"
    )
    mechanism = str(config.get(key) or "").upper()
    if mechanism not in SUPPORTED_MECHANISMS:
        raise ConfigError(
            f"{key}={mechanism}: listener {listener} is {protocol}; set {key} to one of "
            f"{', '.join(SUPPORTED_MECHANISMS)}",
            key=key,
        )
    if listener in {x.name for x in config.listeners}:  # served here too: as Kafka checks
        enabled = sasl_settings(config, listener).enabled
        if mechanism not in enabled:
            raise ConfigError(
                f"{key}={mechanism} must be one of listener {listener}'s "
                f"sasl.enabled.mechanisms ({', '.join(enabled)})",
                key=key,
            )
    options = _jaas_options(config, listener, mechanism)
    if not options.get("username") or "password" not in options:
        jaas = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
        raise ConfigError(
            f"{jaas} needs username and password options: this node authenticates with "
            f"them to the {listener} listener of other nodes",
            key=jaas,
        )
    return ClientSecurity(
        listener, protocol, tls, mechanism, options["username"], options["password"]
    )
