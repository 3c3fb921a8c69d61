"""Topic planner as a table of (spec, observed, facts) -> step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from millrace_operator.model.topic import DeletionPolicy, TopicSpec, TopicStatus
from millrace_operator.plans.common import Blocked
from millrace_operator.plans.topics import (
    AlterConfigs,
    ClusterFacts,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    ObservedTopic,
    Owner,
    build_topic_status,
    conflicting_owner,
    next_step,
    plan_delete,
)

UP = ClusterFacts(exists=True, ready_brokers=3, brokers=3)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def spec(**fields: Any) -> TopicSpec:
    return TopicSpec.model_validate({"clusterRef": {"name": "demo"}, **fields})


def seen(partitions: int = 3, rf: int = 3, **configs: str) -> ObservedTopic:
    return ObservedTopic(
        "orders", "id-1", partitions, rf, {k.replace("_", "."): v for k, v in configs.items()}
    )


CASES: list[tuple[str, TopicSpec, ObservedTopic | None, ClusterFacts, Any]] = [
    ("missing cluster", spec(), None, ClusterFacts(exists=False), Blocked),
    ("cluster not ready", spec(), None, ClusterFacts(True, 0, 3), Blocked),
    (
        "create",
        spec(partitions=3, config={"retention.ms": "1000"}),
        None,
        UP,
        CreateTopic("orders", 3, 3, {"retention.ms": "1000"}),
    ),
    ("rf above brokers", spec(replicationFactor=3), None, ClusterFacts(True, 1, 1), Blocked),
    (
        "in sync",
        spec(partitions=3, config={"retention.ms": "1000"}),
        seen(retention_ms="1000"),
        UP,
        None,
    ),
    (
        "config changed in spec",
        spec(partitions=3, config={"retention.ms": "2000"}),
        seen(retention_ms="1000"),
        UP,
        AlterConfigs("orders", {"retention.ms": "2000"}, (), drift=False),
    ),
    (
        "config set outside is removed",
        spec(partitions=3),
        seen(cleanup_policy="compact"),
        UP,
        AlterConfigs("orders", {}, ("cleanup.policy",), False),
    ),
    ("grow", spec(partitions=6), seen(), UP, CreatePartitions("orders", 6)),
    ("shrink", spec(partitions=1), seen(), UP, Blocked),
    ("rf change", spec(partitions=3, replicationFactor=1), seen(), UP, Blocked),
]


@pytest.mark.parametrize(
    ("case", "topic", "observed", "facts", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_next_step(
    case: str, topic: TopicSpec, observed: ObservedTopic | None, facts: ClusterFacts, expected: Any
) -> None:
    step = next_step(topic, observed, topic_name="orders", cluster=facts)
    if expected is Blocked:
        assert isinstance(step, Blocked), step
    else:
        assert step == expected


@pytest.mark.parametrize(
    ("case", "reason", "fragment"),
    [
        ("missing cluster", "ClusterNotFound", "spec.clusterRef.name"),
        ("rf above brokers", "ReplicationFactorTooHigh", "spec.replicas"),
        ("shrink", "PartitionsCannotShrink", "at least 3"),
        ("rf change", "ReplicationFactorChange", "back to 3"),
    ],
)
def test_blocked_reasons_name_the_fix(case: str, reason: str, fragment: str) -> None:
    _, topic, observed, facts, _ = next(c for c in CASES if c[0] == case)
    step = next_step(topic, observed, topic_name="orders", cluster=facts)
    assert isinstance(step, Blocked)
    assert step.reason == reason and fragment in step.message


def test_drift_is_flagged_when_the_spec_did_not_change() -> None:
    step = next_step(
        spec(partitions=3, config={"retention.ms": "1000"}),
        seen(retention_ms="5"),
        topic_name="orders",
        cluster=UP,
        spec_changed=False,
    )
    assert step == AlterConfigs("orders", {"retention.ms": "1000"}, (), drift=True)
    status = build_topic_status(
        TopicStatus(),
        generation=2,
        topic_name="orders",
        observed=seen(retention_ms="5"),
        step=step,
        now=NOW,
    )
    assert status.last_drift is not None
    assert status.last_drift.details == ["retention.ms=5 -> 1000"]  # found -> set back
    assert status.conditions[0].reason == "Updating"


def test_conflict_goes_to_the_newer_resource() -> None:
    old = Owner("ns/orders", "2026-01-01T00:00:00Z")
    new = Owner("ns/orders-copy", "2026-02-01T00:00:00Z")
    assert conflicting_owner(old, [new]) is None
    assert conflicting_owner(new, [old]) == old
    step = next_step(spec(), None, topic_name="orders", cluster=UP, conflict=old)
    assert isinstance(step, Blocked) and step.reason == "TopicNameConflict"
    assert "ns/orders" in step.message


@pytest.mark.parametrize(
    ("policy", "observed", "facts", "conflict", "expected"),
    [
        (DeletionPolicy.DELETE, seen(), UP, None, DeleteTopic("orders")),
        (DeletionPolicy.RETAIN, seen(), UP, None, None),
        (DeletionPolicy.DELETE, None, UP, None, None),
        (DeletionPolicy.DELETE, seen(), UP, Owner("ns/other", "t"), None),
        (DeletionPolicy.DELETE, seen(), ClusterFacts(exists=False), None, None),
        (DeletionPolicy.DELETE, seen(), ClusterFacts(True, 0, 3), None, Blocked),
    ],
)
def test_plan_delete(
    policy: DeletionPolicy,
    observed: ObservedTopic | None,
    facts: ClusterFacts,
    conflict: Owner | None,
    expected: Any,
) -> None:
    step = plan_delete(policy, observed, cluster=facts, conflict=conflict)
    if expected is Blocked:
        assert isinstance(step, Blocked)
    else:
        assert step == expected


def test_status_in_sync_keeps_transition_time() -> None:
    first = build_topic_status(
        TopicStatus(), generation=1, topic_name="orders", observed=seen(), step=None, now=NOW
    )
    later = datetime(2026, 1, 2, tzinfo=UTC)
    second = build_topic_status(
        first, generation=1, topic_name="orders", observed=seen(), step=None, now=later
    )
    assert second.conditions[0].last_transition_time == NOW
    assert second.topic_id == "id-1" and second.partitions == 3
    assert second.conditions[0].reason == "InSync"
