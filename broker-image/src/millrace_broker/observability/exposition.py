"""The Prometheus endpoint: prometheus-client's HTTP server, collecting on the event loop.

prometheus-client serves scrapes from its own thread. Counters and histograms are safe
to read there (they lock), but the broker's state — the metadata image, partition logs,
the Raft node, the group coordinator — is only changed on the event loop's thread, so
gauges computed from it are collected there too: the scrape thread hands the collection
to the loop and waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from .metrics import BrokerMetrics

log = logging.getLogger(__name__)
_COLLECT_TIMEOUT_S = 10.0


class OnLoopCollector(Collector):
    """Runs another collector's `collect()` on the given event loop's thread."""

    def __init__(self, inner: Collector, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop

    def collect(self) -> Iterator[Metric]:
        async def on_loop() -> list[Metric]:
            return list(self._inner.collect())

        future = asyncio.run_coroutine_threadsafe(on_loop(), self._loop)
        yield from future.result(timeout=_COLLECT_TIMEOUT_S)


@dataclass
class MetricsEndpoint:
    server: Any
    thread: Any

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` or `:port` (all interfaces) -> (host, port); ValueError names the fix."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics address '{text}' is not HOST:PORT (e.g. 0.0.0.0:9404 or :9404)")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve_metrics(
    metrics: BrokerMetrics, state: Collector, address: tuple[str, int]
) -> MetricsEndpoint:
    """Start the endpoint (GET /metrics) for one broker; call from the event loop."""
    metrics.registry.register(OnLoopCollector(state, asyncio.get_running_loop()))
    server, thread = start_http_server(address[1], addr=address[0], registry=metrics.registry)
    endpoint = MetricsEndpoint(server, thread)
    log.info("Prometheus metrics on http://%s:%d/metrics", address[0], endpoint.port)
    return endpoint
