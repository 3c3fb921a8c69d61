"""Process-wide state the handlers share: the API client, locks, metrics, endpoints."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from millrace_operator.kubeapi import KubeApi
from millrace_operator.metrics import HttpEndpoints, Tracker

AnyLogger: TypeAlias = logging.Logger | logging.LoggerAdapter[Any]


@dataclass
class Runtime:
    api: KubeApi | None = None
    tracker: Tracker = field(default_factory=Tracker)
    http: HttpEndpoints = field(default_factory=HttpEndpoints)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> asyncio.Lock:
        """One reconcile per resource at a time (change handlers and timers share it)."""
        return self.locks.setdefault(key, asyncio.Lock())

    def kube(self) -> KubeApi:
        if self.api is None:
            raise RuntimeError("the Kubernetes client is not started yet")
        return self.api


RUNTIME = Runtime()
