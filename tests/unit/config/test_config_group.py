"""Group configs: Kafka 4.1's validation messages and DescribeConfigs entries."""

from __future__ import annotations

import pytest

from millrace_broker.config import (
    ConfigError,
    ConfigSource,
    ConfigType,
    describe_group_configs,
    load_broker_config,
    validate_group_configs,
)

BROKER = load_broker_config(None, [])

# Messages a Kafka 4.1.0 broker returned to IncrementalAlterConfigs on a group.
KAFKA_ERRORS = [
    (
        {"consumer.session.timeout.ms": "1000"},
        "consumer.session.timeout.ms must be greater than or equal to "
        "group.consumer.min.session.timeout.ms",
    ),
    (
        {"consumer.session.timeout.ms": "70000"},
        "consumer.session.timeout.ms must be less than or equal to "
        "group.consumer.max.session.timeout.ms",
    ),
    (
        {"consumer.heartbeat.interval.ms": "50000"},
        "consumer.heartbeat.interval.ms must be less than or equal to "
        "group.consumer.max.heartbeat.interval.ms",
    ),
    (
        {"streams.num.standby.replicas": "5"},
        "streams.num.standby.replicas must be less than or equal to "
        "group.streams.max.standby.replicas",
    ),
    (
        {"streams.session.timeout.ms": "5000"},
        "streams.session.timeout.ms must be greater than or equal to "
        "group.streams.min.session.timeout.ms",
    ),
    (
        {"share.auto.offset.reset": "foo"},
        "Invalid value foo for configuration share.auto.offset.reset: Invalid value `foo` for "
        "configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' "
        "or of the format 'by_duration:<PnDTnHnMn.nS>'.",
    ),
    (
        {"share.auto.offset.reset": "by_duration:-PT1H"},
        "Invalid value by_duration:-PT1H for configuration share.auto.offset.reset: Invalid "
        "value `by_duration:-PT1H` for configuration share.auto.offset.reset. The value must "
        "be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.",
    ),
    ({"nope": "1"}, "Unknown group config name: nope"),
    (
        {"share.isolation.level": "x"},
        "Invalid value x for configuration share.isolation.level: String must be one of: "
        "read_committed, read_uncommitted",
    ),
]


@pytest.mark.parametrize(("configs", "message"), KAFKA_ERRORS)
def test_errors_as_kafka_words_them(configs: dict[str, str | None], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_group_configs(configs, BROKER)
    assert info.value.message == message


def test_session_must_exceed_heartbeat() -> None:
    broker = load_broker_config(None, ["group.consumer.min.session.timeout.ms=1000"])
    with pytest.raises(ConfigError, match=r"must be greater than consumer\.heartbeat"):
        validate_group_configs({"consumer.session.timeout.ms": "5000"}, broker)


def test_valid() -> None:
    configs = {
        "consumer.session.timeout.ms": "50000",
        "share.auto.offset.reset": "by_duration:PT1H",
    }
    assert validate_group_configs(configs, BROKER) == configs


def test_describe_matches_kafka() -> None:
    entries = describe_group_configs(
        {"consumer.session.timeout.ms": "50000"}, BROKER, include_synonyms=True
    )
    by_name = {e.name: e for e in entries}
    assert len(by_name) == 10
    overridden = by_name["consumer.session.timeout.ms"]
    assert (overridden.value, overridden.source) == ("50000", ConfigSource.DYNAMIC_GROUP_CONFIG)
    assert overridden.synonyms == [
        ("consumer.session.timeout.ms", "50000", ConfigSource.DYNAMIC_GROUP_CONFIG)
    ]
    reset = by_name["share.auto.offset.reset"]
    assert (reset.value, reset.source, reset.config_type) == (
        "latest",
        ConfigSource.DEFAULT_CONFIG,
        ConfigType.STRING,
    )
    assert not any(e.read_only or e.is_sensitive for e in entries)


def test_defaults_follow_broker_settings() -> None:
    broker = load_broker_config(None, ["group.consumer.session.timeout.ms=50000"])
    (entry,) = describe_group_configs({}, broker, keys=["consumer.session.timeout.ms"])
    assert (entry.value, entry.source) == ("50000", ConfigSource.DEFAULT_CONFIG)
