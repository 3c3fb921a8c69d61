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
from dataclasses import dataclass, field
from pathlib import Path

from ..config import BrokerConfig
from ..kraft.bootstrap import build_kraft, is_dynamic_quorum, uses_kraft
from ..kraft.driver import RaftDriver
from ..kraft.transport import RAFT_MESSAGE_KEY
from ..metadata.controller import LocalController
from ..metadata.journal import MetadataJournal
from ..network.broker_client import BrokerConnection, open_broker_connection
from ..network.listener import open_listener
from ..network.secure_client import inter_node_connector
from ..observability.exposition import MetricsEndpoint, serve_metrics
from ..observability.metrics import isr_change_counter
from ..observability.state_metrics import BrokerStateCollector
from ..raft.format import FormatMode
from ..storage.log_manager import LogManager
from .alter_partition_rpc import QuorumControllerChannel
from .authz import authorizer_settings
from .broker import Broker, Endpoint
from .dispatch import Dispatcher
from .forwarding import Forwarder
from .group_handlers import install_coordinators, stop_coordinators
from .handlers import CONTROLLER_HANDLERS, HANDLERS
from .heartbeat import controlled_shutdown, fencing_loop, heartbeat_loop
from .leader_balance import leader_balance_loop
from .raft_voters_announce import announce_loop
from .registration import _plan_registration, register, registration_record
from .replica_manager import Connect
from .storage_format import ensure_formatted, format_for_kraft

log = logging.getLogger(__name__)
METADATA_DIR = "__millrace_metadata"


@dataclass
class RunningBroker:
    broker: Broker
    dispatcher: Dispatcher
    servers: list[asyncio.Server]
    journal: MetadataJournal | None
    driver: RaftDriver | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def bound_ports(self) -> list[int]:
        return [int(s.sockets[0].getsockname()[1]) for s in self.servers if s.sockets]

    async def close(self) -> None:
        if self.driver is not None and self.broker.config.is_broker:
            # Controlled shutdown: leadership moves to other ISR members before we go.
            await controlled_shutdown(self.broker)
        for task in self.tasks:
            task.cancel()
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        if self.driver is not None:
            await self.driver.stop()
            self.driver.node.log.close()  # type: ignore[attr-defined]
        if self.broker.config.is_broker:
            await stop_coordinators(self.broker)  # their timers, before the logs close
        await self.broker.replication.stop()  # replication (issue 4): fetchers, HW checkpoint
        self.broker.logs.close()
        if self.journal is not None:
            self.journal.close()


def _endpoints(config: BrokerConfig) -> list[Endpoint]:
    return [
        Endpoint(x.name, x.host or "localhost", x.port, x.security_protocol)
        for x in config.advertised_listeners
    ]


def build_broker(
    config: BrokerConfig, *, cluster_id: str | None = None
) -> tuple[Broker, MetadataJournal]:
    """A single-node broker whose metadata lives in the local journal."""
    log_dirs = [Path(d) for d in config.log_dirs]
    cluster_id = ensure_formatted(log_dirs, node_id=config.node_id, cluster_id=cluster_id)
    journal = MetadataJournal(log_dirs[0] / METADATA_DIR / "journal")
    controller = LocalController.open(journal, cluster_id)
    broker = Broker(
        config=config,
        controller=controller,
        logs=LogManager(log_dirs),
        endpoints=_endpoints(config),
    )
    controller.commit(_plan_registration(registration_record(broker), controller.image))
    broker.load_partitions()
    return broker, journal


def build_kraft_broker(
    config: BrokerConfig, *, cluster_id: str | None, format_mode: FormatMode | None = None
) -> tuple[Broker, RaftDriver]:
    """A node of a multi-voter KRaft quorum: metadata from the Raft log."""
    log_dirs = [Path(d) for d in config.log_dirs]
    cluster, directory_id = format_for_kraft(config, cluster_id=cluster_id, mode=format_mode)
    controller, driver = build_kraft(config, cluster, directory_id=directory_id)
    channel = QuorumControllerChannel()
    broker = Broker(
        config=config,
        controller=controller,
        logs=LogManager(log_dirs),
        endpoints=_endpoints(config),
        controller_channel=channel,
    )
    channel.broker = broker
    broker.forwarder = Forwarder(driver.address_of)  # the current voters' endpoints
    # security (issue 6): Raft messages and forwarded requests authenticate to secured
    # controller listeners
    driver.connect = broker.forwarder.connect = inter_node_connector(config, controller=True)
    return broker, driver


