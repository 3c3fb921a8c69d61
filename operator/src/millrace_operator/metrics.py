"""Prometheus metrics and the operator's HTTP endpoints (/metrics, /healthz, /readyz).

One aiohttp server on MILLRACE_HTTP_PORT serves all three. /healthz answers while the
event loop runs; /readyz once Kopf's startup finished (the API is reachable and handlers
are registered). Metrics: reconciles and their duration and errors per kind and result,
the number of managed Clusters and Topics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RECONCILES: Final = Counter(
    "millrace_reconciles_total", "Reconcile passes, by kind and result", ["kind", "result"]
)
RECONCILE_ERRORS: Final = Counter(
    "millrace_reconcile_errors_total", "Reconcile passes that raised, by kind", ["kind"]
)
RECONCILE_SECONDS: Final = Histogram(
    "millrace_reconcile_duration_seconds", "Duration of a reconcile pass, by kind", ["kind"]
)
MANAGED: Final = Gauge("millrace_managed_resources", "Resources managed, by kind", ["kind"])


class Tracker:
    """Counts managed resources and times passes."""

    def __init__(self) -> None:
        self._managed: dict[str, set[str]] = {"Cluster": set(), "Topic": set()}

    def seen(self, kind: str, key: str) -> None:
        self._managed.setdefault(kind, set()).add(key)
        MANAGED.labels(kind).set(len(self._managed[kind]))

    def gone(self, kind: str, key: str) -> None:
        self._managed.setdefault(kind, set()).discard(key)
        MANAGED.labels(kind).set(len(self._managed[kind]))

    @asynccontextmanager
    async def timed(self, kind: str) -> AsyncIterator[None]:
        start = time.monotonic()
        try:
            yield
        except BaseException:
            RECONCILE_ERRORS.labels(kind).inc()
            RECONCILES.labels(kind, "error").inc()
            raise
        finally:
            RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - start)


def result_label(step: object | None) -> str:
    """`in_sync`, `blocked` or the step's type in snake case, for RECONCILES."""
    if step is None:
        return "in_sync"
    name = type(step).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class HttpEndpoints:
    """/metrics, /healthz, /readyz."""

    def __init__(self) -> None:
        self.ready = False
        self._runner: web.AppRunner | None = None

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="starting\n")

    async def start(self, port: int, host: str = "0.0.0.0") -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
