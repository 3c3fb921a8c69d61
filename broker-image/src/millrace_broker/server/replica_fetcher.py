"""The follower's fetcher: one task per leader broker, fetching all partitions it leads.

Kafka's ReplicaFetcherThread, asyncio edition. Each round sends one Fetch (v12: topic
names, `replica_id` = this node, each partition's log end offset as the fetch offset,
its latest leader epoch as `last_fetched_epoch`, the leader epoch it believes current)
with `replica.fetch.wait.max.ms`, `replica.fetch.min.bytes`, `replica.fetch.max.bytes`
per partition and `replica.fetch.response.max.bytes` in total, then for each partition:

- DivergingEpoch set: truncate the log as `replication.follower.truncation_for_divergence`
  decides (the leader's log differs from ours above that offset), fetch again.
- Records: append them as a follower (offsets and epochs are the leader's), take the
  leader's high watermark (capped at our log end) and log start offset.
- NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH, ...: leave the partition for the
  next metadata image to settle; back off `replica.fetch.backoff.ms`.

Connection failures back off and reconnect; the partitions' positions are simply their
log ends, so nothing needs to be remembered across reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from ..replication.follower import truncation_for_divergence
from ..storage.errors import StorageError
from ..storage.partition_log import PartitionLog
from .kio_build import nested
from .replication_throttle import follower_received, follower_skips

if TYPE_CHECKING:
    from .replica_manager import Key, ReplicaManager

log = logging.getLogger(__name__)
FETCH_VERSION = 12


@dataclass(slots=True)
class FollowedPartition:
    plog: PartitionLog
    leader_epoch: int
    start_at: int | None = None  # fetch from here: our log ends below the leader's start

    def fetch_offset(self) -> int:
        end = self.plog.log_end_offset
        return end if self.start_at is None else max(end, self.start_at)


class ReplicaFetcher:
    def __init__(self, manager: ReplicaManager, leader_id: int) -> None:
        self.manager = manager
        self.leader_id = leader_id
        self.partitions: dict[Key, FollowedPartition] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._stopping = False

    def follow(self, key: Key, plog: PartitionLog, leader_epoch: int) -> None:
        current = self.partitions.get(key)
        if current is not None and current.plog is plog and current.leader_epoch == leader_epoch:
            return  # unchanged: keep its state and any fetch in flight for it
        self.partitions[key] = FollowedPartition(plog, leader_epoch)
        self.wake()

    def unfollow(self, key: Key) -> None:
        self.partitions.pop(key, None)

    def retain(self, keys: set[Key]) -> None:
        for key in [k for k in self.partitions if k not in keys]:
            del self.partitions[key]

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> list[asyncio.Task[None]]:
        self._stopping = True
        if self._conn is not None:
            self._conn.close()
        task, self._task = self._task, None
        return [task] if task is not None else []

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:  # also stops if a cancellation is swallowed by wait_for
            if self.manager.paused or not self.partitions:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            try:
                await self._fetch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("fetch from broker %d failed (%s); retrying", self.leader_id, exc)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                await asyncio.sleep(self._config_ms("replica.fetch.backoff.ms") / 1000)

    def _config_ms(self, name: str) -> int:
        return self.manager.broker.effective_config().get_int(name)

    async def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        broker = self.manager.broker
        node = broker.image.brokers.get(self.leader_id)
        if node is None or not node.endpoints:
            raise ConnectionError(f"broker {self.leader_id} has no registered endpoint")
        wanted = broker.config.inter_broker_listener_name
        endpoint = next((e for e in node.endpoints if e[0] == wanted), node.endpoints[0])
        assert self.manager.connect is not None
        self._conn = await self.manager.connect(endpoint[1], endpoint[2])
        return self._conn

    async def _fetch_once(self) -> None:
        conn = await self._connection()
        broker = self.manager.broker
        # replication throttle (issue 4): out-of-sync throttled partitions over the quota wait
        sent = {k: f for k, f in self.partitions.items() if not follower_skips(broker, *k)}
        if not sent:
            await asyncio.sleep(self._config_ms("replica.fetch.backoff.ms") / 1000)
            return
        request = self._build_request(sent)
        timeout_s = (
            self._config_ms("replica.fetch.wait.max.ms")
            + self._config_ms("replica.socket.timeout.ms")
        ) / 1000
        response = await conn.request(request, timeout_s=timeout_s)
        if self.manager.paused:
            return  # stopped while the fetch was in flight: drop what it brought
        backoff = False
        if response.error_code:
            backoff = True
        for topic in response.responses:
            for p in topic.partitions:
                key = (topic.topic, p.partition_index)
                followed = sent.get(key)
                if followed is None or self.partitions.get(key) is not followed:
                    continue  # no longer following this partition from this leader
                if not self._apply(key, followed, p):
                    backoff = True
                follower_received(broker, *key, len(p.records or b""))
        if backoff:
            await asyncio.sleep(self._config_ms("replica.fetch.backoff.ms") / 1000)

    def _build_request(self, partitions: dict[Key, FollowedPartition]) -> Any:
        cls: Any = load_request_schema(1, FETCH_VERSION)
        topic_cls, part_cls = nested(cls, "FetchTopic"), nested(cls, "FetchPartition")
        by_topic: dict[str, list[Any]] = {}
        max_bytes = self._config_ms("replica.fetch.max.bytes")
        for (name, pid), f in sorted(partitions.items()):
            by_topic.setdefault(name, []).append(
                part_cls(
                    partition=pid,
                    current_leader_epoch=f.leader_epoch,
                    fetch_offset=f.fetch_offset(),
                    last_fetched_epoch=f.plog.epochs.latest_epoch,
                    log_start_offset=f.plog.log_start_offset,
                    partition_max_bytes=max_bytes,
                )
            )
        config = self.manager.broker.effective_config()
        return cls(
            replica_id=self.manager.broker.node_id,
            max_wait=datetime.timedelta(milliseconds=config.get_int("replica.fetch.wait.max.ms")),
            min_bytes=config.get_int("replica.fetch.min.bytes"),
            max_bytes=config.get_int("replica.fetch.response.max.bytes"),
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=tuple(topic_cls(topic=n, partitions=tuple(ps)) for n, ps in by_topic.items()),
            forgotten_topics_data=(),
            rack_id="",
        )

    def _apply(self, key: Key, followed: FollowedPartition, p: Any) -> bool:
        """Apply one partition's answer; False if the fetcher should back off."""
        plog = followed.plog
        if plog.closed:
            return True
        if p.error_code != ErrorCode.none:
            if (
                p.error_code == ErrorCode.offset_out_of_range
                and p.log_start_offset > plog.log_end_offset
            ):
                # The leader deleted what we have not copied yet (retention): start over at
                # its log start, as Kafka's truncateFullyAndStartAt does.
                log.warning(
                    "%s-%d: log end %d is below leader %d's log start %d; starting there",
                    *key,
                    plog.log_end_offset,
                    self.leader_id,
                    p.log_start_offset,
                )
                plog.truncate_to(plog.log_start_offset)
                followed.start_at = p.log_start_offset
                return True
            return False
        div = p.diverging_epoch
        if div is not None and div.epoch >= 0 and div.end_offset >= 0:
            truncation = truncation_for_divergence(
                plog.epochs,
                leader_epoch=div.epoch,
                leader_end_offset=div.end_offset,
                log_end_offset=plog.log_end_offset,
                high_watermark=self.manager.high_watermark(plog),
            )
            log.info(
                "%s-%d: log diverges from leader %d at epoch %d; truncating to %d",
                *key,
                self.leader_id,
                div.epoch,
                truncation.offset,
            )
            before = (plog.log_end_offset, plog.epochs.latest_epoch)
            plog.truncate_to(truncation.offset)
            plog.epochs.truncate_from_end(truncation.offset)  # also an empty last epoch
            return (plog.log_end_offset, plog.epochs.latest_epoch) != before
        now = self.manager.broker.clock_ms()
        if p.records:
            followed.start_at = None
            try:
                plog.append_as_follower(p.records, now_ms=now)
            except StorageError as exc:
                log.warning("%s-%d: follower append failed: %s", *key, exc.message)
                return False
        if p.log_start_offset > plog.log_start_offset:
            with contextlib.suppress(StorageError):
                plog.delete_records_before(min(p.log_start_offset, plog.log_end_offset))
        self.manager.set_follower_hw(key, min(p.high_watermark, plog.log_end_offset))
        return True
