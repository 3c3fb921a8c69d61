"""DescribeConfigs data for topics and brokers, as Kafka 4.1's `ConfigHelper` builds it.

Rules reproduced here (they are what admin tools and librdkafka's tests look at):

- A topic lists every non-internal topic config (plus internal ones it overrides). Its
  value is the override, else the broker's value in topic units, else the default. It is
  never read-only and never sensitive.
- Synonyms are gathered for the config's broker synonym *group* (`log.retention.ms`,
  `log.retention.minutes`, `log.retention.hours`), source by source in the order
  dynamic per-broker, dynamic cluster default, static, default, with each source's keys
  in group order (keys with a null default are not listed). Everything before the first
  entry for the group's leading name is then dropped, which is why a static
  `log.retention.hours` alone is not listed under `retention.ms` (Kafka does the same).
  A topic override is prepended as DYNAMIC_TOPIC_CONFIG.
- An entry's source is its first synonym's source, or DEFAULT_CONFIG when it has none.
- A broker (resource name = its node id) lists every non-internal property plus any set
  internal or per-listener ones; read-only unless Kafka can update it dynamically;
  PASSWORD values are hidden. The cluster-default resource (empty name) lists only the
  keys set at that level, with only DYNAMIC_DEFAULT_BROKER_CONFIG synonyms.
- Requested `keys` filter the list; unknown names are silently absent.

Entries come out in Kafka's ConfigDef order (Kafka itself emits hash-map order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

from millrace_broker.config._broker_table import DYNAMIC_UPDATE_MODES
from millrace_broker.config._topic_table import TOPIC_SYNONYMS
from millrace_broker.config.definitions import ConfigKey, ConfigType, format_value
from millrace_broker.config.registry import BROKER, DYNAMIC_ONLY, TOPIC, listener_base_name
from millrace_broker.config.topic import topic_config_values

if TYPE_CHECKING:
    from millrace_broker.config.broker import BrokerConfig


class ConfigSource(IntEnum):
    """DescribeConfigs v1+ `config_source` codes, as sent on the wire.

    These are the protocol's values (Kafka's `DescribeConfigsResponse.ConfigSource`), not
    the ordinals of the admin client's `ConfigEntry.ConfigSource` enum, which order the
    same names differently (a real Kafka 4.1 broker reports a static config as 4 and a
    default as 5). The member names are the admin client's.
    """

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    DYNAMIC_CLIENT_METRICS_CONFIG = 7
    DYNAMIC_GROUP_CONFIG = 8


class ConfigSynonym(NamedTuple):
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigDescription:
    """One DescribeConfigs entry (`DescribeConfigsResourceResult`)."""

    name: str
    value: str | None
    read_only: bool
    source: ConfigSource
    is_sensitive: bool
    config_type: ConfigType
    synonyms: list[ConfigSynonym] = field(default_factory=list)
    documentation: str | None = None

    @property
    def is_default(self) -> bool:
        """The v0 `is_default` flag."""
        return self.source is ConfigSource.DEFAULT_CONFIG


# Kafka's DynamicBrokerConfig.brokerConfigSynonyms groups (in precedence order).
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
)


def broker_synonym_group(name: str) -> tuple[str, ...]:
    """The names that set the same broker setting as `name`, highest precedence first."""
    if name == "log.flush.interval.ms":  # the scheduler interval is its fallback only
        return ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")
    for group in _GROUPS:
        if name in group:
            return group
    base = listener_base_name(name)
    return (name,) if base is None else (name, base)


# Kafka's `staticDefaultConfigs`: every key with a non-null default (a null default is
# never listed as a synonym).
_DEFAULT_STRINGS: dict[str, str | None] = {
    k.name: k.default_string()
    for k in BROKER.values()
    if k.has_default and k.default_string() is not None
}


def _layers(broker: BrokerConfig) -> list[tuple[Mapping[str, str | None], ConfigSource]]:
    return [
        (broker.dynamic_broker_configs, ConfigSource.DYNAMIC_BROKER_CONFIG),
        (broker.dynamic_default_configs, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        (broker.static_configs, ConfigSource.STATIC_BROKER_CONFIG),
        (_DEFAULT_STRINGS, ConfigSource.DEFAULT_CONFIG),
    ]


def _synonyms(name: str, broker: BrokerConfig, *, sensitive: bool) -> list[ConfigSynonym]:
    """Kafka's `ConfigHelper.configSynonyms` for `name` and its group."""
    group = broker_synonym_group(name)
    found = [
        ConfigSynonym(syn, None if sensitive else layer[syn], source)
        for layer, source in _layers(broker)
        for syn in group
        if syn in layer
    ]
    for index, synonym in enumerate(found):
        if synonym.name == name:
            return found[index:]
    return []


