"""The embedded example configuration every broker config starts from.

`EXAMPLE_CONFIG` reproduces the settings of Apache Kafka's `config/server.properties`
example (a single node in combined broker+controller mode) with loopback addresses, a
local data directory and static quorum voters, so `millrace-broker` with no arguments
runs a usable single-node cluster. These are the example file's values, not Kafka's
built-in defaults (which replicate internal topics three ways, for instance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

EXAMPLE_CONFIG: Final[Mapping[str, str]] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.voters": "1@127.0.0.1:9093",
    "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
    ),
    "num.network.threads": "3",
    "num.io.threads": "8",
    "socket.send.buffer.bytes": "102400",
    "socket.receive.buffer.bytes": "102400",
    "socket.request.max.bytes": "104857600",
    "log.dirs": "./millrace-data",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "num.recovery.threads.per.data.dir": "1",
    "offsets.topic.replication.factor": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "log.retention.hours": "168",
    "log.segment.bytes": "1073741824",
    "log.retention.check.interval.ms": "300000",
}

# A user setting on the left drops the example's settings on the right.
_EXAMPLE_SHADOWED_BY: Final = {
    "log.dir": ("log.dirs",),
    "controller.quorum.bootstrap.servers": ("controller.quorum.voters",),
}


def example_layer(user: Mapping[str, str]) -> dict[str, str]:
    """The example settings that still apply under the user's own settings."""
    return {k: v for k, v in EXAMPLE_CONFIG.items() if not _shadowed(k, user)}


def _shadowed(example_key: str, user: Mapping[str, str]) -> bool:
    if example_key in user:
        return True
    return any(
        example_key in dropped and trigger in user
        for trigger, dropped in _EXAMPLE_SHADOWED_BY.items()
    )
