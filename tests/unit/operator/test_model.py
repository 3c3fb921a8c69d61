"""The CRD models: defaults, constraints and the reasons invalid input is rejected."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from millrace_operator.model.cluster import Cluster, ClusterSpec, ControllerMode
from millrace_operator.model.configkeys import (
    OPERATOR_MANAGED_KEYS,
    broker_config_problems,
    is_dynamic_broker_key,
    topic_config_problems,
)
from millrace_operator.model.topic import TopicSpec


def test_cluster_defaults() -> None:
    spec = ClusterSpec()
    assert spec.replicas == 3
    assert spec.controllers.mode is ControllerMode.DEDICATED
    assert spec.controllers.count == 3
    assert spec.storage.size == "10Gi"
    assert spec.storage.delete_claim is False
    assert spec.broker_image == "millrace/broker:0.1.0"
    assert spec.template.termination_grace_period_seconds == 120


def test_cluster_accepts_camel_case_manifest() -> None:
    cluster = Cluster.model_validate(
        {
            "apiVersion": "millrace.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "demo"},
            "spec": {
                "replicas": 6,
                "controllers": {"mode": "combined", "count": 3},
                "zones": {"names": ["zone-a", "zone-b", "zone-c"]},
                "storage": {"size": "1Gi", "storageClassName": "standard"},
                "config": {"log.retention.hours": 24, "auto.create.topics.enable": False},
                "template": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
            },
        }
    )
    assert cluster.spec.zones.names == ["zone-a", "zone-b", "zone-c"]
    assert cluster.spec.config == {
        "log.retention.hours": "24",
        "auto.create.topics.enable": "false",
    }
    assert cluster.spec.storage.storage_class_name == "standard"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"replicas": 0}, "replicas"),
        ({"controllers": {"count": 0}}, "count"),
        ({"controllers": {"mode": "shared"}}, "mode"),
        ({"storage": {"size": "ten gigs"}}, "size"),
        ({"config": {"node.id": "7"}}, "set by the operator"),
        ({"config": {"log.retention.hour": "7"}}, "did you mean 'log.retention.hours'"),
        ({"config": {"log.retention.hours": "a week"}}, "expected an integer"),
        ({"config": {"auto.create.topics.enable": "yes"}}, "expected true or false"),
        ({"listeners": {"internalPort": 80}}, "internalPort"),
        ({"replica": 3}, "replica"),
    ],
)
def test_invalid_cluster_spec_names_the_field(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(spec)
    assert fragment in str(info.value)


def test_topic_spec() -> None:
    spec = TopicSpec.model_validate(
        {"clusterRef": {"name": "demo"}, "partitions": 6, "config": {"retention.ms": 1000}}
    )
    assert spec.replication_factor == 3
    assert spec.config == {"retention.ms": "1000"}
    assert spec.name_in_cluster("orders") == "orders"
    with pytest.raises(ValidationError, match="clusterRef"):
        TopicSpec.model_validate({"partitions": 1})
    with pytest.raises(ValidationError, match=r"unknown topic config 'retention\.mss'"):
        TopicSpec.model_validate({"clusterRef": {"name": "x"}, "config": {"retention.mss": "1"}})
    with pytest.raises(ValidationError, match=r"topicName|topic_name"):
        TopicSpec.model_validate({"clusterRef": {"name": "x"}, "topicName": "a b"})


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        ({}, 0),
        ({"num.partitions": "3", "log.retention.ms": "1000"}, 0),
        ({"listeners": "PLAINTEXT://:9092"}, 1),
        ({"listener.name.internal.ssl.keystore.location": "/x"}, 1),
        ({"bogus": "1", "log.dirs": "/x"}, 2),
    ],
)
def test_broker_config_problems(config: dict[str, str], problems: int) -> None:
    assert len(broker_config_problems(config)) == problems


def test_topic_config_problems() -> None:
    assert topic_config_problems({"cleanup.policy": "compact"}) == []
    assert topic_config_problems({"min.insync.replicas": "two"}) == [
        "spec.config: min.insync.replicas='two': expected an integer"
    ]


def test_dynamic_keys() -> None:
    assert is_dynamic_broker_key("log.retention.ms")
    assert not is_dynamic_broker_key("num.partitions")
    assert not is_dynamic_broker_key("no.such.key")
    assert "node.id" in OPERATOR_MANAGED_KEYS
