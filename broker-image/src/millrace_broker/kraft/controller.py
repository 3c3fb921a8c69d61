"""The quorum controller: cluster metadata as the state machine of the Raft log.

Every node (voter or observer) replays committed metadata records into its immutable
`MetadataImage` and tells its listeners, exactly like `LocalController` does after a
journal commit. Only the active controller (the Raft leader) decides: `submit(plan)`
runs `plan(image)` under a lock against the leader's image, proposes the resulting
records and returns once they are committed and applied, so two decisions never
interleave. Requests that reach another node are forwarded to the leader by the
dispatcher (see server/forwarding.py) before they get here.

Snapshots (KIP-630, see snapshots.py): a snapshot handed over by the core (ours at
start-up, or one fetched from the leader because our log was behind its log start)
replaces the image; every node snapshots its own image by the policy's rule, checked
after each commit and, for the time rule, by a timer armed once records are applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from kio.schema.errors import ErrorCode

from ..metadata.controller import PRODUCER_ID_BLOCK, ControllerError, Listener, Plan
from ..metadata.image import MetadataImage, replay
from ..metadata.records import MetadataRecord, ProducerIdsRecord, decode_record, encode_record
from ..metadata.snapshot import decode_image
from ..raft.core import Committed
from ..raft.records import DataRecord, Entry
from ..raft.state import Follower, Leader
from .driver import NotLeader, RaftDriver
from .snapshots import SnapshotPolicy, Snapshotter

log = logging.getLogger(__name__)


class NotController(ControllerError):
    """Handlers answer NOT_CONTROLLER (retriable): the client retries, reaching the new
    active controller through forwarding."""

    def __init__(self, leader_id: int | None) -> None:
        super().__init__(
            ErrorCode.not_controller,
            f"this node is not the active controller (active: {leader_id}); retry",
        )
        self.leader_id = leader_id


class RaftController:
    def __init__(
        self,
        cluster_id: str,
        *,
        snapshots: SnapshotPolicy | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000),
    ) -> None:
        self._image = MetadataImage(cluster_id=cluster_id)
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self.driver: RaftDriver | None = None
        self._clock_ms = clock_ms
        self._applied = 0  # the image holds every record below this offset
        self._replay_failed = False  # then the image is not the log's state: no snapshot
        self.snapshotter = Snapshotter(
            snapshots or SnapshotPolicy(),
            state=lambda: (self._image, self._applied, not self._replay_failed),
            clock_ms=clock_ms,
        )

    def attach(self, driver: RaftDriver) -> None:
        self.driver = driver
        self.snapshotter.node = driver.node

    @property
    def image(self) -> MetadataImage:
        return self._image

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def active_controller_id(self) -> int | None:
        return self.driver.node.leader_id if self.driver else None

    @property
    def is_active(self) -> bool:
        return self.driver is not None and self.driver.node.is_leader()

    def caught_up(self) -> bool:
        """The high watermark was learned in this run (a leader committed its epoch's
        first record, a follower fetched from its leader) and everything below it is
        applied here. (The high watermark restarts at the log start, which a snapshot
        moves above 0: it alone does not show that the leader was heard from.)"""
        if self.driver is None:
            return False
        node = self.driver.node
        st = node.state
        if isinstance(st, Leader):
            learned = node.high_watermark > st.epoch_start_offset
        else:
            learned = isinstance(st, Follower) and st.has_fetched
        return learned and node.applied_offset >= node.high_watermark > 0

    def on_commit(self, committed: list[Committed]) -> None:
        old = self._image
        new = old
        for item in committed:
            if isinstance(item, Entry):
                if isinstance(item.record, DataRecord):
                    try:
                        new = replay(new, decode_record(item.record.payload))
                    except Exception:
                        # skip it but apply the rest of the batch (the core already
                        # handed all of it out); snapshots stop until a snapshot is loaded
                        log.exception("metadata record at offset %d failed to apply", item.offset)
                        self._replay_failed = True
                    self.snapshotter.policy.applied(len(item.record.payload))
                self._applied = item.offset + 1
            else:
                new = decode_image(item.data, cluster_id=new.cluster_id)
                self._replay_failed = False
                self._applied = item.snapshot_id.offset
                self.snapshotter.policy.reset(self._clock_ms())
                log.info(
                    "metadata image loaded from snapshot %d-%d: %d topics, %d brokers",
                    item.snapshot_id.offset,
                    item.snapshot_id.epoch,
                    len(new.topics),
                    len(new.brokers),
                )
        if new is not old:
            self._image = new
            for listener in self._listeners:
                listener(old, new)
        self.snapshotter.check()

    async def submit(self, plan: Plan) -> MetadataImage:
        async with self._lock:
            if self.driver is None or not self.driver.node.is_leader():
                raise NotController(self.active_controller_id)
            records = plan(self._image)
            if records:
                try:
                    await self.driver.propose([encode_record(r) for r in records])
                except NotLeader as exc:
                    raise NotController(exc.leader_id) from exc
            return self._image

    async def commit_records(self, records: Sequence[MetadataRecord]) -> MetadataImage:
        return await self.submit(lambda _image: list(records))

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]:
        first: list[int] = []

        def plan(image: MetadataImage) -> list[MetadataRecord]:
            first.append(image.next_producer_id)
            return [ProducerIdsRecord(broker_id, image.next_producer_id + PRODUCER_ID_BLOCK)]

        await self.submit(plan)
        return first[0], PRODUCER_ID_BLOCK


Subscriber = Callable[[MetadataImage, MetadataImage], None]
