"""Validation of a client's records before a leader append (Kafka's analyze+LogValidator).

Checks every batch before anything is written, in Kafka's order, and reports the first
failure as a ``StorageError`` with Kafka's error code:

1. framing: at least one batch, no trailing partial batch (CORRUPT_MESSAGE), magic 2
   (INVALID_RECORD), baseOffset 0 as clients send it (INVALID_RECORD);
2. size: a batch larger than ``max.message.bytes`` is MESSAGE_TOO_LARGE;
3. CRC-32C (CORRUPT_MESSAGE) and record-count consistency (INVALID_RECORD);
4. clients may not write control batches, and an idempotent batch needs a sequence
   (INVALID_RECORD);
5. CreateTime timestamps within ``message.timestamp.before/after.max.ms`` of now
   (INVALID_TIMESTAMP). The header's maxTimestamp bounds every record from above and
   baseTimestamp is the first record's; records are decoded only when a finite
   ``before`` bound makes the smallest timestamp matter. The LogAppendTime bit from a
   client is refused on LogAppendTime topics (INVALID_TIMESTAMP), as Kafka does.
6. compacted topics: every record needs a key (INVALID_RECORD); only here are records
   decoded on the produce path.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import (
    BATCH_OVERHEAD,
    NO_TIMESTAMP,
    BatchHeader,
    InvalidBatch,
    read_header,
    validate_batch,
)
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.records import Record, decode_batch

# Bounds this large cannot reject any real clock reading; skip the work.
_UNBOUNDED = 1 << 62


def split_batches(buf: bytes | bytearray | memoryview) -> list[tuple[int, BatchHeader]]:
    """Frame ``buf`` into batches or refuse it (framing and magic only)."""
    out: list[tuple[int, BatchHeader]] = []
    pos = 0
    end = len(buf)
    if end == 0:
        raise StorageError(ErrorCode.invalid_record, "produce request has no record batch")
    while pos < end:
        if end - pos < BATCH_OVERHEAD:
            raise StorageError(
                ErrorCode.corrupt_message,
                f"{end - pos} trailing bytes do not form a record batch header",
            )
        header = read_header(buf, pos)
        if header.magic != 2:
            raise StorageError(
                ErrorCode.invalid_record,
                f"record batch magic {header.magic} is not supported; produce with a client "
                "that writes message format v2 (Kafka 0.11+)",
            )
        size = header.total_size
        if size < BATCH_OVERHEAD or pos + size > end:
            raise StorageError(
                ErrorCode.corrupt_message,
                f"record batch at byte {pos} declares {size} bytes but {end - pos} remain",
            )
        out.append((pos, header))
        pos += size
    return out


def validate_client_batches(
    buf: bytes | bytearray | memoryview, config: LogConfig, *, now_ms: int, client: bool = True
) -> list[tuple[int, BatchHeader]]:
    """Frame and check a leader append; ``client=False`` for coordinator appends, which
    may carry control batches and need not start at baseOffset 0."""
    batches = split_batches(buf)
    compacted = "compact" in config.cleanup_policy
    create_time = config.message_timestamp_type != "LogAppendTime"
    for pos, header in batches:
        if client and header.base_offset != 0:
            raise StorageError(
                ErrorCode.invalid_record,
                f"record batch baseOffset must be 0 from a producer, got {header.base_offset}",
            )
        if header.total_size > config.max_message_bytes:
            raise StorageError(
                ErrorCode.message_too_large,
                f"record batch of {header.total_size} bytes exceeds max.message.bytes "
                f"{config.max_message_bytes}; raise the topic's max.message.bytes or send "
                "smaller batches",
            )
        try:
            validate_batch(buf, pos, header)
        except InvalidBatch as exc:
            raise StorageError(exc.error_code, exc.message) from None
        if header.is_control and client:
            raise StorageError(
                ErrorCode.invalid_record, "clients are not allowed to write control records"
            )
        if client and header.has_producer_id and header.base_sequence < 0:
            raise StorageError(
                ErrorCode.invalid_record,
                f"idempotent batch of producer {header.producer_id} has no sequence number",
            )
        if header.timestamp_type == 1 and (not create_time or header.max_timestamp < 0):
            # Kafka's validateTimestamp: on a CreateTime topic a LogAppendTime-flagged
            # batch is range-checked like any other; otherwise it is refused.
            raise StorageError(
                ErrorCode.invalid_timestamp,
                "producers must not set the LogAppendTime timestamp type",
            )
        records = None
        if compacted and not header.is_control:
            _, records = decode_batch(memoryview(buf)[pos : pos + header.total_size])
            if any(r.key is None for r in records):
                raise StorageError(
                    ErrorCode.invalid_record,
                    "compacted topic cannot accept a record without a key",
                )
        if create_time:
            _check_timestamps(buf, pos, header, config, now_ms, records)
    return batches


def _check_timestamps(
    buf: bytes | bytearray | memoryview,
    pos: int,
    header: BatchHeader,
    config: LogConfig,
    now_ms: int,
    records: list[Record] | None,
) -> None:
    before = config.message_timestamp_before_max_ms
    after = config.message_timestamp_after_max_ms
    latest = header.max_timestamp
    if after < _UNBOUNDED and latest != NO_TIMESTAMP and latest - now_ms > after:
        _reject(latest, now_ms, before, after)
    if before >= _UNBOUNDED:
        return
    if header.base_timestamp != NO_TIMESTAMP and now_ms - header.base_timestamp > before:
        _reject(header.base_timestamp, now_ms, before, after)
    if records is None:
        _, records = decode_batch(memoryview(buf)[pos : pos + header.total_size])
    for record in records:
        if record.timestamp != NO_TIMESTAMP and now_ms - record.timestamp > before:
            _reject(record.timestamp, now_ms, before, after)


def _reject(timestamp: int, now_ms: int, before: int, after: int) -> None:
    raise StorageError(
        ErrorCode.invalid_timestamp,
        f"timestamp {timestamp} is out of range: it must be within [{now_ms - before}, "
        f"{now_ms + after}] (message.timestamp.before.max.ms / after.max.ms)",
    )
