"""The broker's configuration: layered properties, typed access, startup loading.

Values resolve per key in Kafka's order of precedence:

1. dynamic per-broker configs (AlterConfigs on resource `<node id>`),
2. dynamic cluster-wide defaults (AlterConfigs on resource ``""``),
3. static configs: the embedded example (`example.py`), then the properties file, then
   `--override key=value` arguments (later wins),
4. Kafka's built-in default.

Some settings have several spellings, resolved after the layers above as Kafka does:
`log.retention.ms` > `log.retention.minutes` > `log.retention.hours`, `log.roll.ms` >
`log.roll.hours` (also for jitter), `log.flush.interval.ms` > `log.flush.scheduler.interval.ms`,
and `log.dirs` > `log.dir`.

The static layer always starts from `EXAMPLE_CONFIG`: the settings of Apache Kafka's
`config/server.properties` example (a single node in combined broker+controller mode),
adapted to loopback addresses and a local data directory. These are the example file's
values, not Kafka's built-in defaults (which, for example, replicate `__consumer_offsets`
three ways); DescribeConfigs reports them as STATIC_BROKER_CONFIG, as Kafka would for a
broker started with that file. Where a user's setting would be shadowed by, or conflict
with, an example value (`log.dir` vs the example's `log.dirs`, quorum bootstrap servers
vs the example's static voters), the example value is dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final, TypeVar

from millrace_broker.config.broker_checks import check_broker
from millrace_broker.config.definitions import ConfigValue, InvalidValue, parse_value
from millrace_broker.config.errors import ConfigError
from millrace_broker.config.example import EXAMPLE_CONFIG, example_layer
from millrace_broker.config.listeners import (
    HostPort,
    Listener,
    parse_host_port,
    parse_listeners,
    parse_protocol_map,
    parse_voters,
)
from millrace_broker.config.properties_file import load_properties_file
from millrace_broker.config.registry import (
    BROKER,
    NOT_APPLICABLE,
    broker_key,
    listener_base_name,
)

T = TypeVar("T")

_MS_PER_MINUTE: Final = 60_000
_MS_PER_HOUR: Final = 3_600_000


class BrokerConfig:
    """An immutable, validated broker configuration.

    Construct with `load_broker_config` (startup) and derive runtime variants with
    `with_dynamic` (AlterConfigs). Every known key has a value: `get(name)` returns it
    parsed (bool, int, float, str, tuple of str for lists, or None when unset).
    """

    __slots__ = ("_dynamic_broker", "_dynamic_default", "_memo", "_static", "_values")

    def __init__(
        self,
        static: Mapping[str, str],
        *,
        dynamic_broker: Mapping[str, str] | None = None,
        dynamic_default: Mapping[str, str] | None = None,
    ) -> None:
        self._static = dict(static)
        # Kafka's KafkaConfig.populateSynonyms: node.id and broker.id are one setting.
        if "node.id" in self._static and "broker.id" not in self._static:
            self._static["broker.id"] = self._static["node.id"]
        elif "broker.id" in self._static and "node.id" not in self._static:
            self._static["node.id"] = self._static["broker.id"]
        self._dynamic_broker = dict(dynamic_broker or {})
        self._dynamic_default = dict(dynamic_default or {})
        values = dict(_builtin_defaults())
        for layer, dynamic in (
            (self._static, False),
            (self._dynamic_default, True),
            (self._dynamic_broker, True),
        ):
            for name, raw in layer.items():
                values[name] = _parse(name, raw, dynamic=dynamic)
        self._values = values
        self._memo: dict[str, object] = {}
        check_broker(self)

    # ----- generic access -------------------------------------------------------------

    def get(self, name: str) -> ConfigValue:
        """The effective parsed value of a property (unknown names raise `ConfigError`)."""
        if name not in self._values:
            broker_key(name)  # raises for unknown names
            return None
        return self._values[name]

    def get_int(self, name: str) -> int:
        value = self.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} is not an integer property (or is unset): {value!r}")
        return value

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise TypeError(f"{name} is not a boolean property: {value!r}")
        return value

    def get_float(self, name: str) -> float:
        value = self.get(name)
        if not isinstance(value, float):
            raise TypeError(f"{name} is not a double property: {value!r}")
        return value

    def get_str(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} is not a string property: {value!r}")
        return value

    def get_list(self, name: str) -> tuple[str, ...]:
        """A LIST property, or a STRING one Kafka splits itself (`listeners`...)."""
        value = self.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if not isinstance(value, tuple):
            raise TypeError(f"{name} is not a list property: {value!r}")
        return value

    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """Cache a value derived from this (immutable) config, e.g. topic defaults."""
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]  # type: ignore[return-value]

    @property
    def static_configs(self) -> Mapping[str, str]:
        """Raw strings of the static layer (example file, properties file, overrides)."""
        return dict(self._static)

    @property
    def dynamic_broker_configs(self) -> Mapping[str, str]:
        return dict(self._dynamic_broker)

    @property
    def dynamic_default_configs(self) -> Mapping[str, str]:
        return dict(self._dynamic_default)

    def with_dynamic(
        self,
        per_broker: Mapping[str, str] | None = None,
        *,
        cluster_default: Mapping[str, str] | None = None,
    ) -> BrokerConfig:
        """A copy with the dynamic layers replaced (a layer passed as None is kept).

        Pass the complete current maps (as replayed from the metadata log), not deltas:
        a key missing from a passed map is no longer dynamically set.
        """
        return BrokerConfig(
            self._static,
            dynamic_broker=self._dynamic_broker if per_broker is None else per_broker,
            dynamic_default=(self._dynamic_default if cluster_default is None else cluster_default),
        )

    # ----- identity and roles -----------------------------------------------------------

    @property
    def node_id(self) -> int:
        return self.get_int("node.id")

    @property
    def process_roles(self) -> frozenset[str]:
        return frozenset(self.get_list("process.roles"))

    @property
    def is_broker(self) -> bool:
        return "broker" in self.process_roles

    @property
    def is_controller(self) -> bool:
        return "controller" in self.process_roles

    @property
    def broker_rack(self) -> str | None:
        return self.get_str("broker.rack")

    # ----- listeners --------------------------------------------------------------------

    @property
    def listener_security_protocol_map(self) -> dict[str, str]:
        return dict(
            self.memo(
                "protocol_map",
                lambda: parse_protocol_map(
                    "listener.security.protocol.map",
                    self.get_list("listener.security.protocol.map"),
                ),
            )
        )

    @property
    def listeners(self) -> list[Listener]:
        """Every listener this node binds, controller listeners included."""
        return list(
            self.memo(
                "listeners",
                lambda: parse_listeners(
                    "listeners", self.get_list("listeners"), self.listener_security_protocol_map
                ),
            )
        )

    @property
    def controller_listener_names(self) -> list[str]:
        return [name.upper() for name in self.get_list("controller.listener.names")]

    @property
    def advertised_listeners(self) -> list[Listener]:
        """Broker listeners clients are told about (controller listeners excluded)."""
        controllers = set(self.controller_listener_names)
        return [x for x in self._all_advertised() if x.name not in controllers]

    @property
    def advertised_controller_listeners(self) -> list[Listener]:
        """Controller listeners as advertised (KIP-853), in controller.listener.names order."""
        by_name = {x.name: x for x in self._all_advertised()}
        return [by_name[n] for n in self.controller_listener_names if n in by_name]

    @property
    def controller_listeners(self) -> list[Listener]:
        """The listeners this node binds for the controller role."""
        by_name = {x.name: x for x in self.listeners}
        return [by_name[n] for n in self.controller_listener_names if n in by_name]

    @property
    def inter_broker_listener_name(self) -> str:
        explicit = self.get_str("inter.broker.listener.name")
        if explicit:
            return explicit.upper()
        return str(self.get_str("security.inter.broker.protocol")).upper()

    def _all_advertised(self) -> list[Listener]:
        if self.get_str("advertised.listeners") is None:
            return self.listeners
        return list(
            self.memo(
                "advertised",
                lambda: parse_listeners(
                    "advertised.listeners",
                    self.get_list("advertised.listeners"),
                    self.listener_security_protocol_map,
                ),
            )
        )

    # ----- quorum -----------------------------------------------------------------------

    @property
    def controller_quorum_voters(self) -> dict[int, HostPort]:
        """Static voters (`controller.quorum.voters`); empty for a dynamic quorum."""
        return parse_voters(self.get_list("controller.quorum.voters"))

    @property
    def controller_quorum_bootstrap_servers(self) -> list[HostPort]:
        return [parse_host_port(e) for e in self.get_list("controller.quorum.bootstrap.servers")]

    # ----- storage ----------------------------------------------------------------------

    @property
    def log_dirs(self) -> list[Path]:
        """`log.dirs` if set, else `log.dir` (each comma-separated)."""
        text = self.get_str("log.dirs") or self.get_str("log.dir") or ""
        return [Path(part.strip()) for part in text.split(",") if part.strip()]

    @property
    def metadata_log_dir(self) -> Path:
        """`metadata.log.dir`, else the first log directory (as Kafka)."""
        explicit = self.get_str("metadata.log.dir")
        return Path(explicit) if explicit else self.log_dirs[0]

    @property
    def log_retention_ms(self) -> int:
        """ms > minutes > hours; any negative result means unlimited (-1)."""
        millis = self._first_ms(
            ("log.retention.ms", 1),
            ("log.retention.minutes", _MS_PER_MINUTE),
            ("log.retention.hours", _MS_PER_HOUR),
        )
        return -1 if millis < 0 else millis

    @property
    def log_roll_ms(self) -> int:
        return self._first_ms(("log.roll.ms", 1), ("log.roll.hours", _MS_PER_HOUR))

    @property
    def log_roll_jitter_ms(self) -> int:
        return self._first_ms(("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", _MS_PER_HOUR))

    @property
    def log_flush_interval_ms(self) -> int:
        return self._first_ms(("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1))

    def _first_ms(self, *candidates: tuple[str, int]) -> int:
        for name, factor in candidates:
            value = self.get(name)
            if isinstance(value, int):
                return value * factor
        raise AssertionError(f"{candidates[-1][0]} has a default")

    # ----- frequently used scalars -------------------------------------------------------

    @property
    def num_partitions(self) -> int:
        return self.get_int("num.partitions")

    @property
    def default_replication_factor(self) -> int:
        return self.get_int("default.replication.factor")

    @property
    def auto_create_topics_enable(self) -> bool:
        return self.get_bool("auto.create.topics.enable")

    @property
    def delete_topic_enable(self) -> bool:
        return self.get_bool("delete.topic.enable")

    @property
    def message_max_bytes(self) -> int:
        return self.get_int("message.max.bytes")

    @property
    def socket_request_max_bytes(self) -> int:
        return self.get_int("socket.request.max.bytes")

    @property
    def min_insync_replicas(self) -> int:
        return self.get_int("min.insync.replicas")

    def ignored_settings(self) -> list[str]:
        """Settings given explicitly that Millrace accepts but does not act on.

        Worth a startup warning: e.g. `num.io.threads` (requests run on one event loop).
        Values equal to the embedded example's are not reported.
        """
        return sorted(
            name
            for name, raw in self._static.items()
            if (listener_base_name(name) or name) in NOT_APPLICABLE
            and EXAMPLE_CONFIG.get(name) != raw
        )

    def __repr__(self) -> str:
        return f"BrokerConfig(node_id={self.get('node.id')}, static={len(self._static)} keys)"


@functools.cache
def _builtin_defaults() -> dict[str, ConfigValue]:
    return {name: key.default_value() for name, key in BROKER.items() if key.has_default}


# Parsed values are immutable (tuples for lists), so a layer re-applied by with_dynamic
# need not be parsed again.
@functools.lru_cache(maxsize=8192)
def _parse(name: str, raw: str, *, dynamic: bool) -> ConfigValue:
    key = broker_key(name, dynamic=dynamic)
    try:
        return parse_value(key, raw)
    except InvalidValue as exc:
        message = exc.friendly() if exc.key.name == name else f"{name}={raw}: {exc.reason}"
        raise ConfigError(message, key=name) from None


def parse_override(text: str) -> tuple[str, str]:
    """`key=value` from a command-line `--override` (the value may contain '=')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--override {text!r}: expected key=value, e.g. node.id=2")
    return key.strip(), value


def load_broker_config(path: Path | None, overrides: Iterable[str] = ()) -> BrokerConfig:
    """Build the static config: example defaults < properties file < overrides.

    Raises `ConfigError` naming the key, the file location and the fix for unknown
    keys, malformed values and inconsistent combinations.
    """
    user: dict[str, str] = {}
    where: dict[str, str] = {}
    if path is not None:
        for prop in load_properties_file(path):
            user[prop.key] = prop.value
            where[prop.key] = f"{path}:{prop.line}"
    for text in overrides:
        key, value = parse_override(text)
        user[key] = value
        where[key] = "--override"
    static = example_layer(user)
    static.update(user)
    for name, raw in user.items():
        try:
            _parse(name, raw, dynamic=False)
        except ConfigError as exc:
            raise ConfigError(f"{where[name]}: {exc.message}", key=name) from None
    return BrokerConfig(static)
