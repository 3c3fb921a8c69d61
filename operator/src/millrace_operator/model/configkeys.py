"""Validation of user-supplied broker and topic configs against the known keys.

Why a snapshot and not the broker's tables: the operator may import only the broker's
`protocol` package (DESIGN.md, layering), so `known_configs` holds a generated copy of the
key names, types and dynamic-update modes, kept honest by a drift test. The same lists go
into the CRDs as `x-kubernetes-validations` rules, so the API server rejects an unknown key
before the operator sees it; these functions give the precise reason (the key, a
suggestion, the fix) for status conditions and for pydantic validation.

Keys the operator derives from the Cluster's shape (identity, roles, listeners, quorum,
storage paths, rack) may not be set by users: `OPERATOR_MANAGED_KEYS` names them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Final

from millrace_operator.model.known_configs import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS

OPERATOR_MANAGED_KEYS: Final = frozenset(
    {
        "node.id",
        "broker.id",
        "process.roles",
        "broker.rack",
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "controller.listener.names",
        "inter.broker.listener.name",
        "security.inter.broker.protocol",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "log.dirs",
        "log.dir",
        "metadata.log.dir",
    }
)

# Broker keys a user may set in Cluster.spec.config.
USER_BROKER_KEYS: Final = tuple(sorted(set(BROKER_CONFIG_KEYS) - OPERATOR_MANAGED_KEYS))
USER_TOPIC_KEYS: Final = tuple(sorted(TOPIC_CONFIG_KEYS))

_INT_TYPES: Final = {"INT", "SHORT", "LONG"}
_INTEGER: Final = re.compile(r"^[+-]?[0-9]+$")
_NUMBER: Final = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _suggest(name: str, known: tuple[str, ...]) -> str:
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def _type_problem(kind: str, value: str) -> str | None:
    text = value.strip()
    if kind == "BOOLEAN" and text.lower() not in ("true", "false"):
        return "expected true or false"
    if kind in _INT_TYPES and not _INTEGER.match(text):
        return "expected an integer"
    if kind == "DOUBLE" and not _NUMBER.match(text):
        return "expected a number"
    return None


def broker_config_problems(config: Mapping[str, str]) -> list[str]:
    """Reasons `config` (Cluster.spec.config) is invalid, one per bad key; empty if valid."""
    problems: list[str] = []
    for name in sorted(config):
        if name in OPERATOR_MANAGED_KEYS or name.startswith("listener.name."):
            problems.append(
                f"spec.config: '{name}' is set by the operator from the Cluster's shape "
                "(zones, listeners, controllers, storage); remove it"
            )
            continue
        entry = BROKER_CONFIG_KEYS.get(name)
        if entry is None:
            problems.append(
                f"spec.config: unknown broker property '{name}'"
                + _suggest(name, USER_BROKER_KEYS)
                + "; see docs/operator.md for the supported keys"
            )
            continue
        problem = _type_problem(entry[0], config[name])
        if problem is not None:
            problems.append(f"spec.config: {name}={config[name]!r}: {problem}")
    return problems


def topic_config_problems(config: Mapping[str, str]) -> list[str]:
    """Reasons `config` (Topic.spec.config) is invalid, one per bad key; empty if valid."""
    problems: list[str] = []
    for name in sorted(config):
        kind = TOPIC_CONFIG_KEYS.get(name)
        if kind is None:
            problems.append(
                f"spec.config: unknown topic config '{name}'" + _suggest(name, USER_TOPIC_KEYS)
            )
            continue
        problem = _type_problem(kind, config[name])
        if problem is not None:
            problems.append(f"spec.config: {name}={config[name]!r}: {problem}")
    return problems


def is_dynamic_broker_key(name: str) -> bool:
    """Whether brokers apply `name` without a restart (cluster-wide dynamic update)."""
    entry = BROKER_CONFIG_KEYS.get(name)
    return entry is not None and entry[1] == "cluster-wide"