async def _listen(
    config: BrokerConfig, dispatcher: Dispatcher, *, controller_listeners: bool
) -> list[asyncio.Server]:
    servers = []
    for listener in config.listeners:
        if (listener.name in config.controller_listener_names) != controller_listeners:
            continue
        # security (issue 6): TLS context and SASL settings per listener
        servers.append(await open_listener(config, listener, dispatcher, dispatcher.broker))
    return servers


async def start(
    config: BrokerConfig, *, cluster_id: str | None = None, format_mode: FormatMode | None = None
) -> RunningBroker:
    authorizer_settings(config)  # an unsupported authorizer.class.name fails here
    if not uses_kraft(config):
        broker, journal = build_broker(config, cluster_id=cluster_id)
        dispatcher = Dispatcher(broker, HANDLERS)
        servers = await _listen(config, dispatcher, controller_listeners=False)
        broker.replication.start(replica_connector(broker))  # replication (issue 4): fetchers, ISR
        install_coordinators(broker)  # groups and transactions follow their partitions
        return RunningBroker(broker, dispatcher, servers, journal)
    broker, driver = build_kraft_broker(config, cluster_id=cluster_id, format_mode=format_mode)

    controller_dispatcher = Dispatcher(
        broker, CONTROLLER_HANDLERS, raw_handlers={RAFT_MESSAGE_KEY: driver.receive_frame}
    )
    servers = await _listen(config, controller_dispatcher, controller_listeners=True)
    driver.start()
    await _wait_caught_up(broker, timeout_s=120)
    tasks = []
    if config.is_controller:
        tasks.append(asyncio.create_task(fencing_loop(broker)))
        tasks.append(asyncio.create_task(leader_balance_loop(broker)))  # issue 4
        if is_dynamic_quorum(config):  # KIP-853: keep our endpoints in the voter set right
            tasks.append(asyncio.create_task(announce_loop(broker)))
    if not config.is_broker:  # a dedicated controller: no partitions, no clients
        return RunningBroker(broker, controller_dispatcher, servers, None, driver, tasks)
    broker.load_partitions()
    await register(broker)
    dispatcher = Dispatcher(broker, HANDLERS)
    servers += await _listen(config, dispatcher, controller_listeners=False)
    broker.replication.start(replica_connector(broker))  # replication (issue 4): fetchers, ISR
    install_coordinators(broker)  # groups and transactions follow their partitions
    tasks.append(asyncio.create_task(heartbeat_loop(broker)))
    return RunningBroker(broker, dispatcher, servers, None, driver, tasks)


async def _wait_caught_up(broker: Broker, *, timeout_s: float) -> None:
    """Brokers serve clients only once they have replayed the committed metadata."""
    controller = broker.controller
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not controller.caught_up():  # type: ignore[attr-defined]
        if loop.time() > deadline:
            raise TimeoutError(
                f"no quorum after {timeout_s}s: check controller.quorum.voters and that a "
                "majority of the controllers is running"
            )
        await asyncio.sleep(0.05)
    log.info("metadata caught up (active controller %s)", broker.active_controller_id())


def replica_connector(broker: Broker) -> Connect:
    """How this broker's replica fetchers reach other brokers."""
    timeout_s = broker.config.get_int("replica.socket.timeout.ms") / 1000
    client_id = f"millrace-replica-{broker.node_id}"
    secured = inter_node_connector(broker.config, controller=False)  # security (issue 6)

    async def connect(host: str, port: int) -> BrokerConnection:
        return await open_broker_connection(
            host, port, client_id=client_id, timeout_s=timeout_s, connect=secured
        )

    return connect


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


def start_metrics(broker: Broker, address: tuple[str, int]) -> MetricsEndpoint:
    """Serve this broker's Prometheus metrics (GET http://host:port/metrics)."""
    broker.controller.subscribe(isr_change_counter(broker.metrics, broker.node_id))
    return serve_metrics(broker.metrics, BrokerStateCollector(broker), address)


async def run(
    config: BrokerConfig,
    *,
    cluster_id: str | None = None,
    metrics_address: tuple[str, int] | None = None,
    format_mode: FormatMode | None = None,
) -> None:
    for key in config.ignored_settings():
        log.warning("%s is accepted for compatibility but has no effect in Millrace", key)
    running = await start(config, cluster_id=cluster_id, format_mode=format_mode)
    endpoint = None if metrics_address is None else start_metrics(running.broker, metrics_address)
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
    await running.close()
    if endpoint is not None:
        endpoint.close()
    log.info("shutdown complete")
