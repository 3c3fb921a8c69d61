"""The log of one partition: an ordered list of segments, the last one active.

Append (leader): validate every batch (``validation``), check producer state against a
staged copy, assign offsets from the log end, convert compression only when the topic
demands a different codec, patch baseOffset/partitionLeaderEpoch in place (and
LogAppendTime with a new CRC), roll if the active segment is full or old, write with one
``os.write`` and commit the staged producer state. No per-record work unless the topic is
compacted, converts compression or bounds old timestamps.

Read: bisect the segment by base offset, jump to the batch containing the fetch offset
through the sparse offset index, then ``pread`` up to ``max_bytes`` at once and cut at
the last whole batch, using the index again (an indexed position is a batch start) so at
most one index interval of headers is walked. The high watermark (``max_offset``) limits
the result to batches whose last offset is below it, as Kafka's read up to the HW
position does.

Durability: no fsync on the append path unless ``flush.messages``/``flush.ms`` ask
(Kafka's default: the OS decides; replication provides durability). A rolled segment is
fsynced on a background thread and only then does the recovery point move past it. A
kill -9 loses nothing written; ``open`` validates everything from the recovery point on
and truncates a torn tail.
"""

from __future__ import annotations

import bisect
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import (
    LOG_APPEND_TIME,
    BatchHeader,
    InvalidBatch,
    patch_batch,
    read_header,
    validate_batch,
)
from millrace_broker.storage import compaction, retention, timestamps
from millrace_broker.storage.checkpoint import (
    CLEAN_SHUTDOWN_FILE,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    read_offset,
    write_offset,
)
from millrace_broker.storage.compression import codec_for
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.leader_epochs import LeaderEpochCache
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.log_loader import (
    load_segments,
    new_segment,
    rebuild_producer_state,
)
from millrace_broker.storage.producer_state import ProducerEntry, ProducerStateManager
from millrace_broker.storage.records import recompress_batch
from millrace_broker.storage.segment import FSYNC_POOL, LogSegment, fsync_and_close
from millrace_broker.storage.txn_index import AbortedTxn, AbortedTxnIndex, aborted_in
from millrace_broker.storage.validation import split_batches, validate_client_batches

log = logging.getLogger(__name__)


# Not frozen: a frozen dataclass's __init__ costs ~5x more and these are built per request.
@dataclass(slots=True)
class AppendResult:
    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    duplicate: bool


@dataclass(slots=True)
class ReadResult:
    records: bytes | memoryview
    log_start_offset: int
    log_end_offset: int


