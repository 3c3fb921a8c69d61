"""The broker's configuration: Kafka property names, types, defaults and validation.

Public surface (import from here):

- `load_broker_config(path, overrides) -> BrokerConfig`, `BrokerConfig`, `Listener`
- `validate_topic_configs`, `effective_log_config`
- `describe_topic_configs`, `describe_broker_configs`, `ConfigDescription`,
  `ConfigSource`, `ConfigType`
- `validate_dynamic_broker_configs`, `apply_incremental`, `AlterOp`
- `validate_group_configs`, `describe_group_configs` (ConfigResource type GROUP)
- `ConfigError` (carries the Kafka error code for the wire)

The property tables (`_broker_table`, `_topic_table`) are generated from the ConfigDefs
of the Apache Kafka 4.1.0 release jars: a short Java program dumps each ConfigKey's
name, type, default (`ConfigDef.convertToString`), validator (`toString()` and class),
importance, documentation and internal flag, plus `DynamicBrokerConfig`'s update modes
and `ServerTopicConfigSynonyms`, to JSON; a Python script turns that JSON into the two
modules. Behaviour (precedence, describe rules, checks) is written by hand elsewhere.
"""

from millrace_broker.config.broker import BrokerConfig, load_broker_config
from millrace_broker.config.definitions import ConfigType, ConfigValue
from millrace_broker.config.describe import (
    ConfigDescription,
    ConfigSource,
    ConfigSynonym,
    describe_broker_configs,
    describe_topic_configs,
)
from millrace_broker.config.dynamic import (
    AlterOp,
    apply_incremental,
    is_dynamic,
    validate_dynamic_broker_configs,
)
from millrace_broker.config.errors import ConfigError
from millrace_broker.config.example import EXAMPLE_CONFIG
from millrace_broker.config.group import describe_group_configs, validate_group_configs
from millrace_broker.config.listeners import HostPort, Listener
from millrace_broker.config.topic import (
    broker_topic_defaults,
    effective_log_config,
    validate_topic_configs,
)

__all__ = [
    "EXAMPLE_CONFIG",
    "AlterOp",
    "BrokerConfig",
    "ConfigDescription",
    "ConfigError",
    "ConfigSource",
    "ConfigSynonym",
    "ConfigType",
    "ConfigValue",
    "HostPort",
    "Listener",
    "apply_incremental",
    "broker_topic_defaults",
    "describe_broker_configs",
    "describe_group_configs",
    "describe_topic_configs",
    "effective_log_config",
    "is_dynamic",
    "load_broker_config",
    "validate_dynamic_broker_configs",
    "validate_group_configs",
    "validate_topic_configs",
]
