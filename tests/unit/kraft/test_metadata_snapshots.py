"""A metadata image as snapshot records and back; the snapshot policy; the controller
loading a snapshot and taking its own over a real Raft core and disk log."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from pathlib import Path

import pytest

from millrace_broker.auth.scram import ScramCredential
from millrace_broker.kraft.controller import RaftController
from millrace_broker.kraft.disk_log import DiskLog
from millrace_broker.kraft.snapshots import SnapshotPolicy
from millrace_broker.metadata.image import (
    BrokerImage,
    MetadataImage,
    PartitionImage,
    TopicImage,
    replay,
)
from millrace_broker.metadata.records import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    AccessControlEntryRecord,
    BrokerRegistrationChangeRecord,
    ClientQuotaRecord,
    ConfigRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveAccessControlEntryRecord,
    RemoveTopicRecord,
    TopicRecord,
    UserScramCredentialRecord,
    encode_record,
)
from millrace_broker.metadata.snapshot import (
    IncompleteSnapshot,
    _encode,
    decode_image,
    differing_fields,
    encode_image,
    image_records,
    verified_encoding,
)
from millrace_broker.raft.config import RaftConfig
from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.quorum_store import FileQuorumStore
from millrace_broker.raft.records import DataRecord
from millrace_broker.raft.voters import ReplicaKey, VoterSet

T1, T2 = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))


def history() -> list[MetadataRecord]:
    """Records touching every part of the image, including state that changed since."""
    return [
        RegisterBrokerRecord(1, (("PLAINTEXT", "h1", 9092, "PLAINTEXT"),), "rack-a"),
        RegisterBrokerRecord(2, (("PLAINTEXT", "h2", 9092, "PLAINTEXT"),), None),
        RegisterBrokerRecord(3, (("PLAINTEXT", "h3", 9092, "PLAINTEXT"),), "rack-b"),
        BrokerRegistrationChangeRecord(3, fenced=True),
        ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", "1000"),
        ConfigRecord(BROKER_RESOURCE, "2", "log.cleaner.threads", "2"),
        ConfigRecord(BROKER_RESOURCE, "2", "log.cleaner.threads", None),  # leaves {} behind
        TopicRecord("a", T1),
        PartitionRecord(T1, 0, (1, 2), (1, 2), 1),
        PartitionRecord(T1, 1, (2, 1), (2, 1), 2),
        PartitionChangeRecord(T1, 0, isr=(1,), leader=1),
        PartitionChangeRecord(T1, 1, leader=1),
        PartitionChangeRecord(T1, 1, replicas=(2, 1, 3), isr=(1, 2), adding_replicas=(3,)),
        ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", "5000"),
        ConfigRecord(TOPIC_RESOURCE, "a", "cleanup.policy", "compact"),
        TopicRecord("b", T2),
        PartitionRecord(T2, 0, (1,), (1,), 1),
        ConfigRecord(TOPIC_RESOURCE, "b", "segment.bytes", "1048576"),
        RemoveTopicRecord(T2),
        ProducerIdsRecord(1, 2000),
        UserScramCredentialRecord("alice", 1, "00ff", "aa" * 32, "bb" * 32, 4096),
        UserScramCredentialRecord("alice", 2, "01", "cc" * 64, "dd" * 64, 8192),
        AccessControlEntryRecord("acl-1", 2, "a", 3, "User:alice", "*", 3, 3),
        AccessControlEntryRecord("acl-2", 2, "b", 3, "User:bob", "*", 2, 3),
        RemoveAccessControlEntryRecord("acl-2"),
        ClientQuotaRecord((("user", "alice"),), "producer_byte_rate", 1024.0),
        ClientQuotaRecord((("client-id", None),), "consumer_byte_rate", 2048.0),
        ClientQuotaRecord((("client-id", None),), "consumer_byte_rate", 0, remove=True),
    ]


def replayed(records: list[MetadataRecord]) -> MetadataImage:
    image = MetadataImage(cluster_id="c1")
    for record in records:
        image = replay(image, record)
    return image


def test_an_image_survives_the_round_trip_through_snapshot_records() -> None:
    image = replayed(history())
    assert set(image.topics) == {"a"} and image.brokers[3].fenced
    rebuilt = decode_image(verified_encoding(image), cluster_id="c1")
    assert rebuilt.topics == image.topics
    assert rebuilt.brokers == image.brokers
    assert rebuilt.topic_configs == image.topic_configs
    assert rebuilt.broker_configs[""] == {"log.retention.ms": "1000"}
    assert rebuilt.next_producer_id == 2000
    assert rebuilt.scram_credentials == image.scram_credentials
    assert set(rebuilt.acls) == {"acl-1"} and rebuilt.acls == image.acls
    assert rebuilt.client_quotas == {(("user", "alice"),): {"producer_byte_rate": 1024.0}}
    part = rebuilt.topics["a"].partitions[1]
    assert (part.leader, part.leader_epoch, part.partition_epoch) == (1, 1, 2)
    # the snapshot is far smaller than the history once state is overwritten
    assert len(encode_image(image)) < sum(len(encode_record(r)) for r in history())


def test_an_empty_snapshot_is_an_empty_image() -> None:
    assert decode_image(b"", cluster_id="c1") == MetadataImage(cluster_id="c1")


def test_state_the_snapshot_cannot_write_is_refused_not_dropped() -> None:
    image = replayed(history())
    odd = dataclasses.replace(image, next_producer_id=-5)  # no record restores a negative id
    with pytest.raises(IncompleteSnapshot, match="next_producer_id"):
        verified_encoding(odd)


def test_every_field_of_the_image_is_known_to_the_snapshot() -> None:
    """A new field needs records in metadata/snapshot.py (else snapshots are refused and
    the metadata log is never trimmed): this test names the fields it covers."""
    covered = {
        MetadataImage: {
            "cluster_id",
            "topics",
            "topic_names",
            "topic_configs",
            "broker_configs",
            "brokers",
            "next_producer_id",
            "scram_credentials",
            "acls",
            "client_quotas",
        },
        TopicImage: {"name", "topic_id", "partitions"},
        PartitionImage: {
            "partition_id",
            "replicas",
            "isr",
            "leader",
            "leader_epoch",
            "partition_epoch",
            "adding_replicas",
            "removing_replicas",
        },
        BrokerImage: {"broker_id", "endpoints", "rack", "fenced"},
    }
    for cls, names in covered.items():
        assert {f.name for f in dataclasses.fields(cls)} == names, cls.__name__
    assert ScramCredential.__eq__ is not object.__eq__  # compared by value


def test_policy_bytes_and_interval() -> None:
    policy = SnapshotPolicy(max_bytes=100, max_interval_ms=1000)
    assert not policy.due(0)  # the interval runs from here
    policy.applied(60)
    assert not policy.due(10)
    policy.applied(40)
    assert policy.due(20)
    policy.reset(20)
    policy.applied(1)
    assert not policy.due(1019)
    assert policy.due(1020)
    policy.reset(1020)
    assert not policy.due(5000)  # nothing new: no snapshot
    never = SnapshotPolicy(max_bytes=100, max_interval_ms=0)
    never.applied(1)
    assert not never.due(10**9)


def single_voter(directory: Path, controller: RaftController) -> RaftNode:
    log = DiskLog(directory / "__cluster_metadata-0")
    node = RaftNode(
        RaftConfig(local=ReplicaKey(1), cluster_id="c1"),
        log=log,
        store=FileQuorumStore(directory),
        rng=random.Random(1),
        now_ms=0,
        bootstrap_voters=VoterSet.from_keys([ReplicaKey(1)]),
    )
    return node


class FakeDriver:
    """Just the driver's `node` attribute: the controller reads the core through it."""

    def __init__(self, node: RaftNode) -> None:
        self.node = node


