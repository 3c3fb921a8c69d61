"""ElectLeaders (43), AlterPartitionReassignments (45) and ListPartitionReassignments
(46) on the wire, from kafka-python and confluent-kafka, against one broker: bad input
gets Kafka's error code per partition and changes nothing.

Moves, throttles and elections across brokers run in test_reassignment.py and
test_placement_elections.py.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import ElectionType, KafkaException
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import (
    InvalidReplicationAssignmentError,
    NoReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)

from support_broker import BrokerProcess
from support_clients import create_topic, unique_topic


def kafka_python_admin(broker: BrokerProcess) -> Any:
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)


def test_reassignment_refusals_carry_kafka_error_codes(broker: BrokerProcess) -> None:
    topic = unique_topic("reassign-api")
    create_topic(broker.bootstrap, topic, partitions=2)
    admin = kafka_python_admin(broker)
    try:
        results = admin.alter_partition_reassignments(
            {
                TopicPartition(topic, 0): [1, 9],  # broker 9 is not registered
                TopicPartition(topic, 1): None,  # nothing to cancel
                TopicPartition(topic, 7): [1],  # no such partition
            }
        )
        assert results[TopicPartition(topic, 0)] is InvalidReplicationAssignmentError
        assert results[TopicPartition(topic, 1)] is NoReassignmentInProgressError
        assert results[TopicPartition(topic, 7)] is UnknownTopicOrPartitionError
        assert admin.list_partition_reassignments() == {}
        described = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(topic, 10)
        assert [p.replicas for p in described.topics[topic].partitions.values()] == [[1], [1]]
        # A reorder to the same set completes at once: nothing stays in progress.
        results = admin.alter_partition_reassignments({TopicPartition(topic, 0): [1]})
        assert results[TopicPartition(topic, 0)] is None
        assert admin.list_partition_reassignments({topic: [0, 1]}) == {}
    finally:
        admin.close()


def test_elect_leaders_answers_per_partition(broker: BrokerProcess) -> None:
    topic = unique_topic("elect-api")
    create_topic(broker.bootstrap, topic, partitions=1)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    future = admin.elect_leaders(
        ElectionType.PREFERRED,
        [CTopicPartition(topic, 0), CTopicPartition("no-such-topic", 0)],
    )
    try:
        results = future.result(30)
    except KafkaException as exc:  # some client versions raise on partition errors
        results = exc.args[0]
    by_key = {(tp.topic, tp.partition): err for tp, err in results.items()}
    assert by_key[(topic, 0)] is not None and by_key[(topic, 0)].name() == "ELECTION_NOT_NEEDED"
    assert by_key[("no-such-topic", 0)].name() == "UNKNOWN_TOPIC_OR_PART"
