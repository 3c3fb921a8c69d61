"""This broker's replicas: leader state, high watermarks, ISR changes, follower fetchers.

Kafka's ReplicaManager, reduced to the replication data plane:

- On every metadata image (`on_metadata_change`, subscribed after the broker's own
  listener, so the logs exist): partitions this node leads get a `LeaderState` (a new
  leader epoch is also recorded in the log's leader-epoch cache at the log end, as
  Kafka's `makeLeader` does); partitions it follows are handed to the fetcher of their
  leader (one `ReplicaFetcher` task per leader broker, `num.replica.fetchers=1`);
  partitions it no longer hosts are dropped.
- The high watermark of a led partition follows the pure rules of
  `replication.partition_state`; followers keep the HW the leader last reported.
- Follower fetches (`on_follower_fetch`) update the follower's LEO and caught-up time,
  may advance the HW (waking long-polling consumers and `acks=all` producers through the
  fetch purgatory) and may expand the ISR.
- A task every `replica.lag.time.max.ms / 2` shrinks the ISR of lagging followers. ISR
  changes go to the controller through a `ControllerChannel` (AlterPartition), one in
  flight per partition; the committed change comes back as a new metadata image.
- `wait_for_acks` is the `acks=all` wait: until HW passes the last offset, the request
  timeout, or the loss of leadership.

`connect` (how to reach another broker) is injected by the wiring so that this module
needs no socket code; `pause_fetchers`/`resume_fetchers` stop and restart replication
from this node (used by tests to simulate a stuck follower).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from ..metadata.image import MetadataImage
from ..replication.channel import AlterPartitionError, ControllerChannel
from ..replication.partition_state import LeaderState
from ..storage.checkpoint import read_offset, write_offset
from ..storage.partition_log import PartitionLog
from ..storage.segment import FSYNC_POOL
from .replica_fetcher import ReplicaFetcher

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger(__name__)
ALTER_RETRY_MS = 1000
HIGH_WATERMARK_FILE = "high-watermark"  # per partition dir; Kafka: replication-offset-checkpoint

Key = tuple[str, int]
Connect = Callable[[str, int], Awaitable[Any]]


class ReplicaManager:
    def __init__(self, broker: Broker, channel: ControllerChannel) -> None:
        self.broker = broker
        self.channel = channel
        self.connect: Connect | None = None
        self.leaders: dict[Key, LeaderState] = {}
        self.follower_hw: dict[Key, int] = {}
        self.keys: dict[PartitionLog, Key] = {}
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self.paused = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._isr_task: asyncio.Task[None] | None = None
        self._started = False
        self._checkpointed: dict[Key, int] = {}
        self._alter_retry_at: dict[Key, int] = {}  # after a refused AlterPartition
        self._last_checkpoint_ms = 0
        # retention deletes nothing at or above the high watermark (Kafka's rule: the log
        # start offset never passes it, so no replica loses what others lack)
        broker.logs.high_watermark = self.high_watermark

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, connect: Connect) -> None:
        """Begin replicating (needs a running event loop)."""
        self.connect = connect
        self._started = True
        self._isr_task = asyncio.get_running_loop().create_task(self._isr_loop())
        self.on_metadata_change(MetadataImage(cluster_id=self.broker.cluster_id), self.broker.image)
        for fetcher in self.fetchers.values():
            fetcher.start()

    async def stop(self) -> None:
        self._started = False
        tasks = [t for t in (self._isr_task, *self._tasks) if t is not None]
        for fetcher in self.fetchers.values():
            tasks.extend(fetcher.stop())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        self.checkpoint_high_watermarks()
        self.fetchers.clear()

    def pause_fetchers(self) -> None:
        self.paused = True

    def resume_fetchers(self) -> None:
        self.paused = False
        for fetcher in self.fetchers.values():
            fetcher.wake()

    # -- metadata -------------------------------------------------------------------------

    def on_metadata_change(self, old: MetadataImage, new: MetadataImage) -> None:
        me = self.broker.node_id
        now = self.broker.clock_ms()
        hosted: set[Key] = set()
        following: dict[Key, int] = {}
        for name, topic in new.topics.items():
            for pid, part in topic.partitions.items():
                key = (name, pid)
                plog = self.broker.logs.get(name, pid)
                if me not in part.replicas or plog is None:
                    continue
                hosted.add(key)
                self.keys[plog] = key
                if part.leader == me:
                    self._lead(
                        key,
                        plog,
                        part.leader_epoch,
                        part.partition_epoch,
                        part.replicas,
                        part.isr,
                        now,
                    )
                else:
                    if self.leaders.pop(key, None) is not None:
                        self.broker.purgatory.notify(key)
                    if key not in self.follower_hw:
                        self.follower_hw[key] = self._initial_hw(plog)
                    if part.leader >= 0:
                        following[key] = part.leader
                        self._fetcher(part.leader).follow(key, plog, part.leader_epoch)
        for key in [k for k in self._alter_retry_at if k not in self.leaders]:
            del self._alter_retry_at[key]
        for key in [k for k in self.leaders if k not in hosted]:
            del self.leaders[key]
            self.broker.purgatory.notify(key)
        for plog in [p for p, k in self.keys.items() if k not in hosted or p.closed]:
            del self.keys[plog]
        for key in [k for k in self.follower_hw if k not in following and k not in hosted]:
            del self.follower_hw[key]
        for leader_id, fetcher in self.fetchers.items():
            fetcher.retain({k for k, lid in following.items() if lid == leader_id})

    def _lead(
        self,
        key: Key,
        plog: PartitionLog,
        leader_epoch: int,
        partition_epoch: int,
        replicas: tuple[int, ...],
        isr: tuple[int, ...],
        now: int,
    ) -> None:
        state = self.leaders.get(key)
        if state is None or state.leader_epoch != leader_epoch:
            for fetcher in self.fetchers.values():
                fetcher.unfollow(key)
            plog.epochs.assign(leader_epoch, plog.log_end_offset)
            state = LeaderState.become_leader(
                leader_id=self.broker.node_id,
                leader_epoch=leader_epoch,
                partition_epoch=partition_epoch,
                replicas=replicas,
                isr=isr,
                log_end_offset=plog.log_end_offset,
                high_watermark=self._pop_follower_hw(key, plog),
                now_ms=now,
            )
            self.leaders[key] = state
            log.info("leading %s-%d at epoch %d (ISR %s)", *key, leader_epoch, list(isr))
        elif state.partition_epoch != partition_epoch:
            state.update_partition(
                partition_epoch=partition_epoch, replicas=replicas, isr=isr, now_ms=now
            )
            log.info("%s-%d ISR is now %s", *key, list(isr))
        state.advance_high_watermark(plog.log_end_offset)
        self.broker.purgatory.notify(key)

    def _fetcher(self, leader_id: int) -> ReplicaFetcher:
        fetcher = self.fetchers.get(leader_id)
        if fetcher is None:
            fetcher = self.fetchers[leader_id] = ReplicaFetcher(self, leader_id)
            if self._started:
                fetcher.start()
        return fetcher

    # -- high watermark and follower progress ------------------------------------------------

    def leader_state(self, plog: PartitionLog) -> LeaderState | None:
        key = self.keys.get(plog)
        return self.leaders.get(key) if key is not None else None

    def high_watermark(self, plog: PartitionLog) -> int:
        key = self.keys.get(plog)
        if key is None:
            return plog.log_end_offset  # not (yet) known to the metadata: the old behaviour
        state = self.leaders.get(key)
        if state is not None:
            if state.advance_high_watermark(plog.log_end_offset):
                self.broker.purgatory.notify(key)
            return max(state.high_watermark, plog.log_start_offset)
        hw = self.follower_hw.get(key, plog.log_start_offset)
        return max(min(hw, plog.log_end_offset), plog.log_start_offset)

    def on_follower_fetch(
        self, plog: PartitionLog, replica_id: int, fetch_offset: int, log_start_offset: int = -1
    ) -> None:
        key = self.keys.get(plog)
        state = self.leaders.get(key) if key is not None else None
        if key is None or state is None:
            return
        now = self.broker.clock_ms()
        follower = state.followers.get(replica_id)
        old_start = follower.log_start_offset if follower is not None else log_start_offset
        state.on_follower_fetch(
            replica_id,
            fetch_offset,
            leader_leo=plog.log_end_offset,
            now_ms=now,
            log_start_offset=log_start_offset,
        )
        moved = state.advance_high_watermark(plog.log_end_offset)
        if moved or 0 <= log_start_offset != old_start:  # acks=all or DeleteRecords may be done
            self.broker.purgatory.notify(key)
        if replica_id not in state.isr and state.pending_isr is None:
            self._maybe_alter_isr(key, state, now)

    def _pop_follower_hw(self, key: Key, plog: PartitionLog) -> int:
        if key in self.follower_hw:
            return self.follower_hw.pop(key)
        return self._initial_hw(plog)

    def _initial_hw(self, plog: PartitionLog) -> int:
        """The checkpointed HW (what this node knew committed), within the log's range."""
        saved = read_offset(plog.directory / HIGH_WATERMARK_FILE, plog.log_start_offset)
        return min(max(saved, plog.log_start_offset), plog.log_end_offset)

    def checkpoint_high_watermarks(self, *, in_background: bool = False) -> None:
        """Write each hosted partition's HW where it changed (Kafka checkpoints every
        `replica.high.watermark.checkpoint.interval.ms`), so a restarted node neither
        forgets what was committed nor shows consumers a smaller HW. The periodic
        checkpoint runs its fsyncs on the storage fsync thread, off the event loop."""
        for plog, key in list(self.keys.items()):
            if plog.closed:
                continue
            hw = self.high_watermark(plog)
            if self._checkpointed.get(key) != hw:
                path = plog.directory / HIGH_WATERMARK_FILE
                if in_background:
                    FSYNC_POOL.submit(_write_checkpoint, path, hw, key)
                else:
                    _write_checkpoint(path, hw, key)
                self._checkpointed[key] = hw

    def set_follower_hw(self, key: Key, high_watermark: int) -> None:
        if key in self.follower_hw:
            self.follower_hw[key] = high_watermark

    # -- DeleteRecords ----------------------------------------------------------------------

    def low_watermark(self, plog: PartitionLog) -> int:
        """The smallest log start offset over the live replicas (this node's own if it
        does not lead the partition)."""
        state = self.leader_state(plog)
        if state is None:
            return plog.log_start_offset
        brokers = self.broker.image.brokers
        live = {r for r in state.replicas if r in brokers and not brokers[r].fenced}
        return state.low_watermark(plog.log_start_offset, live)

    async def wait_for_low_watermark(
        self, plog: PartitionLog, offset: int, *, deadline: float
    ) -> int | None:
        """Wait until every live replica's log start offset reached `offset` (Kafka's
        DelayedDeleteRecords); the low watermark, or None on timeout or lost leadership."""
        key = self.keys.get(plog)
        for _ in range(1_000_000):
            if key is None or self.leaders.get(key) is None:
                return None
            low = self.low_watermark(plog)
            if low >= offset:
                return low
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self.broker.purgatory.wait_any([key], remaining)
        return None

    # -- acks=all -------------------------------------------------------------------------

    async def wait_for_acks(
        self, plog: PartitionLog, last_offset: int, *, min_isr: int, deadline: float
    ) -> int:
        """Wait until HW > last_offset; the Kafka error code for this partition."""
        key = self.keys.get(plog)
        for _ in range(1_000_000):
            state = self.leaders.get(key) if key is not None else None
            if key is None or state is None:
                return int(ErrorCode.not_leader_or_follower)
            state.advance_high_watermark(plog.log_end_offset)
            outcome = state.acks_all_outcome(last_offset, min_isr)
            if outcome == "ok":
                return int(ErrorCode.none)
            if outcome is not None:
                return int(ErrorCode.not_enough_replicas_after_append)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return int(ErrorCode.request_timed_out)
            await self.broker.purgatory.wait_any([key], remaining)
        return int(ErrorCode.request_timed_out)

    # -- ISR changes ----------------------------------------------------------------------

    def _lag_max_ms(self) -> int:
        return self.broker.effective_config().get_int("replica.lag.time.max.ms")

    async def _isr_loop(self) -> None:
        while self._started:
            await asyncio.sleep(max(self._lag_max_ms() / 2, 50) / 1000)
            try:
                now = self.broker.clock_ms()
                for key, state in list(self.leaders.items()):
                    self._maybe_alter_isr(key, state, now, expand=False)
                interval = self.broker.config.get_int(
                    "replica.high.watermark.checkpoint.interval.ms"
                )
                if now - self._last_checkpoint_ms >= interval:
                    self._last_checkpoint_ms = now
                    self.checkpoint_high_watermarks(in_background=True)
            except Exception:
                log.exception("ISR check failed; will retry")

    def _maybe_alter_isr(
        self, key: Key, state: LeaderState, now: int, *, expand: bool = True
    ) -> None:
        brokers = self.broker.image.brokers
        ineligible = {r for r in state.replicas if r not in brokers or brokers[r].fenced}
        new_isr = state.next_isr(
            now_ms=now, lag_max_ms=self._lag_max_ms(), ineligible=ineligible, expand=expand
        )
        if new_isr is None or now < self._alter_retry_at.get(key, 0):
            return
        state.pending_isr = new_isr
        task = asyncio.get_running_loop().create_task(self._alter_isr(key, state, new_isr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alter_isr(self, key: Key, state: LeaderState, new_isr: tuple[int, ...]) -> None:
        topic = self.broker.image.topics.get(key[0])
        if topic is None:
            state.pending_isr = None
            return
        log.info("%s-%d: proposing ISR %s (was %s)", *key, list(new_isr), list(state.isr))
        try:
            result = await self.channel.alter_partition(
                broker_id=self.broker.node_id,
                topic_id=topic.topic_id,
                partition=key[1],
                leader_epoch=state.leader_epoch,
                partition_epoch=state.partition_epoch,
                new_isr=new_isr,
            )
        except Exception as exc:  # the channel could not reach a controller
            result = AlterPartitionError(int(ErrorCode.unknown_server_error), repr(exc))
        if self.leaders.get(key) is not state:
            return
        if isinstance(result, AlterPartitionError):
            log.info(
                "AlterPartition for %s-%d refused: %s (%s); retrying in %d ms",
                *key,
                result.error_code,
                result.message,
                ALTER_RETRY_MS,
            )
            self._alter_retry_at[key] = self.broker.clock_ms() + ALTER_RETRY_MS
            state.pending_isr = None
        elif (
            result.leader_epoch == state.leader_epoch
            and result.partition_epoch > state.partition_epoch
        ):
            state.update_partition(
                partition_epoch=result.partition_epoch,
                replicas=state.replicas,
                isr=result.isr,
                now_ms=self.broker.clock_ms(),
            )
        else:
            state.pending_isr = None
        plog = self.broker.logs.get(*key)
        if plog is not None:
            state.advance_high_watermark(plog.log_end_offset)
        self.broker.purgatory.notify(key)


def _write_checkpoint(path: Path, hw: int, key: Key) -> None:
    try:
        write_offset(path, hw)
    except OSError:
        log.exception("cannot checkpoint the high watermark of %s-%d", *key)
