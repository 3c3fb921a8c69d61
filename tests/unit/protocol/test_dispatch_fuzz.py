"""Fuzz the request path: any bytes a client sends either get a response or a
MalformedRequest (the connection closes) — never another exception, never a corrupt log.

Runs the real dispatcher over a real broker object graph (real storage in a temp dir).
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import io
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.types import TopicName
from kio.serial import entity_writer
from kio.static.primitive import Records, i16, i32

from millrace_broker.config import load_broker_config
from millrace_broker.metadata.controller import NewTopic, plan_create_topic
from millrace_broker.protocol.framing import MalformedRequest
from millrace_broker.protocol.record_batch import iter_batches, validate_batch
from millrace_broker.server.dispatch import Dispatcher
from millrace_broker.server.handlers import HANDLERS
from millrace_broker.server.wiring import build_broker
from millrace_broker.storage.records import Record, build_batch


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    data = tmp_path_factory.mktemp("fuzz")
    config = load_broker_config(None, [f"log.dirs={data}"])
    broker, journal = build_broker(config)
    broker.controller.commit(
        plan_create_topic(broker.image, NewTopic("fuzz-topic", 1, 1, assignments={}, configs={}))
    )
    yield Dispatcher(broker, HANDLERS)
    broker.logs.close()
    journal.close()


def run(dispatcher: Dispatcher, frame: bytes) -> None:
    try:
        result = dispatcher.dispatch(frame, listener="PLAINTEXT", client_host="fuzz")
    except MalformedRequest:
        return
    if inspect.isawaitable(result):
        asyncio.run(asyncio.wait_for(_finish(result), 5))


async def _finish(result: object) -> None:
    await result  # type: ignore[misc]


api_keys = st.sampled_from(sorted({*HANDLERS, 18, 9999}))


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=api_keys, version=st.integers(-1, 20), body=st.binary(max_size=200))
def test_random_bodies_never_escape_as_unexpected_errors(
    dispatcher: Dispatcher, key: int, version: int, body: bytes
) -> None:
    frame = struct.pack(">hhih", key, version, 1, 4) + b"fuzz" + body
    run(dispatcher, frame)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=64))
def test_random_frames_never_escape(dispatcher: Dispatcher, data: bytes) -> None:
    run(dispatcher, data)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(flip=st.integers(0, 10_000), value=st.integers(0, 255))
def test_mutated_valid_produce_requests(dispatcher: Dispatcher, flip: int, value: int) -> None:
    """Start from a valid Produce v9 (flexible) and corrupt one byte anywhere."""
    frame = bytearray(_valid_produce_v9())
    frame[flip % len(frame)] = value
    run(dispatcher, bytes(frame))
    plog = dispatcher._broker.partition_log("fuzz-topic", 0)
    assert plog is not None
    # Whatever was accepted reads back as whole batches with valid CRCs, offsets in order.
    data = bytes(plog.read(plog.log_start_offset, 100_000_000, min_one_batch=True).records)
    expected_offset = plog.log_start_offset
    covered = 0
    for pos, header in iter_batches(data):
        validate_batch(data, pos, header)
        assert header.base_offset == expected_offset
        expected_offset = header.last_offset + 1
        covered = pos + header.total_size
    assert covered == len(data) and expected_offset == plog.log_end_offset


def _valid_produce_v9() -> bytes:
    """A real Produce v9 request frame (kio writes it) carrying one valid batch."""
    batch = build_batch(
        [Record(offset_delta=0, timestamp=1_700_000_000_000, key=b"k", value=b"value")],
        base_offset=0,
        attributes=0,
    )
    request = ProduceRequest(
        transactional_id=None,
        acks=i16(1),
        timeout=datetime.timedelta(seconds=5),
        topic_data=(
            TopicProduceData(
                name=TopicName("fuzz-topic"),
                partition_data=(PartitionProduceData(index=i32(0), records=Records(bytes(batch))),),
            ),
        ),
    )
    body = io.BytesIO()
    entity_writer(ProduceRequest)(body, request)
    header = struct.pack(">hhih", 0, 9, 7, 4) + b"fuzz" + b"\x00"  # header v2: tagged fields
    return header + body.getvalue()
