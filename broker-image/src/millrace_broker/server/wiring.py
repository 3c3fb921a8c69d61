"""Build the broker's object graph from its configuration, and run it.

Start-up order: format or verify the log directories, open the metadata journal and
replay it into an image, register this node's endpoints, open and recover every
partition log, then listen. Shutdown (SIGTERM/SIGINT) stops listening, then flushes and
closes every log and the journal.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from ..config import BrokerConfig
from ..metadata.controller import LocalController
from ..metadata.journal import MetadataJournal
from ..metadata.records import RegisterBrokerRecord
from ..network.connection import make_protocol_factory
from ..storage.log_manager import LogManager
from .broker import Broker, Endpoint
from .dispatch import Dispatcher
from .handlers import HANDLERS
from .storage_format import ensure_formatted

log = logging.getLogger(__name__)
METADATA_DIR = "__millrace_metadata"


@dataclass
class RunningBroker:
    broker: Broker
    dispatcher: Dispatcher
    servers: list[asyncio.Server]
    journal: MetadataJournal

    def bound_ports(self) -> list[int]:
        return [int(s.sockets[0].getsockname()[1]) for s in self.servers if s.sockets]


def build_broker(config: BrokerConfig) -> tuple[Broker, MetadataJournal]:
    log_dirs = [Path(d) for d in config.log_dirs]
    cluster_id = ensure_formatted(log_dirs, node_id=config.node_id, cluster_id=None)
    journal = MetadataJournal(log_dirs[0] / METADATA_DIR / "journal")
    controller = LocalController.open(journal, cluster_id)
    endpoints = [
        Endpoint(
            listener.name, listener.host or "localhost", listener.port, listener.security_protocol
        )
        for listener in config.advertised_listeners
    ]
    logs = LogManager(log_dirs)
    broker = Broker(config=config, controller=controller, logs=logs, endpoints=endpoints)
    registration = RegisterBrokerRecord(
        config.node_id,
        tuple((e.listener, e.host, e.port, e.security_protocol) for e in endpoints),
        config.get_str("broker.rack"),
    )
    known = controller.image.brokers.get(config.node_id)
    if (
        known is None
        or known.endpoints != registration.endpoints
        or known.rack != registration.rack
    ):
        controller.commit([registration])
    broker.load_partitions()
    return broker, journal


async def start(config: BrokerConfig) -> RunningBroker:
    broker, journal = build_broker(config)
    dispatcher = Dispatcher(broker, HANDLERS)
    servers = []
    max_request = config.get_int("socket.request.max.bytes")
    for listener in config.listeners:
        if listener.name in config.controller_listener_names:
            continue  # the controller listener serves KRaft traffic (KRaft issue)
        factory = make_protocol_factory(
            dispatcher, listener=listener.name, max_request_bytes=max_request
        )
        server = await asyncio.get_running_loop().create_server(
            factory, listener.host or None, listener.port, reuse_address=True
        )
        servers.append(server)
        log.info("listening on %s://%s:%s", listener.name, listener.host, listener.port)
    return RunningBroker(broker, dispatcher, servers, journal)


def maintenance_interval_s(config: BrokerConfig) -> float:
    """How often logs are maintained: retention checks, the cleaner and time-based flush
    share one tick, as often as the most eager of the three asks (never below 100 ms)."""
    interval_ms = min(
        config.get_int("log.retention.check.interval.ms"),
        config.get_int("log.cleaner.backoff.ms"),
        config.get_int("log.flush.scheduler.interval.ms"),
    )
    return max(interval_ms, 100) / 1000


async def maintenance_loop(broker: Broker) -> None:
    interval_s = maintenance_interval_s(broker.config)
    while True:
        await asyncio.sleep(interval_s)
        try:
            broker.logs.run_maintenance(broker.clock_ms())
        except Exception:
            log.exception("log maintenance failed; will retry")


async def run(config: BrokerConfig) -> None:
    for key in config.ignored_settings():
        log.warning("%s is accepted for compatibility but has no effect in Millrace", key)
    running = await start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    maintenance = asyncio.create_task(maintenance_loop(running.broker))
    ports = ",".join(str(p) for p in running.bound_ports())
    log.info(
        "Millrace broker %s ready (cluster %s, ports %s)",
        running.broker.node_id,
        running.broker.cluster_id,
        ports,
    )
    await stop.wait()
    log.info("shutting down")
    maintenance.cancel()
    for server in running.servers:
        server.close()
    for server in running.servers:
        await server.wait_closed()
    running.broker.logs.close()
    running.journal.close()
    log.info("shutdown complete")
