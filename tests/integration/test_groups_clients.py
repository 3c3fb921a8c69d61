"""Consumer groups of kafka-python, of aiokafka, and one group mixing all three clients."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
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


def values(n: int) -> set[str]:
    return {f"v{i}" for i in range(n)}


@pytest.mark.parametrize("kind", ["kafka-python", "aiokafka"])
def test_group_of_one_client_library(tmp_path: Path, kind: str) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic, group = unique_topic("lib"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 4)
        produce_spread(b.bootstrap, topic, sorted(values(80)), 4)
        procs = [start(kind, b.bootstrap, group, topic, f"{kind}-{i}") for i in range(2)]
        wait_for(
            lambda: (
                assert_exclusive_cover(procs, 4) and all(len(p.assignment()) == 2 for p in procs)
            ),
            90,
            "a 2/2 split",
        )
        wait_for(lambda: procs[0].values() | procs[1].values() >= values(80), 60, "all records")
        wait_for(
            lambda: committed_offsets(b.bootstrap, group, topic, 4) == {p: 20 for p in range(4)},
            30,
            "commits",
        )
        # One member leaves cleanly: the other takes over everything.
        procs[1].stop()
        wait_for(lambda: procs[0].assignment() == set(range(4)), 60, "takeover after leave")
        produce_spread(b.bootstrap, topic, [f"w{i}" for i in range(8)], 4)
        wait_for(lambda: {f"w{i}" for i in range(8)} <= procs[0].values(), 30, "new records")
        errors = [e for p in procs for e in p.snapshot() if e["ev"] == "commit_error"]
        assert len(errors) <= 2, errors  # at most the commits racing the rebalance


def test_one_group_mixing_three_clients(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b, consumers(tmp_path) as start:
        topic, group = unique_topic("mix"), f"g-{uuid.uuid4().hex[:8]}"
        create_topic_v7(b.port, topic, 6)
        produce_spread(b.bootstrap, topic, sorted(values(120)), 6)
        procs = [
            start(
                "confluent",
                b.bootstrap,
                group,
                topic,
                "confluent",
                **{"partition.assignment.strategy": "range"},
            ),
            start("kafka-python", b.bootstrap, group, topic, "kafka-python"),
            start("aiokafka", b.bootstrap, group, topic, "aiokafka", range=True),
        ]
        wait_for(
            lambda: (
                assert_exclusive_cover(procs, 6) and all(len(p.assignment()) == 2 for p in procs)
            ),
            120,
            "a 3-way split",
        )
        wait_for(
            lambda: set().union(*(p.values() for p in procs)) >= values(120), 60, "all records"
        )
        wait_for(
            lambda: committed_offsets(b.bootstrap, group, topic, 6) == {p: 20 for p in range(6)},
            30,
            "every client committed",
        )
