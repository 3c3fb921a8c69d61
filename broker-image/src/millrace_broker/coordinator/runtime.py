"""The asyncio driver of the group coordinator: parked requests, timers, the log.

`GroupCoordinator` wraps the pure `GroupManager`:

- JoinGroup and SyncGroup get a token and an asyncio future; the manager's replies
  resolve the futures after every operation and every timer tick. A request answered at
  once is returned as a value, one that must wait as an awaitable.
- One background task sleeps until the next deadline (or until an operation wakes it),
  then runs `membership.tick`; every `offsets.retention.check.interval.ms` it also expires
  old offsets. The task is started lazily by the first request, inside the running loop.
- Persistence goes through `OffsetsLog` (the broker's `__consumer_offsets` partitions):
  each change is one v2 batch of keyed records, appended to the group's partition.
- `ensure_loaded()` replays every local `__consumer_offsets` partition once, so a
  restarted broker has every group and offset back before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Protocol

from kio.schema.errors import ErrorCode

from ..storage.records import Record, build_batch, decode_batch
from . import consumer_group, membership, offsets
from .manager import GroupConfig, GroupManager, JoinResult, PersistError, RecordPair, SyncResult
from .records import RecordFormatError, partition_for

log = logging.getLogger(__name__)
MAX_TIMER_SLEEP_S = 1.0
TRANSACTIONAL_BIT = 0x10


def marker_is_commit(records: Sequence[Record]) -> bool | None:
    """COMMIT (True) or ABORT (False) from a control batch's record, None if unknown."""
    for record in records:
        key = record.key or b""
        if len(key) >= 4:
            return int.from_bytes(key[2:4], "big") == 1
    return None


class OffsetsLog(Protocol):
    """The `__consumer_offsets` partitions as the coordinator needs them."""

    def partition_count(self) -> int: ...

    def is_local(self, partition: int) -> bool: ...

    def append(self, partition: int, batch: bytes, now_ms: int) -> None: ...

    def batches(self, partition: int) -> Iterator[bytes | memoryview]: ...


