"""Every key's type parsing and validator, and Kafka's string forms of values."""

from __future__ import annotations

import pytest

from millrace_broker.config.definitions import (
    ConfigKey,
    ConfigType,
    HostPortList,
    InvalidValue,
    ListOf,
    NonEmptyString,
    NonNull,
    OneOf,
    Range,
    ThrottledReplicas,
    format_value,
    java_double,
    parse_value,
)
from millrace_broker.config.registry import BROKER, DYNAMIC_ONLY, TOPIC

ALL_KEYS = [*BROKER.values(), *DYNAMIC_ONLY.values(), *TOPIC.values()]


@pytest.mark.parametrize("key", ALL_KEYS, ids=lambda k: k.name)
def test_every_default_is_valid_and_round_trips(key: ConfigKey) -> None:
    if not key.has_default:
        return
    value = key.default_value()
    assert format_value(key, value) == key.default_string()


@pytest.mark.parametrize("key", ALL_KEYS, ids=lambda k: k.name)
def test_every_key_rejects_garbage_of_its_type(key: ConfigKey) -> None:
    garbage = {
        ConfigType.BOOLEAN: "maybe",
        ConfigType.INT: "1.5",
        ConfigType.SHORT: "40000",
        ConfigType.LONG: "ten",
        ConfigType.DOUBLE: "x1",
    }.get(key.type)
    if garbage is None:
        return
    with pytest.raises(InvalidValue) as info:
        parse_value(key, garbage)
    assert str(info.value).startswith(f"Invalid value {garbage} for configuration {key.name}: ")