def run_until_leader(node: RaftNode) -> int:
    now = 0
    while not node.is_leader():
        now += 100
        node.tick(now)
        assert now < 60_000
    return now


def test_a_controller_snapshots_its_image_and_a_restart_loads_it(tmp_path: Path) -> None:
    controller = RaftController("c1", snapshots=SnapshotPolicy(max_bytes=500, max_interval_ms=0))
    node = single_voter(tmp_path, controller)
    controller.attach(FakeDriver(node))  # type: ignore[arg-type]
    now = run_until_leader(node)
    for record in history():
        node.propose([encode_record(record)])
        node.tick(now)
        controller.on_commit(node.poll_committed())
    directory = tmp_path / "__cluster_metadata-0"
    checkpoints = sorted(directory.glob("*.checkpoint"))
    assert checkpoints, "no snapshot written"
    assert node.log.start_offset > 0
    image = controller.image
    node.log.close()  # type: ignore[attr-defined]

    restarted = RaftController("c1")
    node2 = single_voter(tmp_path, restarted)
    restarted.attach(FakeDriver(node2))  # type: ignore[arg-type]
    run_until_leader(node2)
    restarted.on_commit(node2.poll_committed())
    assert restarted.image.topics == image.topics
    assert restarted.image.brokers == image.brokers
    assert restarted.image.scram_credentials == image.scram_credentials
    assert restarted.caught_up()
    node2.log.close()  # type: ignore[attr-defined]