class PartitionLog:
    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        segments: list[LogSegment],
        producers: ProducerStateManager,
        log_start_offset: int,
        *,
        now_ms: int,
    ) -> None:
        self.directory = directory
        self.config = config
        self.segments = segments
        self._bases = [s.base_offset for s in segments]
        self.producers = producers
        self.log_start_offset = log_start_offset
        self.last_flush_ms = now_ms
        self._dirty: dict[int, LogSegment] = {}
        self.closed = False
        self.cleaning: compaction.CleaningPass | None = None
        self._recovery_point = read_offset(directory / RECOVERY_POINT_FILE, 0)
        self._synced_end = 0
        self.aborted = AbortedTxnIndex(directory)
        self.epochs = LeaderEpochCache(None)  # replaced by open(); replication's epoch cache
        self._apply_config(config)

    def _apply_config(self, config: LogConfig) -> None:
        self.config = config
        # Cached: looked up on every append.
        self._target_codec = codec_for(config.compression_type)
        self._log_append_time = config.message_timestamp_type == "LogAppendTime"

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, config: LogConfig, *, now_ms: int) -> PartitionLog:
        loaded = load_segments(directory, config, now_ms=now_ms)
        segments = loaded.segments
        log_start = read_offset(directory / LOG_START_OFFSET_FILE, 0)
        if not segments:
            segments = [new_segment(directory, log_start, config, now_ms)]
        end = segments[-1].next_offset
        log_start = min(max(log_start, segments[0].base_offset), end)
        for segment in segments[:-1]:
            segment.release_indexes()
        producers = ProducerStateManager(directory)
        replayed = rebuild_producer_state(producers, segments, end, log_start)
        self = cls(directory, config, segments, producers, log_start, now_ms=now_ms)
        self.aborted.load(log_start=log_start, log_end=end)
        self.epochs = LeaderEpochCache.load(directory) or LeaderEpochCache.rebuild(
            directory,
            (
                (h.partition_leader_epoch, h.base_offset)
                for s in segments
                for _, h in s.iter_batches()
            ),
        )
        self.epochs.truncate_from_end(end)
        (directory / CLEAN_SHUTDOWN_FILE).unlink(missing_ok=True)
        if not loaded.clean:
            # What recovery validated is made durable before the recovery point passes it.
            for segment in segments:
                if segment.next_offset > self._recovery_point:
                    self._dirty[segment.base_offset] = segment
            self.flush()
            if replayed:
                producers.take_snapshot()
            log.info(
                "recovered %s: log end %d, %d bytes truncated, %d batches replayed",
                directory,
                end,
                loaded.recovered_bytes_truncated,
                replayed,
            )
        return self

    # -- state -----------------------------------------------------------------------------

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def active(self) -> LogSegment:
        return self.segments[-1]

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def segment_count(self) -> int:
        return len(self.segments)

    def producer_state(self, producer_id: int) -> ProducerEntry | None:
        return self.producers.get(producer_id)

    def first_unstable_offset(self) -> int | None:
        """First offset of the oldest open transaction (the LSO bound), if any."""
        open_txns = [
            e.current_txn_first_offset
            for e in self.producers.entries.values()
            if e.current_txn_first_offset is not None
        ]
        return min(open_txns) if open_txns else None

    def update_config(self, config: LogConfig) -> None:
        self._apply_config(config)
        for segment in self.segments:
            segment.index_interval_bytes = config.index_interval_bytes

    # -- appends ---------------------------------------------------------------------------

    def append_as_leader(
        self,
        records: bytes | bytearray | memoryview,
        *,
        leader_epoch: int,
        now_ms: int,
        origin: str = "client",
    ) -> AppendResult:
        """Validate, assign offsets, write. ``origin="coordinator"`` is for the group and
        transaction coordinators (Kafka's AppendOrigin.COORDINATOR): control batches
        (transaction markers) are allowed and producers' sequences are not checked, only
        their epochs.
        """
        client = origin == "client"
        batches = validate_client_batches(records, self.config, now_ms=now_ms, client=client)
        staged: dict[int, ProducerEntry] = {}
        next_offset = self.log_end_offset
        bases: list[int] = []
        for _, header in batches:
            if header.has_producer_id:
                duplicate = self.producers.find_duplicate(header) if client else None
                if duplicate is not None:
                    return AppendResult(
                        duplicate.first_offset,
                        duplicate.last_offset,
                        -1,
                        self.log_start_offset,
                        True,
                    )
                self.producers.check_and_stage(staged, header, next_offset, check_sequence=client)
            bases.append(next_offset)
            next_offset += header.last_offset_delta + 1

        buf = bytearray(records)
        target = self._target_codec
        if target is not None and any(h.compression != target for _, h in batches):
            converted = bytearray()
            for pos, header in batches:
                batch = memoryview(buf)[pos : pos + header.total_size]
                converted += (
                    batch if header.compression == target else (recompress_batch(batch, target))
                )
            buf = converted
            batches = split_batches(buf)

        log_append = self._log_append_time
        headers: list[BatchHeader] = []
        for (pos, header), base in zip(batches, bases, strict=True):
            if log_append:
                patch_batch(
                    buf,
                    pos,
                    base_offset=base,
                    partition_leader_epoch=leader_epoch,
                    max_timestamp=now_ms,
                    timestamp_type=LOG_APPEND_TIME,
                )
                header = read_header(buf, pos)
            else:
                patch_batch(buf, pos, base_offset=base, partition_leader_epoch=leader_epoch)
                header.base_offset = base
                header.partition_leader_epoch = leader_epoch
            headers.append(header)
        aborts: list[AbortedTxn] = []
        if not client:  # only coordinators write transaction markers
            aborts = aborted_in(
                buf,
                [(p, h, b) for (p, h), b in zip(batches, bases, strict=True)],
                self._open_transactions(),
            )
        self._write_with_aborts(buf, headers, now_ms, aborts)
        self.epochs.assign(leader_epoch, bases[0])
        self.producers.apply_staged(staged, next_offset)
        return AppendResult(
            bases[0],
            next_offset - 1,
            now_ms if log_append else -1,
            self.log_start_offset,
            False,
        )

    def append_as_follower(self, records: bytes | bytearray | memoryview, *, now_ms: int) -> int:
        """Append batches with the offsets and epochs the leader gave them; returns new LEO.

        Batches must be valid (CRC) and start at or after the log end; a gap (compacted
        leader) rolls a segment at the batch's base offset.
        """
        batches = split_batches(records)
        end = self.log_end_offset
        for pos, header in batches:
            try:
                validate_batch(records, pos, header, check_counts=False)
            except InvalidBatch as exc:
                raise StorageError(exc.error_code, exc.message) from None
            if header.base_offset < end:
                raise StorageError(
                    ErrorCode.offset_out_of_range,
                    f"follower append at offset {header.base_offset} is below the log end {end}",
                )
            end = header.last_offset + 1
        headers = [h for _, h in batches]
        if headers[0].base_offset > self.log_end_offset and self.active.size > 0:
            self._roll(headers[0].base_offset, now_ms)
        elif headers[0].base_offset > self.log_end_offset:
            self._replace_empty_active(headers[0].base_offset, now_ms)
        aborts: list[AbortedTxn] = []
        if any(h.is_control or h.is_transactional for h in headers):
            aborts = aborted_in(
                records, [(p, h, h.base_offset) for p, h in batches], self._open_transactions()
            )
        self._write_with_aborts(records, headers, now_ms, aborts)
        for header in headers:
            self.epochs.assign(header.partition_leader_epoch, header.base_offset)
            self.producers.replay(header)
        return self.log_end_offset

    def _open_transactions(self) -> dict[int, int]:
        return {
            pid: e.current_txn_first_offset
            for pid, e in self.producers.entries.items()
            if e.current_txn_first_offset is not None
        }

    def _write_with_aborts(
        self,
        buf: bytes | bytearray | memoryview,
        headers: list[BatchHeader],
        now_ms: int,
        aborts: list[AbortedTxn],
    ) -> None:
        """Write, recording ABORT markers in the aborted-transaction index first (so a
        crash can only leave an index entry without its marker, which ``load`` drops)."""
        self.aborted.append(aborts)
        try:
            self._write(buf, headers, now_ms)
        except StorageError:
            self.aborted.discard(aborts)
            raise

    def last_stable_offset(self, high_watermark: int) -> int:
        """The LSO read_committed consumers may read up to: the HW, or the first offset of
        the oldest open transaction if that is lower."""
        first = self.first_unstable_offset()
        return high_watermark if first is None else min(first, high_watermark)

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions a read_committed fetch of
        [fetch_offset, upper_bound) must filter (FetchResponse.aborted_transactions)."""
        return self.aborted.collect(fetch_offset, upper_bound)

    def _write(
        self, buf: bytes | bytearray | memoryview, headers: list[BatchHeader], now_ms: int
    ) -> None:
        try:
            self._write_or_raise(buf, headers, now_ms)
        except OSError as exc:
            # Kafka answers KAFKA_STORAGE_ERROR when a log dir fails (e.g. a full disk);
            # nothing of this append is kept, so a retry is safe.
            raise StorageError(
                ErrorCode.kafka_storage_error,
                f"cannot write to {self.directory}: {exc.strerror or exc}; free disk space "
                "or fix the log directory",
            ) from exc

    def _write_or_raise(
        self, buf: bytes | bytearray | memoryview, headers: list[BatchHeader], now_ms: int
    ) -> None:
        segment = self.active
        if segment.should_roll(
            incoming_bytes=len(buf),
            last_offset=headers[-1].last_offset,
            max_timestamp=max(h.max_timestamp for h in headers),
            now_ms=now_ms,
            segment_bytes=self.config.segment_bytes,
            segment_ms=self.config.segment_ms,
        ):
            segment = self._roll(headers[0].base_offset, now_ms)
        segment.append(buf, headers)
        self._dirty[segment.base_offset] = segment
        if segment.unflushed_messages >= self.config.flush_messages:
            self.flush()

    def _roll(self, base_offset: int, now_ms: int) -> LogSegment:
        """Seal the active segment, snapshot producer state, start a new segment.

        Like Kafka, the rolled segment is fsynced in the background; once that completes
        the recovery point may move to the new base (``maybe_flush`` persists it), so a
        crash only re-validates data that might not be on disk.
        """
        old = self.active
        old.seal()
        # Indexes are rebuilt by recovery if ever torn, so they need no fsync: release.
        old.release_indexes()
        self.producers.map_end_offset = max(self.producers.map_end_offset, old.next_offset)
        self.producers.take_snapshot()
        segment = new_segment(self.directory, base_offset, self.config, now_ms)
        self.segments.append(segment)
        self._bases.append(base_offset)
        if old.size:
            future = FSYNC_POOL.submit(fsync_and_close, old.dup_fd())
            future.add_done_callback(partial(self._synced, base_offset))
        return segment

    def _synced(self, end: int, future: Future[None]) -> None:
        # Runs on the fsync thread: only publish a number, the event loop acts on it.
        if future.exception() is None:
            self._synced_end = max(self._synced_end, end)

    def _replace_empty_active(self, base_offset: int, now_ms: int) -> None:
        self.active.delete()
        self.segments[-1] = new_segment(self.directory, base_offset, self.config, now_ms)
        self._bases[-1] = base_offset

    # -- reads -----------------------------------------------------------------------------

    def read(
        self,
        fetch_offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> ReadResult:
        end_offset = self.log_end_offset
        if fetch_offset < self.log_start_offset or fetch_offset > end_offset:
            raise StorageError(
                ErrorCode.offset_out_of_range,
                f"fetch offset {fetch_offset} is outside the log range "
                f"[{self.log_start_offset}, {end_offset}]",
            )
        empty = ReadResult(b"", self.log_start_offset, end_offset)
        if fetch_offset == end_offset or (max_offset is not None and fetch_offset >= max_offset):
            return empty
        i = bisect.bisect_right(self._bases, fetch_offset) - 1
        try:
            for segment in self.segments[max(i, 0) :]:
                found = segment.find(fetch_offset)
                if found is None:
                    continue  # the offset fell in a gap at this segment's end
                data = segment.read_batches(
                    found[0],
                    found[1],
                    max_bytes,
                    max_offset=max_offset,
                    min_one_batch=min_one_batch,
                )
                return ReadResult(data, self.log_start_offset, end_offset)
        except OSError as exc:
            raise StorageError(
                ErrorCode.kafka_storage_error, f"cannot read {self.directory}: {exc}"
            ) from exc
        return empty

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        return timestamps.offset_for_timestamp(self.segments, timestamp_ms, self.log_start_offset)

    def max_timestamp(self) -> tuple[int, int] | None:
        return timestamps.max_timestamp(self.segments, self.log_start_offset)

    # -- deletion ---------------------------------------------------------------------------

    def delete_records_before(self, offset: int) -> int:
        end = self.log_end_offset
        if offset > end or offset < 0:
            raise StorageError(
                ErrorCode.offset_out_of_range,
                f"cannot delete records before {offset}: the log ends at {end}",
            )
        if offset > self.log_start_offset:
            self._set_log_start(offset)
            self._delete_segments(
                [s for s in self.segments[:-1] if self._next_base(s) <= offset],
                self.active.created_ms,
            )
        return self.log_start_offset

    def _next_base(self, segment: LogSegment) -> int:
        i = self.segments.index(segment)
        return (
            self.segments[i + 1].base_offset
            if i + 1 < len(self.segments)
            else (self.log_end_offset)
        )

    def _set_log_start(self, offset: int) -> None:
        self.log_start_offset = offset
        write_offset(self.directory / LOG_START_OFFSET_FILE, offset)
        self.epochs.truncate_from_start(offset)
        self.aborted.truncate_from_start(offset)
        self.producers.truncate_head(offset)

    def _delete_segments(self, victims: list[LogSegment], now_ms: int) -> int:
        freed = 0
        for segment in victims:
            if segment is self.active:
                # Never leave the log without a segment: roll an empty one first.
                self._roll(self.log_end_offset, now_ms)
            self.segments.remove(segment)
            self._bases.remove(segment.base_offset)
            self._dirty.pop(segment.base_offset, None)
            freed += segment.size
            segment.delete()
        if self.segments[0].base_offset > self.log_start_offset:
            self._set_log_start(self.segments[0].base_offset)
        self.producers.delete_snapshots_below(self.log_start_offset)
        return freed

    def run_retention(self, now_ms: int, *, high_watermark: int | None = None) -> int:
        """Delete whole segments past retention.ms / retention.bytes; returns bytes freed."""
        if "delete" not in self.config.cleanup_policy:
            return 0
        hw = self.log_end_offset if high_watermark is None else high_watermark
        victims = retention.deletable_segments(
            self.segments,
            self.config,
            now_ms=now_ms,
            high_watermark=hw,
            log_end_offset=self.log_end_offset,
        )
        return self._delete_segments(victims, now_ms) if victims else 0

    def truncate_to(self, offset: int) -> None:
        """Remove everything at and above ``offset`` (follower divergence)."""
        if offset >= self.log_end_offset:
            return
        compaction.abandon(self)
        while len(self.segments) > 1 and self.active.base_offset >= offset:
            segment = self.segments.pop()
            self._bases.pop()
            self._dirty.pop(segment.base_offset, None)
            segment.delete()
        if self.active.base_offset >= offset:
            self._replace_empty_active(offset, self.active.created_ms)
        else:
            found = self.active.find(offset)
            self.active.truncate_to(offset)
            if found is not None and found[1].base_offset > offset:
                # The target lies in a gap left by compaction: like Kafka, the log end
                # becomes the target itself, so the next append gets exactly ``offset``.
                self.active.next_offset = offset
        if self.log_start_offset > self.log_end_offset:
            self._set_log_start(self.log_end_offset)
        self.epochs.truncate_from_end(self.log_end_offset)
        self.aborted.truncate_from_end(self.log_end_offset)
        self.producers.delete_snapshots_above(self.log_end_offset)
        rebuild_producer_state(
            self.producers, self.segments, self.log_end_offset, self.log_start_offset
        )
        end = self.log_end_offset
        self._synced_end = min(self._synced_end, end)
        if self._recovery_point > end:
            self._set_recovery_point(end)
        if read_offset(self.directory / compaction.CLEANER_CHECKPOINT_FILE, 0) > end:
            write_offset(self.directory / compaction.CLEANER_CHECKPOINT_FILE, end)

    def run_compaction(self, now_ms: int, *, high_watermark: int | None = None) -> bool:
        """One bounded step of cleaning the non-active segments (see ``compaction``);
        True if work was done (call again until False to finish a pass)."""
        if "compact" not in self.config.cleanup_policy:
            compaction.abandon(self)
            return False
        return compaction.compact(self, now_ms=now_ms, high_watermark=high_watermark)

    def replace_segments(self, old: list[LogSegment], new: LogSegment) -> None:
        """Put a cleaned segment where ``old`` (consecutive, already deleted) were."""
        i = self.segments.index(old[0])
        self.segments[i : i + len(old)] = [new]
        self._bases[i : i + len(old)] = [new.base_offset]
        for segment in old:
            self._dirty.pop(segment.base_offset, None)

    # -- lifecycle ---------------------------------------------------------------------------

    def maybe_flush(self, now_ms: int) -> None:
        """Periodic duty: flush per flush.ms; persist a recovery point the background
        fsync of rolled segments has earned."""
        if self._dirty and now_ms - self.last_flush_ms >= self.config.flush_ms:
            self.flush(now_ms=now_ms)
        synced = min(self._synced_end, self.log_end_offset)
        if synced > self._recovery_point:
            self._set_recovery_point(synced)

    def _set_recovery_point(self, offset: int) -> None:
        self._recovery_point = offset
        write_offset(self.directory / RECOVERY_POINT_FILE, offset)

    def flush(self, *, now_ms: int | None = None) -> None:
        for segment in self._dirty.values():
            segment.flush()
        self._dirty.clear()
        if now_ms is not None:
            self.last_flush_ms = now_ms
        self._set_recovery_point(self.log_end_offset)

    def close(self) -> None:
        if self.closed:
            return
        compaction.abandon(self)
        self.active.seal()
        self.producers.map_end_offset = self.log_end_offset
        self.producers.take_snapshot()
        self._dirty = {s.base_offset: s for s in self.segments[-1:]} | self._dirty
        self.flush()
        for segment in self.segments:
            segment.close()
        (self.directory / CLEAN_SHUTDOWN_FILE).write_bytes(b"")
        self.closed = True
