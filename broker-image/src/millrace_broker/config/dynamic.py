"""Dynamic broker configs (AlterConfigs on a broker) and IncrementalAlterConfigs ops.

Which properties may change at runtime, and at which level, is Kafka's
`DynamicBrokerConfig`: `DYNAMIC_UPDATE_MODES` maps each updatable key to "per-broker"
(only on resource `<node id>`: listeners, SSL and SASL settings) or "cluster-wide"
(either level: log defaults, thread counts, connection limits...), and the replication
quota rates are dynamic-only keys. Security settings must be given per listener
(`listener.name.<l>.ssl.keystore.location`).

Kafka reports broker-config validation failures as INVALID_REQUEST, not INVALID_CONFIG
(KAFKA-13609 keeps it that way for compatibility), with messages like
"Cannot update these configs dynamically: Set(log.dirs)". We do the same.

`apply_incremental` is Kafka's `ConfigAdminManager.prepareIncrementalConfigs`: SET and
DELETE work on any key; APPEND and SUBTRACT only on LIST keys, starting from the key's
*default* when it has no current value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from kio.schema.errors import ErrorCode

from millrace_broker.config._broker_table import DYNAMIC_UPDATE_MODES
from millrace_broker.config.definitions import ConfigKey, ConfigType, InvalidValue, parse_value
from millrace_broker.config.errors import ConfigError
from millrace_broker.config.registry import BROKER, DYNAMIC_ONLY, TOPIC, listener_base_name


class AlterOp(IntEnum):
    """IncrementalAlterConfigs `config_operation` codes."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


_SECURITY_PREFIXES = ("ssl.", "sasl.")


def _scala_set(names: Iterable[str], kind: str = "Set") -> str:
    """Scala's `Set.toString`, which Kafka's messages embed (HashSet for mutable sets)."""
    return kind + "(" + ", ".join(sorted(names)) + ")"


def is_dynamic(name: str) -> bool:
    """Whether AlterConfigs may set `name` on a broker at all."""
    base = listener_base_name(name) or name
    return base in DYNAMIC_UPDATE_MODES or name in DYNAMIC_ONLY


def validate_dynamic_broker_configs(
    updates: Mapping[str, str | None], *, per_broker: bool = True
) -> dict[str, str]:
    """Check a broker resource's complete desired dynamic configs; return them.

    `per_broker` is True for resource `<node id>`, False for the cluster default `""`.
    Raises `ConfigError(INVALID_REQUEST)` with Kafka's wording.
    """

    def fail(message: str, key: str | None = None) -> ConfigError:
        return ConfigError(message, error_code=ErrorCode.invalid_request, key=key)

    nulls = [n for n, v in updates.items() if v is None]
    if nulls:
        raise fail("Null value not supported for : " + ", ".join(nulls), nulls[0])
    unknown = [
        n
        for n in updates
        if n not in BROKER and n not in DYNAMIC_ONLY and not listener_base_name(n)
    ]
    if unknown:
        raise fail(f"Unknown broker configs: {_scala_set(unknown)}", unknown[0])
    static_only = [n for n in updates if not is_dynamic(n)]
    if static_only:
        raise fail(
            f"Cannot update these configs dynamically: {_scala_set(static_only)}", static_only[0]
        )
    unprefixed = [
        n
        for n in updates
        if n in DYNAMIC_UPDATE_MODES
        and n.startswith(_SECURITY_PREFIXES)
        and DYNAMIC_UPDATE_MODES[n] == "per-broker"
    ]
    if unprefixed:
        raise fail(
            "These security configs can be dynamically updated only per-listener using the "
            f"listener prefix: {_scala_set(unprefixed, 'HashSet')}",
            unprefixed[0],
        )
    checked: dict[str, str] = {}
    for name, raw in updates.items():
        assert raw is not None
        key = BROKER.get(listener_base_name(name) or name) or DYNAMIC_ONLY[name]
        try:
            parse_value(key, raw)
        except InvalidValue as exc:
            raise fail(
                f"Invalid value {raw} for configuration {name}: {exc.reason}", name
            ) from None
        checked[name] = raw
    if not per_broker:
        broker_only = [n for n in checked if _per_broker_only(n)]
        if broker_only:
            raise fail(
                "Cannot update these configs at default cluster level, broker id must be "
                f"specified: {_scala_set(broker_only)}",
                broker_only[0],
            )
    return checked


def _per_broker_only(name: str) -> bool:
    base = listener_base_name(name)
    if base is not None:  # listener overrides are per broker, except connection limits
        return base not in (
            "max.connections",
            "max.connection.creation.rate",
            "num.network.threads",
        )
    return DYNAMIC_UPDATE_MODES.get(name) == "per-broker"


def _key_for(name: str, *, broker: bool) -> ConfigKey | None:
    if not broker:
        return TOPIC.get(name)
    return BROKER.get(name) or BROKER.get(listener_base_name(name) or "")


def _not_a_list(name: str, op: AlterOp, *, broker: bool) -> str:
    """Kafka 4.1 words this differently for brokers (ConfigAdminManager) and topics."""
    if broker:
        if _key_for(name, broker=True) is None:
            return f"Unknown config name: {name}"
        return f"Config value {op.name.lower()} is not allowed for config key: {name}"
    return f"Can't {op.name} to key {name} because its type is not LIST."


TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4


def apply_incremental(
    current: Mapping[str, str],
    ops: Iterable[tuple[str, int, str | None]],
    *,
    resource_type: int = TOPIC_RESOURCE,
) -> dict[str, str]:
    """Apply IncrementalAlterConfigs operations to a resource's current overrides.

    `resource_type` is the request's (2 = topic, 4 = broker); it selects the key table
    and Kafka's wording for list operations on non-list keys, which differs between
    the two. Raises `ConfigError(INVALID_REQUEST)` for malformed requests (duplicate
    keys, null values outside DELETE, unknown op codes) and `ConfigError(INVALID_CONFIG)`
    for APPEND/SUBTRACT on non-list or unknown keys. The result still needs
    `validate_topic_configs` or `validate_dynamic_broker_configs`.
    """
    broker = resource_type == BROKER_RESOURCE
    op_list = list(ops)
    names = [name for name, _, _ in op_list]
    if len(set(names)) != len(names):
        raise ConfigError(
            "Error due to duplicate config keys", error_code=ErrorCode.invalid_request
        )
    nulls = [name for name, op, value in op_list if op != AlterOp.DELETE and value is None]
    if nulls:
        raise ConfigError(
            "Null value not supported for : " + ", ".join(nulls),
            error_code=ErrorCode.invalid_request,
        )
    result = dict(current)
    for name, op, value in op_list:
        if op == AlterOp.SET:
            assert value is not None
            result[name] = value
        elif op == AlterOp.DELETE:
            result.pop(name, None)
        elif op in (AlterOp.APPEND, AlterOp.SUBTRACT):
            assert value is not None
            key = _key_for(name, broker=broker)
            if key is None or key.type is not ConfigType.LIST:
                raise ConfigError(_not_a_list(name, AlterOp(op), broker=broker), key=name)
            old_text = result.get(name)
            if old_text is None:
                old_text = key.default_string() if key.has_default else None
            old = old_text.split(",") if old_text else []
            changes = value.split(",")
            if op == AlterOp.APPEND:
                new = old + [v for v in changes if v not in old]
            else:
                new = [v for v in old if v not in changes]
            result[name] = ",".join(new)
        else:
            raise ConfigError(f"Unknown operations type {op}", error_code=ErrorCode.invalid_request)
    return result