@pytest.mark.parametrize(
    ("kind", "raw", "parsed"),
    [
        (ConfigType.BOOLEAN, " TRUE ", True),
        (ConfigType.BOOLEAN, "False", False),
        (ConfigType.INT, " 42 ", 42),
        (ConfigType.INT, "+7", 7),
        (ConfigType.INT, "-2147483648", -(1 << 31)),
        (ConfigType.SHORT, "32767", 32767),
        (ConfigType.LONG, "9223372036854775807", (1 << 63) - 1),
        (ConfigType.DOUBLE, "0.5", 0.5),
        (ConfigType.DOUBLE, "1e3", 1000.0),
        (ConfigType.DOUBLE, "2d", 2.0),
        (ConfigType.STRING, "  padded  ", "padded"),
        (ConfigType.LIST, "", ()),
        (ConfigType.LIST, " a , b,c ", ("a", "b", "c")),
        (ConfigType.LIST, "a,,b", ("a", "", "b")),
        (ConfigType.CLASS, "org.example.Foo", "org.example.Foo"),
        (ConfigType.PASSWORD, " secret ", " secret "),
    ],
)
def test_type_parsing(kind: ConfigType, raw: str, parsed: object) -> None:
    key = ConfigKey("k", kind, None, None, "LOW", "")
    assert parse_value(key, raw) == parsed


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        (ConfigType.BOOLEAN, "1", "Expected value to be either true or false"),
        (ConfigType.INT, "2147483648", "Not a number of type INT"),
        (ConfigType.INT, "1_000", "Not a number of type INT"),
        (ConfigType.INT, "", "Not a number of type INT"),
        (ConfigType.SHORT, "-32769", "Not a number of type SHORT"),
        (ConfigType.LONG, "9223372036854775808", "Not a number of type LONG"),
        (ConfigType.DOUBLE, "abc", "Not a number of type DOUBLE"),
    ],
)
def test_type_errors(kind: ConfigType, raw: str, reason: str) -> None:
    key = ConfigKey("k", kind, None, None, "LOW", "")
    with pytest.raises(InvalidValue) as info:
        parse_value(key, raw)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("validator", "kind", "good", "bad", "reason", "expectation"),
    [
        (Range(1), ConfigType.INT, ["1", "99"], "0", "Value must be at least 1", ">= 1"),
        (Range(None, 5), ConfigType.INT, ["5", "-9"], "6", "Value must be no more than 5", "<= 5"),
        (
            Range(0, 1),
            ConfigType.DOUBLE,
            ["0", "0.5", "1"],
            "1.01",
            "Value must be no more than 1",
            "in [0, 1]",
        ),
        (
            Range(1, 9, also=(-1,)),
            ConfigType.INT,
            ["-1", "1", "9"],
            "0",
            "Value must be between 1 and 9 or equal to -1",
            "in [1, 9] or -1",
        ),
        (
            OneOf(("CreateTime", "LogAppendTime")),
            ConfigType.STRING,
            ["CreateTime"],
            "createtime",
            "String must be one of: CreateTime, LogAppendTime",
            "one of CreateTime, LogAppendTime",
        ),
        (
            OneOf(("A", "B"), case_insensitive=True),
            ConfigType.STRING,
            ["a", "B"],
            "c",
            "String must be one of (case insensitive): A, B",
            "one of A, B",
        ),
        (
            ListOf(("compact", "delete")),
            ConfigType.LIST,
            ["", "compact", "delete,compact"],
            "compact,x",
            "String must be one of: compact, delete",
            "made of compact, delete",
        ),
        (NonEmptyString(), ConfigType.STRING, ["x"], " ", "String must be non-empty", "that is"),
        (NonNull(), ConfigType.STRING, ["", "x"], None, "entry must be non null", "(may not"),
        (
            HostPortList(with_ids=True),
            ConfigType.LIST,
            ["", "1@h:1", "1@[::1]:9093,2@h2:2"],
            "h:1",
            "Unable to parse voter entry 'h:1': expected id@host:port",
            "of id@host:port",
        ),
        (
            HostPortList(with_ids=False),
            ConfigType.LIST,
            ["", "h:1,[::1]:2"],
            "h",
            "Unable to parse 'h': expected host:port",
            "of host:port",
        ),
        (
            ThrottledReplicas(),
            ConfigType.LIST,
            ["", "*", "0:1, 1:2"],
            "0:x",
            "x must be the literal '*' or a list of replicas in the following format: "
            "[partitionId]:[brokerId],[partitionId]:[brokerId],...",
            "[partitionId]:[brokerId]",
        ),
    ],
)
def test_validators(
    validator: object,
    kind: ConfigType,
    good: list[str],
    bad: str | None,
    reason: str,
    expectation: str,
) -> None:
    key = ConfigKey("x", kind, None, validator, "LOW", "")  # type: ignore[arg-type]
    for raw in good:
        parse_value(key, raw)
    with pytest.raises(InvalidValue) as info:
        parse_value(key, bad)
    assert info.value.reason == reason
    assert expectation in key.expectation()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (1.0, "1.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1234567.0, "1234567.0"),
        (1e7, "1.0E7"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (-2.5e-5, "-2.5E-5"),
        (0.0, "0.0"),
        (float("inf"), "Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


def test_format_values() -> None:
    key = ConfigKey("k", ConfigType.LIST, None, None, "LOW", "")
    assert format_value(key, ("a", "b")) == "a,b"
    assert format_value(key, True) == "true"
    assert format_value(key, None) is None


def test_tables_cover_the_properties_the_broker_needs() -> None:
    for name in [
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "inter.broker.listener.name",
        "controller.listener.names",
        "process.roles",
        "node.id",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "log.dirs",
        "log.dir",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "message.max.bytes",
        "socket.request.max.bytes",
        "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes",
        "num.network.threads",
        "num.io.threads",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.index.interval.bytes",
        "log.segment.delete.delay.ms",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.flush.scheduler.interval.ms",
        "log.retention.check.interval.ms",
        "log.cleaner.enable",
        "log.cleaner.delete.retention.ms",
        "log.cleaner.min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        "log.cleaner.min.cleanable.ratio",
        "log.cleanup.policy",
        "log.message.timestamp.type",
        "log.message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms",
        "compression.type",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.retention.minutes",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.max.size",
        "transaction.state.log.num.partitions",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "transactional.id.expiration.ms",
        "transaction.max.timeout.ms",
        "producer.id.expiration.ms",
        "broker.rack",
        "replica.lag.time.max.ms",
        "num.replica.fetchers",
        "replica.fetch.max.bytes",
        "auto.leader.rebalance.enable",
        "leader.imbalance.check.interval.seconds",
        "connections.max.idle.ms",
        "queued.max.requests",
        "metadata.log.dir",
    ]:
        assert name in BROKER, name
    assert len(TOPIC) == 34  # 33 public topic configs + internal.segment.bytes
    assert "message.downconversion.enable" not in TOPIC  # removed in Kafka 4.0