def _wanted(names: Iterable[str], keys: list[str] | None) -> list[str]:
    if not keys:
        return list(names)
    requested = set(keys)
    return [n for n in names if n in requested]


def describe_topic_configs(
    topic_overrides: Mapping[str, str],
    broker: BrokerConfig,
    *,
    keys: list[str] | None = None,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigDescription]:
    """DescribeConfigs entries for one topic with the given overrides on this broker."""
    values = topic_config_values(topic_overrides, broker)
    names = [
        n for n, k in TOPIC.items() if n in values and (not k.internal or n in topic_overrides)
    ]
    result = []
    for name in _wanted(names, keys):
        key = TOPIC[name]
        value = format_value(key, values[name])
        synonyms: list[ConfigSynonym] = []
        server = TOPIC_SYNONYMS.get(name)
        if server:
            synonyms = _synonyms(server[0][0], broker, sensitive=False)
        if name in topic_overrides:
            synonyms.insert(0, ConfigSynonym(name, value, ConfigSource.DYNAMIC_TOPIC_CONFIG))
        result.append(
            ConfigDescription(
                name=name,
                value=value,
                read_only=False,
                source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
                is_sensitive=False,
                config_type=key.type,
                synonyms=synonyms if include_synonyms else [],
                documentation=key.doc if include_documentation else None,
            )
        )
    return result


def _split_dynamic(
    dynamic: Mapping[str, str] | Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str], dict[str, str] | None]:
    """Accept the per-broker map, or {"broker": {...}, "default": {...}} for both layers.

    For a plain per-broker map the cluster-default layer is None: keep the config's own.
    """
    if dynamic and set(dynamic) <= {"broker", "default"}:
        nested = [v for v in dynamic.values() if isinstance(v, Mapping)]
        if len(nested) == len(dynamic):
            raw_broker = dynamic.get("broker") or {}
            raw_default = dynamic.get("default") or {}
            assert isinstance(raw_broker, Mapping) and isinstance(raw_default, Mapping)
            return dict(raw_broker), dict(raw_default)
    return {str(k): str(v) for k, v in dynamic.items()}, None


def _broker_key(name: str) -> ConfigKey | None:
    key = BROKER.get(name) or DYNAMIC_ONLY.get(name)
    if key is None:
        base = listener_base_name(name)
        key = BROKER.get(base) if base else None
    return key


def describe_broker_configs(
    broker: BrokerConfig,
    *,
    dynamic: Mapping[str, str] | Mapping[str, Mapping[str, str]] | None = None,
    dynamic_default: Mapping[str, str] | None = None,
    cluster_default: bool = False,
    keys: list[str] | None = None,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigDescription]:
    """DescribeConfigs entries for this broker (or, with `cluster_default`, for `""`).

    `dynamic` is the per-broker dynamic layer (or both layers as
    `{"broker": ..., "default": ...}`); `dynamic_default` the cluster-wide one. When both
    are None the layers already in `broker` are used.
    """
    if dynamic is not None or dynamic_default is not None:
        per_broker, default = _split_dynamic(dynamic or {})
        if dynamic_default is not None:
            default = dict(dynamic_default)
        broker = broker.with_dynamic(per_broker, cluster_default=default)
    if cluster_default:
        names = list(broker.dynamic_default_configs)
    else:
        set_names = [
            *broker.static_configs,
            *broker.dynamic_default_configs,
            *broker.dynamic_broker_configs,
        ]
        names = [n for n, k in BROKER.items() if not k.internal or n in set_names]
        names += [n for n in dict.fromkeys(set_names) if n not in BROKER]
    result = []
    for name in _wanted(names, keys):
        key = _broker_key(name)
        sensitive = key is None or key.sensitive
        config_type = ConfigType.UNKNOWN if key is None else key.type
        if sensitive:
            value = None
        elif cluster_default:
            value = broker.dynamic_default_configs[name]
        elif key is not None and name in BROKER:
            value = format_value(key, broker.get(name))
        else:
            value = _raw_value(broker, name)
        synonyms = _synonyms(name, broker, sensitive=sensitive)
        if cluster_default:
            synonyms = [
                s for s in synonyms if s.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
            ]
        result.append(
            ConfigDescription(
                name=name,
                value=value,
                read_only=name not in DYNAMIC_UPDATE_MODES,
                source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
                is_sensitive=sensitive,
                config_type=config_type,
                synonyms=synonyms if include_synonyms else [],
                documentation=(
                    key.doc
                    if include_documentation and key is not None and name == key.name
                    else None
                ),
            )
        )
    return result


def _raw_value(broker: BrokerConfig, name: str) -> str | None:
    for layer in (
        broker.dynamic_broker_configs,
        broker.dynamic_default_configs,
        broker.static_configs,
    ):
        if name in layer:
            return layer[name]
    return None
