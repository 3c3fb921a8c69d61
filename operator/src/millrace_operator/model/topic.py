"""The `Topic` resource (millrace.io/v1alpha1): a topic of a Millrace `Cluster`.

Unidirectional: the resource is the truth. Drift made outside (a config changed with a
CLI) is corrected on the next reconcile and reported in status. Partitions can grow and
never shrink; the topic name and replication factor are fixed once created (changing the
replication factor needs partition reassignment, a day-2 operation). Deleting the resource
deletes the topic (a finalizer) unless `deletionPolicy: Retain`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from millrace_operator.model.common import (
    Condition,
    KubeModel,
    ObjectRef,
    stringify_values,
    with_rules,
)
from millrace_operator.model.configkeys import USER_TOPIC_KEYS, topic_config_problems

TOPIC_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


class TopicSpec(KubeModel):
    """Desired state of a topic."""

    model_config = with_rules(
        {
            "rule": "!has(self.config) || self.config.all(k, k in "
            + "["
            + ", ".join(f"'{k}'" for k in USER_TOPIC_KEYS)
            + "])",
            "message": "spec.config has an unknown topic config: keys are Apache Kafka 4.1 "
            "topic config names (e.g. retention.ms, cleanup.policy)",
            "fieldPath": ".config",
        },
        {
            "rule": "has(self.topicName) == has(oldSelf.topicName) && "
            "(!has(self.topicName) || self.topicName == oldSelf.topicName)",
            "message": "topicName cannot change: create a new Topic resource instead",
            "fieldPath": ".topicName",
        },
    )

    cluster_ref: ObjectRef = Field(
        description="The Cluster (in this namespace) the topic belongs to."
    )
    topic_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=249,
        pattern=TOPIC_NAME_PATTERN,
        description="Name of the topic in the cluster; default: metadata.name. Set it for "
        "names Kubernetes does not allow (upper case, underscores). Cannot change.",
    )
    partitions: int = Field(
        default=1,
        ge=1,
        le=100000,
        description="Number of partitions. Can grow; never shrinks.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self >= oldSelf",
                    "message": "partitions can grow but never shrink (records are keyed to "
                    "partitions); create a new topic to have fewer",
                }
            ]
        },
    )
    replication_factor: int = Field(
        default=3,
        ge=1,
        le=32767,
        description="Replicas of each partition; at most the Cluster's replicas. Fixed once "
        "the topic exists (changing it needs reassignment, a day-2 operation).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "replicationFactor cannot change yet: it needs partition "
                    "reassignment, which arrives with the day-2 operations",
                }
            ]
        },
    )
    config: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": {"x-kubernetes-int-or-string": True}},
        max_length=128,
        description="Topic configs (Apache Kafka 4.1 names; quote booleans), e.g. "
        "{retention.ms: '86400000', cleanup.policy: compact}. Configs not listed here are "
        "the cluster defaults; changes made outside are reverted.",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete: deleting the resource deletes the topic and its data. Retain: "
        "the topic is left in the cluster.",
    )

    @field_validator("config", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return stringify_values(value)

    @field_validator("config")
    @classmethod
    def _known_keys(cls, value: dict[str, str]) -> dict[str, str]:
        problems = topic_config_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def name_in_cluster(self, resource_name: str) -> str:
        """The topic's name in the cluster: `topicName`, else the resource's name."""
        return self.topic_name or resource_name


class DriftReport(KubeModel):
    """The last difference found between the resource and the topic, and corrected."""

    detected_at: datetime | None = Field(default=None, description="When it was found.")
    details: list[str] = Field(default_factory=list, description="What differed.")


class TopicStatus(KubeModel):
    """Observed state of a topic."""

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the status reflects."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready (and Degraded on conflicts and drift), with reasons.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    topic_name: str | None = Field(default=None, description="Name of the topic in the cluster.")
    topic_id: str | None = Field(default=None, description="Topic id (UUID) in the cluster.")
    partitions: int | None = Field(default=None, description="Observed partition count.")
    replication_factor: int | None = Field(default=None, description="Observed replication factor.")
    config: dict[str, str] = Field(
        default_factory=dict, description="Observed topic-level (non-default) configs."
    )
    last_drift: DriftReport | None = Field(
        default=None, description="The last drift detected and corrected."
    )


class Topic(KubeModel):
    """A topic of a Millrace cluster."""

    model_config = with_rules(extra="ignore")

    spec: TopicSpec = Field(description="Desired state.")
    status: TopicStatus = Field(default_factory=TopicStatus, description="Observed state.")
