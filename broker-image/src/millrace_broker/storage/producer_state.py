"""Idempotent/transactional producer state of one partition (Kafka's ProducerStateManager).

Per producer id we keep its epoch and the metadata of its last 5 batches (first/last
sequence, first/last offset, max timestamp), the coordinator epoch and the first offset of
an open transaction. A client append is checked batch by batch against a *staged* copy of
the entries, so several batches of one producer in one append see each other and nothing
changes unless the whole append is written:

- epoch below the current one: INVALID_PRODUCER_EPOCH (what Kafka 2.7+ answers; the
  client aborts/retries rather than treating it as fatal fencing);
- a new epoch must start at sequence 0, unless the producer has no known epoch (all its
  batches were deleted, or it is unknown): then any sequence is accepted, as
  ``ProducerAppendInfo.checkSequence`` does since UNKNOWN_PRODUCER_ID was retired;
- same epoch: the first sequence must follow the last one (wrapping at Int32 max), else
  OUT_OF_ORDER_SEQUENCE_NUMBER;
- an exact (epoch, first seq, last seq) match with one of the 5 retained batches is a
  duplicate: the caller writes nothing and answers with the original offsets;
- a non-transactional batch while a transaction is open: INVALID_TXN_STATE.

Durability: ``<offset:020d>.snapshot`` files hold every entry as of ``offset`` (taken on
segment roll and clean close). Loading takes the newest snapshot at or below the log end
and replays batch headers from its offset (``replay``: no validation, headers only).

Snapshot layout (big-endian): b"MPS1", crc32c(u32) of the rest, count(i32), then per
producer: id(i64) epoch(i16) coordinatorEpoch(i32) lastTimestamp(i64)
txnFirstOffset(i64, -1 none) nBatches(i8) and per batch firstSeq(i32) lastSeq(i32)
firstOffset(i64) lastOffset(i64) timestamp(i64).
"""

from __future__ import annotations

import os
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from crc32c import crc32c
from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import INT32_MAX, NO_SEQUENCE, BatchHeader
from millrace_broker.storage.errors import StorageError

BATCHES_TO_RETAIN = 5
NO_EPOCH = -1
SNAPSHOT_SUFFIX = ".snapshot"
_MAGIC = b"MPS1"
_ENTRY = struct.Struct(">qhiqqb")
_BATCH = struct.Struct(">iiqqq")


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    producer_id: int
    epoch: int = NO_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=deque)
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int | None = None

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def copy(self) -> ProducerEntry:
        return ProducerEntry(
            self.producer_id,
            self.epoch,
            deque(self.batches),
            self.coordinator_epoch,
            self.last_timestamp,
            self.current_txn_first_offset,
        )

    def find_duplicate(self, header: BatchHeader) -> BatchMetadata | None:
        if header.producer_epoch != self.epoch:
            return None
        first, last = header.base_sequence, header.last_sequence
        for meta in self.batches:
            if meta.first_seq == first and meta.last_seq == last:
                return meta
        return None

    def add_batch(self, header: BatchHeader, first_offset: int) -> None:
        if header.producer_epoch != self.epoch:
            self.batches.clear()
            self.epoch = header.producer_epoch
        if len(self.batches) == BATCHES_TO_RETAIN:
            self.batches.popleft()
        last_offset = first_offset + header.last_offset_delta
        self.batches.append(
            BatchMetadata(
                header.base_sequence,
                header.last_sequence,
                first_offset,
                last_offset,
                header.max_timestamp,
            )
        )
        self.last_timestamp = header.max_timestamp
        if header.is_transactional and self.current_txn_first_offset is None:
            self.current_txn_first_offset = first_offset


