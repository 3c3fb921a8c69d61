"""The seam between a partition leader and the controller for ISR changes.

A leader proposes a new ISR with `alter_partition` (Kafka's AlterPartition, API 56) and
gets either the partition state the controller committed or a Kafka error code
(FENCED_LEADER_EPOCH: a newer leader exists; INVALID_UPDATE_VERSION: the leader's
partition epoch is stale; NOT_LEADER_OR_FOLLOWER, INELIGIBLE_REPLICA, ...). The
in-process implementation over `LocalController` lives in `server/alter_partition.py`;
the KRaft issue adds one that sends AlterPartition to the active controller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommittedPartition:
    leader: int
    leader_epoch: int
    partition_epoch: int
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AlterPartitionError:
    error_code: int
    message: str


class ControllerChannel(Protocol):
    async def alter_partition(
        self,
        *,
        broker_id: int,
        topic_id: uuid.UUID,
        partition: int,
        leader_epoch: int,
        partition_epoch: int,
        new_isr: tuple[int, ...],
    ) -> CommittedPartition | AlterPartitionError: ...
