"""The operator's Kafka admin I/O (observe + actuate) against a real broker process.

The topic loop end to end without Kubernetes: observe, plan, act, observe again, including
drift made outside (an IncrementalAlterConfigs by "someone else") being corrected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from millrace_operator.actuate.kafka import apply_broker_configs, apply_topic_step
from millrace_operator.kafkaclient import KafkaConnection
from millrace_operator.model.topic import TopicSpec
from millrace_operator.observe.kafka import observe_broker_view, observe_topic
from millrace_operator.plans.cluster import AlterBrokerConfigs
from millrace_operator.plans.common import Blocked
from millrace_operator.plans.topics import (
    AlterConfigs,
    ClusterFacts,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    next_step,
)
from support_broker import BrokerProcess

FACTS = ClusterFacts(exists=True, ready_brokers=1, brokers=1)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def converge(broker: BrokerProcess, spec: TopicSpec, name: str) -> list[str]:
    """Reconcile until in sync (at most 5 passes); the steps taken, by type."""
    taken: list[str] = []
    async with KafkaConnection("127.0.0.1", broker.port) as conn:
        for _ in range(5):
            observed = await observe_topic(conn, name)
            step = next_step(spec, observed, topic_name=name, cluster=FACTS, spec_changed=False)
            if step is None:
                return taken
            assert not isinstance(step, Blocked), step
            await apply_topic_step(conn, step)
            taken.append(type(step).__name__)
    raise AssertionError(f"did not converge: {taken}")


def test_topic_lifecycle(broker: BrokerProcess) -> None:
    name = "op-orders"
    spec = TopicSpec.model_validate(
        {
            "clusterRef": {"name": "c"},
            "partitions": 2,
            "replicationFactor": 1,
            "config": {"retention.ms": "60000"},
        }
    )
    assert run(converge(broker, spec, name)) == [CreateTopic.__name__]

    async def observe() -> Any:
        async with KafkaConnection("127.0.0.1", broker.port) as conn:
            return await observe_topic(conn, name)

    topic = run(observe())
    assert topic.partitions == 2 and topic.replication_factor == 1
    assert topic.configs == {"retention.ms": "60000"}

    # drift made outside: someone sets cleanup.policy and changes retention.ms
    async def drift() -> None:
        async with KafkaConnection("127.0.0.1", broker.port) as conn:
            await apply_topic_step(
                conn,
                AlterConfigs(
                    name, {"retention.ms": "1", "cleanup.policy": "compact"}, (), drift=False
                ),
            )

    run(drift())
    assert run(converge(broker, spec, name)) == [AlterConfigs.__name__]
    assert run(observe()).configs == {"retention.ms": "60000"}

    grown = spec.model_copy(update={"partitions": 4})
    assert run(converge(broker, grown, name)) == [CreatePartitions.__name__]
    assert run(observe()).partitions == 4

    async def delete() -> None:
        async with KafkaConnection("127.0.0.1", broker.port) as conn:
            await apply_topic_step(conn, DeleteTopic(name))
            await apply_topic_step(conn, DeleteTopic(name))  # idempotent

    run(delete())
    assert run(observe()) is None


def test_broker_view_and_dynamic_config(broker: BrokerProcess) -> None:
    async def go() -> Any:
        async with KafkaConnection("127.0.0.1", broker.port) as conn:
            before = await observe_broker_view(conn)
            await apply_broker_configs(
                conn, AlterBrokerConfigs({"log.retention.ms": "86400000"}, ())
            )
            during = await observe_broker_view(conn)
            await apply_broker_configs(conn, AlterBrokerConfigs({}, ("log.retention.ms",)))
            after = await observe_broker_view(conn)
            return before, during, after

    before, during, after = run(go())
    assert before.registered and before.cluster_id
    assert during.dynamic_defaults.get("log.retention.ms") == "86400000"
    assert "log.retention.ms" not in after.dynamic_defaults
