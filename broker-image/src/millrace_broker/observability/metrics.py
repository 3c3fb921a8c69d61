"""Counters and histograms fed by the request path.

Names follow Apache Kafka's JMX metrics as the Prometheus JMX exporter (Strimzi's
configuration) renders them — `kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,
topic=t` becomes `kafka_server_brokertopicmetrics_bytesin_total{topic="t"}` — so existing
dashboards and alerts keep working. Kafka's per-second meters become Prometheus counters
(rates are PromQL's job); its millisecond histograms become seconds histograms.

One `BrokerMetrics` per broker, each with its own registry: tests run several brokers in
one process and must not see each other's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from kio.schema.index import api_key_map
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..metadata.image import MetadataImage

# Kafka's request-time buckets span sub-millisecond metadata calls to long-polling fetches.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip


@cache
def request_name(api_key: int) -> str:
    """Kafka's request name for an API key (`offset_commit` -> `OffsetCommit`)."""
    snake = api_key_map.get(api_key)
    if snake is None:
        return f"Unknown{api_key}"
    return "".join(part.capitalize() for part in snake.split("_"))


class BrokerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        topic = ["topic"]
        self.bytes_in = Counter(
            "kafka_server_brokertopicmetrics_bytesin",
            "Bytes appended by producers, per topic (BytesInPerSec).",
            topic,
            registry=r,
        )
        self.messages_in = Counter(
            "kafka_server_brokertopicmetrics_messagesin",
            "Records appended by producers, per topic (MessagesInPerSec).",
            topic,
            registry=r,
        )
        self.bytes_out = Counter(
            "kafka_server_brokertopicmetrics_bytesout",
            "Bytes sent to consumers, per topic; follower fetches excluded (BytesOutPerSec).",
            topic,
            registry=r,
        )
        self.replication_bytes_out = Counter(
            "kafka_server_brokertopicmetrics_replicationbytesout",
            "Bytes sent to follower replicas, per topic (ReplicationBytesOutPerSec).",
            topic,
            registry=r,
        )
        api = ["request", "listener"]
        self.requests = Counter(
            "kafka_network_requestmetrics_requests",
            "Requests received, per API and listener (RequestsPerSec).",
            api,
            registry=r,
        )
        self.request_errors = Counter(
            "kafka_network_requestmetrics_errors",
            "Requests that could not be served and closed their connection, per API.",
            api,
            registry=r,
        )
        self.total_time = Histogram(
            "kafka_network_requestmetrics_totaltime_seconds",
            "Time from a request's arrival to its response, per API and listener (TotalTimeMs).",
            api,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_time = Histogram(
            "kafka_network_requestmetrics_requestqueuetime_seconds",
            "Time a complete request waited behind earlier requests on its connection "
            "(RequestQueueTimeMs).",
            api,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.isr_shrinks = Counter(
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks of partitions this broker leads (IsrShrinksPerSec).",
            registry=r,
        )
        self.isr_expands = Counter(
            "kafka_server_replicamanager_isrexpands",
            "ISR expansions of partitions this broker leads (IsrExpandsPerSec).",
            registry=r,
        )
        self.connections = Gauge(
            "kafka_server_socketservermetrics_connection_count",
            "Open client connections, per listener.",
            ["listener"],
            registry=r,
        )
        self.failed_authentications = Counter(
            "kafka_server_socketservermetrics_failed_authentication",
            "Failed authentications, per listener and mechanism.",
            ["listener", "mechanism"],
            registry=r,
        )
        self.successful_authentications = Counter(
            "kafka_server_socketservermetrics_successful_authentication",
            "Successful authentications, per listener and mechanism.",
            ["listener", "mechanism"],
            registry=r,
        )

    # -- hooks on the request path (cheap: a dict lookup and a locked add) ----------------

    def produced(self, topic: str, size: int, records: int) -> None:
        self.bytes_in.labels(topic).inc(size)
        self.messages_in.labels(topic).inc(records)

    def fetched(self, topic: str, size: int, *, follower: bool) -> None:
        if size:
            (self.replication_bytes_out if follower else self.bytes_out).labels(topic).inc(size)

    def request_done(
        self, api_key: int, listener: str, *, total_s: float, queue_s: float, failed: bool = False
    ) -> None:
        name = request_name(api_key)
        self.requests.labels(name, listener).inc()
        if failed:
            self.request_errors.labels(name, listener).inc()
        self.total_time.labels(name, listener).observe(total_s)
        self.queue_time.labels(name, listener).observe(queue_s)


def isr_change_counter(
    metrics: BrokerMetrics, node_id: int
) -> Callable[[MetadataImage, MetadataImage], None]:
    """A metadata listener counting ISR shrinks and expansions of partitions this node led
    before and after the change (Kafka counts them on the leader that proposed them)."""

    def on_change(old: MetadataImage, new: MetadataImage) -> None:
        for name, topic in new.topics.items():
            old_topic = old.topics.get(name)
            if old_topic is None or old_topic.topic_id != topic.topic_id:
                continue
            for pid, part in topic.partitions.items():
                before = old_topic.partitions.get(pid)
                if before is None or part.leader != node_id or before.leader != node_id:
                    continue
                if len(part.isr) < len(before.isr):
                    metrics.isr_shrinks.inc()
                elif len(part.isr) > len(before.isr):
                    metrics.isr_expands.inc()

    return on_change
