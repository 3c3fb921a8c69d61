"""Loading the broker config: layering, precedence, typed access, errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace_broker.config import (
    EXAMPLE_CONFIG,
    BrokerConfig,
    ConfigError,
    HostPort,
    Listener,
    load_broker_config,
)


def test_embedded_defaults_are_a_single_node() -> None:
    cfg = load_broker_config(None, [])
    assert cfg.node_id == 1
    assert cfg.process_roles == {"broker", "controller"}
    assert cfg.is_broker and cfg.is_controller
    assert cfg.listeners == [
        Listener("PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"),
        Listener("CONTROLLER", "127.0.0.1", 9093, "PLAINTEXT"),
    ]
    assert cfg.advertised_listeners == [Listener("PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT")]
    assert cfg.controller_listeners == [Listener("CONTROLLER", "127.0.0.1", 9093, "PLAINTEXT")]
    assert cfg.advertised_controller_listeners == cfg.controller_listeners
    assert cfg.controller_quorum_voters == {1: HostPort("127.0.0.1", 9093)}
    assert cfg.inter_broker_listener_name == "PLAINTEXT"
    assert cfg.log_dirs == [Path("./millrace-data")]
    assert cfg.metadata_log_dir == Path("./millrace-data")
    assert cfg.num_partitions == 1
    assert cfg.default_replication_factor == 1
    assert cfg.get("offsets.topic.replication.factor") == 1
    assert cfg.get("transaction.state.log.replication.factor") == 1
    assert cfg.get("transaction.state.log.min.isr") == 1
    assert cfg.auto_create_topics_enable is True
    assert cfg.delete_topic_enable is True
    assert cfg.message_max_bytes == 1048588
    assert cfg.socket_request_max_bytes == 104857600
    assert cfg.log_retention_ms == 7 * 24 * 3600 * 1000
    assert cfg.static_configs["broker.id"] == "1"  # Kafka copies node.id to broker.id


def test_builtin_defaults_for_unset_keys() -> None:
    cfg = load_broker_config(None, [])
    assert cfg.get("group.initial.rebalance.delay.ms") == 3000
    assert cfg.get("log.cleaner.min.cleanable.ratio") == 0.5
    assert cfg.get("log.cleanup.policy") == ("delete",)
    assert cfg.get("broker.rack") is None
    assert cfg.get_list("sasl.enabled.mechanisms") == ("GSSAPI",)
    assert cfg.get_float("log.cleaner.io.buffer.load.factor") == 0.9
    assert cfg.get_str("compression.type") == "producer"


@pytest.mark.parametrize(
    ("overrides", "retention_ms"),
    [
        ([], 604800000),
        (["log.retention.hours=1"], 3600000),
        (["log.retention.minutes=3"], 180000),
        (["log.retention.minutes=3", "log.retention.hours=1"], 180000),
        (["log.retention.ms=10", "log.retention.minutes=3"], 10),
        (["log.retention.ms=10", "log.retention.minutes=3", "log.retention.hours=1"], 10),
        (["log.retention.ms=-1"], -1),
        (["log.retention.hours=-1"], -1),
        (["log.retention.minutes=-7"], -1),
    ],
)
def test_retention_precedence(overrides: list[str], retention_ms: int) -> None:
    assert load_broker_config(None, overrides).log_retention_ms == retention_ms


@pytest.mark.parametrize(
    ("overrides", "roll_ms", "jitter_ms", "flush_ms"),
    [
        ([], 604800000, 0, (1 << 63) - 1),
        (["log.roll.hours=2", "log.roll.jitter.hours=1"], 7200000, 3600000, (1 << 63) - 1),
        (["log.roll.ms=5", "log.roll.hours=2", "log.roll.jitter.ms=3"], 5, 3, (1 << 63) - 1),
        (["log.flush.scheduler.interval.ms=100"], 604800000, 0, 100),
        (["log.flush.interval.ms=7", "log.flush.scheduler.interval.ms=100"], 604800000, 0, 7),
    ],
)
def test_roll_and_flush_synonyms(
    overrides: list[str], roll_ms: int, jitter_ms: int, flush_ms: int
) -> None:
    cfg = load_broker_config(None, overrides)
    assert (cfg.log_roll_ms, cfg.log_roll_jitter_ms, cfg.log_flush_interval_ms) == (
        roll_ms,
        jitter_ms,
        flush_ms,
    )


def test_file_then_overrides_later_wins(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=3\nnum.partitions=4\nbroker.rack=zone-a\n")
    cfg = load_broker_config(path, ["num.partitions=5", "num.partitions=6"])
    assert cfg.num_partitions == 6
    assert cfg.broker_rack == "zone-a"
    assert cfg.static_configs["num.partitions"] == "6"


def test_override_value_may_contain_equals() -> None:
    cfg = load_broker_config(None, ["sasl.jaas.config=a=b;"])
    assert cfg.get("sasl.jaas.config") == "a=b;"


def test_log_dir_replaces_example_log_dirs() -> None:
    cfg = load_broker_config(None, ["log.dir=/data/one"])
    assert cfg.log_dirs == [Path("/data/one")]
    cfg = load_broker_config(None, ["log.dirs=/a, /b"])
    assert cfg.log_dirs == [Path("/a"), Path("/b")]
    cfg = load_broker_config(None, ["log.dirs=/a", "metadata.log.dir=/meta"])
    assert cfg.metadata_log_dir == Path("/meta")


def test_bootstrap_servers_replace_example_voters() -> None:
    cfg = load_broker_config(None, ["controller.quorum.bootstrap.servers=127.0.0.1:9093"])
    assert cfg.controller_quorum_voters == {}
    assert cfg.controller_quorum_bootstrap_servers == [HostPort("127.0.0.1", 9093)]


def test_broker_only_node() -> None:
    cfg = load_broker_config(
        None,
        [
            "process.roles=broker",
            "node.id=4",
            "controller.quorum.voters=1@[::1]:9093,2@c2:9093",
            "listeners=INTERNAL://:9094,EXTERNAL://0.0.0.0:9092",
            "advertised.listeners=INTERNAL://b4.internal:9094,EXTERNAL://b4.example.com:9092",
            "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL,"
            "CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=internal",
            "broker.rack=zone-b",
        ],
    )
    assert cfg.is_broker and not cfg.is_controller
    assert cfg.controller_quorum_voters == {1: HostPort("::1", 9093), 2: HostPort("c2", 9093)}
    assert cfg.listeners[0] == Listener("INTERNAL", "", 9094, "PLAINTEXT")
    assert cfg.advertised_listeners == [
        Listener("INTERNAL", "b4.internal", 9094, "PLAINTEXT"),
        Listener("EXTERNAL", "b4.example.com", 9092, "SASL_SSL"),
    ]
    assert cfg.inter_broker_listener_name == "INTERNAL"
    assert cfg.controller_listeners == []


def test_with_dynamic_layers() -> None:
    cfg = load_broker_config(None, ["log.retention.hours=1"])
    dyn = cfg.with_dynamic({"log.retention.ms": "5"}, cluster_default={"message.max.bytes": "99"})
    assert dyn.log_retention_ms == 5
    assert dyn.message_max_bytes == 99
    assert cfg.log_retention_ms == 3600000  # the original is unchanged
    assert dyn.with_dynamic({}).log_retention_ms == 3600000  # a passed layer is replaced
    assert dyn.with_dynamic(None).message_max_bytes == 99  # None keeps a layer
    both = dyn.with_dynamic({"message.max.bytes": "7"})
    assert both.message_max_bytes == 7  # per-broker beats cluster default
    assert dyn.dynamic_default_configs == {"message.max.bytes": "99"}
    quota = cfg.with_dynamic({"leader.replication.throttled.rate": "1000"})
    assert quota.get("leader.replication.throttled.rate") == 1000


def test_with_dynamic_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"message\.max\.bytes=x: expected an integer >= 0"):
        load_broker_config(None, []).with_dynamic({"message.max.bytes": "x"})


def test_listener_prefixed_keys() -> None:
    cfg = load_broker_config(
        None,
        [
            "listener.name.plaintext.max.connections=10",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=x required;",
        ],
    )
    assert cfg.get("listener.name.plaintext.max.connections") == 10
    with pytest.raises(ConfigError, match=r"listener.name.plaintext.max.connections=many"):
        load_broker_config(None, ["listener.name.plaintext.max.connections=many"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["log.retention.hour=5"],
            "--override: unknown property 'log.retention.hour' "
            "(did you mean 'log.retention.hours'?)",
        ),
        (["log.segment.bytes=abc"], "log.segment.bytes=abc: expected an integer >= 1048576"),
        (["log.segment.bytes=14"], "log.segment.bytes=14: expected an integer >= 1048576"),
        (["num.partitions=0"], "num.partitions=0: expected an integer >= 1"),
        (["num.partitions=99999999999"], "num.partitions=99999999999: expected an integer"),
        (["auto.create.topics.enable=yes"], "auto.create.topics.enable=yes: expected true or"),
        (["compression.type=brotli"], "compression.type=brotli: expected one of uncompressed"),
        (["log.cleanup.policy=compact,nope"], "log.cleanup.policy=compact,nope: expected a comma"),
        (["log.cleaner.min.cleanable.ratio=2"], "expected a number in [0, 1]"),
        (["compression.gzip.level=0"], "compression.gzip.level=0: expected an integer in [1, 9]"),
        (["controller.quorum.voters=localhost:9093"], "controller.quorum.voters=localhost:9093"),
        (["process.roles=broker,zookeeper"], "process.roles=broker,zookeeper: expected a comma"),
        (["no-such-thing=1"], "unknown property 'no-such-thing'"),
        (["num.partitions"], "--override 'num.partitions': expected key=value"),
        (["node.id=-1"], "node.id=-1: expected an integer >= 0"),
        (["broker.id=2"], "broker.id=2 must equal node.id=1"),
        (["node.id=2"], "node.id 2 must be in controller.quorum.voters"),
        (["process.roles=broker"], "node.id 1 must not be in controller.quorum.voters"),
        (["controller.quorum.voters="], "either controller.quorum.bootstrap.servers must"),
        (
            ["listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093"],
            "cannot use the nonroutable meta-address 0.0.0.0",
        ),
        (["listeners=PLAINTEXT://127.0.0.1:9092"], "controller.listener.names must only contain"),
        (
            ["listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9092"],
            "each listener must have a different port",
        ),
        (
            ["listeners=PLAINTEXT://h:1,PLAINTEXT://h:2,CONTROLLER://h:3"],
            "each listener must have a different name",
        ),
        (["listeners=FOO://h:1,CONTROLLER://h:3"], "add FOO:PLAINTEXT (or SSL"),
        (["listeners=PLAINTEXT://h,CONTROLLER://h:3"], "unable to parse 'PLAINTEXT://h'"),
        (["listeners=PLAINTEXT://h:70000,CONTROLLER://h:3"], "port 70000"),
        (["listener.security.protocol.map=PLAINTEXT:TLS"], "unknown security protocol 'TLS'"),
        (["inter.broker.listener.name=OTHER"], "inter.broker.listener.name OTHER must be"),
        (
            ["inter.broker.listener.name=PLAINTEXT", "security.inter.broker.protocol=PLAINTEXT"],
            "only one of inter.broker.listener.name and security.inter.broker.protocol",
        ),
        (
            [
                "advertised.listeners=OTHER://h:1",
                "listener.security.protocol.map=OTHER:SSL,CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ],
            "inter.broker.listener.name PLAINTEXT must be a listener name",
        ),
        (["log.dirs=", "log.dir="], "at least one log directory"),
        (["log.retention.ms=0"], "log.retention.ms must be unlimited (-1) or greater"),
        (["log.cleaner.threads=200"], "at least 1MB per cleaner thread"),
        (["replica.fetch.wait.max.ms=40000"], "replica.socket.timeout.ms should always be"),
        (["group.min.session.timeout.ms=3600000"], "must not exceed group.max.session"),
    ],
)
def test_errors_name_key_and_fix(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_broker_config(None, overrides)
    assert message in info.value.message


def test_file_errors_carry_location(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("# settings\nnum.partitions=1\nlog.segment.byte=1048576\n")
    with pytest.raises(ConfigError) as info:
        load_broker_config(path, [])
    assert info.value.message == (
        f"{path}:3: unknown property 'log.segment.byte' (did you mean 'log.segment.bytes'?)"
    )
    assert info.value.key == "log.segment.byte"


def test_example_config_keys_are_known() -> None:
    BrokerConfig(EXAMPLE_CONFIG)  # validates every key and value


def test_unknown_key_access() -> None:
    with pytest.raises(ConfigError, match="unknown property"):
        load_broker_config(None, []).get("nope")


def test_ignored_settings() -> None:
    assert load_broker_config(None, []).ignored_settings() == []
    cfg = load_broker_config(None, ["num.io.threads=16", "num.network.threads=3"])
    assert cfg.ignored_settings() == ["num.io.threads"]


def test_ipv4_and_ipv6_listeners_may_share_a_port() -> None:
    cfg = load_broker_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:9092,V6://[::1]:9092,CONTROLLER://127.0.0.1:9093",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,V6:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ],
    )
    assert cfg.listeners[1] == Listener("V6", "::1", 9092, "PLAINTEXT")
    assert str(cfg.listeners[1]) == "V6://[::1]:9092"


def test_port_zero_may_repeat() -> None:
    cfg = load_broker_config(
        None, ["listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,CONTROLLER://127.0.0.1:0"]
    )
    assert [x.port for x in cfg.listeners] == [0, 0, 0]
