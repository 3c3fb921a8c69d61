"""Client quotas (pure): entities, Kafka's precedence, rate windows and throttle times.

A quota entity is a sorted tuple of (type, name) pairs over "user", "client-id" (or "ip");
a None name is the type's default (`--entity-default`). For a request from user U with
client id C the quota that applies is the first one set, in Kafka's order:

    user=U,client-id=C  user=U,client-id=default  user=U
    user=default,client-id=C  user=default,client-id=default  user=default
    client-id=C  client-id=default

Usage is measured per matched entity with defaults filled in by the request's values, as
Kafka tags its sensors: a quota on user=default limits every user separately; a quota on
user=U is shared by all of U's clients.

`RateSensor` is Kafka's windowed Rate: `quota.window.num` (11) samples of
`quota.window.size.seconds` (1 s); the measured time is at least num-1 windows, so a new
client is not throttled for a short first burst. Over the bound, the throttle time is
Kafka's ClientQuotaManager formula: (rate - bound) / bound * window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

USER, CLIENT_ID, IP = "user", "client-id", "ip"
Entity = tuple[tuple[str, str | None], ...]

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CLIENT_KEYS = {
    PRODUCER_BYTE_RATE: True,  # whole numbers only (Kafka's LONG configs)
    CONSUMER_BYTE_RATE: True,
    REQUEST_PERCENTAGE: False,
    "controller_mutation_rate": False,
}
IP_KEYS = {"connection_creation_rate": True}


class QuotaError(ValueError):
    """An invalid quota alteration (INVALID_REQUEST on the wire)."""


def entity_of(pairs: Sequence[tuple[str, str | None]]) -> Entity:
    types = [t for t, _ in pairs]
    if len(set(types)) != len(types):
        raise QuotaError(f"Duplicate entity type in {list(pairs)}")
    allowed = ({USER}, {CLIENT_ID}, {USER, CLIENT_ID}, {IP})
    if set(types) not in allowed:
        raise QuotaError(
            f"Invalid quota entity {list(pairs)}: use user, client-id, user and client-id, or ip"
        )
    for kind, name in pairs:
        if name == "":
            raise QuotaError(f"Empty {kind} name: give a name, or null for the default")
    return tuple(sorted(pairs, key=lambda p: p[0]))


def validate_op(entity: Entity, key: str, value: float, remove: bool) -> None:
    """Kafka's ClientQuotaControlManager checks: a known key for the entity's types, and
    a whole number for the LONG ones (byte rates). Kafka puts no bound on the value."""
    keys = IP_KEYS if entity and entity[0][0] == IP else CLIENT_KEYS
    if key not in keys:
        raise QuotaError(f"Invalid configuration key {key}")
    if remove:
        return
    if keys[key] and abs(value - round(value)) > 1e-6:
        raise QuotaError(f"Configuration {key} must be a Long value")


def candidates(user: str, client_id: str) -> list[Entity]:
    """Entities that may hold the quota for (user, client id), most specific first."""
    u: list[str | None] = [user, None]
    out: list[Entity] = []
    for name in u:
        out.append(((CLIENT_ID, client_id), (USER, name)))
        out.append(((CLIENT_ID, None), (USER, name)))
        out.append(((USER, name),))
    out.append(((CLIENT_ID, client_id),))
    out.append(((CLIENT_ID, None),))
    return out


def resolve(
    quotas: Mapping[Entity, Mapping[str, float]], user: str, client_id: str, key: str
) -> tuple[float, tuple[str, str]] | None:
    """(bound, sensor key) of the quota that applies, or None when none is set."""
    for entity in candidates(user, client_id):
        bound = quotas.get(entity, {}).get(key)
        if bound is not None:
            types = {t for t, _ in entity}
            return bound, (
                user if USER in types else "",
                client_id if CLIENT_ID in types else "",
            )
    return None


def resolve_ip(
    quotas: Mapping[Entity, Mapping[str, float]], ip: str, key: str
) -> tuple[float, tuple[str, str]] | None:
    """The quota for connections from `ip`: ip=<address>, else ip=default (per address)."""
    for entity in (((IP, ip),), ((IP, None),)):
        bound = quotas.get(entity, {}).get(key)
        if bound is not None:
            return bound, (ip, "")
    return None


def matches_filter(
    entity: Entity, components: Sequence[tuple[str, int, str | None]], strict: bool
) -> bool:
    """DescribeClientQuotas: match type 0 exact name, 1 the default, 2 any named entity."""
    names = dict(entity)
    for kind, match_type, match in components:
        if kind not in names:
            return False
        name = names[kind]
        if match_type == 0 and name != match:
            return False
        if match_type == 1 and name is not None:
            return False
        if match_type == 2 and name is None:
            return False
    return not strict or len(names) == len(components)


@dataclass
class RateSensor:
    samples: int = 11
    window_ms: int = 1000
    _windows: list[list[float]] = field(default_factory=list)  # [start ms, total]

    def record(self, value: float, now_ms: float) -> None:
        if not self._windows or now_ms >= self._windows[-1][0] + self.window_ms:
            self._windows.append([now_ms, 0.0])
        horizon = now_ms - self.samples * self.window_ms
        while self._windows and self._windows[0][0] + self.window_ms <= horizon:
            self._windows.pop(0)
        self._windows[-1][1] += value

    def _elapsed_ms(self, now_ms: float) -> float:
        if not self._windows:
            return (self.samples - 1) * self.window_ms
        elapsed = now_ms - self._windows[0][0]
        full = int(elapsed // self.window_ms)
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return max(elapsed, 1.0)

    def rate(self, now_ms: float) -> float:
        """Per second."""
        return sum(w[1] for w in self._windows) * 1000.0 / self._elapsed_ms(now_ms)

    def throttle_ms(self, bound: float, now_ms: float) -> int:
        rate = self.rate(now_ms)
        if rate <= bound:
            return 0
        if bound <= 0:  # a zero quota: as long as the window allows
            return int(self.samples * self.window_ms)
        return int((rate - bound) / bound * self._elapsed_ms(now_ms))


@dataclass
class QuotaSensors:
    """One sensor per (quota key, sensor key)."""

    samples: int = 11
    window_ms: int = 1000
    _sensors: dict[tuple[str, tuple[str, str]], RateSensor] = field(default_factory=dict)

    def record(
        self,
        quotas: Mapping[Entity, Mapping[str, float]],
        *,
        key: str,
        user: str,
        client_id: str,
        value: float,
        now_ms: float,
    ) -> int:
        """Record usage; the throttle time in ms (0 when no quota applies or within it)."""
        found = self.sensor(quotas, key=key, user=user, client_id=client_id)
        if found is None:
            return 0
        bound, sensor = found
        sensor.record(value, now_ms)
        return sensor.throttle_ms(bound, now_ms)

    def ip_sensor(self, ip: str) -> RateSensor:
        sensor = self._sensors.get((CONNECTION_CREATION_RATE, (ip, "")))
        if sensor is None:
            sensor = RateSensor(self.samples, self.window_ms)
            self._sensors[(CONNECTION_CREATION_RATE, (ip, ""))] = sensor
        return sensor

    def sensor(
        self,
        quotas: Mapping[Entity, Mapping[str, float]],
        *,
        key: str,
        user: str,
        client_id: str,
    ) -> tuple[float, RateSensor] | None:
        """(bound, sensor) of the quota that applies, or None."""
        found = resolve(quotas, user, client_id, key)
        if found is None:
            return None
        bound, sensor_key = found
        sensor = self._sensors.get((key, sensor_key))
        if sensor is None:
            sensor = self._sensors[(key, sensor_key)] = RateSensor(self.samples, self.window_ms)
        return bound, sensor
