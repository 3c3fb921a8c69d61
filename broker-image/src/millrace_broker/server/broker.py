"""The broker's state shared by all handlers, and its reaction to metadata changes.

Handlers read the current metadata image from here, find partition logs, and wait in the
fetch purgatory. When the controller publishes a new image, `on_metadata_change`
creates logs for new partitions, deletes the logs of removed topics and of partitions
reassigned away from this node, and pushes changed topic configs down to the logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import BrokerConfig, effective_log_config
from ..metadata.controller import MetadataController, NewTopic, plan_create_topic
from ..metadata.image import MetadataImage
from ..observability.metrics import BrokerMetrics
from ..replication.channel import ControllerChannel
from ..storage.log_config import LogConfig
from ..storage.log_manager import LogManager
from ..storage.partition_log import PartitionLog
from .alter_partition import LocalControllerChannel
from .forwarding import FORWARDED_KEYS, UNKNOWN_CONTROLLER, Forwarder, create_topics_frame
from .purgatory import FetchPurgatory
from .replica_manager import ReplicaManager

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    listener: str
    host: str
    port: int
    security_protocol: str


class Broker:
    def __init__(
        self,
        *,
        config: BrokerConfig,
        controller: MetadataController,
        logs: LogManager,
        endpoints: list[Endpoint],
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        controller_channel: ControllerChannel | None = None,
    ) -> None:
        self.config = config
        self.controller = controller
        self.logs = logs
        self.endpoints = endpoints
        self.node_id: int = config.node_id
        self.clock_ms = clock_ms
        self.purgatory = FetchPurgatory()
        self.metrics = BrokerMetrics()  # fed by the request path; served by wiring
        self._producer_ids: tuple[int, int] = (0, 0)  # next id, end of the reserved block
        self._forwarder: Forwarder | None = None
        self.controller_listener_names: frozenset[str] = frozenset(config.controller_listener_names)
        controller.subscribe(self.on_metadata_change)
        # Replication (leader/follower state, high watermarks, ISR): after the logs exist.
        self.replication = ReplicaManager(
            self, controller_channel or LocalControllerChannel(controller)
        )
        controller.subscribe(self.replication.on_metadata_change)

    @property
    def forwarder(self) -> Forwarder | None:
        return self._forwarder

    @forwarder.setter
    def forwarder(self, forwarder: Forwarder | None) -> None:
        """Forwarded requests follow this node's view of the active controller."""
        self._forwarder = forwarder
        if forwarder is not None:
            forwarder.active_controller = lambda: self.controller.active_controller_id

    @property
    def image(self) -> MetadataImage:
        return self.controller.image

    @property
    def cluster_id(self) -> str:
        return self.image.cluster_id

    def active_controller_id(self) -> int:
        """The node id clients should send controller requests to (-1 while unknown).

        Clients can only reach brokers: when the active controller is a dedicated
        controller, this broker names itself (it forwards), as Kafka's KRaft brokers do.
        """
        if self.controller.is_active:
            return self.node_id
        active = self.controller.active_controller_id
        if active is None:
            return -1
        return active if active in self.image.brokers else self.node_id

    def should_forward(self, api_key: int, listener: str) -> int | None:
        """The active controller to forward this request to, or None to serve it here."""
        if (
            self.forwarder is None
            or api_key not in FORWARDED_KEYS
            or listener in self.controller_listener_names
            or self.controller.is_active
        ):
            return None
        active = self.controller.active_controller_id
        # None: an election is under way (right after start, say). Serving here would
        # answer NOT_CONTROLLER; the forwarder waits for the winner instead.
        return UNKNOWN_CONTROLLER if active is None else active

    async def create_topic(self, new: NewTopic) -> None:
        """Create a topic through the active controller, wherever it is, and wait until
        this node's image has it."""
        target = self.should_forward(19, "")
        if target is None:
            await self.controller.submit(lambda image: plan_create_topic(image, new))
            return
        assert self.forwarder is not None
        await self.forwarder.forward(target, create_topics_frame(new))
        for _ in range(100):  # the metadata log reaches this node within a few fetches
            if new.name in self.image.topics:
                return
            await asyncio.sleep(0.05)

    def effective_config(self) -> BrokerConfig:
        """The static config under this broker's dynamic configs and the cluster defaults."""
        image = self.image
        return self.config.with_dynamic(
            image.broker_configs.get(str(self.node_id), {}),
            cluster_default=image.broker_configs.get("", {}),
        )

    def log_config(self, topic: str) -> LogConfig:
        return effective_log_config(self.image.configs_of_topic(topic), self.effective_config())

    def partition_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get(topic, partition)

    def high_watermark(self, log: PartitionLog) -> int:
        return self.replication.high_watermark(log)

    async def next_producer_id(self) -> int:
        next_id, end = self._producer_ids
        if next_id >= end:
            first, count = await self.controller.allocate_producer_ids(self.node_id)
            next_id, end = first, first + count
        self._producer_ids = (next_id + 1, end)
        return next_id

    def load_partitions(self) -> None:
        """Open (and recover) the logs of every partition this node hosts."""
        self.logs.load_all(self.log_config)
        self.on_metadata_change(MetadataImage(cluster_id=self.cluster_id), self.image)

    def on_metadata_change(self, old: MetadataImage, new: MetadataImage) -> None:
        for name, topic in new.topics.items():
            old_topic = old.topics.get(name)
            config_changed = old.configs_of_topic(name) != new.configs_of_topic(name)
            for pid, part in topic.partitions.items():
                if self.node_id not in part.replicas:
                    if self.logs.get(name, pid) is not None:
                        # Reassigned away (or while this node was down): a stray replica.
                        log.info("deleting %s-%d: no longer a replica here", name, pid)
                        self.logs.delete_partition(name, pid)
                    continue
                existing = self.logs.get(name, pid)
                if existing is None:
                    self.logs.create(name, pid, self.log_config(name))
                elif config_changed:
                    existing.update_config(self.log_config(name))
            if old_topic is not None and old_topic.topic_id != topic.topic_id:
                log.warning("topic %s was recreated with a new id", name)
        if old.broker_configs != new.broker_configs:
            for name, _pid, plog in self.logs.partitions():
                plog.update_config(self.log_config(name))
        for name in old.topics.keys() - new.topics.keys():
            log.info("deleting the logs of topic %s", name)
            self.logs.delete_topic(name)
