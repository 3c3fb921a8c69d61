"""Dynamic broker configs and IncrementalAlterConfigs operations (Kafka 4.1's behaviour)."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from millrace_broker.config import (
    AlterOp,
    ConfigError,
    apply_incremental,
    is_dynamic,
    validate_dynamic_broker_configs,
)

SET, DELETE, APPEND, SUBTRACT = (int(op) for op in AlterOp)


@pytest.mark.parametrize(
    ("name", "dynamic"),
    [
        ("log.retention.ms", True),
        ("log.retention.hours", False),
        ("log.segment.bytes", True),
        ("message.max.bytes", True),
        ("compression.type", True),
        ("min.insync.replicas", True),
        ("log.cleaner.threads", True),
        ("num.io.threads", True),
        ("listeners", True),
        ("leader.replication.throttled.rate", True),
        ("listener.name.plaintext.ssl.keystore.location", True),
        ("log.dirs", False),
        ("node.id", False),
        ("num.partitions", False),
    ],
)
def test_is_dynamic(name: str, dynamic: bool) -> None:
    assert is_dynamic(name) is dynamic


@pytest.mark.parametrize(
    ("updates", "per_broker", "message"),
    [
        ({"log.dirs": "x"}, True, "Cannot update these configs dynamically: Set(log.dirs)"),
        (
            {"ssl.keystore.location": "x"},
            True,
            "These security configs can be dynamically updated only per-listener using the "
            "listener prefix: HashSet(ssl.keystore.location)",
        ),
        (
            {"listeners": "PLAINTEXT://:9092"},
            False,
            "Cannot update these configs at default cluster level, broker id must be "
            "specified: Set(listeners)",
        ),
        (
            {"listener.name.internal.ssl.keystore.location": "/k"},
            False,
            "Cannot update these configs at default cluster level",
        ),
        (
            {"message.max.bytes": "x"},
            True,
            "Invalid value x for configuration message.max.bytes: Not a number of type INT",
        ),
        ({"log.retention.ms": None}, True, "Null value not supported for : log.retention.ms"),
        ({"no.such.config": "1"}, True, "Unknown broker configs: Set(no.such.config)"),
    ],
)
def test_invalid_dynamic_updates(
    updates: dict[str, str | None], per_broker: bool, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate_dynamic_broker_configs(updates, per_broker=per_broker)
    assert info.value.message.startswith(message)
    assert info.value.error_code == ErrorCode.invalid_request  # as Kafka (KAFKA-13609)


def test_valid_dynamic_updates() -> None:
    updates = {
        "log.retention.ms": "1000",
        "message.max.bytes": "2000000",
        "log.cleaner.min.cleanable.ratio": "0.75",
        "listener.name.plaintext.max.connections": "100",
        "follower.replication.throttled.rate": "1048576",
    }
    assert validate_dynamic_broker_configs(updates, per_broker=False) == updates
    per_broker = {"listener.name.internal.ssl.keystore.location": "/k", "listeners": "X://:1"}
    assert validate_dynamic_broker_configs(per_broker) == per_broker


@pytest.mark.parametrize(
    ("current", "ops", "expected"),
    [
        ({}, [("retention.ms", SET, "5")], {"retention.ms": "5"}),
        ({"retention.ms": "5"}, [("retention.ms", DELETE, None)], {}),
        ({}, [("retention.ms", DELETE, None)], {}),
        ({}, [("cleanup.policy", APPEND, "compact")], {"cleanup.policy": "delete,compact"}),
        (
            {"cleanup.policy": "compact"},
            [("cleanup.policy", APPEND, "delete")],
            {"cleanup.policy": "compact,delete"},
        ),
        (
            {"cleanup.policy": "compact"},
            [("cleanup.policy", APPEND, "compact")],
            {"cleanup.policy": "compact"},
        ),
        (
            {"cleanup.policy": "compact,delete"},
            [("cleanup.policy", SUBTRACT, "compact")],
            {"cleanup.policy": "delete"},
        ),
        ({}, [("cleanup.policy", SUBTRACT, "delete")], {"cleanup.policy": ""}),
        (
            {},
            [("leader.replication.throttled.replicas", APPEND, "0:1")],
            {"leader.replication.throttled.replicas": "0:1"},
        ),
        (
            {"a.b": "1", "segment.ms": "9"},
            [("segment.ms", SET, "10"), ("a.b", DELETE, None)],
            {"segment.ms": "10"},
        ),
    ],
)
def test_incremental_topic_ops(
    current: dict[str, str], ops: list[tuple[str, int, str | None]], expected: dict[str, str]
) -> None:
    assert apply_incremental(current, ops) == expected
    assert current == dict(current)  # the input is not modified


@pytest.mark.parametrize(
    ("ops", "resource_type", "code", "message"),
    [
        (
            [("retention.ms", APPEND, "5")],
            2,
            ErrorCode.invalid_config,
            "Can't APPEND to key retention.ms because its type is not LIST.",
        ),
        (
            [("retention.ms", SUBTRACT, "5")],
            2,
            ErrorCode.invalid_config,
            "Can't SUBTRACT to key retention.ms because its type is not LIST.",
        ),
        (
            [("nope", APPEND, "x")],
            2,
            ErrorCode.invalid_config,
            "Can't APPEND to key nope because its type is not LIST.",
        ),
        (
            [("log.retention.ms", APPEND, "5")],
            4,
            ErrorCode.invalid_config,
            "Config value append is not allowed for config key: log.retention.ms",
        ),
        ([("nope", SUBTRACT, "5")], 4, ErrorCode.invalid_config, "Unknown config name: nope"),
        (
            [("retention.ms", SET, None)],
            2,
            ErrorCode.invalid_request,
            "Null value not supported for : retention.ms",
        ),
        (
            [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)],
            2,
            ErrorCode.invalid_request,
            "Error due to duplicate config keys",
        ),
        ([("retention.ms", 7, "1")], 2, ErrorCode.invalid_request, "Unknown operations type 7"),
    ],
)
def test_incremental_errors(
    ops: list[tuple[str, int, str | None]], resource_type: int, code: ErrorCode, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        apply_incremental({}, ops, resource_type=resource_type)
    assert (info.value.error_code, info.value.message) == (code, message)


def test_incremental_broker_list_ops() -> None:
    result = apply_incremental({}, [("log.cleanup.policy", APPEND, "compact")], resource_type=4)
    assert result == {"log.cleanup.policy": "delete,compact"}  # as Kafka 4.1 answered
