"""The operator's settings, from environment variables (the Helm chart sets them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    peering: str = ""  # empty: standalone (one replica)
    cluster_domain: str = "cluster.local"
    log_level: str = "INFO"
    log_format: str = "json"
    http_port: int = 8080
    cluster_interval: float = 30.0
    topic_interval: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        namespaces = tuple(
            n.strip() for n in e.get("MILLRACE_WATCH_NAMESPACES", "").split(",") if n.strip()
        )
        return cls(
            namespaces=namespaces,
            peering=e.get("MILLRACE_PEERING", ""),
            cluster_domain=e.get("MILLRACE_CLUSTER_DOMAIN", "cluster.local"),
            log_level=e.get("MILLRACE_LOG_LEVEL", "INFO").upper(),
            log_format=e.get("MILLRACE_LOG_FORMAT", "json"),
            http_port=int(e.get("MILLRACE_HTTP_PORT", "8080")),
            cluster_interval=float(e.get("MILLRACE_CLUSTER_INTERVAL", "30")),
            topic_interval=float(e.get("MILLRACE_TOPIC_INTERVAL", "60")),
        )


SETTINGS = Settings.from_env()
