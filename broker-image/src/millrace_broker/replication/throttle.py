"""Replication throttles (KIP-73), pure: which replicas are throttled and whether the
byte-rate quota of a direction is exceeded.

Kafka's semantics, as its ReplicationQuotaManager and fetch paths apply them:

- Two quotas per broker, bytes per second: `leader.replication.throttled.rate` (what
  this broker sends to followers) and `follower.replication.throttled.rate` (what its
  followers fetch), dynamic broker configs, per broker or cluster-wide; unset means
  unlimited.
- They apply only to throttled replicas, listed per topic in
  `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas` as
  `partition:broker,...` or `*` (every replica of the topic). The leader throttles a
  partition when its own id is listed for it in the leader list; a follower throttles a
  partition when its own id is listed in the follower list.
- Only replicas outside the ISR are throttled (`!isReplicaInSync`): a caught-up
  follower is never slowed down, so throttling cannot shrink the ISR or stall acks=all.
- When the quota is exceeded the leader leaves the partition's records out of the fetch
  response (the follower simply asks again), and the follower leaves the partition out of
  its fetch request; the bytes actually sent for throttled partitions are recorded.
- The rate is measured like Kafka's `Rate` over `replication.quota.window.num` samples of
  `replication.quota.window.size.seconds` (11 x 1 s): the total of the live samples over
  the time they span, but never less than (samples - 1) windows, so a quota admits a
  burst of about rate x 10 s before it starts throttling, exactly as in Kafka.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Mapping

UNLIMITED = 0x7FFFFFFFFFFFFFFF  # Long.MAX_VALUE: Kafka's "no quota"
LEADER_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_REPLICAS = "follower.replication.throttled.replicas"
LEADER_RATE = "leader.replication.throttled.rate"
FOLLOWER_RATE = "follower.replication.throttled.rate"
ALL = frozenset({-1})  # "*": every partition


@functools.lru_cache(maxsize=4096)
def throttled_partitions(value: str, broker_id: int) -> frozenset[int]:
    """The partitions for which `broker_id` is listed (`ALL` for the wildcard)."""
    value = value.strip()
    if value == "*":
        return ALL
    partitions = set()
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        partition, _, broker = item.partition(":")
        try:
            if int(broker) == broker_id:
                partitions.add(int(partition))
        except ValueError:
            continue  # validated when the config was set; never throttle on garbage
    return frozenset(partitions)


def is_throttled(
    topic_configs: Mapping[str, str], key: str, partition: int, broker_id: int
) -> bool:
    value = topic_configs.get(key)
    if not value:
        return False
    listed = throttled_partitions(value, broker_id)
    return listed is ALL or partition in listed


def rate_limit(per_broker: Mapping[str, str], cluster_default: Mapping[str, str], key: str) -> int:
    raw = per_broker.get(key) or cluster_default.get(key)
    try:
        return int(raw) if raw else UNLIMITED
    except ValueError:
        return UNLIMITED


class RateQuota:
    """Bytes recorded in time windows; `exceeded` compares the rate with a bound."""

    def __init__(self, *, samples: int = 11, window_ms: int = 1000) -> None:
        self.samples = samples
        self.window_ms = window_ms
        self._windows: deque[list[int]] = deque()  # [start_ms, bytes]

    def _purge(self, now_ms: int) -> None:
        horizon = now_ms - self.samples * self.window_ms
        while self._windows and self._windows[0][0] <= horizon:
            self._windows.popleft()

    def record(self, nbytes: int, now_ms: int) -> None:
        if nbytes <= 0:
            return
        self._purge(now_ms)
        if not self._windows or now_ms >= self._windows[-1][0] + self.window_ms:
            self._windows.append([now_ms, 0])
            while len(self._windows) > self.samples:
                self._windows.popleft()
        self._windows[-1][1] += nbytes

    def rate(self, now_ms: int) -> float:
        """Bytes per second, as Kafka's Rate measures it."""
        self._purge(now_ms)
        if not self._windows:
            return 0.0
        total = sum(w[1] for w in self._windows)
        elapsed = now_ms - self._windows[0][0]
        full = elapsed // self.window_ms
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return total * 1000.0 / max(elapsed, 1)

    def exceeded(self, bound: int, now_ms: int) -> bool:
        return bound < UNLIMITED and self.rate(now_ms) > bound


class ReplicationThrottle:
    """One broker's two replication quotas (leader side and follower side)."""

    def __init__(self, broker_id: int, *, samples: int = 11, window_ms: int = 1000) -> None:
        self.broker_id = broker_id
        self.leader = RateQuota(samples=samples, window_ms=window_ms)
        self.follower = RateQuota(samples=samples, window_ms=window_ms)

    def leader_should_throttle(
        self,
        *,
        rate: int,
        topic_configs: Mapping[str, str],
        partition: int,
        replica_in_sync: bool,
        now_ms: int,
    ) -> bool:
        """Leave this partition's records out of a follower's fetch response?"""
        return (
            rate < UNLIMITED
            and not replica_in_sync
            and is_throttled(topic_configs, LEADER_REPLICAS, partition, self.broker_id)
            and self.leader.exceeded(rate, now_ms)
        )

    def leader_counts(self, topic_configs: Mapping[str, str], partition: int) -> bool:
        """Do the bytes sent for this partition count against the leader quota?"""
        return is_throttled(topic_configs, LEADER_REPLICAS, partition, self.broker_id)

    def follower_should_throttle(
        self,
        *,
        rate: int,
        topic_configs: Mapping[str, str],
        partition: int,
        in_sync: bool,
        now_ms: int,
    ) -> bool:
        """Leave this partition out of the next fetch request to its leader?"""
        return (
            rate < UNLIMITED
            and not in_sync
            and is_throttled(topic_configs, FOLLOWER_REPLICAS, partition, self.broker_id)
            and self.follower.exceeded(rate, now_ms)
        )

    def follower_counts(self, topic_configs: Mapping[str, str], partition: int) -> bool:
        return is_throttled(topic_configs, FOLLOWER_REPLICAS, partition, self.broker_id)