class GroupCoordinator:
    def __init__(
        self,
        *,
        config: GroupConfig,
        log: OffsetsLog,
        clock_ms: Callable[[], int],
        retention_check_interval_ms: int = 600_000,
    ) -> None:
        self.config = config
        self.log = log
        self.clock_ms = clock_ms
        self.retention_check_interval_ms = max(retention_check_interval_ms, 100)
        self.manager = GroupManager(config, self._persist)
        self.loaded = False
        self.loaded_partitions: set[int] = set()
        self._futures: dict[int, asyncio.Future[JoinResult | SyncResult]] = {}
        self._next_token = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_retention_ms = 0
        self._sleep_until_ms = 0

    # -- lifecycle -------------------------------------------------------------------------

    def partition_of(self, group_id: str) -> int:
        return partition_for(group_id, self.log.partition_count())

    def ensure_loaded(self) -> None:
        """Replay the local `__consumer_offsets` partitions (the topic must exist) once,
        and start the timers."""
        if not self.loaded:
            self.refresh_leadership()
            self.loaded = True
        self._start_timers()

    def refresh_leadership(self) -> None:
        """Load the partitions this broker newly leads; forget the groups of those it lost.

        Called on every metadata change once loaded (a no-op on a single node)."""
        local = {p for p in range(self.log.partition_count()) if self.log.is_local(p)}
        for partition in sorted(self.loaded_partitions - local):
            self.manager.unload(self._in_partition(partition))
            self.loaded_partitions.discard(partition)
        fresh = sorted(local - self.loaded_partitions)
        if fresh:
            count = sum(self._load_partition(p) for p in fresh)
            self.loaded_partitions |= set(fresh)
            now = self.clock_ms()
            wanted = set(fresh)
            self.manager.finish_load(now, lambda g: self.partition_of(g) in wanted)
            if not self._next_retention_ms:
                self._next_retention_ms = now + self.retention_check_interval_ms
            log.info(
                "group coordinator loaded %d records from %d partitions: %d groups",
                count,
                len(fresh),
                len(self.manager.groups),
            )
        self._deliver()

    def _load_partition(self, partition: int) -> int:
        count = 0
        for batch in self.log.batches(partition):
            header, records = decode_batch(batch)
            if header.is_control:
                commit = marker_is_commit(records)
                if commit is not None:
                    self.manager.complete_txn(
                        header.producer_id, commit, self._in_partition(partition)
                    )
                continue
            for record in records:
                if record.key is None:
                    continue
                try:
                    if header.is_transactional:
                        self.manager.replay_transactional(
                            header.producer_id, record.key, record.value
                        )
                    else:
                        self.manager.replay(record.key, record.value)
                    count += 1
                except (RecordFormatError, UnicodeDecodeError) as exc:
                    log.warning(
                        "skipping a malformed __consumer_offsets record in partition %d: %s",
                        partition,
                        exc,
                    )
        return count

    def _in_partition(self, partition: int) -> Callable[[str], bool]:
        return lambda group_id: self.partition_of(group_id) == partition

    def complete_txn(self, producer_id: int, partition: int, commit: bool) -> None:
        """A transaction marker was written to `__consumer_offsets-<partition>`."""
        self.manager.complete_txn(producer_id, commit, self._in_partition(partition))

    def _start_timers(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (unit tests drive tick() themselves)
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run_timers(), name="group-coordinator-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run_timers(self) -> None:
        assert self._wake is not None
        while True:
            now = self.clock_ms()
            try:
                self.tick(now)
            except Exception:
                log.exception("group coordinator timer tick failed; continuing")
            deadlines = [
                d
                for d in (
                    membership.next_deadline(self.manager),
                    consumer_group.next_deadline(self.manager.consumer_groups),
                )
                if d is not None
            ]
            deadline = min(deadlines, default=None)
            wait_s = MAX_TIMER_SLEEP_S
            if deadline is not None:
                wait_s = min(max((deadline - now) / 1000, 0.002), MAX_TIMER_SLEEP_S)
            self._sleep_until_ms = now + int(wait_s * 1000)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    def tick(self, now: int) -> None:
        membership.tick(self.manager, now)
        for group_id in consumer_group.tick(self.manager.consumer_groups, now):
            self._store_consumer_group(group_id)
        if now >= self._next_retention_ms:
            self._next_retention_ms = now + self.retention_check_interval_ms
            expired = offsets.expire_offsets(self.manager, now)
            if expired:
                log.info("expired %d committed offsets past offsets.retention.minutes", expired)
        self._deliver()

    # -- plumbing --------------------------------------------------------------------------

    def _persist(
        self, group_id: str, records: Sequence[RecordPair], producer: tuple[int, int] | None = None
    ) -> None:
        partition = self.partition_of(group_id)
        if not self.log.is_local(partition):
            raise PersistError(
                ErrorCode.not_coordinator,
                f"this broker does not lead __consumer_offsets-{partition}",
            )
        now = self.clock_ms()
        rows = [Record(i, now, key, value) for i, (key, value) in enumerate(records)]
        if producer is None:
            batch = build_batch(rows, base_offset=0, attributes=0)
        else:
            batch = build_batch(
                rows,
                base_offset=0,
                attributes=TRANSACTIONAL_BIT,
                producer_id=producer[0],
                producer_epoch=producer[1],
                base_sequence=-1,
            )
        try:
            self.log.append(partition, bytes(batch), now)
        except Exception as exc:
            log.exception("cannot write group %s to __consumer_offsets-%d", group_id, partition)
            raise PersistError(
                ErrorCode.coordinator_not_available,
                f"cannot write to __consumer_offsets-{partition}: {exc}",
            ) from exc

    def _deliver(self) -> None:
        for token, result in self.manager.take_replies():
            future = self._futures.pop(token, None)
            if future is not None and not future.done():
                future.set_result(result)
        hint, self.manager.next_hint = self.manager.next_hint, None
        if self._wake is not None and hint is not None and hint < self._sleep_until_ms:
            self._wake.set()

    def _park(self) -> tuple[int, asyncio.Future[JoinResult | SyncResult]]:
        self._next_token += 1
        future: asyncio.Future[JoinResult | SyncResult] = asyncio.get_running_loop().create_future()
        self._futures[self._next_token] = future
        return self._next_token, future

    def _result_or_wait(
        self, token: int, future: asyncio.Future[JoinResult | SyncResult]
    ) -> JoinResult | SyncResult | Awaitable[JoinResult | SyncResult]:
        self._deliver()
        if future.done():
            self._futures.pop(token, None)
            return future.result()
        return future

    # -- operations ------------------------------------------------------------------------

    def join(
        self, request: membership.JoinRequest
    ) -> JoinResult | SyncResult | Awaitable[JoinResult | SyncResult]:
        token, future = self._park()
        membership.join(self.manager, request, token, self.clock_ms())
        return self._result_or_wait(token, future)

    def sync(
        self,
        *,
        group_id: str,
        member_id: str,
        instance_id: str | None,
        generation: int,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> JoinResult | SyncResult | Awaitable[JoinResult | SyncResult]:
        token, future = self._park()
        membership.sync(
            self.manager,
            group_id=group_id,
            member_id=member_id,
            instance_id=instance_id,
            generation=generation,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
            assignments=assignments,
            token=token,
            now=self.clock_ms(),
        )
        return self._result_or_wait(token, future)

    def heartbeat(
        self, *, group_id: str, member_id: str, instance_id: str | None, generation: int
    ) -> ErrorCode:
        error = membership.heartbeat(
            self.manager,
            group_id=group_id,
            member_id=member_id,
            instance_id=instance_id,
            generation=generation,
            now=self.clock_ms(),
        )
        self._deliver()
        return error

    def leave(
        self, group_id: str, members: list[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        result = membership.leave(self.manager, group_id, members, self.clock_ms())
        self._deliver()
        return result

    def commit(
        self,
        *,
        group_id: str,
        member_id: str,
        instance_id: str | None,
        generation: int,
        partitions: list[offsets.CommitPartition],
        partition_exists: Callable[[str, int], bool],
        api_version: int,
    ) -> list[ErrorCode]:
        result = offsets.commit(
            self.manager,
            group_id=group_id,
            member_id=member_id,
            instance_id=instance_id,
            generation=generation,
            partitions=partitions,
            partition_exists=partition_exists,
            api_version=api_version,
            now=self.clock_ms(),
        )
        self._deliver()
        return result

    def consumer_heartbeat(
        self,
        request: consumer_group.CgHeartbeat,
        partition_count: consumer_group.PartitionCount,
        topics: consumer_group.TopicLister = tuple,
    ) -> consumer_group.CgResult:
        """One KIP-848 ConsumerGroupHeartbeat; the group is persisted when it changed."""
        mgr = self.manager
        classic = mgr.group(request.group_id)
        if (
            classic is not None
            and (classic.members or classic.protocol_type)
            and (request.group_id not in mgr.consumer_groups)
        ):
            return consumer_group.CgResult(
                ErrorCode.group_id_not_found,
                message=f"Group {request.group_id} is not a consumer group.",
            )
        existing = mgr.consumer_groups.get(request.group_id)
        before = consumer_group.encode_value(existing) if existing is not None else None
        result = consumer_group.heartbeat(
            mgr.consumer_groups, mgr.cg_config, request, partition_count, self.clock_ms(), topics
        )
        group = mgr.consumer_groups.get(request.group_id)
        if group is not None and consumer_group.encode_value(group) != before:
            try:
                mgr.store_consumer_group(group)
            except PersistError as exc:
                return consumer_group.CgResult(exc.error_code, message=str(exc))
        self._deliver()
        return result

    def _store_consumer_group(self, group_id: str) -> None:
        group = self.manager.consumer_groups.get(group_id)
        if group is not None:
            with contextlib.suppress(PersistError):
                self.manager.store_consumer_group(group)

    def delete_groups(self, group_ids: list[str]) -> list[ErrorCode]:
        out = [self.manager.delete_group(g, self.clock_ms()) for g in group_ids]
        self._deliver()
        return out
