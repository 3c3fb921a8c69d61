"""Group administration (AdminClient, Apache Kafka's kafka-consumer-groups) and bad input
on the group APIs (raw requests: the Kafka error code, and nothing corrupted)."""

from __future__ import annotations

import datetime
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta
from test_groups_support import (
    committed_offsets,
    consumers,
    create_topic_v7,
    group_broker,
    kio_call,
    produce_spread,
    wait_for,
)

from support_broker import BrokerProcess
from support_clients import unique_topic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with group_broker(tmp_path_factory.mktemp("groups-admin") / "data") as b:
        yield b


def ms(value: int) -> Any:
    return i32Timedelta.parse(datetime.timedelta(milliseconds=value))


def test_admin_list_describe_alter_delete(gbroker: BrokerProcess, tmp_path: Path) -> None:
    b = gbroker
    topic, group = unique_topic("adm"), f"g-{uuid.uuid4().hex[:8]}"
    create_topic_v7(b.port, topic, 2)
    produce_spread(b.bootstrap, topic, [f"v{i}" for i in range(20)], 2)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    with consumers(tmp_path) as start:
        c = start("confluent", b.bootstrap, group, topic, "c", **{"client.id": "the-client"})
        wait_for(lambda: len(c.values()) == 20, 60, "records")
        listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(15)
        assert group in {g.group_id for g in listed.valid}
        empty_only = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(15)
        assert group not in {g.group_id for g in empty_only.valid}
        d = admin.describe_consumer_groups([group])[group].result(15)
        assert d.state == ConsumerGroupState.STABLE
        assert d.partition_assignor == "range"
        (member,) = d.members
        assert member.client_id == "the-client"
        assert {tp.partition for tp in member.assignment.topic_partitions} == {0, 1}
        # A live group cannot be deleted.
        with pytest.raises(Exception, match=r"NON_EMPTY_GROUP|not empty"):
            admin.delete_consumer_groups([group])[group].result(15)
    d = admin.describe_consumer_groups([group])[group].result(15)
    assert d.state == ConsumerGroupState.EMPTY and not d.members

    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[
        group
    ].result(15)
    assert {tp.partition: tp.offset for tp in offsets.topic_partitions} == {0: 10, 1: 10}
    altered = admin.alter_consumer_group_offsets(
        [
            ConsumerGroupTopicPartitions(
                group, [TopicPartition(topic, 0, 3, metadata="checkpoint-7")]
            )
        ]
    )[group].result(15)
    assert altered.topic_partitions[0].error is None
    again = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    )[group].result(15)
    assert again.topic_partitions[0].offset == 3
    assert again.topic_partitions[0].metadata == "checkpoint-7"

    admin.delete_consumer_groups([group])[group].result(15)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(15).valid}
    assert committed_offsets(b.bootstrap, group, topic, 2) == {0: -1001, 1: -1001}


@pytest.mark.kafka_cli
def test_kafka_consumer_groups_describe_shows_lag_and_deletes_offsets(
    gbroker: BrokerProcess,
) -> None:
    from kafkaref import kafka_cli

    b = gbroker
    topic, group = unique_topic("lag"), f"g-{uuid.uuid4().hex[:8]}"
    create_topic_v7(b.port, topic, 2)
    produce_spread(b.bootstrap, topic, [f"v{i}" for i in range(14)], 2)  # 7 per partition
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.alter_consumer_group_offsets(
        [
            ConsumerGroupTopicPartitions(
                group, [TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 7)]
            )
        ]
    )[group].result(15)
    out = kafka_cli(
        "kafka-consumer-groups",
        "--bootstrap-server",
        b.bootstrap,
        "--describe",
        "--group",
        group,
        check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] == group and cols[1] == topic:
            rows[int(cols[2])] = (int(cols[3]), int(cols[4]), int(cols[5]))
    assert rows == {0: (2, 7, 5), 1: (7, 7, 0)}, out

    listed = kafka_cli(
        "kafka-consumer-groups", "--bootstrap-server", b.bootstrap, "--list", check=True
    ).stdout
    assert group in listed.split()
    kafka_cli(
        "kafka-consumer-groups",
        "--bootstrap-server",
        b.bootstrap,
        "--delete-offsets",
        "--group",
        group,
        "--topic",
        f"{topic}:0",
        check=True,
    )
    assert committed_offsets(b.bootstrap, group, topic, 2) == {0: -1001, 1: 7}

    cli = ("kafka-consumer-groups", "--bootstrap-server", b.bootstrap, "--group", group)
    kafka_cli(*cli, "--reset-offsets", "--topic", topic, "--to-earliest", "--execute", check=True)
    assert committed_offsets(b.bootstrap, group, topic, 2) == {0: 0, 1: 0}
    kafka_cli(*cli, "--delete", check=True)
    assert committed_offsets(b.bootstrap, group, topic, 2) == {0: -1001, 1: -1001}


# -- bad input --------------------------------------------------------------------------------


def _join(
    port: int,
    group: str,
    member_id: str = "",
    *,
    protocol_type: str = "consumer",
    session_ms: int = 6000,
) -> Any:
    from kio.schema.join_group.v5 import request as jg

    return kio_call(
        port,
        jg.JoinGroupRequest(
            group_id=group,
            session_timeout=ms(session_ms),
            rebalance_timeout=ms(10000),
            member_id=member_id,
            group_instance_id=None,
            protocol_type=protocol_type,
            protocols=(jg.JoinGroupRequestProtocol(name="range", metadata=b"\x00\x00"),),
        ),
    )


