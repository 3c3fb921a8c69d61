"""Properties of Kafka's StandardAuthorizer, read from server.properties.

They are not KafkaConfig keys (Kafka passes every broker property to the configured
authorizer, which picks these), so they are not in `_broker_table` nor described by
DescribeConfigs; `registry.broker_key` accepts them so that a Kafka server.properties
that enables the authorizer loads unchanged.
"""

from __future__ import annotations

from millrace_broker.config.definitions import ConfigKey, ConfigType

AUTHORIZER_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "super.users",
        ConfigType.STRING,
        None,
        None,
        "MEDIUM",
        "Principals allowed every operation whatever the ACLs say, separated by semicolons "
        "(User:admin;User:operator).",
    ),
    ConfigKey(
        "allow.everyone.if.no.acl.found",
        ConfigType.BOOLEAN,
        "false",
        None,
        "MEDIUM",
        "Whether a resource that no ACL covers is open to everyone (true) or to super "
        "users only (false).",
    ),
)
