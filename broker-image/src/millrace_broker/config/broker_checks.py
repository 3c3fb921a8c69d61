"""Cross-property checks a broker config must pass, after every value parsed on its own.

These follow `KafkaConfig.validateValues` for KRaft mode (ZooKeeper mode does not exist
in Kafka 4): roles and node id, quorum voters, which listeners belong to the controller,
advertised listeners, log directories and a few relations between numeric settings.
Messages say what to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millrace_broker.config.errors import ConfigError

if TYPE_CHECKING:
    from millrace_broker.config.broker import BrokerConfig


def check_broker(cfg: BrokerConfig) -> None:
    """Raise `ConfigError` for the first inconsistency found."""
    _check_identity(cfg)
    _check_quorum(cfg)
    _check_listeners(cfg)
    _check_storage(cfg)
    _check_numbers(cfg)


def _require(condition: bool, message: str, key: str | None = None) -> None:
    if not condition:
        raise ConfigError(message, key=key)


def _check_identity(cfg: BrokerConfig) -> None:
    roles = cfg.get_list("process.roles")
    _require(
        bool(roles),
        "process.roles must be set to broker, controller or broker,controller "
        "(Kafka 4 runs only in KRaft mode)",
        "process.roles",
    )
    _require(
        len(set(roles)) == len(roles),
        f"process.roles={','.join(roles)}: each role may appear only once",
        "process.roles",
    )
    node_id = cfg.get("node.id")
    _require(
        isinstance(node_id, int) and node_id >= 0,
        "node.id must be set to a non-negative integer (it is required in KRaft mode)",
        "node.id",
    )
    broker_id = cfg.get_int("broker.id")
    _require(
        broker_id in (-1, node_id),
        f"broker.id={broker_id} must equal node.id={node_id} when both are set; remove broker.id",
        "broker.id",
    )


def _check_quorum(cfg: BrokerConfig) -> None:
    voters = cfg.controller_quorum_voters
    bootstrap = cfg.get_list("controller.quorum.bootstrap.servers")
    _require(
        bool(voters) or bool(bootstrap),
        "either controller.quorum.bootstrap.servers must contain the set of bootstrap "
        "controllers or controller.quorum.voters must contain a parseable set of "
        "controllers (e.g. controller.quorum.voters=1@127.0.0.1:9093)",
        "controller.quorum.voters",
    )
    if cfg.is_controller:
        _require(
            not voters or cfg.node_id in voters,
            f"process.roles contains 'controller', so node.id {cfg.node_id} must be in "
            f"controller.quorum.voters (voter ids: {sorted(voters)})",
            "controller.quorum.voters",
        )
    else:
        _require(
            cfg.node_id not in voters,
            f"process.roles is just 'broker', so node.id {cfg.node_id} must not be in "
            f"controller.quorum.voters (voter ids: {sorted(voters)})",
            "controller.quorum.voters",
        )


def _check_listeners(cfg: BrokerConfig) -> None:
    protocol_map = cfg.listener_security_protocol_map
    listeners = cfg.listeners
    names = {x.name for x in listeners}
    controller_names = cfg.controller_listener_names
    _require(
        bool(controller_names),
        "controller.listener.names must name at least one listener (e.g. CONTROLLER)",
        "controller.listener.names",
    )
    for name in controller_names:
        _require(
            name in protocol_map,
            f"controller listener {name} (controller.listener.names) has no entry in "
            f"listener.security.protocol.map; add {name}:PLAINTEXT",
            "listener.security.protocol.map",
        )
    if cfg.is_controller:
        _require(
            all(n in names for n in controller_names),
            "controller.listener.names must only contain values appearing in 'listeners' "
            f"when running the controller role (listeners: {', '.join(sorted(names))})",
            "controller.listener.names",
        )
        if not cfg.is_broker:
            _require(
                names <= set(controller_names),
                "with process.roles=controller, 'listeners' must only contain listeners "
                "named in controller.listener.names",
                "listeners",
            )
    elif cfg.is_broker:
        _require(
            not names & set(controller_names),
            "with process.roles=broker, 'listeners' must not contain the controller "
            f"listeners {', '.join(controller_names)}",
            "listeners",
        )
    if cfg.get_str("inter.broker.listener.name") is not None:
        explicitly_set = "security.inter.broker.protocol" in cfg.static_configs
        _require(
            not explicitly_set,
            "only one of inter.broker.listener.name and security.inter.broker.protocol "
            "may be set; remove security.inter.broker.protocol",
            "security.inter.broker.protocol",
        )
    advertised = cfg.advertised_listeners
    for listener in advertised + cfg.advertised_controller_listeners:
        _require(
            listener.host != "0.0.0.0",
            f"advertised.listeners cannot use the nonroutable meta-address 0.0.0.0 "
            f"({listener}); set advertised.listeners to a routable host",
            "advertised.listeners",
        )
    if cfg.is_broker:
        adv_names = {x.name for x in advertised}
        _require(
            bool(adv_names),
            "there must be at least one broker advertised listener; perhaps all "
            "listeners appear in controller.listener.names?",
            "advertised.listeners",
        )
        _require(
            cfg.inter_broker_listener_name in adv_names,
            f"inter.broker.listener.name {cfg.inter_broker_listener_name} must be a listener "
            f"name defined in advertised.listeners; valid options: {', '.join(sorted(adv_names))}",
            "inter.broker.listener.name",
        )
        _require(
            adv_names <= names,
            f"advertised.listeners names ({', '.join(sorted(adv_names))}) must be equal to "
            f"or a subset of the ones defined in listeners ({', '.join(sorted(names))})",
            "advertised.listeners",
        )


def _check_storage(cfg: BrokerConfig) -> None:
    _require(
        bool(cfg.log_dirs),
        "at least one log directory must be defined via log.dirs or log.dir",
        "log.dirs",
    )
    _require(cfg.log_roll_ms >= 1, "log.roll.ms must be greater than or equal to 1", "log.roll.ms")
    _require(
        cfg.log_roll_jitter_ms >= 0,
        "log.roll.jitter.ms must be greater than or equal to 0",
        "log.roll.jitter.ms",
    )
    _require(
        cfg.log_retention_ms >= 1 or cfg.log_retention_ms == -1,
        "log.retention.ms must be unlimited (-1) or greater than or equal to 1 "
        "(also when given as log.retention.minutes or log.retention.hours)",
        "log.retention.ms",
    )


def _check_numbers(cfg: BrokerConfig) -> None:
    dedupe = cfg.get_int("log.cleaner.dedupe.buffer.size")
    threads = cfg.get_int("log.cleaner.threads")
    _require(
        dedupe // max(threads, 1) > 1024 * 1024,
        "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread",
        "log.cleaner.dedupe.buffer.size",
    )
    wait = cfg.get_int("replica.fetch.wait.max.ms")
    _require(
        wait <= cfg.get_int("replica.socket.timeout.ms"),
        "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms "
        "to prevent unnecessary socket timeouts",
        "replica.socket.timeout.ms",
    )
    _require(
        wait <= cfg.get_int("replica.lag.time.max.ms"),
        "replica.fetch.wait.max.ms should always be less than or equal to "
        "replica.lag.time.max.ms to prevent frequent changes in ISR",
        "replica.fetch.wait.max.ms",
    )
    _require(
        cfg.get_int("group.min.session.timeout.ms") <= cfg.get_int("group.max.session.timeout.ms"),
        "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms",
        "group.min.session.timeout.ms",
    )
