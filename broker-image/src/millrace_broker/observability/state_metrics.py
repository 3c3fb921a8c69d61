"""Gauges computed from the broker's state when Prometheus scrapes.

Nothing here is updated on the request path: at each scrape the collector reads the
metadata image, the partition logs, the Raft node and the group coordinator, so a gauge
can never drift from the state it describes. Names follow Kafka's JMX metrics as
Strimzi's JMX exporter renders them; consumer lag follows kafka_exporter
(`kafka_consumergroup_lag`), which Strimzi deploys for that purpose.

`collect()` must run on the event loop's thread (the exposition endpoint arranges it),
because the state it reads is only ever changed there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..metadata.image import MetadataImage

if TYPE_CHECKING:
    from ..server.broker import Broker


def _gauge(name: str, doc: str, value: float | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class BrokerStateCollector(Collector):
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def collect(self) -> Iterator[Metric]:
        yield from self._partition_metrics()
        yield from self._log_metrics()
        yield from self._controller_metrics()
        yield from self._raft_metrics()
        yield from self._group_lag()

    # -- partitions this broker hosts -------------------------------------------------------

    def _partition_metrics(self) -> Iterator[Metric]:
        broker = self._broker
        image = broker.image
        me = broker.node_id
        leaders = partitions = under_replicated = under_min_isr = at_min_isr = 0
        for name, topic in image.topics.items():
            min_isr = broker.log_config(name).min_insync_replicas
            for part in topic.partitions.values():
                if me not in part.replicas:
                    continue
                partitions += 1
                if part.leader != me:
                    continue
                leaders += 1
                under_replicated += len(part.isr) < len(part.replicas)
                under_min_isr += len(part.isr) < min_isr
                at_min_isr += len(part.isr) == min_isr
        yield _gauge(
            "kafka_server_replicamanager_leadercount", "Partitions this broker leads.", leaders
        )
        yield _gauge(
            "kafka_server_replicamanager_partitioncount",
            "Partitions with a replica on this broker.",
            partitions,
        )
        yield _gauge(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions this broker leads whose ISR is smaller than their replica set.",
            under_replicated,
        )
        yield _gauge(
            "kafka_server_replicamanager_underminisrpartitioncount",
            "Partitions this broker leads whose ISR is below min.insync.replicas "
            "(acks=all produce fails there).",
            under_min_isr,
        )
        yield _gauge(
            "kafka_server_replicamanager_atminisrpartitioncount",
            "Partitions this broker leads whose ISR equals min.insync.replicas.",
            at_min_isr,
        )

    def _log_metrics(self) -> Iterator[Metric]:
        labels = ["topic", "partition"]
        size = GaugeMetricFamily(
            "kafka_log_log_size", "Bytes of the partition's log.", labels=labels
        )
        segments = GaugeMetricFamily(
            "kafka_log_log_numlogsegments", "Segments of the partition's log.", labels=labels
        )
        end = GaugeMetricFamily(
            "kafka_log_log_logendoffset", "The partition's log end offset.", labels=labels
        )
        start = GaugeMetricFamily(
            "kafka_log_log_logstartoffset", "The partition's log start offset.", labels=labels
        )
        for name, pid, plog in self._broker.logs.partitions():
            key = [name, str(pid)]
            size.add_metric(key, plog.size_bytes)
            segments.add_metric(key, plog.segment_count)
            end.add_metric(key, plog.log_end_offset)
            start.add_metric(key, plog.log_start_offset)
        yield from (size, segments, end, start)

    # -- the controller and the metadata quorum ----------------------------------------------

    def _controller_metrics(self) -> Iterator[Metric]:
        broker = self._broker
        active = broker.controller.is_active
        yield _gauge(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller, 0 elsewhere.",
            1 if active else 0,
        )
        # Kafka reports cluster-wide partition health only on the active controller.
        yield _gauge(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a leader (reported by the active controller).",
            _offline_partitions(broker.image) if active else 0,
        )
        yield _gauge(
            "kafka_controller_kafkacontroller_fencedbrokercount",
            "Registered brokers that are fenced (reported by the active controller).",
            sum(b.fenced for b in broker.image.brokers.values()) if active else 0,
        )

    def _raft_metrics(self) -> Iterator[Metric]:
        driver = getattr(self._broker.controller, "driver", None)
        node: Any = getattr(driver, "node", None)
        if node is None:  # the single-node journal mode has no quorum
            return
        state = GaugeMetricFamily(
            "kafka_server_raftmetrics_current_state",
            "1 for this node's current Raft state (leader, follower, candidate, ...).",
            labels=["state"],
        )
        state.add_metric([type(node.state).__name__.lower()], 1)
        yield state
        yield _gauge("kafka_server_raftmetrics_current_epoch", "Raft epoch.", node.epoch)
        leader = node.leader_id
        yield _gauge(
            "kafka_server_raftmetrics_current_leader",
            "Node id of the quorum leader (-1 while unknown).",
            -1 if leader is None else leader,
        )
        end = node.log.end_offset
        high_watermark = getattr(node, "high_watermark", None)
        hw = end if high_watermark is None else int(high_watermark)
        yield _gauge(
            "kafka_server_raftmetrics_log_end_offset", "End offset of the metadata log.", end
        )
        yield _gauge(
            "kafka_server_raftmetrics_high_watermark",
            "Committed offset of the metadata log known to this node.",
            hw,
        )
        yield _gauge(
            "kafka_server_raftmetrics_commit_lag",
            "Metadata log entries this node holds that are not yet committed.",
            max(end - hw, 0),
        )

    # -- consumer groups coordinated here ----------------------------------------------------

    def _group_lag(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "Log end offset (high watermark) minus the committed offset, per group and "
            "partition, for groups this broker coordinates and partitions it hosts.",
            labels=["consumergroup", "topic", "partition"],
        )
        committed = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "Committed offset per group and partition.",
            labels=["consumergroup", "topic", "partition"],
        )
        for group_id, topic, partition, offset in _committed_offsets(self._broker):
            key = [group_id, topic, str(partition)]
            committed.add_metric(key, offset)
            plog = self._broker.partition_log(topic, partition)
            if plog is not None:
                lag.add_metric(key, max(self._broker.high_watermark(plog) - offset, 0))
        yield committed
        yield lag


def _offline_partitions(image: MetadataImage) -> int:
    return sum(
        part.leader < 0 for topic in image.topics.values() for part in topic.partitions.values()
    )


def _committed_offsets(broker: Broker) -> Iterator[tuple[str, str, int, int]]:
    # Imported late: the coordinator wiring imports the server package, which imports us.
    from ..server.group_wiring import loaded_coordinator

    coordinator = loaded_coordinator(broker)
    if coordinator is None:
        return
    for group_id, group in list(coordinator.manager.groups.items()):
        for (topic, partition), entry in sorted(group.offsets.items()):
            yield group_id, topic, partition, entry.offset
