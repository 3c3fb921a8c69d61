"""When a node snapshots its metadata image, and taking the snapshot (KIP-630).

Every node, voter or observer, snapshots its own committed image, as Kafka's
``SnapshotGenerator`` does: once ``metadata.log.max.record.bytes.between.snapshots``
bytes of metadata records were applied since the last snapshot, or once
``metadata.log.max.snapshot.interval.ms`` (0: never) passed since the last snapshot and
at least one record was applied since.  Loading a snapshot (at start, or one fetched
from the leader) counts as having taken one.

``SnapshotPolicy`` is that rule, pure (the caller passes the clock).  ``take_snapshot``
encodes the image (checked to restore it exactly, see metadata/snapshot.py) and hands it
to the Raft core, which writes it (kraft/disk_log.py: temp file, fsync, rename) and
advances the log start to it: from then on a fetcher below that offset is sent the
snapshot instead of records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import BrokerConfig
from ..metadata.image import MetadataImage
from ..metadata.snapshot import IncompleteSnapshot, verified_encoding
from ..raft.core import RaftNode
from ..raft.snapshot import Snapshot

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


def take_snapshot(node: RaftNode, image: MetadataImage, end_offset: int) -> Snapshot | None:
    """Snapshot ``image``, the state after every record below ``end_offset``.

    None when there is nothing new to fold (the log already starts there, e.g. after a
    snapshot from the leader) or when the image cannot be written completely; then the
    log is kept as it is, which is always safe.
    """
    if not node.log.start_offset < end_offset <= min(node.high_watermark, node.applied_offset):
        return None
    try:
        data = verified_encoding(image)
    except IncompleteSnapshot as exc:
        log.error("not snapshotting the metadata log at offset %d: %s", end_offset, exc)
        return None
    snapshot = node.create_snapshot(end_offset, data)
    log.info(
        "metadata snapshot %d-%d written (%d bytes, %d topics); the log now starts at %d",
        snapshot.snapshot_id.offset,
        snapshot.snapshot_id.epoch,
        len(data),
        len(image.topics),
        node.log.start_offset,
    )
    return snapshot
