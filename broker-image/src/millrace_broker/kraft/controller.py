"""The quorum controller: cluster metadata as the state machine of the Raft log.

Every node (voter or observer) replays committed metadata records into its immutable
`MetadataImage` and tells its listeners, exactly like `LocalController` does after a
journal commit. Only the active controller (the Raft leader) decides: `submit(plan)`
runs `plan(image)` under a lock against the leader's image, proposes the resulting
records and returns once they are committed and applied, so two decisions never
interleave. Requests that reach another node are forwarded to the leader by the
dispatcher (see server/forwarding.py) before they get here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from kio.schema.errors import ErrorCode

from ..metadata.controller import PRODUCER_ID_BLOCK, ControllerError, Listener, Plan
from ..metadata.image import MetadataImage, replay
from ..metadata.records import MetadataRecord, ProducerIdsRecord, decode_record, encode_record
from ..raft.core import Committed
from ..raft.records import DataRecord, Entry
from .driver import NotLeader, RaftDriver

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
    def __init__(self, cluster_id: str) -> None:
        self._image = MetadataImage(cluster_id=cluster_id)
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self.driver: RaftDriver | None = None

    def attach(self, driver: RaftDriver) -> None:
        self.driver = driver

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
        """A leader is known and everything it committed so far is applied here."""
        if self.driver is None:
            return False
        node = self.driver.node
        return node.leader_id is not None and node.applied_offset >= node.high_watermark > 0

    def on_commit(self, committed: list[Committed]) -> None:
        old = self._image
        new = old
        for item in committed:
            if isinstance(item, Entry):
                if isinstance(item.record, DataRecord):
                    new = replay(new, decode_record(item.record.payload))
            else:
                log.warning("metadata snapshots are not loaded yet; skipping %s", item.snapshot_id)
        if new is not old:
            self._image = new
            for listener in self._listeners:
                listener(old, new)

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
