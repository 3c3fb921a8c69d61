"""What a reconcile pass returns, and how it reaches the brokers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from millrace_operator.kafkaclient import KafkaConnection
from millrace_operator.model.common import Condition

KafkaConnector = Callable[[str], KafkaConnection]


def connect_bootstrap(bootstrap: str) -> KafkaConnection:
    """A connection to `host:port` (the Cluster's bootstrap Service)."""
    host, _, port = bootstrap.rpartition(":")
    return KafkaConnection(host, int(port))


@dataclass
class Outcome:
    """The result of a pass: the new status (camelCase dict), the step, and Events."""

    status: dict[str, Any]
    step: object | None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, msg)
    retry_after: float | None = None  # ask to be called again sooner than the timer


def ready_reason(conditions: list[Condition]) -> str | None:
    """The reason of the Ready condition, if any (to post an Event only when it changes)."""
    return next((c.reason for c in conditions if c.type == "Ready"), None)


def status_patch(status: dict[str, Any]) -> dict[str, Any]:
    """`status` as a JSON merge patch. A None in an object removes that field (wanted),
    but a None inside a list item is only noise: the list is replaced whole and the API
    server prunes the null, which Kopf then reports as an inconsistent patch on every
    pass. Drop those."""

    def in_list(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: in_list(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [in_list(v) for v in value]
        return value

    def merged(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: merged(v) for k, v in value.items()}
        if isinstance(value, list):
            return [in_list(v) for v in value]
        return value

    result: dict[str, Any] = merged(status)
    return result
