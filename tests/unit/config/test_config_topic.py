"""Topic config validation (Kafka 4.1's wording) and the storage layer's LogConfig."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.config import (
    ConfigError,
    broker_topic_defaults,
    effective_log_config,
    load_broker_config,
    validate_topic_configs,
)
from millrace_broker.storage.log_config import LONG_MAX, LogConfig

# Messages a Kafka 4.1.0 broker returned to CreateTopics for the same configs.
KAFKA_ERRORS = [
    ({"retention.hours": "1"}, "Unknown topic config name: retention.hours"),
    (
        {"segment.bytes": "abc"},
        "Invalid value abc for configuration segment.bytes: Not a number of type INT",
    ),
    (
        {"segment.bytes": "5"},
        "Invalid value 5 for configuration segment.bytes: Value must be at least 1048576",
    ),
    (
        {"cleanup.policy": "compact,foo"},
        "Invalid value foo for configuration cleanup.policy: String must be one of: "
        "compact, delete",
    ),
    (
        {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
        "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)",
    ),
    (
        {"compression.gzip.level": "0"},
        "Invalid value 0 for configuration compression.gzip.level: "
        "Value must be between 1 and 9 or equal to -1",
    ),
    (
        {"remote.storage.enable": "true"},
        "Tiered Storage functionality is disabled in the broker. "
        "Topic cannot be configured with remote log storage.",
    ),
    (
        {"preallocate": "yes"},
        "Invalid value yes for configuration preallocate: "
        "Expected value to be either true or false",
    ),
    (
        {"leader.replication.throttled.replicas": "x"},
        "Invalid value [x] for configuration leader.replication.throttled.replicas: "
        "leader.replication.throttled.replicas must be the literal '*' or a list of replicas "
        "in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
    ),
    (
        {"min.cleanable.dirty.ratio": "1.5"},
        "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: "
        "Value must be no more than 1",
    ),
    (
        {"compression.type": "LZ4"},
        "Invalid value LZ4 for configuration compression.type: String must be one of: "
        "uncompressed, zstd, lz4, snappy, gzip, producer",
    ),
    (
        {"message.timestamp.type": "createtime"},
        "Invalid value createtime for configuration message.timestamp.type: "
        "String must be one of: CreateTime, LogAppendTime",
    ),
    (
        {"retention.ms": "-5"},
        "Invalid value -5 for configuration retention.ms: Value must be at least -1",
    ),
    ({"flush.ms": "-1"}, "Invalid value -1 for configuration flush.ms: Value must be at least 0"),
    (
        {"segment.index.bytes": "99999999999"},
        "Invalid value 99999999999 for configuration segment.index.bytes: Not a number of type INT",
    ),
    (
        {"min.cleanable.dirty.ratio": "abc"},
        "Invalid value abc for configuration min.cleanable.dirty.ratio: "
        "Not a number of type DOUBLE",
    ),
    ({"retention.ms": None}, "Null value not supported for topic configs: retention.ms"),
]


@pytest.mark.parametrize(("configs", "message"), KAFKA_ERRORS)
def test_errors_as_kafka_words_them(configs: dict[str, str | None], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_topic_configs(configs)
    assert info.value.message == message
    assert info.value.error_code == ErrorCode.invalid_config
    assert info.value.key in configs


@pytest.mark.parametrize(
    "configs",
    [
        {},
        {"cleanup.policy": ""},  # Kafka accepts an empty policy list
        {"retention.ms": " 1000 "},
        {"unclean.leader.election.enable": "TRUE"},
        {"internal.segment.bytes": "1000"},
        {"leader.replication.throttled.replicas": "*"},
        {"cleanup.policy": "compact,delete", "compression.type": "zstd"},
        {"compression.zstd.level": "-131072", "compression.lz4.level": "17"},
    ],
)
def test_accepted(configs: dict[str, str]) -> None:
    assert validate_topic_configs(configs) == configs


def test_cross_check_uses_broker_defaults() -> None:
    broker = load_broker_config(None, ["log.cleaner.max.compaction.lag.ms=100"])
    validate_topic_configs({"min.compaction.lag.ms": "500"})
    with pytest.raises(ConfigError, match=r"\(500\) > max.compaction.lag.ms \(100\)"):
        validate_topic_configs({"min.compaction.lag.ms": "500"}, broker=broker)


def test_remote_storage_needs_system_enabled_and_no_compaction() -> None:
    broker = load_broker_config(None, ["remote.log.storage.system.enable=true"])
    validate_topic_configs({"remote.storage.enable": "true"}, broker=broker)
    with pytest.raises(ConfigError, match="unsupported for the compacted topics"):
        validate_topic_configs(
            {"remote.storage.enable": "true", "cleanup.policy": "compact"}, broker=broker
        )


def test_default_log_config_matches_storage_defaults() -> None:
    assert effective_log_config({}, load_broker_config(None, [])) == LogConfig()


@pytest.mark.parametrize(
    ("broker_overrides", "topic", "field", "value"),
    [
        (["log.retention.hours=1"], {}, "retention_ms", 3_600_000),
        (["log.retention.minutes=2"], {}, "retention_ms", 120_000),
        (["log.retention.minutes=2", "log.retention.ms=9"], {}, "retention_ms", 9),
        (["log.retention.hours=-1"], {}, "retention_ms", -1),
        (["log.retention.hours=1"], {"retention.ms": "5"}, "retention_ms", 5),
        (["log.roll.hours=3"], {}, "segment_ms", 10_800_000),
        (["log.roll.ms=77", "log.roll.hours=3"], {}, "segment_ms", 77),
        (["log.flush.scheduler.interval.ms=50"], {}, "flush_ms", 50),
        (["log.flush.interval.ms=60"], {}, "flush_ms", 60),
        (["log.flush.interval.messages=10"], {}, "flush_messages", 10),
        (["log.segment.bytes=2097152"], {}, "segment_bytes", 2097152),
        ([], {"segment.bytes": "1048576"}, "segment_bytes", 1048576),
        ([], {"internal.segment.bytes": "1000"}, "segment_bytes", 1000),
        (["log.index.size.max.bytes=4096"], {}, "segment_index_bytes", 4096),
        (["log.index.interval.bytes=1"], {}, "index_interval_bytes", 1),
        (["log.retention.bytes=99"], {}, "retention_bytes", 99),
        (["message.max.bytes=2000"], {}, "max_message_bytes", 2000),
        (["message.max.bytes=2000"], {"max.message.bytes": "10"}, "max_message_bytes", 10),
        (["log.cleanup.policy=compact"], {}, "cleanup_policy", frozenset({"compact"})),
        ([], {"cleanup.policy": "delete,compact"}, "cleanup_policy", {"compact", "delete"}),
        ([], {"cleanup.policy": ""}, "cleanup_policy", frozenset()),
        (["log.cleaner.delete.retention.ms=1"], {}, "delete_retention_ms", 1),
        (["log.cleaner.min.compaction.lag.ms=2"], {}, "min_compaction_lag_ms", 2),
        (["log.cleaner.max.compaction.lag.ms=3"], {}, "max_compaction_lag_ms", 3),
        (["log.cleaner.min.cleanable.ratio=0.1"], {}, "min_cleanable_dirty_ratio", 0.1),
        (["log.segment.delete.delay.ms=4"], {}, "file_delete_delay_ms", 4),
        (
            ["log.message.timestamp.type=LogAppendTime"],
            {},
            "message_timestamp_type",
            "LogAppendTime",
        ),
        (["log.message.timestamp.before.max.ms=5"], {}, "message_timestamp_before_max_ms", 5),
        ([], {"message.timestamp.after.max.ms": "6"}, "message_timestamp_after_max_ms", 6),
        (["compression.type=zstd"], {}, "compression_type", "zstd"),
        (["min.insync.replicas=2"], {}, "min_insync_replicas", 2),
        (["unclean.leader.election.enable=true"], {}, "unclean_leader_election_enable", True),
        (["log.preallocate=true"], {}, "preallocate", True),
        ([], {"flush.messages": "1"}, "flush_messages", 1),
    ],
)
def test_effective_log_config(
    broker_overrides: list[str], topic: dict[str, str], field: str, value: object
) -> None:
    broker = load_broker_config(None, broker_overrides)
    assert getattr(effective_log_config(topic, broker), field) == value


def test_dynamic_broker_values_reach_topics() -> None:
    broker = load_broker_config(None, []).with_dynamic(
        {"log.retention.ms": "1234"}, cluster_default={"log.segment.bytes": "2097152"}
    )
    log = effective_log_config({}, broker)
    assert (log.retention_ms, log.segment_bytes) == (1234, 2097152)


def test_broker_topic_defaults_cover_public_topic_configs() -> None:
    values = broker_topic_defaults(load_broker_config(None, []))
    assert "internal.segment.bytes" not in values
    assert values["max.compaction.lag.ms"] == LONG_MAX
    assert len(values) == 33
