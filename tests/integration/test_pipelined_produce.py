"""acks=all answers on one connection: requests are served while earlier ones wait for
the followers, and every answer still leaves in request order.

A raw client writes 12 acks=all Produce requests and a Metadata request between them on
one socket, without waiting, to the leader of an RF=3 partition; while one follower is
held back all of them are appended at once (log end 12 before any answer), none is
answered; when it resumes, all 13 answers arrive in correlation-id order with ascending
offsets. The cluster is tests/support_cluster.py's (real brokers, network and storage).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader

from millrace_broker.protocol.codec import encode_request
from millrace_broker.server.kio_build import nested
from support_clients import unique_topic
from support_cluster import InProcessCluster
from support_wire import RawConnection, batch, produce_v9_frame


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[InProcessCluster]:
    c = InProcessCluster(
        tmp_path,
        3,
        {"replica.lag.time.max.ms": "120000", "replica.fetch.wait.max.ms": "200"},
    ).start()
    try:
        yield c
    finally:
        c.stop()


def metadata_frame(topic: str, correlation_id: int) -> bytes:
    cls: Any = load_request_schema(3, 12)
    request = cls(
        topics=(nested(cls, "MetadataRequestTopic")(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    return encode_request(request, correlation_id=correlation_id)


def read_frame(conn: RawConnection) -> bytes:
    (size,) = struct.unpack(">i", conn._recv(4))
    return conn._recv(size)


def test_acks_all_requests_pipeline_and_answer_in_order(cluster: InProcessCluster) -> None:
    topic = unique_topic("pipelined")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(
        30
    )
    part = cluster.partition(topic)
    leader = part.leader
    held = next(r for r in part.replicas if r != leader)
    plog = cluster.broker(leader).partition_log(topic, 0)
    assert plog is not None
    cluster.wait_until("full ISR", lambda: len(cluster.partition(topic).isr) == 3)
    cluster.call(cluster.broker(held).replication.pause_fetchers)

    conn = RawConnection(cluster.nodes[leader].port)
    conn.sock.settimeout(60)
    frames = []
    for i in range(1, 14):
        if i == 7:
            frames.append(metadata_frame(topic, i))
        else:
            frames.append(produce_v9_frame(topic, batch([f"v{i}".encode()]), correlation_id=i))
    conn.sock.sendall(b"".join(struct.pack(">i", len(f)) + f for f in frames))
    try:
        cluster.wait_until("all 12 appended", lambda: plog.log_end_offset == 12)
        time.sleep(0.5)
        conn.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            conn._recv(1)  # the first produce waits for the held-back follower: no answer
        conn.sock.settimeout(60)
        cluster.call(cluster.broker(held).replication.resume_fetchers)
        answers = [read_frame(conn) for _ in frames]
    finally:
        conn.close()
    correlation_ids = [struct.unpack_from(">i", a)[0] for a in answers]
    assert correlation_ids == list(range(1, 14))
    offsets = []
    for corr, body in zip(correlation_ids, answers, strict=True):
        if corr == 7:
            continue
        response: Any = entity_reader(load_response_schema(0, 9))(body, 5)[0]
        p = response.responses[0].partition_responses[0]
        assert p.error_code == 0, p
        offsets.append(p.base_offset)
    print(f"answers in order {correlation_ids}, offsets {offsets}")
    assert offsets == list(range(12))
