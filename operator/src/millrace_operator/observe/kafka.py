"""Read the cluster's state over the Kafka protocol: brokers, quorum, configs, topics.

Read-only. `observe_broker_view` answers "which brokers are registered (unfenced), who
leads the quorum, which cluster-wide dynamic configs are set"; `observe_topic` describes
one topic and its topic-level configs (source DYNAMIC_TOPIC_CONFIG), which is what the
topic planner compares with the resource.
"""

from __future__ import annotations

from kio.schema.describe_configs.v4.request import DescribeConfigsRequest, DescribeConfigsResource
from kio.schema.describe_quorum.v2.request import DescribeQuorumRequest, PartitionData, TopicData
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.types import TopicName
from kio.static.primitive import i8, i32

from millrace_operator.kafkaclient import KafkaConnection, KafkaError, check
from millrace_operator.plans.cluster import BrokerView
from millrace_operator.plans.topics import ObservedTopic

RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_DEFAULT_BROKER = 3  # DescribeConfigs ConfigSource codes (KIP-226)
METADATA_TOPIC = "__cluster_metadata"


async def observe_broker_view(conn: KafkaConnection) -> BrokerView:
    """Registered brokers, the cluster id, the quorum and cluster-wide dynamic configs."""
    metadata = await conn.request(
        MetadataRequest(
            topics=(), allow_auto_topic_creation=False, include_topic_authorized_operations=False
        )
    )
    registered = frozenset(int(b.node_id) for b in metadata.brokers)
    leader: int | None = None
    voters: tuple[int, ...] = ()
    try:
        if not await conn.supports(DescribeQuorumRequest.__api_key__, 2):
            raise KafkaError(35, "DescribeQuorum is not served yet", "DescribeQuorum")
        quorum = await conn.request(
            DescribeQuorumRequest(
                topics=(
                    TopicData(
                        topic_name=TopicName(METADATA_TOPIC),
                        partitions=(PartitionData(partition_index=i32(0)),),
                    ),
                )
            )
        )
        check(quorum.error_code, quorum.error_message, "DescribeQuorum")
        partition = quorum.topics[0].partitions[0]
        check(partition.error_code, partition.error_message, "DescribeQuorum")
        leader = int(partition.leader_id) if int(partition.leader_id) >= 0 else None
        voters = tuple(sorted(int(v.replica_id) for v in partition.current_voters))
    except (KafkaError, IndexError):
        pass  # brokers that do not serve DescribeQuorum yet: quorum unknown
    configs = await conn.request(
        DescribeConfigsRequest(
            resources=(
                DescribeConfigsResource(
                    resource_type=i8(RESOURCE_BROKER), resource_name="", configuration_keys=None
                ),
            ),
            include_synonyms=False,
            include_documentation=False,
        )
    )
    result = configs.results[0]
    check(result.error_code, result.error_message, "DescribeConfigs(cluster default)")
    dynamic = {
        c.name: c.value or ""
        for c in result.configs
        if int(c.config_source) == SOURCE_DYNAMIC_DEFAULT_BROKER
    }
    return BrokerView(
        cluster_id=metadata.cluster_id,
        registered=registered,
        quorum_leader=leader,
        voters=voters,
        dynamic_defaults=dynamic,
    )


async def observe_topic(conn: KafkaConnection, name: str) -> ObservedTopic | None:
    """The topic as the brokers describe it, or None if it does not exist."""
    metadata = await conn.request(
        MetadataRequest(
            topics=(MetadataRequestTopic(topic_id=None, name=TopicName(name)),),
            allow_auto_topic_creation=False,
            include_topic_authorized_operations=False,
        )
    )
    (topic,) = metadata.topics
    if int(topic.error_code) == ErrorCode.unknown_topic_or_partition:
        return None
    check(topic.error_code, None, f"Metadata({name})")
    partitions = topic.partitions
    rf = max((len(p.replica_nodes) for p in partitions), default=0)
    configs = await conn.request(
        DescribeConfigsRequest(
            resources=(
                DescribeConfigsResource(
                    resource_type=i8(RESOURCE_TOPIC), resource_name=name, configuration_keys=None
                ),
            ),
            include_synonyms=False,
            include_documentation=False,
        )
    )
    result = configs.results[0]
    check(result.error_code, result.error_message, f"DescribeConfigs({name})")
    topic_configs = {
        c.name: c.value or ""
        for c in result.configs
        if int(c.config_source) == SOURCE_DYNAMIC_TOPIC
    }
    return ObservedTopic(
        name=name,
        topic_id=str(topic.topic_id) if topic.topic_id else "",
        partitions=len(partitions),
        replication_factor=rf,
        configs=topic_configs,
    )
