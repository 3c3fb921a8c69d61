"""AlterPartition (API 56) between brokers and the KRaft active controller.

`QuorumControllerChannel` is the partition leaders' channel in a KRaft cluster: on the
active controller it decides in process (`LocalControllerChannel` over `submit`), on any
other node it sends an AlterPartition v3 request to the active controller's listener.
`handle_alter_partition` is the controller side of that request.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from kio.schema.alter_partition.v3.request import (
    AlterPartitionRequest,
    BrokerState,
    PartitionData,
    TopicData,
)
from kio.schema.alter_partition.v3.response import AlterPartitionResponse
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.serial import entity_reader
from kio.static.primitive import i32

from ..protocol.codec import encode_request
from ..replication.channel import AlterPartitionError, CommittedPartition
from .alter_partition import LocalControllerChannel
from .broker import Broker
from .context import RequestContext
from .forwarding import ForwardingError
from .kio_build import make, nested, response_class


class QuorumControllerChannel:
    def __init__(self) -> None:
        self.broker: Broker | None = None  # bound once the broker exists

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
        broker = self.broker
        assert broker is not None
        if broker.controller.is_active:
            return await LocalControllerChannel(broker.controller).alter_partition(
                broker_id=broker_id,
                topic_id=topic_id,
                partition=partition,
                leader_epoch=leader_epoch,
                partition_epoch=partition_epoch,
                new_isr=new_isr,
            )
        active = broker.controller.active_controller_id
        if active is None or broker.forwarder is None:
            return AlterPartitionError(int(ErrorCode.not_controller), "no active controller")
        request = AlterPartitionRequest(
            broker_id=BrokerId(broker_id),
            topics=(
                TopicData(
                    topic_id=topic_id,
                    partitions=(
                        PartitionData(
                            partition_index=i32(partition),
                            leader_epoch=i32(leader_epoch),
                            new_isr_with_epochs=tuple(
                                BrokerState(broker_id=BrokerId(b)) for b in new_isr
                            ),
                            partition_epoch=i32(partition_epoch),
                        ),
                    ),
                ),
            ),
        )
        frame = encode_request(request)
        try:
            raw = await broker.forwarder.forward(active, frame)
        except ForwardingError as exc:
            return AlterPartitionError(int(ErrorCode.not_controller), str(exc))
        response, _ = entity_reader(AlterPartitionResponse)(raw, 4 + 5)
        if response.error_code != ErrorCode.none:
            return AlterPartitionError(int(response.error_code), "AlterPartition refused")
        part = response.topics[0].partitions[0]
        if part.error_code != ErrorCode.none:
            return AlterPartitionError(int(part.error_code), "AlterPartition refused")
        return CommittedPartition(
            int(part.leader_id),
            int(part.leader_epoch),
            int(part.partition_epoch),
            tuple(int(b) for b in part.isr),
        )


async def handle_alter_partition(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "TopicData")
    part_cls = nested(cls, "PartitionData")
    channel = LocalControllerChannel(broker.controller)
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            isr = tuple(int(b.broker_id) for b in p.new_isr_with_epochs)
            result = await channel.alter_partition(
                broker_id=int(request.broker_id),
                topic_id=t.topic_id,
                partition=int(p.partition_index),
                leader_epoch=int(p.leader_epoch),
                partition_epoch=int(p.partition_epoch),
                new_isr=isr,
            )
            if isinstance(result, AlterPartitionError):
                parts.append(
                    make(
                        part_cls,
                        partition_index=p.partition_index,
                        error_code=ErrorCode(result.error_code),
                        leader_id=-1,
                        leader_epoch=-1,
                        isr=(),
                        partition_epoch=-1,
                    )
                )
            else:
                parts.append(
                    make(
                        part_cls,
                        partition_index=p.partition_index,
                        error_code=ErrorCode.none,
                        leader_id=result.leader,
                        leader_epoch=result.leader_epoch,
                        isr=result.isr,
                        partition_epoch=result.partition_epoch,
                    )
                )
        topics.append(make(topic_cls, topic_id=t.topic_id, partitions=tuple(parts)))
    return make(
        cls, throttle_time=datetime.timedelta(0), error_code=ErrorCode.none, topics=tuple(topics)
    )
