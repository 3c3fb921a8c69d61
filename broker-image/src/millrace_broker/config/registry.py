"""Lookup of broker and topic config keys by name, including Kafka's name variants.

Broker keys are Apache Kafka 4.1's KafkaConfig properties (every one is accepted, so a
Kafka server.properties loads unchanged; `NOT_APPLICABLE` lists those Millrace parses
but does not act on). A broker key may also be given per listener, as
`listener.name.<listener>.<key>` or, for SASL mechanism settings,
`listener.name.<listener>.<mechanism>.<key>`; such a key has the base key's type.
"""

from __future__ import annotations

import re
from typing import Final

from millrace_broker.config._authorizer_table import AUTHORIZER_KEYS
from millrace_broker.config._broker_table import BROKER_KEYS, DYNAMIC_ONLY_KEYS
from millrace_broker.config._topic_table import TOPIC_KEYS
from millrace_broker.config.definitions import ConfigKey, key_table, suggest
from millrace_broker.config.errors import ConfigError

BROKER: Final = key_table(BROKER_KEYS)
DYNAMIC_ONLY: Final = key_table(DYNAMIC_ONLY_KEYS)
TOPIC: Final = key_table(TOPIC_KEYS)
AUTHORIZER: Final = key_table(AUTHORIZER_KEYS)

# Settings Kafka defines that a single asyncio process has no use for, or features not
# built yet. They are accepted (and described) so existing property files keep working.
NOT_APPLICABLE: Final = frozenset(
    {
        "num.network.threads",  # one event loop serves every connection
        "num.io.threads",  # requests are handled on the event loop
        "background.threads",
        "num.replica.alter.log.dirs.threads",
        "num.recovery.threads.per.data.dir",
        "queued.max.request.bytes",
        "socket.listen.backlog.size",
        "metric.reporters",
        "kafka.metrics.reporters",
        "kafka.metrics.polling.interval.secs",
    }
)

# Kafka's DynamicBrokerConfig.ListenerMechanismConfigs: given as
# listener.name.<listener>.<mechanism>.<key>.
_MECHANISM_KEYS: Final = (
    "sasl.jaas.config",
    "sasl.login.callback.handler.class",
    "sasl.login.class",
    "sasl.server.callback.handler.class",
    "connections.max.reauth.ms",
)
_LISTENER_PREFIX: Final = re.compile(r"^listener\.name\.([^.]+)\.(.+)$")


def listener_base_name(name: str) -> str | None:
    """For `listener.name.x.<key>` return the base key, else None."""
    match = _LISTENER_PREFIX.match(name)
    if match is None:
        return None
    rest = match.group(2)
    if rest in BROKER:
        return rest
    for key in _MECHANISM_KEYS:
        if rest.endswith("." + key):
            return key
    return None


def broker_key(name: str, *, dynamic: bool = False) -> ConfigKey:
    """The key definition for a broker property name; unknown names raise `ConfigError`."""
    key = BROKER.get(name) or AUTHORIZER.get(name)
    if key is None and dynamic:
        key = DYNAMIC_ONLY.get(name)
    if key is None:
        base = listener_base_name(name)
        if base is not None:
            return BROKER[base]
        raise ConfigError(f"unknown property '{name}'" + suggest(name, list(BROKER)), key=name)
    return key


def topic_key(name: str) -> ConfigKey:
    """The key definition for a topic config; unknown names raise Kafka's message."""
    key = TOPIC.get(name)
    if key is None:
        raise ConfigError(f"Unknown topic config name: {name}", key=name)
    return key
