"""DescribeQuorum (API 55): the state of the `__cluster_metadata` quorum, as
`kafka-metadata-quorum describe --status / --replication` reads it.

Served by the active controller from the Raft core's own view (`membership.
describe_quorum`); other nodes forward it there. The core keeps monotonic milliseconds;
the wire carries wall-clock timestamps, converted here.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from ..kraft.controller import RaftController
from ..raft import messages
from ..raft.membership import describe_quorum
from .broker import Broker
from .context import RequestContext
from .kio_build import make, nested, response_class

METADATA_TOPIC = "__cluster_metadata"


def _directory_uuid(directory_id: str) -> uuid.UUID | None:
    if not directory_id:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(directory_id + "=="))
    except ValueError:
        return None


def handle_describe_quorum(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(request)
    controller = broker.controller
    if not isinstance(controller, RaftController) or controller.driver is None:
        return make(
            cls,
            error_code=ErrorCode.unknown_server_error,
            error_message="this node runs without a KRaft quorum",
            topics=(),
            nodes=(),
        )
    node = controller.driver.node
    described = describe_quorum(node, messages.DescribeQuorumRequest(0))
    topic_cls = nested(cls, "TopicData")
    part_cls = nested(cls, "PartitionData")
    replica_cls = nested(cls, "ReplicaState")
    mono_now = int(time.monotonic() * 1000)
    wall_now = int(time.time() * 1000)

    def wall(ts: int) -> int:
        return -1 if ts < 0 else wall_now - (mono_now - ts)

    def replicas(items: tuple[messages.ReplicaDescription, ...]) -> tuple[Any, ...]:
        return tuple(
            make(
                replica_cls,
                replica_id=r.key.id,
                replica_directory_id=_directory_uuid(r.key.directory_id),
                log_end_offset=r.log_end_offset,
                last_fetch_timestamp=wall(r.last_fetch_ms),
                last_caught_up_timestamp=wall(r.last_caught_up_ms),
            )
            for r in items
        )

    if described.error != 0:
        partition = make(
            part_cls,
            partition_index=0,
            error_code=ErrorCode.not_leader_or_follower,
            error_message="not the quorum leader",
            leader_id=described.leader_id or -1,
            leader_epoch=described.leader_epoch,
            high_watermark=-1,
            current_voters=(),
            observers=(),
        )
    else:
        # The leader's own entry: caught up by definition, now.
        voters = tuple(
            messages.ReplicaDescription(r.key, r.log_end_offset, mono_now, mono_now)
            if r.key.id == node.key.id
            else r
            for r in described.voters
        )
        partition = make(
            part_cls,
            partition_index=0,
            error_code=ErrorCode.none,
            error_message=None,
            leader_id=described.leader_id,
            leader_epoch=described.leader_epoch,
            high_watermark=described.high_watermark,
            current_voters=replicas(voters),
            observers=replicas(described.observers),
        )
    node_cls = nested(cls, "Node")
    listener_cls = nested(cls, "Listener")
    nodes = []
    for voter in described.voter_nodes:
        listeners = []
        for name, address in voter.endpoints:
            host, _, port = address.rpartition(":")
            listeners.append(make(listener_cls, name=name, host=host, port=int(port)))
        nodes.append(make(node_cls, node_id=voter.key.id, listeners=tuple(listeners)))
    return make(
        cls,
        error_code=ErrorCode.none,
        error_message=None,
        topics=(make(topic_cls, topic_name=METADATA_TOPIC, partitions=(partition,)),),
        nodes=tuple(nodes),
    )
