"""Leader-side replication rules for one partition, pure (no I/O, time passed in).

Kafka's `Partition` rules, as the leader applies them:

- A follower's fetch at `fetch_offset` tells the leader the follower's log end offset
  (LEO). The follower is *caught up* at the time of a fetch that reached the leader's LEO
  as of that fetch; a fetch that reached the leader's LEO as of the follower's previous
  fetch proves it was caught up at that previous time (Kafka's `lastCaughtUpTimeMs`).
- ISR shrink: an ISR follower not caught up for more than `replica.lag.time.max.ms`.
- ISR expand: a replica outside the ISR whose LEO has reached both the high watermark
  and the start offset of the current leader epoch (so it holds everything this leader
  committed and has truncated any divergent tail).
- One ISR change in flight at a time (AlterPartition to the controller). While one is
  pending, the *maximal ISR* (committed ISR plus any replica being added) counts for the
  high watermark, so a replica being removed still holds the HW back until the
  controller commits its removal (Kafka's PendingShrinkIsr/PendingExpandIsr).
- High watermark = the smallest LEO over the maximal ISR (the leader's own LEO included);
  it never moves backwards.
- `acks=all` is complete once HW > the request's last offset; it then succeeds only if the
  maximal ISR still has `min.insync.replicas` members (else
  NOT_ENOUGH_REPLICAS_AFTER_APPEND).
- Each follower fetch also reports the follower's log start offset; the *low watermark*
  (Kafka's `lowWatermarkIfLeader`) is the smallest log start offset over the leader and
  its live followers: DeleteRecords is complete once it reaches the requested offset.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

UNKNOWN_OFFSET = -1


@dataclass(slots=True)
class FollowerState:
    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_ms: int = 0
    last_fetch_leader_leo: int = UNKNOWN_OFFSET
    last_fetch_ms: int = 0
    log_start_offset: int = UNKNOWN_OFFSET


@dataclass(slots=True)
class LeaderState:
    leader_id: int
    leader_epoch: int
    partition_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    epoch_start_offset: int
    high_watermark: int
    followers: dict[int, FollowerState] = field(default_factory=dict)
    pending_isr: tuple[int, ...] | None = None

    @classmethod
    def become_leader(
        cls,
        *,
        leader_id: int,
        leader_epoch: int,
        partition_epoch: int,
        replicas: tuple[int, ...],
        isr: tuple[int, ...],
        log_end_offset: int,
        high_watermark: int,
        now_ms: int,
    ) -> LeaderState:
        """A new leader: followers' LEOs are unknown; ISR members count as caught up now
        (they get `replica.lag.time.max.ms` to fetch before they can be dropped)."""
        followers = {
            r: FollowerState(last_caught_up_ms=now_ms if r in isr else 0)
            for r in replicas
            if r != leader_id
        }
        return cls(
            leader_id,
            leader_epoch,
            partition_epoch,
            replicas,
            isr,
            epoch_start_offset=log_end_offset,
            high_watermark=min(high_watermark, log_end_offset),
            followers=followers,
        )

    def update_partition(
        self,
        *,
        partition_epoch: int,
        replicas: tuple[int, ...],
        isr: tuple[int, ...],
        now_ms: int,
    ) -> None:
        """The controller committed a change at the same leader epoch (an ISR change)."""
        self.partition_epoch = partition_epoch
        self.replicas = replicas
        self.isr = isr
        self.pending_isr = None
        for r in replicas:
            if r != self.leader_id and r not in self.followers:
                self.followers[r] = FollowerState(last_caught_up_ms=now_ms if r in isr else 0)
        for r in list(self.followers):
            if r not in replicas:
                del self.followers[r]

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        if self.pending_isr is None:
            return self.isr
        extra = tuple(r for r in self.pending_isr if r not in self.isr)
        return self.isr + extra

    def on_follower_fetch(
        self,
        replica_id: int,
        fetch_offset: int,
        *,
        leader_leo: int,
        now_ms: int,
        log_start_offset: int = UNKNOWN_OFFSET,
    ) -> None:
        state = self.followers.get(replica_id)
        if state is None:
            return
        if log_start_offset >= 0:
            state.log_start_offset = log_start_offset
        if fetch_offset >= leader_leo:
            state.last_caught_up_ms = now_ms
        elif fetch_offset >= state.last_fetch_leader_leo >= 0:
            state.last_caught_up_ms = max(state.last_caught_up_ms, state.last_fetch_ms)
        state.log_end_offset = fetch_offset
        state.last_fetch_leader_leo = leader_leo
        state.last_fetch_ms = now_ms

    def advance_high_watermark(self, leader_leo: int) -> bool:
        """Recompute the HW from the maximal ISR; True if it moved forward."""
        candidate = leader_leo
        for r in self.maximal_isr:
            if r == self.leader_id:
                continue
            state = self.followers.get(r)
            candidate = min(candidate, state.log_end_offset if state else UNKNOWN_OFFSET)
        if candidate > self.high_watermark:
            self.high_watermark = candidate
            return True
        return False

    def low_watermark(self, leader_log_start: int, live: Collection[int]) -> int:
        """The smallest log start offset over this leader and its live followers (a
        follower that has not reported one yet counts as -1: not reached)."""
        low = leader_log_start
        for r, state in self.followers.items():
            if r in live:
                low = min(low, state.log_start_offset)
        return low

    def out_of_sync(self, *, now_ms: int, lag_max_ms: int) -> tuple[int, ...]:
        return tuple(
            r
            for r in self.isr
            if r != self.leader_id
            and now_ms - self.followers.get(r, FollowerState()).last_caught_up_ms > lag_max_ms
        )

    def caught_up_outside_isr(self, ineligible: Collection[int] = ()) -> tuple[int, ...]:
        out = []
        for r in self.replicas:
            state = self.followers.get(r)
            if r == self.leader_id or r in self.isr or state is None or r in ineligible:
                continue
            leo = state.log_end_offset
            if leo >= self.high_watermark and leo >= self.epoch_start_offset:
                out.append(r)
        return tuple(out)

    def next_isr(
        self,
        *,
        now_ms: int,
        lag_max_ms: int,
        ineligible: Collection[int] = (),
        expand: bool = True,
    ) -> tuple[int, ...] | None:
        """The ISR to propose to the controller, or None (nothing to change, or a change
        already in flight). Shrinking wins over expanding; replica order is kept.
        `ineligible` replicas (fenced or shutting-down brokers, KIP-841) never join.
        Only a follower's fetch may expand (`expand`, Kafka's maybeExpandIsr): a timer
        would judge on the LEO of the follower's last fetch, however long ago, and put a
        follower that can no longer reach us back into the ISR."""
        if self.pending_isr is not None:
            return None
        drop = set(self.out_of_sync(now_ms=now_ms, lag_max_ms=lag_max_ms))
        if drop:
            return tuple(r for r in self.isr if r not in drop)
        if not expand:
            return None
        add = set(self.caught_up_outside_isr(ineligible))
        if add:
            return tuple(r for r in self.replicas if r in self.isr or r in add)
        return None

    def acks_all_outcome(self, last_offset: int, min_isr: int) -> str | None:
        """None while waiting; "ok" or "not_enough_replicas_after_append" once HW passed."""
        if self.high_watermark <= last_offset:
            return None
        if len(self.maximal_isr) < min_isr:
            return "not_enough_replicas_after_append"
        return "ok"
