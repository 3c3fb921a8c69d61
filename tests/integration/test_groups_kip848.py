"""KIP-848 consumer groups (group.protocol=consumer) with confluent-kafka: server-side
assignment, failover after kill -9, broker restart, admin views."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType
from confluent_kafka.admin import AdminClient
from test_groups_support import (
    FAST_CONSUMER_GROUPS,
    assert_exclusive_cover,
    committed_offsets,
    consumers,
    create_topic_v7,
    group_broker,
    produce_spread,
    wait_for,
)

from support_clients import unique_topic

KIP848 = {"group.protocol": "consumer"}


def values(start: int, stop: int) -> list[str]:
    return [f"v{i}" for i in range(start, stop)]


def test_kip848_group_failover_restart_and_admin(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data", FAST_CONSUMER_GROUPS) as b, consumers(tmp_path) as start:
        topic, group = unique_topic("kip848"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 6)
        produce_spread(b.bootstrap, topic, values(0, 300), 6)
        procs = [start("confluent", b.bootstrap, group, topic, f"c{i}", **KIP848) for i in range(3)]
        wait_for(
            lambda: (
                assert_exclusive_cover(procs, 6) and all(len(p.assignment()) == 2 for p in procs)
            ),
            60,
            "a 3-way assignment",
        )
        wait_for(
            lambda: set().union(*(p.values() for p in procs)) >= set(values(0, 300)),
            60,
            "the first 300 records",
        )
        wait_for(
            lambda: all(o == 50 for o in committed_offsets(b.bootstrap, group, topic, 6).values()),
            30,
            "every record committed",
        )

        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        d = admin.describe_consumer_groups([group])[group].result(15)
        assert d.type == ConsumerGroupType.CONSUMER and d.state == ConsumerGroupState.STABLE
        assert sorted(
            tp.partition for m in d.members for tp in m.assignment.topic_partitions
        ) == list(range(6))
        listed = admin.list_consumer_groups().result(15).valid
        assert (group, ConsumerGroupType.CONSUMER) in {(g.group_id, g.type) for g in listed}

        victim, survivors = procs[0], procs[1:]
        owned = victim.assignment()
        at_kill = [len(s.messages()) for s in survivors]
        victim.kill9()
        killed_at = time.monotonic()
        produce_spread(b.bootstrap, topic, values(300, 600), 6)
        wait_for(lambda: assert_exclusive_cover(survivors, 6), 30, "reassignment")
        took = time.monotonic() - killed_at
        assert took < 6 + 6, f"reassignment took {took:.1f}s"
        wait_for(
            lambda: set().union(*(p.values() for p in procs)) >= set(values(0, 600)),
            60,
            "all 600 records",
        )
        for partition in owned:
            first = min(
                m["o"]
                for s, n in zip(survivors, at_kill, strict=True)
                for m in s.messages()[n:]
                if m["p"] == partition
            )
            assert first == 50, f"partition {partition} resumed at {first}, committed 50"

        wait_for(
            lambda: all(o == 100 for o in committed_offsets(b.bootstrap, group, topic, 6).values()),
            30,
            "every record committed",
        )
        seen_before = [len(s.messages()) for s in survivors]
        b.kill9()
        b.start()
        assert committed_offsets(b.bootstrap, group, topic, 6) == {p: 100 for p in range(6)}
        produce_spread(b.bootstrap, topic, values(600, 660), 6)
        wait_for(
            lambda: set().union(*(p.values() for p in survivors)) >= set(values(600, 660)),
            60,
            "records produced after the restart",
        )

        def restored() -> bool:
            d = admin.describe_consumer_groups([group])[group].result(15)
            return d.type == ConsumerGroupType.CONSUMER and len(d.members) == 2

        wait_for(restored, 40, "the group restored with its two members")
        replayed = [
            m
            for s, n in zip(survivors, seen_before, strict=True)
            for m in s.messages()[n:]
            if m["o"] < 100
        ]
        assert not replayed, replayed[:5]


@pytest.mark.kafka_cli
@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_java_console_consumer_in_a_group(tmp_path: Path, protocol: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from kafkaref import kafka_cli

    with group_broker(tmp_path / "data", FAST_CONSUMER_GROUPS) as b:
        topic, group = unique_topic("java"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 3)
        produce_spread(b.bootstrap, topic, values(0, 30), 3)
        out = kafka_cli(
            "kafka-console-consumer",
            "--bootstrap-server",
            b.bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--consumer-property",
            f"group.protocol={protocol}",
            "--from-beginning",
            "--max-messages",
            "30",
            "--timeout-ms",
            "30000",
            check=True,
        ).stdout
        assert sorted(out.split()) == sorted(values(0, 30))
        assert committed_offsets(b.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}


def test_kip848_pattern_subscription_picks_up_new_topics(tmp_path: Path) -> None:
    from confluent_kafka import Consumer

    with group_broker(tmp_path / "data", FAST_CONSUMER_GROUPS) as b:
        create_topic_v7(b.port, "rx-a", 2)
        create_topic_v7(b.port, "other", 1)
        produce_spread(b.bootstrap, "rx-a", ["a0", "a1"], 2)
        produce_spread(b.bootstrap, "other", ["o"], 1)
        consumer = Consumer(
            {
                "bootstrap.servers": b.bootstrap,
                "group.id": "g-rx",
                "group.protocol": "consumer",
                "auto.offset.reset": "earliest",
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        consumer.subscribe(["^rx-.*"])
        seen: set[bytes] = set()

        def saw(value: bytes) -> bool:
            m = consumer.poll(0.2)
            if m is not None and not m.error():
                seen.add(m.value())
            return value in seen

        try:
            wait_for(lambda: saw(b"a0") and saw(b"a1"), 30, "the matching topic's records")
            create_topic_v7(b.port, "rx-b", 1)
            produce_spread(b.bootstrap, "rx-b", ["b0"], 1)
            wait_for(lambda: saw(b"b0"), 30, "the new matching topic's records", interval=0)
            assert b"o" not in seen
        finally:
            consumer.close()