def _commit(
    port: int, group: str, member_id: str, generation: int, topic: str, offset: int
) -> ErrorCode:
    from kio.schema.offset_commit.v8 import request as oc

    response = kio_call(
        port,
        oc.OffsetCommitRequest(
            group_id=group,
            generation_id_or_member_epoch=generation,
            member_id=member_id,
            group_instance_id=None,
            topics=(
                oc.OffsetCommitRequestTopic(
                    name=topic,
                    partitions=(
                        oc.OffsetCommitRequestPartition(
                            partition_index=0,
                            committed_offset=offset,
                            committed_leader_epoch=-1,
                            committed_metadata="",
                        ),
                    ),
                ),
            ),
        ),
    )
    return ErrorCode(response.topics[0].partitions[0].error_code)


def _fetch(port: int, group: str, topic: str) -> int:
    from kio.schema.offset_fetch.v8 import request as of

    response = kio_call(
        port,
        of.OffsetFetchRequest(
            groups=(
                of.OffsetFetchRequestGroup(
                    group_id=group,
                    topics=(of.OffsetFetchRequestTopics(name=topic, partition_indexes=(0,)),),
                ),
            ),
            require_stable=False,
        ),
    )
    return int(response.groups[0].topics[0].partitions[0].committed_offset)


def test_unknown_protocol_type_and_stale_generation(gbroker: BrokerProcess) -> None:
    from kio.schema.describe_groups.v5 import request as dg
    from kio.schema.find_coordinator.v4 import request as fc
    from kio.schema.sync_group.v3 import request as sg

    b = gbroker
    topic, group = unique_topic("bad"), f"g-{uuid.uuid4().hex[:8]}"
    create_topic_v7(b.port, topic, 1)
    found = kio_call(
        b.port, fc.FindCoordinatorRequest(key_type=0, coordinator_keys=(group, "other-group"))
    )
    assert [c.error_code for c in found.coordinators] == [ErrorCode.none] * 2
    assert {c.port for c in found.coordinators} == {b.port}
    txn = kio_call(b.port, fc.FindCoordinatorRequest(key_type=1, coordinator_keys=("tx",)))
    assert txn.coordinators[0].error_code == ErrorCode.none

    first = _join(b.port, group)
    assert first.error_code == ErrorCode.member_id_required
    member = first.member_id
    joined = _join(b.port, group, member)
    assert joined.error_code == ErrorCode.none and joined.generation_id == 1
    synced = kio_call(
        b.port,
        sg.SyncGroupRequest(
            group_id=group,
            generation_id=1,
            member_id=member,
            group_instance_id=None,
            assignments=(sg.SyncGroupRequestAssignment(member_id=member, assignment=b"x"),),
        ),
    )
    assert synced.error_code == ErrorCode.none and synced.assignment == b"x"
    assert _commit(b.port, group, member, 1, topic, 5) == ErrorCode.none

    # A member of another protocol type cannot join; the group is untouched.
    bogus = _join(b.port, group, protocol_type="bogus-protocol")
    assert bogus.error_code == ErrorCode.inconsistent_group_protocol
    bad_session = _join(b.port, group, session_ms=10)
    assert bad_session.error_code == ErrorCode.invalid_session_timeout
    # (Raw DescribeGroups: this group's member metadata is not the consumer protocol's,
    # which librdkafka's describe would refuse.)
    described = kio_call(
        b.port, dg.DescribeGroupsRequest(groups=(group,), include_authorized_operations=False)
    ).groups[0]
    assert described.group_state == "Stable"
    assert [m.member_id for m in described.members] == [member]

    # The leader rejoins: generation 2. Commits for generation 1 are refused.
    rejoined = _join(b.port, group, member)
    assert rejoined.error_code == ErrorCode.none and rejoined.generation_id == 2
    assert _commit(b.port, group, member, 1, topic, 99) == ErrorCode.illegal_generation
    assert _commit(b.port, group, "intruder", 2, topic, 99) == ErrorCode.unknown_member_id
    assert _commit(b.port, group, "", -1, topic, 99) == ErrorCode.unknown_member_id
    assert _fetch(b.port, group, topic) == 5
    # SyncGroup for the old generation too.
    stale = kio_call(
        b.port,
        sg.SyncGroupRequest(
            group_id=group,
            generation_id=1,
            member_id=member,
            group_instance_id=None,
            assignments=(),
        ),
    )
    assert stale.error_code == ErrorCode.illegal_generation
    # The group still works for the current generation.
    fresh = kio_call(
        b.port,
        sg.SyncGroupRequest(
            group_id=group,
            generation_id=2,
            member_id=member,
            group_instance_id=None,
            assignments=(sg.SyncGroupRequestAssignment(member_id=member, assignment=b"y"),),
        ),
    )
    assert fresh.error_code == ErrorCode.none
    assert _commit(b.port, group, member, 2, topic, 6) == ErrorCode.none
    assert _fetch(b.port, group, topic) == 6
