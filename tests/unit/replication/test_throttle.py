"""Replication throttles (replication/throttle.py): Kafka's throttled-replica lists, its
windowed rate and when each side holds a partition back, as tables."""

from __future__ import annotations

import pytest

from millrace_broker.replication.throttle import (
    ALL,
    FOLLOWER_REPLICAS,
    LEADER_REPLICAS,
    UNLIMITED,
    RateQuota,
    ReplicationThrottle,
    is_throttled,
    rate_limit,
    throttled_partitions,
)


@pytest.mark.parametrize(
    ("value", "broker", "expected"),
    [
        ("*", 3, ALL),
        ("0:1,0:2,1:2", 2, frozenset({0, 1})),
        ("0:1,0:2,1:2", 1, frozenset({0})),
        ("0:1, 1:1 ,", 1, frozenset({0, 1})),
        ("0:1", 5, frozenset()),
        ("", 1, frozenset()),
        ("x:1,2:1", 1, frozenset({2})),  # garbage never throttles
    ],
)
def test_throttled_partitions_for_one_broker(
    value: str, broker: int, expected: frozenset[int]
) -> None:
    assert throttled_partitions(value, broker) == expected


@pytest.mark.parametrize(
    ("configs", "key", "partition", "broker", "expected"),
    [
        ({LEADER_REPLICAS: "*"}, LEADER_REPLICAS, 7, 1, True),
        ({LEADER_REPLICAS: "*"}, FOLLOWER_REPLICAS, 7, 1, False),
        ({FOLLOWER_REPLICAS: "0:4"}, FOLLOWER_REPLICAS, 0, 4, True),
        ({FOLLOWER_REPLICAS: "0:4"}, FOLLOWER_REPLICAS, 1, 4, False),
        ({}, LEADER_REPLICAS, 0, 1, False),
    ],
)
def test_is_throttled(
    configs: dict[str, str], key: str, partition: int, broker: int, expected: bool
) -> None:
    assert is_throttled(configs, key, partition, broker) is expected


def test_rate_limit_per_broker_then_cluster_default_then_unlimited() -> None:
    key = "leader.replication.throttled.rate"
    assert rate_limit({key: "100"}, {key: "5"}, key) == 100
    assert rate_limit({}, {key: "5"}, key) == 5
    assert rate_limit({}, {}, key) == UNLIMITED


def test_rate_counts_at_least_samples_minus_one_windows_like_kafka() -> None:
    quota = RateQuota(samples=11, window_ms=1000)
    quota.record(10_000, 0)
    # One window old: Kafka still divides by 10 windows, so a burst is allowed.
    assert quota.rate(500) == pytest.approx(10_000 / 10.5)
    assert not quota.exceeded(1000, 500)
    quota.record(5_000, 1_000)
    assert quota.exceeded(1000, 1_500)
    assert not quota.exceeded(UNLIMITED, 1_500)


def test_old_samples_expire_and_the_rate_falls() -> None:
    quota = RateQuota(samples=3, window_ms=1000)
    quota.record(6_000, 0)
    assert quota.rate(0) == pytest.approx(3_000)
    assert quota.exceeded(2_000, 1)
    assert quota.rate(3_001) == 0.0
    assert not quota.exceeded(2_000, 3_001)


@pytest.mark.parametrize(
    ("rate", "in_sync", "listed", "recorded", "expected"),
    [
        (1000, False, "*", 100_000, True),  # throttled, out of sync, over quota
        (1000, True, "*", 100_000, False),  # in-sync replicas are never throttled
        (1000, False, "", 100_000, False),  # not a throttled replica
        (1000, False, "*", 10, False),  # under quota
        (UNLIMITED, False, "*", 100_000, False),  # no rate set
    ],
)
def test_leader_and_follower_hold_back_only_throttled_out_of_sync_replicas(
    rate: int, in_sync: bool, listed: str, recorded: int, expected: bool
) -> None:
    throttle = ReplicationThrottle(1)
    throttle.leader.record(recorded, 0)
    throttle.follower.record(recorded, 0)
    leader = throttle.leader_should_throttle(
        rate=rate,
        topic_configs={LEADER_REPLICAS: listed},
        partition=0,
        replica_in_sync=in_sync,
        now_ms=10,
    )
    follower = throttle.follower_should_throttle(
        rate=rate,
        topic_configs={FOLLOWER_REPLICAS: listed},
        partition=0,
        in_sync=in_sync,
        now_ms=10,
    )
    assert leader is expected and follower is expected
