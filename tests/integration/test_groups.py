"""Consumer groups with confluent-kafka: exclusive assignment, failover after kill -9,
broker restart, cooperative-sticky, static membership, independent groups."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient
from test_groups_support import (
    assert_exclusive_cover,
    committed_offsets,
    consumers,
    create_topic_v7,
    group_broker,
    produce_spread,
    wait_for,
)

from support_clients import unique_topic

SESSION_TIMEOUT_S = 6.0


def values(start: int, stop: int) -> list[str]:
    return [f"v{i}" for i in range(start, stop)]


def test_three_consumers_failover_after_kill9_and_broker_restart(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic, group = unique_topic("grp"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 6)
        produce_spread(b.bootstrap, topic, values(0, 600), 6)
        procs = [start("confluent", b.bootstrap, group, topic, f"c{i}") for i in range(3)]

        # Every partition owned by exactly one member, two each.
        wait_for(
            lambda: (
                assert_exclusive_cover(procs, 6) and all(len(p.assignment()) == 2 for p in procs)
            ),
            60,
            "a 3-way assignment",
        )
        wait_for(
            lambda: set().union(*(p.values() for p in procs)) >= set(values(0, 600)),
            60,
            "the first 600 records",
        )

        victim, survivors = procs[0], procs[1:]
        owned = victim.assignment()
        wait_for(
            lambda: all(
                o == 100 for p, o in committed_offsets(b.bootstrap, group, topic, 6).items()
            ),
            30,
            "every record committed",
        )
        at_kill = [len(s.messages()) for s in survivors]
        victim.kill9()
        killed_at = time.monotonic()
        committed = committed_offsets(b.bootstrap, group, topic, 6)
        produce_spread(b.bootstrap, topic, values(600, 1200), 6)

        # The victim's partitions move to the survivors within the session timeout.
        wait_for(lambda: assert_exclusive_cover(survivors, 6), 30, "reassignment")
        took = time.monotonic() - killed_at
        assert took < SESSION_TIMEOUT_S + 6, f"reassignment took {took:.1f}s"
        everything = set(values(0, 1200))
        wait_for(
            lambda: set().union(*(p.values() for p in procs)) >= everything,
            60,
            "all 1200 records across the group",
        )
        # The new owners resumed at the committed offsets: nothing skipped, nothing replayed.
        for partition in owned:
            first = min(
                m["o"]
                for s, n in zip(survivors, at_kill, strict=True)
                for m in s.messages()[n:]
                if m["p"] == partition
            )
            assert first == committed[partition] == 100

        # Broker restart (kill -9): groups and offsets come back from __consumer_offsets.
        wait_for(
            lambda: all(o == 200 for o in committed_offsets(b.bootstrap, group, topic, 6).values()),
            30,
            "every record committed",
        )
        seen_before = sum(len(s.messages()) for s in survivors)
        b.kill9()
        b.start()
        assert committed_offsets(b.bootstrap, group, topic, 6) == {p: 200 for p in range(6)}
        admin = AdminClient({"bootstrap.servers": b.bootstrap})

        def restored() -> bool:
            # Members whose session ran out client-side during the restart rejoin with new
            # ids; their old identities leave when the reloaded session times out.
            d = admin.describe_consumer_groups([group])[group].result(30)
            return len(d.members) == 2 and str(d.state).endswith("STABLE")

        wait_for(restored, 40, "the group restored with its two members")
        produce_spread(b.bootstrap, topic, values(1200, 1260), 6)
        wait_for(
            lambda: set().union(*(p.values() for p in survivors)) >= set(values(1200, 1260)),
            60,
            "records produced after the restart",
        )
        wait_for(lambda: assert_exclusive_cover(survivors, 6), 30, "assignment after restart")
        replayed = [m for s in survivors for m in s.messages()[seen_before:] if m["o"] < 200]
        assert not replayed, f"records before the committed offsets were re-read: {replayed[:5]}"


def test_cooperative_sticky_rebalances_incrementally(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic, group = unique_topic("coop"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 6)
        produce_spread(b.bootstrap, topic, values(0, 60), 6)
        conf = {"partition.assignment.strategy": "cooperative-sticky"}
        first = start("confluent", b.bootstrap, group, topic, "first", **conf)
        wait_for(lambda: first.assignment() == set(range(6)), 60, "first owns everything")
        second = start("confluent", b.bootstrap, group, topic, "second", **conf)
        wait_for(
            lambda: assert_exclusive_cover([first, second], 6) and len(second.assignment()) == 3,
            60,
            "a 3/3 split",
        )
        # Incremental: the first consumer gave up only the three partitions that moved.
        revoked = [p for e in first.snapshot() if e["ev"] == "revoke" for p in e["parts"]]
        assert sorted(revoked) == sorted(second.assignment())
        owned: set[int] = set()
        smallest = 6
        for e in first.snapshot():
            if e["ev"] == "assign":
                owned |= set(e["parts"])
            elif e["ev"] == "revoke":
                owned -= set(e["parts"])
                smallest = min(smallest, len(owned))
        assert smallest == 3
        wait_for(lambda: first.values() | second.values() >= set(values(0, 60)), 30, "all records")


def test_static_member_restart_does_not_rebalance(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic, group = unique_topic("static"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 4)
        a = start(
            "confluent",
            b.bootstrap,
            group,
            topic,
            "a",
            **{"group.instance.id": "static-a", "session.timeout.ms": 15000},
        )
        other = start(
            "confluent",
            b.bootstrap,
            group,
            topic,
            "b",
            **{"group.instance.id": "static-b", "session.timeout.ms": 15000},
        )
        wait_for(
            lambda: assert_exclusive_cover([a, other], 4) and len(a.assignment()) == 2,
            60,
            "a 2/2 split",
        )
        time.sleep(1.0)
        a_parts = a.assignment()
        other_events = len([e for e in other.snapshot() if e["ev"] in ("assign", "revoke")])
        a.stop()  # a static member does not leave the group on close
        restarted = start(
            "confluent",
            b.bootstrap,
            group,
            topic,
            "a2",
            **{"group.instance.id": "static-a", "session.timeout.ms": 15000},
        )
        wait_for(lambda: restarted.assignment() == a_parts, 30, "the same partitions back")
        time.sleep(2.0)
        assert (
            len([e for e in other.snapshot() if e["ev"] in ("assign", "revoke")]) == other_events
        ), "the other rebalanced"
        produce_spread(b.bootstrap, topic, values(0, 40), 4)
        wait_for(
            lambda: restarted.values() | other.values() >= set(values(0, 40)),
            30,
            "records after the restart",
        )


def test_two_groups_consume_independently(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic = unique_topic("two")
        create_topic_v7(b.port, topic, 3)
        produce_spread(b.bootstrap, topic, values(0, 90), 3)
        g1, g2 = f"g1-{uuid.uuid4().hex[:6]}", f"g2-{uuid.uuid4().hex[:6]}"
        one = start("confluent", b.bootstrap, g1, topic, "one")
        wait_for(lambda: one.values() >= set(values(0, 90)), 60, "group one reads all")
        one.stop()
        assert committed_offsets(b.bootstrap, g1, topic, 3) == {0: 30, 1: 30, 2: 30}
        # The second group starts from the beginning: group one's offsets are not its own.
        assert committed_offsets(b.bootstrap, g2, topic, 3) == {0: -1001, 1: -1001, 2: -1001}
        two = start("confluent", b.bootstrap, g2, topic, "two")
        wait_for(lambda: two.values() >= set(values(0, 90)), 60, "group two reads all")
        assert len(two.messages()) == 90
        assert committed_offsets(b.bootstrap, g2, topic, 3) == {0: 30, 1: 30, 2: 30}
