"""OffsetForLeaderEpoch (key 23, v2-4): where a leader epoch ends on this leader.

Consumers (librdkafka after a leader change, KIP-320) and followers ask "what is the end
offset of epoch E?"; the leader answers from its leader-epoch cache (see
`storage.leader_epochs`): the latest epoch ends at the log end, an earlier one where the
next epoch starts, an unknown one with the largest epoch below it. Only the leader
answers (NOT_LEADER_OR_FOLLOWER), and `current_leader_epoch` is checked as Fetch checks
it (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). v3+ `replica_id` >= 0 (a follower) is
answered the same way.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class


def handle_offset_for_leader_epoch(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    topic_cls = nested(cls, "OffsetForLeaderTopicResult")
    part_cls = nested(cls, "EpochEndOffset")
    image = broker.image
    topics = []
    for t in request.topics:
        topic = image.topics.get(t.topic)
        parts = []
        for p in t.partitions:
            part = topic.partitions.get(p.partition) if topic is not None else None
            plog = broker.partition_log(t.topic, p.partition) if part is not None else None
            code = ErrorCode.none
            epoch, end = -1, -1
            if part is None or plog is None:
                code = ErrorCode.unknown_topic_or_partition
            elif part.leader != broker.node_id:
                code = ErrorCode.not_leader_or_follower
            elif 0 <= p.current_leader_epoch < part.leader_epoch:
                code = ErrorCode.fenced_leader_epoch
            elif p.current_leader_epoch > part.leader_epoch:
                code = ErrorCode.unknown_leader_epoch
            else:
                epoch, end = plog.epochs.end_offset_for(p.leader_epoch, plog.log_end_offset)
            parts.append(
                make(
                    part_cls,
                    error_code=code,
                    partition=p.partition,
                    leader_epoch=epoch,
                    end_offset=end,
                )
            )
        topics.append(make(topic_cls, topic=t.topic, partitions=tuple(parts)))
    return make(cls, throttle_time=ZERO_THROTTLE, topics=tuple(topics))
