"""Group configs (ConfigResource type GROUP): per-group overrides of coordinator settings.

Kafka 4.1's `GroupConfig` lets an admin override, per consumer/share/streams group, the
session timeout, heartbeat interval and a few share/streams settings. A group without
an override uses the broker's `group.*` value. Overrides must stay within the broker's
min/max bounds (`group.consumer.min.session.timeout.ms`...), and a session timeout must
exceed the heartbeat interval; errors are worded as Kafka words them.

DescribeConfigs on a group lists all of them, each with exactly one synonym, itself,
sourced DYNAMIC_GROUP_CONFIG when overridden and DEFAULT_CONFIG otherwise (Kafka's
`ConfigHelper.createGroupConfigEntry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from millrace_broker.config.definitions import (
    ConfigKey,
    ConfigType,
    ConfigValue,
    InvalidValue,
    OneOf,
    Range,
    format_value,
    key_table,
    parse_value,
)
from millrace_broker.config.describe import ConfigDescription, ConfigSource, ConfigSynonym
from millrace_broker.config.errors import ConfigError

if TYPE_CHECKING:
    from millrace_broker.config.broker import BrokerConfig

_INT = ConfigType.INT


@dataclass(frozen=True, slots=True)
class _ShareOffsetReset:
    """`latest`, `earliest` or `by_duration:<ISO-8601 duration>` (not negative)."""

    @property
    def expectation(self) -> str:
        return "latest, earliest or by_duration:PnDTnHnMn.nS"

    def reason(self, value: ConfigValue) -> str | None:
        if value in ("latest", "earliest"):
            return None
        if isinstance(value, str) and value.startswith("by_duration:"):
            duration = value.removeprefix("by_duration:")
            if _ISO_DURATION.fullmatch(duration) and duration not in ("P", "PT"):
                return None
        return (
            f"Invalid value `{value}` for configuration share.auto.offset.reset. The value "
            "must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."
        )


_ISO_DURATION: Final = re.compile(r"P(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?")


# Derived from Kafka 4.1.0's GroupConfig ConfigDef (name, type, default, validator, doc).
GROUP_KEYS: Final = key_table(
    [
        ConfigKey("consumer.session.timeout.ms", _INT, "45000", Range(1), "MEDIUM",
                  "The timeout to detect client failures when using the consumer group "
                  "protocol."),
        ConfigKey("consumer.heartbeat.interval.ms", _INT, "5000", Range(1), "MEDIUM",
                  "The heartbeat interval given to the members of a consumer group."),
        ConfigKey("share.session.timeout.ms", _INT, "45000", Range(1), "MEDIUM",
                  "The timeout to detect client failures when using the share group "
                  "protocol."),
        ConfigKey("share.heartbeat.interval.ms", _INT, "5000", Range(1), "MEDIUM",
                  "The heartbeat interval given to the members of a share group."),
        ConfigKey("share.record.lock.duration.ms", _INT, "30000", Range(1000), "MEDIUM",
                  "The record acquisition lock duration in milliseconds for share groups."),
        ConfigKey("share.auto.offset.reset", ConfigType.STRING, "latest", _ShareOffsetReset(),
                  "MEDIUM",
                  "The strategy to initialize the share-partition start offset. <ul><li>"
                  "earliest: automatically reset the offset to the earliest offset</li><li>"
                  "latest: automatically reset the offset to the latest offset</li><li>"
                  "by_duration:&lt;duration&gt;: automatically reset the offset to a "
                  "configured duration from the current timestamp. &lt;duration&gt; must be "
                  "specified in ISO8601 format (PnDTnHnMn.nS). Negative duration is not "
                  "allowed.</li><li>anything else: throw exception to the share consumer."
                  "</li></ul>"),
        ConfigKey("share.isolation.level", ConfigType.STRING, "read_uncommitted",
                  OneOf(("read_committed", "read_uncommitted")), "MEDIUM",
                  'Controls how to read records written transactionally. If set to '
                  '"read_committed", the share group will only deliver transactional records '
                  'which have been committed. If set to "read_uncommitted", the share group '
                  'will return all messages, even transactional messages which have been '
                  'aborted. Non-transactional records will be returned unconditionally in '
                  'either mode.'),
        ConfigKey("streams.session.timeout.ms", _INT, "45000", Range(1), "MEDIUM",
                  "The timeout to detect client failures when using the streams group "
                  "protocol."),
        ConfigKey("streams.heartbeat.interval.ms", _INT, "5000", Range(1), "MEDIUM",
                  "The heartbeat interval given to the members."),
        ConfigKey("streams.num.standby.replicas", _INT, "0", Range(0), "MEDIUM",
                  "The number of standby replicas for each task."),
    ]
)  # fmt: skip

# Group config -> the broker property that supplies its default.
_BROKER_DEFAULT: Final = {
    "consumer.session.timeout.ms": "group.consumer.session.timeout.ms",
    "consumer.heartbeat.interval.ms": "group.consumer.heartbeat.interval.ms",
    "share.session.timeout.ms": "group.share.session.timeout.ms",
    "share.heartbeat.interval.ms": "group.share.heartbeat.interval.ms",
    "share.record.lock.duration.ms": "group.share.record.lock.duration.ms",
    "streams.session.timeout.ms": "group.streams.session.timeout.ms",
    "streams.heartbeat.interval.ms": "group.streams.heartbeat.interval.ms",
    "streams.num.standby.replicas": "group.streams.num.standby.replicas",
}

# (group config, broker lower bound, broker upper bound)
_BOUNDS: Final = (
    ("consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms",
     "group.consumer.max.heartbeat.interval.ms"),
    ("consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms",
     "group.consumer.max.session.timeout.ms"),
    ("share.heartbeat.interval.ms", "group.share.min.heartbeat.interval.ms",
     "group.share.max.heartbeat.interval.ms"),
    ("share.session.timeout.ms", "group.share.min.session.timeout.ms",
     "group.share.max.session.timeout.ms"),
    ("share.record.lock.duration.ms", "group.share.min.record.lock.duration.ms",
     "group.share.max.record.lock.duration.ms"),
    ("streams.heartbeat.interval.ms", "group.streams.min.heartbeat.interval.ms",
     "group.streams.max.heartbeat.interval.ms"),
    ("streams.session.timeout.ms", "group.streams.min.session.timeout.ms",
     "group.streams.max.session.timeout.ms"),
    ("streams.num.standby.replicas", None, "group.streams.max.standby.replicas"),
)  # fmt: skip


def group_config_values(
    overrides: Mapping[str, str], broker: BrokerConfig
) -> dict[str, ConfigValue]:
    """The effective value of every group config for a group with these overrides."""
    values: dict[str, ConfigValue] = {}
    for name, key in GROUP_KEYS.items():
        if name in overrides:
            values[name] = _parse(name, overrides[name])
        elif name in _BROKER_DEFAULT:
            values[name] = broker.get(_BROKER_DEFAULT[name])
        else:
            values[name] = key.default_value()
    return values


def validate_group_configs(
    configs: Mapping[str, str | None], broker: BrokerConfig
) -> dict[str, str]:
    """Check a group's complete desired overrides; raise `ConfigError(INVALID_CONFIG)`."""
    for name, raw in configs.items():
        if name not in GROUP_KEYS:
            raise ConfigError(f"Unknown group config name: {name}", key=name)
        if raw is None:
            raise ConfigError(f"Null value not supported for group configs: {name}", key=name)
    checked = {name: raw for name, raw in configs.items() if raw is not None}
    # Kafka checks the overrides over the group configs' own defaults, not the broker's.
    values = {name: key.default_value() for name, key in GROUP_KEYS.items()}
    values.update({name: _parse(name, raw) for name, raw in checked.items()})
    for name, low, high in _BOUNDS:
        value = values[name]
        assert isinstance(value, int)
        if low is not None and value < broker.get_int(low):
            raise ConfigError(f"{name} must be greater than or equal to {low}", key=name)
        if value > broker.get_int(high):
            raise ConfigError(f"{name} must be less than or equal to {high}", key=name)
    for kind in ("consumer", "share", "streams"):
        session, heartbeat = f"{kind}.session.timeout.ms", f"{kind}.heartbeat.interval.ms"
        if _int(values[session]) <= _int(values[heartbeat]):
            raise ConfigError(f"{session} must be greater than {heartbeat}", key=session)
    return checked


def _int(value: ConfigValue) -> int:
    assert isinstance(value, int)
    return value


def _parse(name: str, raw: str) -> ConfigValue:
    try:
        return parse_value(GROUP_KEYS[name], raw)
    except InvalidValue as exc:
        raise ConfigError(str(exc), key=name) from None


def describe_group_configs(
    group_overrides: Mapping[str, str],
    broker: BrokerConfig,
    *,
    keys: list[str] | None = None,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigDescription]:
    """DescribeConfigs entries for one group."""
    values = group_config_values(group_overrides, broker)
    result = []
    for name, key in GROUP_KEYS.items():
        if keys and name not in keys:
            continue
        value = format_value(key, values[name])
        source = (
            ConfigSource.DYNAMIC_GROUP_CONFIG
            if name in group_overrides
            else ConfigSource.DEFAULT_CONFIG
        )
        result.append(
            ConfigDescription(
                name=name,
                value=value,
                read_only=False,
                source=source,
                is_sensitive=False,
                config_type=key.type,
                synonyms=[ConfigSynonym(name, value, source)] if include_synonyms else [],
                documentation=key.doc if include_documentation else None,
            )
        )
    return result
