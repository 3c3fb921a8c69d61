"""Topic configs: validation of overrides and resolution over the broker's defaults.

A topic config's value is the topic's own override if it has one; otherwise the value of
its broker synonym (`retention.ms` <- `log.retention.ms`, `log.retention.minutes`,
`log.retention.hours`; `max.message.bytes` <- `message.max.bytes`; ...), the first one
set in Kafka's order, converted to the topic config's unit; otherwise Kafka's topic
default. This is Kafka's `KafkaConfig.extractLogConfigMap` + `LogConfig.fromProps`.

Validation words its errors as Kafka does, since admin clients print them verbatim:
"Unknown topic config name: x", "Invalid value abc for configuration segment.bytes: Not a
number of type INT", "conflict topic config setting min.compaction.lag.ms (5) >
max.compaction.lag.ms (1)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from millrace_broker.config._topic_table import TOPIC_SYNONYMS
from millrace_broker.config.definitions import ConfigValue, InvalidValue, parse_value
from millrace_broker.config.errors import ConfigError
from millrace_broker.config.registry import TOPIC, topic_key
from millrace_broker.storage.log_config import LogConfig

if TYPE_CHECKING:
    from millrace_broker.config.broker import BrokerConfig


def broker_topic_defaults(broker: BrokerConfig) -> dict[str, ConfigValue]:
    """Every topic config's value for a topic without overrides on this broker."""
    return dict(broker.memo("topic_defaults", lambda: _topic_defaults(broker)))


def _topic_defaults(broker: BrokerConfig) -> dict[str, ConfigValue]:
    values: dict[str, ConfigValue] = {}
    for name, key in TOPIC.items():
        if key.internal:
            continue
        values[name] = key.default_value()
        for synonym, factor in TOPIC_SYNONYMS.get(name, ()):
            value = broker.get(synonym)
            if value is None:
                continue
            if factor != 1 and isinstance(value, int):
                value *= factor
            values[name] = value
            break
    retention = values["retention.ms"]
    if isinstance(retention, int) and retention < 0:
        values["retention.ms"] = -1  # any negative broker retention means unlimited
    return values


def parse_topic_overrides(overrides: Mapping[str, str]) -> dict[str, ConfigValue]:
    """Parse stored overrides (assumed valid: they passed `validate_topic_configs`)."""
    return {name: _parse(name, raw) for name, raw in overrides.items()}


def topic_config_values(
    overrides: Mapping[str, str], broker: BrokerConfig
) -> dict[str, ConfigValue]:
    """Effective value of every (non-internal) topic config, plus internal ones set."""
    values = broker_topic_defaults(broker)
    values.update(parse_topic_overrides(overrides))
    return values


def validate_topic_configs(
    configs: Mapping[str, str | None],
    *,
    broker: BrokerConfig | None = None,
) -> dict[str, str]:
    """Check topic overrides (CreateTopics, AlterConfigs); return them as a plain dict.

    `broker`, when given, supplies the defaults that cross-checks compare against
    (Kafka validates the overrides merged over the broker's log defaults).
    Raises `ConfigError(INVALID_CONFIG)` naming the key.
    """
    checked: dict[str, str] = {}
    parsed: dict[str, ConfigValue] = {}
    for name, raw in configs.items():
        topic_key(name)
        if raw is None:
            raise ConfigError(f"Null value not supported for topic configs: {name}", key=name)
        parsed[name] = _parse(name, raw)
        checked[name] = raw
    merged = (
        {name: key.default_value() for name, key in TOPIC.items() if not key.internal}
        if broker is None
        else broker_topic_defaults(broker)
    )
    merged.update(parsed)
    _cross_check(merged, remote_storage_system_enabled=_remote_enabled(broker))
    return checked


def _remote_enabled(broker: BrokerConfig | None) -> bool:
    return broker is not None and broker.get("remote.log.storage.system.enable") is True


def _parse(name: str, raw: str) -> ConfigValue:
    try:
        return parse_value(topic_key(name), raw)
    except InvalidValue as exc:
        raise ConfigError(str(exc), key=name) from None


def _cross_check(values: Mapping[str, ConfigValue], *, remote_storage_system_enabled: bool) -> None:
    """Kafka's `LogConfig.validateValues` and its remote-storage checks."""
    min_lag, max_lag = values["min.compaction.lag.ms"], values["max.compaction.lag.ms"]
    if isinstance(min_lag, int) and isinstance(max_lag, int) and min_lag > max_lag:
        raise ConfigError(
            "conflict topic config setting min.compaction.lag.ms "
            f"({min_lag}) > max.compaction.lag.ms ({max_lag})",
            key="min.compaction.lag.ms",
        )
    if values.get("remote.storage.enable") is True:
        if not remote_storage_system_enabled:
            raise ConfigError(
                "Tiered Storage functionality is disabled in the broker. "
                "Topic cannot be configured with remote log storage.",
                key="remote.storage.enable",
            )
        policy = values.get("cleanup.policy")
        if isinstance(policy, tuple) and "compact" in (p.lower() for p in policy):
            raise ConfigError(
                "Remote log storage is unsupported for the compacted topics",
                key="remote.storage.enable",
            )


def effective_log_config(topic_overrides: Mapping[str, str], broker: BrokerConfig) -> LogConfig:
    """The storage layer's settings for one topic's partitions on this broker."""
    values = topic_config_values(topic_overrides, broker)

    def num(name: str) -> int:
        value = values[name]
        assert isinstance(value, int) and not isinstance(value, bool), name
        return value

    internal_segment = values.get("internal.segment.bytes")
    policy = values["cleanup.policy"]
    assert isinstance(policy, tuple)
    ratio = values["min.cleanable.dirty.ratio"]
    return LogConfig(
        segment_bytes=(
            internal_segment if isinstance(internal_segment, int) else num("segment.bytes")
        ),
        segment_ms=num("segment.ms"),
        segment_index_bytes=num("segment.index.bytes"),
        index_interval_bytes=num("index.interval.bytes"),
        retention_bytes=num("retention.bytes"),
        retention_ms=num("retention.ms"),
        cleanup_policy=frozenset(p.lower() for p in policy),
        delete_retention_ms=num("delete.retention.ms"),
        min_compaction_lag_ms=num("min.compaction.lag.ms"),
        max_compaction_lag_ms=num("max.compaction.lag.ms"),
        min_cleanable_dirty_ratio=float(ratio) if isinstance(ratio, int | float) else 0.5,
        flush_messages=num("flush.messages"),
        flush_ms=num("flush.ms"),
        max_message_bytes=num("max.message.bytes"),
        message_timestamp_type=str(values["message.timestamp.type"]),
        message_timestamp_before_max_ms=num("message.timestamp.before.max.ms"),
        message_timestamp_after_max_ms=num("message.timestamp.after.max.ms"),
        compression_type=str(values["compression.type"]).lower(),
        file_delete_delay_ms=num("file.delete.delay.ms"),
        min_insync_replicas=num("min.insync.replicas"),
        unclean_leader_election_enable=values["unclean.leader.election.enable"] is True,
        preallocate=values["preallocate"] is True,
    )
