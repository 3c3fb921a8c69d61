"""Broker liveness on the active controller: heartbeats, fencing, unfencing (KIP-631).

Pure pieces: `HeartbeatTracker` remembers when each broker last heartbeated (volatile,
like Kafka's: a new active controller starts every registered broker's clock at its own
takeover, so a controller change never fences anyone by itself); `plan_fence` fences a
broker and moves every partition it leads to a live ISR member (never outside the ISR
unless the topic enables unclean election); `plan_unfence` lets a returning broker lead
again the partitions that were left leaderless with it as their last ISR member.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..metadata.image import MetadataImage
from ..metadata.partition_change import plan_broker_failure
from ..metadata.records import (
    NO_LEADER,
    BrokerRegistrationChangeRecord,
    MetadataRecord,
    PartitionChangeRecord,
)


class HeartbeatTracker:
    def __init__(self, session_timeout_ms: int) -> None:
        self.session_timeout_ms = session_timeout_ms
        self._last: dict[int, int] = {}

    def record(self, broker_id: int, now_ms: int) -> None:
        self._last[broker_id] = now_ms

    def reset(self, broker_ids: Iterable[int], now_ms: int) -> None:
        self._last = {b: now_ms for b in broker_ids}

    def expired(self, broker_ids: Iterable[int], now_ms: int) -> list[int]:
        return sorted(
            b
            for b in broker_ids
            if now_ms - self._last.setdefault(b, now_ms) > self.session_timeout_ms
        )


def _unclean_allowed(image: MetadataImage, topic: str) -> bool:
    return image.configs_of_topic(topic).get("unclean.leader.election.enable") == "true"


def live_brokers(image: MetadataImage) -> set[int]:
    return {b.broker_id for b in image.brokers.values() if not b.fenced}


def plan_fence(image: MetadataImage, broker_id: int) -> list[MetadataRecord]:
    known = image.brokers.get(broker_id)
    if known is None:
        return []
    records: list[MetadataRecord] = []
    if not known.fenced:
        records.append(BrokerRegistrationChangeRecord(broker_id, fenced=True))
    records += plan_broker_failure(
        image,
        broker_id,
        alive=live_brokers(image) - {broker_id},
        unclean_allowed=lambda topic: _unclean_allowed(image, topic),
    )
    return records


def plan_unfence(image: MetadataImage, broker_id: int) -> list[MetadataRecord]:
    known = image.brokers.get(broker_id)
    if known is None or not known.fenced:
        return []
    records: list[MetadataRecord] = [BrokerRegistrationChangeRecord(broker_id, fenced=False)]
    for topic in image.topics.values():
        for pid, part in sorted(topic.partitions.items()):
            if part.leader == NO_LEADER and broker_id in part.isr:
                records.append(PartitionChangeRecord(str(topic.topic_id), pid, leader=broker_id))
    return records


def leads_anything(image: MetadataImage, broker_id: int) -> bool:
    return any(
        part.leader == broker_id
        for topic in image.topics.values()
        for part in topic.partitions.values()
    )
