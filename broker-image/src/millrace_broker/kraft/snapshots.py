"""When a node snapshots its metadata image, and taking the snapshot (KIP-630).

Every node, voter or observer, snapshots its own committed image, as Kafka's
``SnapshotGenerator`` does: once ``metadata.log.max.record.bytes.between.snapshots``
bytes of metadata records were applied since the last snapshot, or once
``metadata.log.max.snapshot.interval.ms`` (0: never) passed since the last snapshot and
at least one record was applied since.  Loading a snapshot (at start, or one fetched
from the leader) counts as having taken one.

``SnapshotPolicy`` is that rule, pure (the caller passes the clock).  ``Snapshotter``
applies it for a node: it encodes the image (checked to restore it exactly, see
metadata/snapshot.py) and hands it to the Raft core, which writes it (kraft/disk_log.py:
temp file, fsync, rename) and moves the log start (to the previous snapshot, see there):
a fetcher below the log start is sent the latest snapshot instead of records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..config import BrokerConfig
from ..metadata.image import MetadataImage
from ..metadata.snapshot import IncompleteSnapshot, verified_encoding
from ..raft.core import RaftNode

log = logging.getLogger(__name__)

MAX_BYTES_KEY = "metadata.log.max.record.bytes.between.snapshots"
MAX_INTERVAL_KEY = "metadata.log.max.snapshot.interval.ms"


@dataclass
class SnapshotPolicy:
    max_bytes: int = 20 * 1024 * 1024  # Kafka's defaults
    max_interval_ms: int = 3_600_000
    bytes_since: int = 0
    last_ms: int | None = None  # when the last snapshot was taken or loaded

    @classmethod
    def from_config(cls, config: BrokerConfig) -> SnapshotPolicy:
        return cls(config.get_int(MAX_BYTES_KEY), config.get_int(MAX_INTERVAL_KEY))

    def applied(self, nbytes: int) -> None:
        self.bytes_since += nbytes

    def due(self, now_ms: int) -> bool:
        if self.last_ms is None:
            self.last_ms = now_ms  # the interval runs from start-up
        if self.bytes_since <= 0:
            return False
        if self.bytes_since >= self.max_bytes:
            return True
        return self.max_interval_ms > 0 and now_ms - self.last_ms >= self.max_interval_ms

    def reset(self, now_ms: int) -> None:
        self.bytes_since = 0
        self.last_ms = now_ms


ImageState = Callable[[], tuple[MetadataImage, int, bool]]  # image, its end offset, intact


class Snapshotter:
    """Applies the policy for one node: checks after each commit (``check``) and, for
    the interval rule, from a timer armed once records are applied.

    Encoding runs in a worker thread (a large image takes a while and the event loop
    also drives Raft's timers); the image is immutable, so the thread reads it safely.
    The snapshot is then handed to the core on the event loop, if the core can still
    take it at that offset.  One snapshot at a time.
    """

    def __init__(
        self, policy: SnapshotPolicy, *, state: ImageState, clock_ms: Callable[[], int]
    ) -> None:
        self.policy = policy
        self._state = state
        self._clock_ms = clock_ms
        self.node: RaftNode | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def check(self) -> None:
        node = self.node
        if node is None or getattr(node.log, "closed", False):
            return  # not started, or shutting down
        now = self._clock_ms()
        if self._task is not None and not self._task.done():
            return  # one at a time; the policy is checked again at the next commit
        if not self.policy.due(now):
            self._arm_timer(now)
            return
        self.policy.reset(now)
        image, end_offset, intact = self._state()
        if not intact or end_offset != node.applied_offset:
            log.error("a metadata record failed to apply: not snapshotting this image")
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (unit tests): inline
            install(node, end_offset, snapshot_data(image, end_offset), topics=len(image.topics))
            return
        self._task = loop.create_task(self._take(node, image, end_offset))

    async def _take(self, node: RaftNode, image: MetadataImage, end_offset: int) -> None:
        try:
            data = await asyncio.to_thread(snapshot_data, image, end_offset)
            if not getattr(node.log, "closed", False):
                install(node, end_offset, data, topics=len(image.topics))
        except Exception:
            log.exception("writing a metadata snapshot failed; the log is kept whole")

    def _arm_timer(self, now: int) -> None:
        policy = self.policy
        if self._timer is not None or policy.bytes_since <= 0 or policy.max_interval_ms <= 0:
            return
        last = policy.last_ms if policy.last_ms is not None else now
        delay_s = max(0, last + policy.max_interval_ms - now) / 1000
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # without an event loop only commits check the policy
        self._timer = loop.call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.check()


def snapshot_data(image: MetadataImage, end_offset: int) -> bytes | None:
    """The image's snapshot records, checked to restore it; None (logged) if they
    cannot: then the log is kept as it is, which is always safe."""
    try:
        return verified_encoding(image)
    except IncompleteSnapshot as exc:
        log.error("not snapshotting the metadata log at offset %d: %s", end_offset, exc)
        return None


def install(node: RaftNode, end_offset: int, data: bytes | None, *, topics: int) -> None:
    """Hand the snapshot to the core, which writes it (kraft/disk_log.py) and moves the
    log start; skipped if the log already starts at or above it (a snapshot from the
    leader arrived meanwhile)."""
    if data is None:
        return
    if not node.log.start_offset < end_offset <= min(node.high_watermark, node.applied_offset):
        return
    latest = node.log.latest_snapshot()
    if latest is not None and latest.snapshot_id.offset >= end_offset:
        return
    snapshot = node.create_snapshot(end_offset, data)
    log.info(
        "metadata snapshot %d-%d written (%d bytes, %d topics); the log now starts at %d",
        snapshot.snapshot_id.offset,
        snapshot.snapshot_id.epoch,
        len(data),
        topics,
        node.log.start_offset,
    )
