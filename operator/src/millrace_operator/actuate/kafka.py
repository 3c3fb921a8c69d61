"""Kafka admin calls that carry out a planner's step: topics and dynamic broker configs.

One call per step; a Kafka error is raised as `KafkaError` with Kafka's code and message
(the handler turns it into a condition and an Event). Idempotent where Kafka allows:
creating a topic that already exists, or growing to the count it already has, is not an
error (the next pass observes and moves on).
"""

from __future__ import annotations

import datetime

from kio.schema.create_partitions.v3.request import CreatePartitionsRequest, CreatePartitionsTopic
from kio.schema.create_topics.v7.request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from kio.schema.delete_topics.v6.request import DeleteTopicsRequest, DeleteTopicState
from kio.schema.errors import ErrorCode
from kio.schema.incremental_alter_configs.v1.request import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from kio.schema.types import TopicName
from kio.static.primitive import i8, i16, i32, i32Timedelta

from millrace_operator.kafkaclient import KafkaConnection, check
from millrace_operator.observe.kafka import RESOURCE_BROKER, RESOURCE_TOPIC
from millrace_operator.plans.cluster import AlterBrokerConfigs
from millrace_operator.plans.topics import (
    AlterConfigs,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
)

TIMEOUT = i32Timedelta.parse(datetime.timedelta(seconds=30))
OP_SET = 0
OP_DELETE = 1


def _ops(to_set: dict[str, str], to_delete: tuple[str, ...]) -> tuple[AlterableConfig, ...]:
    return tuple(
        [
            AlterableConfig(name=k, config_operation=i8(OP_SET), value=v)
            for k, v in sorted(to_set.items())
        ]
        + [AlterableConfig(name=k, config_operation=i8(OP_DELETE), value=None) for k in to_delete]
    )


async def apply_topic_step(
    conn: KafkaConnection, step: CreateTopic | AlterConfigs | CreatePartitions | DeleteTopic
) -> None:
    """Carry out one topic step."""
    if isinstance(step, CreateTopic):
        response = await conn.request(
            CreateTopicsRequest(
                topics=(
                    CreatableTopic(
                        name=TopicName(step.name),
                        num_partitions=i32(step.partitions),
                        replication_factor=i16(step.replication_factor),
                        assignments=(),
                        configs=tuple(
                            CreatableTopicConfig(name=k, value=v)
                            for k, v in sorted(step.configs.items())
                        ),
                    ),
                ),
                timeout=TIMEOUT,
                validate_only=False,
            )
        )
        result = response.topics[0]
        if int(result.error_code) != ErrorCode.topic_already_exists:
            check(result.error_code, result.error_message, f"CreateTopics({step.name})")
    elif isinstance(step, AlterConfigs):
        response = await conn.request(
            IncrementalAlterConfigsRequest(
                resources=(
                    AlterConfigsResource(
                        resource_type=i8(RESOURCE_TOPIC),
                        resource_name=step.name,
                        configs=_ops(dict(step.set), step.delete),
                    ),
                ),
                validate_only=False,
            )
        )
        reply = response.responses[0]
        check(reply.error_code, reply.error_message, f"IncrementalAlterConfigs({step.name})")
    elif isinstance(step, CreatePartitions):
        response = await conn.request(
            CreatePartitionsRequest(
                topics=(
                    CreatePartitionsTopic(
                        name=TopicName(step.name), count=i32(step.total), assignments=None
                    ),
                ),
                timeout=TIMEOUT,
                validate_only=False,
            )
        )
        grown = response.results[0]
        if int(grown.error_code) != ErrorCode.invalid_partitions:
            check(grown.error_code, grown.error_message, f"CreatePartitions({step.name})")
    else:
        response = await conn.request(
            DeleteTopicsRequest(
                topics=(DeleteTopicState(name=TopicName(step.name), topic_id=None),),
                timeout=TIMEOUT,
            )
        )
        deleted = response.responses[0]
        if int(deleted.error_code) != ErrorCode.unknown_topic_or_partition:
            check(deleted.error_code, deleted.error_message, f"DeleteTopics({step.name})")


async def apply_broker_configs(conn: KafkaConnection, step: AlterBrokerConfigs) -> None:
    """Set / delete cluster-wide dynamic broker configs (resource BROKER, name "")."""
    response = await conn.request(
        IncrementalAlterConfigsRequest(
            resources=(
                AlterConfigsResource(
                    resource_type=i8(RESOURCE_BROKER),
                    resource_name="",
                    configs=_ops(dict(step.set), step.delete),
                ),
            ),
            validate_only=False,
        )
    )
    reply = response.responses[0]
    check(reply.error_code, reply.error_message, "IncrementalAlterConfigs(cluster default)")
