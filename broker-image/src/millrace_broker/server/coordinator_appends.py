"""Coordinator writes wait for the in-sync replicas, as Kafka's coordinators append with
acks=all: a group or transaction change, or a transaction marker, is answered only once
the high watermark of the partition it was written to has passed it (bounded by
`offsets.commit.timeout.ms`, "applied to all the writes made by the coordinator").

The coordinators append synchronously and then call `wait_replicated`, which waits for
everything the partition holds so far: that covers their own record and costs nothing
when the high watermark already is at the log end (a single node, or followers that keep
up). Failures map to the codes Kafka's coordinators answer: a lost leadership is
NOT_COORDINATOR, a timeout or a shrunken ISR is COORDINATOR_NOT_AVAILABLE (both make
clients look the coordinator up again and retry).
"""

from __future__ import annotations

import time

from kio.schema.errors import ErrorCode

from .broker import Broker

_COORDINATOR_CODES = {
    ErrorCode.not_leader_or_follower: ErrorCode.not_coordinator,
    ErrorCode.unknown_topic_or_partition: ErrorCode.not_coordinator,
    ErrorCode.request_timed_out: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas_after_append: ErrorCode.coordinator_not_available,
}


def write_timeout_s(broker: Broker) -> float:
    return broker.config.get_int("offsets.commit.timeout.ms") / 1000


async def wait_replicated(
    broker: Broker, topic: str, partition: int, *, timeout_s: float | None = None
) -> ErrorCode:
    """Wait until the partition's high watermark reaches its current log end; the
    partition-level error code (NONE, NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT...)."""
    plog = broker.partition_log(topic, partition)
    if plog is None:
        return ErrorCode.unknown_topic_or_partition
    last = plog.log_end_offset - 1
    if broker.high_watermark(plog) > last:
        return ErrorCode.none
    deadline = time.monotonic() + (write_timeout_s(broker) if timeout_s is None else timeout_s)
    code = await broker.replication.wait_for_acks(
        plog, last, min_isr=plog.config.min_insync_replicas, deadline=deadline
    )
    return ErrorCode(code)


async def wait_coordinator_write(broker: Broker, topic: str, partition: int) -> ErrorCode:
    """`wait_replicated` for a coordinator's own partition, in coordinator error codes."""
    code = await wait_replicated(broker, topic, partition)
    return _COORDINATOR_CODES.get(code, code)
