"""The in-process `ControllerChannel`: AlterPartition decided by the controller object
this broker holds (the single-node `LocalController`, or the shared one of the in-process
test cluster) and committed through it.

Planning is `metadata.partition_change.plan_alter_partition` (pure); the KRaft
controller calls the same function when it serves AlterPartition (API 56) over the wire,
and brokers that are not the active controller then need a channel that sends it there.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..metadata.controller import ControllerError
from ..metadata.image import MetadataImage
from ..metadata.partition_change import plan_alter_partition
from ..metadata.records import MetadataRecord
from ..replication.channel import AlterPartitionError, CommittedPartition


class LocalControllerChannel:
    def __init__(self, controller: Any) -> None:
        # Anything with `image` and either `async submit(plan)` or `commit(records)`.
        self._controller = controller

    async def alter_partition(
        self,
        *,
        broker_id: int,
        topic_id: uuid.UUID,
        partition: int,
        leader_epoch: int,
        partition_epoch: int,
        new_isr: tuple[int, ...],
    ) -> CommittedPartition | AlterPartitionError:
        def plan(image: MetadataImage) -> list[MetadataRecord]:
            return plan_alter_partition(
                image,
                broker_id=broker_id,
                topic_id=topic_id,
                partition=partition,
                leader_epoch=leader_epoch,
                partition_epoch=partition_epoch,
                new_isr=new_isr,
            )

        controller = self._controller
        try:
            submit = getattr(controller, "submit", None)
            if submit is not None:
                image: MetadataImage = await submit(plan)
            else:
                image = controller.commit(plan(controller.image))
        except ControllerError as exc:
            return AlterPartitionError(int(exc.error_code), exc.message)
        topic = image.topic_by_id(topic_id)
        part = topic.partitions.get(partition) if topic is not None else None
        if part is None:
            return AlterPartitionError(3, "the partition no longer exists")
        return CommittedPartition(part.leader, part.leader_epoch, part.partition_epoch, part.isr)
