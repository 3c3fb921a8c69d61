"""The broker's replication throttles: reads the quota configs from the metadata image
and applies `replication.throttle` (pure) at the two hooks of the replica fetch path.

- Leader side (server/fetch.py): `leader_skips` before reading a partition for a
  follower; `leader_sent` with the finished response (bytes of throttled partitions).
- Follower side (server/replica_fetcher.py): `follower_skips` when building a fetch
  request; `follower_received` for the bytes each throttled partition brought.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..replication.throttle import (
    FOLLOWER_RATE,
    LEADER_RATE,
    UNLIMITED,
    ReplicationThrottle,
    rate_limit,
)

if TYPE_CHECKING:
    from .broker import Broker

_THROTTLES: weakref.WeakKeyDictionary[Any, ReplicationThrottle] = weakref.WeakKeyDictionary()


def throttle_of(broker: Broker) -> ReplicationThrottle:
    throttle = _THROTTLES.get(broker)
    if throttle is None:
        config = broker.config
        throttle = _THROTTLES[broker] = ReplicationThrottle(
            broker.node_id,
            samples=config.get_int("replication.quota.window.num"),
            window_ms=config.get_int("replication.quota.window.size.seconds") * 1000,
        )
    return throttle


def _rate(broker: Broker, key: str) -> int:
    configs = broker.image.broker_configs
    return rate_limit(configs.get(str(broker.node_id), {}), configs.get("", {}), key)


def leader_skips(broker: Broker, topic: str, partition: int, replica_id: int) -> bool:
    """Leave this partition's records out of the fetch response to follower `replica_id`?"""
    rate = _rate(broker, LEADER_RATE)
    if rate >= UNLIMITED:
        return False  # the common case costs one dict lookup
    image = broker.image
    part = image.topics[topic].partitions.get(partition) if topic in image.topics else None
    return throttle_of(broker).leader_should_throttle(
        rate=rate,
        topic_configs=image.configs_of_topic(topic),
        partition=partition,
        replica_in_sync=part is not None and replica_id in part.isr,
        now_ms=broker.clock_ms(),
    )


def leader_sent(broker: Broker, sent: Iterable[tuple[str, int, int]]) -> None:
    """Count (topic, partition, bytes) sent to a follower against the leader quota."""
    if _rate(broker, LEADER_RATE) >= UNLIMITED:
        return
    throttle = throttle_of(broker)
    image = broker.image
    total = sum(
        n for topic, p, n in sent if n and throttle.leader_counts(image.configs_of_topic(topic), p)
    )
    throttle.leader.record(total, broker.clock_ms())


def follower_skips(broker: Broker, topic: str, partition: int) -> bool:
    """Leave this partition out of this broker's next replica fetch request?"""
    rate = _rate(broker, FOLLOWER_RATE)
    if rate >= UNLIMITED:
        return False
    image = broker.image
    part = image.topics[topic].partitions.get(partition) if topic in image.topics else None
    return throttle_of(broker).follower_should_throttle(
        rate=rate,
        topic_configs=image.configs_of_topic(topic),
        partition=partition,
        in_sync=part is not None and broker.node_id in part.isr,
        now_ms=broker.clock_ms(),
    )


def follower_received(broker: Broker, topic: str, partition: int, nbytes: int) -> None:
    if nbytes <= 0 or _rate(broker, FOLLOWER_RATE) >= UNLIMITED:
        return
    throttle = throttle_of(broker)
    if throttle.follower_counts(broker.image.configs_of_topic(topic), partition):
        throttle.follower.record(nbytes, broker.clock_ms())