def test_a_record_that_fails_to_apply_stops_snapshots(tmp_path: Path) -> None:
    controller = RaftController("c1", snapshots=SnapshotPolicy(max_bytes=1, max_interval_ms=0))
    node = single_voter(tmp_path, controller)
    controller.attach(FakeDriver(node))  # type: ignore[arg-type]
    now = run_until_leader(node)
    node.propose([b"not a metadata record", encode_record(TopicRecord("x", T1))])
    node.tick(now)
    controller.on_commit(node.poll_committed())
    assert set(controller.image.topics) == {"x"}  # the rest of the batch applies
    node.propose([encode_record(TopicRecord("y", T2))])
    node.tick(now)
    controller.on_commit(node.poll_committed())
    assert node.log.latest_snapshot() is None  # the image is not the log's state
    assert isinstance(node.log.read(node.log.start_offset, 100)[-1].record, DataRecord)
    node.log.close()  # type: ignore[attr-defined]


def test_snapshot_lines_are_the_records_own_encoding() -> None:
    records = list(image_records(replayed(history())))
    assert [_encode(r) for r in records] == [encode_record(r) for r in records]


def test_records_outside_their_topic_group_still_replay_in_order() -> None:
    image = replayed(history())
    records = list(image_records(image))
    shuffled = [r for r in records if isinstance(r, ConfigRecord)] + [
        r for r in records if not isinstance(r, ConfigRecord)
    ]  # configs first: not grouped with their topics
    data = b"\n".join(encode_record(r) for r in shuffled)
    assert differing_fields(decode_image(data, cluster_id="c1"), image) == []


def test_the_snapshotter_encodes_off_the_event_loop_and_installs(tmp_path: Path) -> None:
    async def scenario() -> None:
        controller = RaftController("c1", snapshots=SnapshotPolicy(max_bytes=1, max_interval_ms=0))
        node = single_voter(tmp_path, controller)
        controller.attach(FakeDriver(node))  # type: ignore[arg-type]
        now = run_until_leader(node)
        node.propose([encode_record(r) for r in history()])
        node.tick(now)
        controller.on_commit(node.poll_committed())
        for _ in range(200):  # bounded: the worker thread needs a moment under load
            if node.log.latest_snapshot() is not None:
                break
            await asyncio.sleep(0.05)
        snapshot = node.log.latest_snapshot()
        assert snapshot is not None and snapshot.snapshot_id.offset == node.applied_offset
        restored = decode_image(snapshot.data, cluster_id="c1")
        assert differing_fields(restored, controller.image) == []
        node.log.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())
