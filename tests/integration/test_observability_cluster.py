"""Replication metrics on a 3-node KRaft cluster of real processes: a broker dies and
comes back, and every node's endpoint tells the story an operator's alert would read."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import NewTopic
from test_observability import Samples, scrape, total

from support_broker import free_port
from support_clients import produce_all, unique_topic
from support_kraft import KraftCluster


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_dead_broker_shows_as_under_replicated_and_recovers(tmp_path: Path) -> None:
    cluster = KraftCluster(tmp_path, 3)
    metrics_ports = {}
    for node_id, node in cluster.nodes.items():
        metrics_ports[node_id] = free_port()
        node.extra_args += ["--metrics-address", f"127.0.0.1:{metrics_ports[node_id]}"]
    cluster.start()
    try:

        def scrape_live() -> dict[int, Samples]:
            return {i: scrape(metrics_ports[i]) for i in cluster.live_ids()}

        def summed(name: str, **labels: str) -> float:
            return sum(total(s, name, **labels) for s in scrape_live().values())

        topic = unique_topic("replicated")
        admin = cluster.admin()  # kept referenced: its futures die with it
        futures = admin.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})])
        futures[topic].result(timeout=60)
        assert cluster.wait_full_isr(topic)
        produce_all(cluster.bootstrap, topic, [b"r"] * 300, acks="all")

        healthy = scrape_live()
        assert sum(total(s, "kafka_controller_kafkacontroller_activecontrollercount")
                   for s in healthy.values()) == 1  # fmt: skip
        assert sum(total(s, "kafka_server_raftmetrics_current_state", state="leader")
                   for s in healthy.values()) == 1  # fmt: skip
        assert summed("kafka_server_replicamanager_underreplicatedpartitions") == 0
        # 300 records in, counted once, by the leaders that appended them.
        assert summed("kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 300
        # Every replica holds every record: 3 copies of 300 offsets.
        wait_until(
            lambda: summed("kafka_log_log_logendoffset", topic=topic) == 900, "followers caught up"
        )

        victim = 3
        cluster.nodes[victim].kill9()
        wait_until(
            lambda: summed("kafka_server_replicamanager_underreplicatedpartitions") == 3,
            "3 under-replicated partitions after the kill",
        )
        assert summed("kafka_server_replicamanager_isrshrinks_total") >= 1
        assert summed("kafka_server_replicamanager_underminisrpartitioncount") == 0

        cluster.nodes[victim].start(timeout=120)
        assert cluster.wait_full_isr(topic, timeout=120)
        wait_until(
            lambda: summed("kafka_server_replicamanager_underreplicatedpartitions") == 0,
            "full ISR reported after the restart",
        )
        assert summed("kafka_server_replicamanager_isrexpands_total") >= 1
    finally:
        cluster.stop()