def _check_sequence(
    entry: ProducerEntry, current: ProducerEntry | None, header: BatchHeader
) -> None:
    """Kafka's ``ProducerAppendInfo.checkSequence`` (``entry`` includes staged batches)."""
    pid, epoch, first_seq = header.producer_id, header.producer_epoch, header.base_sequence
    if epoch != entry.epoch:
        if first_seq != 0 and entry.epoch != NO_EPOCH:
            raise StorageError(
                ErrorCode.out_of_order_sequence_number,
                f"producer {pid} started epoch {epoch} at sequence {first_seq}; a new "
                "epoch must start at sequence 0",
            )
        return
    current_epoch = current.epoch if current is not None else NO_EPOCH
    if current_epoch != NO_EPOCH and not _in_sequence(entry.last_seq, first_seq):
        raise StorageError(
            ErrorCode.out_of_order_sequence_number,
            f"producer {pid} sent sequence {first_seq} but the last written "
            f"sequence is {entry.last_seq}",
        )


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


class ProducerStateManager:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.entries: dict[int, ProducerEntry] = {}
        # Offset up to which (exclusive) the log has been applied to ``entries``.
        self.map_end_offset = 0

    def get(self, producer_id: int) -> ProducerEntry | None:
        return self.entries.get(producer_id)

    # -- client appends ------------------------------------------------------------------

    def find_duplicate(self, header: BatchHeader) -> BatchMetadata | None:
        entry = self.entries.get(header.producer_id)
        return entry.find_duplicate(header) if entry is not None else None

    def check_and_stage(
        self,
        staged: dict[int, ProducerEntry],
        header: BatchHeader,
        first_offset: int,
        *,
        check_sequence: bool = True,
    ) -> None:
        """Validate a batch against current+staged state and stage its effect.

        Coordinator appends (``check_sequence=False``) only have their epoch checked; a
        control batch among them ends the producer's open transaction.
        """
        pid = header.producer_id
        current = self.entries.get(pid)
        entry = staged.get(pid)
        if entry is None:
            entry = current.copy() if current is not None else ProducerEntry(pid)
            staged[pid] = entry
        epoch = header.producer_epoch
        if epoch < entry.epoch:
            raise StorageError(
                ErrorCode.invalid_producer_epoch,
                f"producer {pid} epoch {epoch} is older than the current epoch {entry.epoch}; "
                "a newer producer instance with the same id has taken over",
            )
        if header.is_control:
            if epoch != entry.epoch:
                entry.batches.clear()
                entry.epoch = epoch
            entry.current_txn_first_offset = None
            entry.last_timestamp = header.max_timestamp
            return
        if check_sequence:
            _check_sequence(entry, current, header)
        if entry.current_txn_first_offset is not None and not header.is_transactional:
            raise StorageError(
                ErrorCode.invalid_txn_state,
                f"producer {pid} wrote a non-transactional batch while its transaction "
                f"starting at offset {entry.current_txn_first_offset} is open",
            )
        entry.add_batch(header, first_offset)

    def apply_staged(self, staged: dict[int, ProducerEntry], end_offset: int) -> None:
        self.entries.update(staged)
        self.map_end_offset = end_offset

    # -- log replay ----------------------------------------------------------------------

    def replay(self, header: BatchHeader) -> None:
        """Apply a batch already in the log (recovery, follower): no validation."""
        if header.last_offset < self.map_end_offset:
            return
        self.map_end_offset = header.last_offset + 1
        if not header.has_producer_id:
            return
        pid = header.producer_id
        entry = self.entries.get(pid)
        if entry is None:
            entry = self.entries[pid] = ProducerEntry(pid)
        if header.is_control:
            # An end-transaction marker closes the open transaction of this producer.
            if header.producer_epoch != entry.epoch:
                entry.batches.clear()
                entry.epoch = header.producer_epoch
            entry.current_txn_first_offset = None
            entry.last_timestamp = header.max_timestamp
            return
        entry.add_batch(header, header.base_offset)

    def end_transaction(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int
    ) -> None:
        entry = self.entries.get(producer_id)
        if entry is None:
            entry = self.entries[producer_id] = ProducerEntry(producer_id)
        if producer_epoch != entry.epoch:
            entry.batches.clear()
            entry.epoch = producer_epoch
        entry.current_txn_first_offset = None
        entry.coordinator_epoch = coordinator_epoch

    def truncate_head(self, log_start_offset: int) -> None:
        """Forget producers whose last write is below the new log start (Kafka does too)."""
        for pid in [p for p, e in self.entries.items() if 0 <= e.last_offset < log_start_offset]:
            if self.entries[pid].current_txn_first_offset is None:
                del self.entries[pid]

    def remove_expired(self, now_ms: int, expiration_ms: int) -> None:
        """Drop producers idle for ``producer.id.expiration.ms`` with no open transaction."""
        for pid in [
            p
            for p, e in self.entries.items()
            if e.current_txn_first_offset is None and now_ms - e.last_timestamp >= expiration_ms
        ]:
            del self.entries[pid]

    def reset(self, offset: int) -> None:
        self.entries.clear()
        self.map_end_offset = offset

    # -- snapshots -----------------------------------------------------------------------

    def snapshot_offsets(self) -> list[int]:
        out = []
        for path in self.directory.glob("*" + SNAPSHOT_SUFFIX):
            stem = path.name[: -len(SNAPSHOT_SUFFIX)]
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def _path(self, offset: int) -> Path:
        return self.directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"

    def take_snapshot(self, *, keep: int = 2) -> None:
        """Write the state as of ``map_end_offset`` (tmp file + rename, so never torn)."""
        body = bytearray(struct.pack(">i", len(self.entries)))
        for e in self.entries.values():
            txn = -1 if e.current_txn_first_offset is None else e.current_txn_first_offset
            body += _ENTRY.pack(
                e.producer_id,
                e.epoch,
                e.coordinator_epoch,
                e.last_timestamp,
                txn,
                len(e.batches),
            )
            for b in e.batches:
                body += _BATCH.pack(
                    b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp
                )
        data = _MAGIC + struct.pack(">I", crc32c(body)) + body
        path = self._path(self.map_end_offset)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        offsets = self.snapshot_offsets()
        for old in offsets[:-keep] if keep > 0 else []:
            self._path(old).unlink(missing_ok=True)

    def load_snapshot(self, max_offset: int) -> int:
        """Load the newest valid snapshot at or below ``max_offset``; returns its offset.

        Snapshots above ``max_offset`` (the log was truncated) and corrupt ones are
        deleted. With no usable snapshot, state is empty and replay starts at 0.
        """
        self.entries.clear()
        self.map_end_offset = 0
        for offset in reversed(self.snapshot_offsets()):
            path = self._path(offset)
            if offset > max_offset:
                path.unlink(missing_ok=True)
                continue
            entries = self._parse(path.read_bytes())
            if entries is None:
                path.unlink(missing_ok=True)
                continue
            self.entries = entries
            self.map_end_offset = offset
            return offset
        return 0

    @staticmethod
    def _parse(data: bytes) -> dict[int, ProducerEntry] | None:
        if len(data) < 12 or data[:4] != _MAGIC:
            return None
        (crc,) = struct.unpack_from(">I", data, 4)
        if crc32c(data[8:]) != crc:
            return None
        (count,) = struct.unpack_from(">i", data, 8)
        pos = 12
        entries: dict[int, ProducerEntry] = {}
        for _ in range(count):
            pid, epoch, coord, last_ts, txn, nb = _ENTRY.unpack_from(data, pos)
            pos += _ENTRY.size
            batches: deque[BatchMetadata] = deque()
            for _ in range(nb):
                batches.append(BatchMetadata(*_BATCH.unpack_from(data, pos)))
                pos += _BATCH.size
            entries[pid] = ProducerEntry(
                pid, epoch, batches, coord, last_ts, None if txn < 0 else txn
            )
        return entries

    def delete_snapshots_above(self, offset: int) -> None:
        for off in self.snapshot_offsets():
            if off > offset:
                self._path(off).unlink(missing_ok=True)

    def delete_snapshots_below(self, offset: int) -> None:
        """Keep the newest snapshot at or below ``offset`` and everything above it."""
        below = [o for o in self.snapshot_offsets() if o < offset]
        for off in below[:-1]:
            self._path(off).unlink(missing_ok=True)
