"""Listener lists, security protocol maps and controller endpoints, parsed as Kafka does.

`listeners` and `advertised.listeners` are `NAME://host:port` lists (Kafka's
`CoreUtils.listenerListToEndPoints`): names are case-insensitive and normalised to upper
case, IPv6 hosts are bracketed, an empty host means "all interfaces" (bind) or "this
machine's name" (advertise). Each listener's security protocol comes from
`listener.security.protocol.map`; names must be unique, and so must ports unless one
host is an IPv4 and the other an IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from millrace_broker.config.errors import ConfigError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

_URI = re.compile(r"^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$")


@dataclass(frozen=True, slots=True)
class Listener:
    """One endpoint: `name` is the listener name, upper case (e.g. PLAINTEXT, CONTROLLER)."""

    name: str
    host: str
    port: int
    security_protocol: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class HostPort:
    """A controller endpoint from `controller.quorum.voters` or `.bootstrap.servers`."""

    host: str
    port: int


def parse_protocol_map(key: str, entries: tuple[str, ...]) -> dict[str, str]:
    """`NAME:PROTOCOL,...` -> {NAME: PROTOCOL}, both upper case."""
    result: dict[str, str] = {}
    for entry in entries:
        name, sep, protocol = entry.partition(":")
        name, protocol = name.strip().upper(), protocol.strip().upper()
        if not sep or not name:
            raise ConfigError(f"{key}: entry '{entry}' is not of the form NAME:PROTOCOL", key=key)
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"{key}: unknown security protocol '{protocol}' for listener {name} "
                f"(expected one of {', '.join(SECURITY_PROTOCOLS)})",
                key=key,
            )
        if name in result:
            raise ConfigError(f"{key}: listener name {name} is mapped twice", key=key)
        result[name] = protocol
    return result


def parse_listeners(
    key: str, entries: tuple[str, ...], protocol_map: dict[str, str]
) -> list[Listener]:
    """Parse a listener list and check names and ports as Kafka does."""
    listeners: list[Listener] = []
    for entry in entries:
        match = _URI.match(entry.strip())
        if match is None:
            raise ConfigError(
                f"{key}: unable to parse '{entry}' as a listener "
                "(expected NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092)",
                key=key,
            )
        name, host, port_text = match.group(1).upper(), match.group(2), match.group(3)
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{key}: port {port} in '{entry}' is not in 0..65535", key=key)
        protocol = protocol_map.get(name)
        if protocol is None:
            raise ConfigError(
                f"{key}: no security protocol defined for listener {name}; add "
                f"{name}:PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL) to "
                "listener.security.protocol.map",
                key=key,
            )
        listeners.append(Listener(name, host, port, protocol))
    _check_unique(key, listeners)
    return listeners


def _check_unique(key: str, listeners: list[Listener]) -> None:
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: each listener must have a different name: {','.join(names)}")
    by_port: dict[int, list[Listener]] = {}
    for listener in listeners:
        if listener.port != 0:  # port 0 picks a free port at bind time
            by_port.setdefault(listener.port, []).append(listener)
    for port, group in by_port.items():
        if len(group) < 2:
            continue
        versions = sorted(_ip_version(listener.host) for listener in group)
        if versions != [4, 6]:
            raise ConfigError(
                f"{key}: each listener must have a different port (port {port} is used by "
                f"{', '.join(listener.name for listener in group)}), unless one listener "
                "is on an IPv4 address and the other on an IPv6 address",
                key=key,
            )


def _ip_version(host: str) -> int:
    try:
        return ipaddress.ip_address(host.split("%")[0]).version
    except ValueError:
        return 0


def parse_voters(entries: tuple[str, ...]) -> dict[int, HostPort]:
    """`id@host:port,...` -> {id: HostPort} (syntax already checked by the validator)."""
    voters: dict[int, HostPort] = {}
    for entry in entries:
        node, _, endpoint = entry.partition("@")
        node_id = int(node)
        if node_id in voters:
            raise ConfigError(
                f"controller.quorum.voters: voter id {node_id} appears twice",
                key="controller.quorum.voters",
            )
        voters[node_id] = parse_host_port(endpoint)
    return voters


def parse_host_port(endpoint: str) -> HostPort:
    host, _, port = endpoint.strip().rpartition(":")
    return HostPort(host.strip("[]"), int(port))
