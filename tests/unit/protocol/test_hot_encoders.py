"""The hand-written Produce and Fetch response encoders write exactly what kio writes."""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from millrace_broker.protocol.fetch_response import (
    AbortedTransaction,
    PartitionFetchResult,
    TopicFetchResult,
    encode_fetch_response,
)
from millrace_broker.protocol.framing import frame_response
from millrace_broker.protocol.produce_response import (
    PartitionProduceResult,
    TopicProduceResult,
    encode_produce_response,
)
from millrace_broker.server.kio_build import make, nested

TOPIC_ID = uuid.UUID("6f1c7c1e-8d2a-4a4e-9a55-0f3b5c1d2e3f")


def kio_bytes(correlation_id: int, entity: object, *, header_v1: bool) -> bytes:
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return frame_response(correlation_id, buf.getvalue(), header_v1=header_v1)


partition_results = st.builds(
    PartitionProduceResult,
    index=st.integers(0, 1000),
    error_code=st.sampled_from([0, 2, 3, 10, 45, 46]),
    base_offset=st.integers(-1, 2**40),
    log_append_time_ms=st.one_of(st.just(-1), st.integers(0, 2**41)),
    log_start_offset=st.integers(-1, 2**40),
    error_message=st.one_of(st.none(), st.text(max_size=30)),
)


@pytest.mark.parametrize("version", range(3, 14))
@settings(max_examples=25, deadline=None)
@given(
    parts=st.lists(partition_results, min_size=0, max_size=4), name=st.text(min_size=1, max_size=20)
)
def test_produce_response_matches_kio(
    version: int, parts: list[PartitionProduceResult], name: str
) -> None:
    cls = load_response_schema(0, version)
    part_cls = nested(cls, "PartitionProduceResponse")
    topic_cls = nested(cls, "TopicProduceResponse")
    entity = make(
        cls,
        responses=(
            make(
                topic_cls,
                name=name,
                topic_id=TOPIC_ID,
                partition_responses=tuple(
                    make(
                        part_cls,
                        index=p.index,
                        error_code=ErrorCode(p.error_code),
                        base_offset=p.base_offset,
                        log_append_time=None
                        if p.log_append_time_ms == -1
                        else datetime.datetime.fromtimestamp(
                            p.log_append_time_ms / 1000, tz=datetime.UTC
                        ),
                        log_start_offset=p.log_start_offset,
                        record_errors=(),
                        error_message=p.error_message if version >= 8 else None,
                    )
                    for p in parts
                ),
            ),
        ),
        throttle_time=datetime.timedelta(0),
    )
    if version < 8:
        parts = [
            PartitionProduceResult(
                p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset
            )
            for p in parts
        ]
    ours = encode_produce_response(7, version, [TopicProduceResult(name, TOPIC_ID, parts)])
    assert ours == kio_bytes(7, entity, header_v1=version >= 9)


fetch_partitions = st.builds(
    PartitionFetchResult,
    index=st.integers(0, 1000),
    error_code=st.sampled_from([0, 1, 3]),
    high_watermark=st.integers(-1, 2**40),
    last_stable_offset=st.integers(-1, 2**40),
    log_start_offset=st.integers(-1, 2**40),
    records=st.one_of(st.none(), st.binary(max_size=300)),
    aborted_transactions=st.one_of(
        st.none(),
        st.lists(
            st.builds(AbortedTransaction, st.integers(0, 2**40), st.integers(0, 2**40)), max_size=3
        ),
    ),
    preferred_read_replica=st.integers(-1, 5),
)


@pytest.mark.parametrize("version", range(4, 19))
@settings(max_examples=25, deadline=None)
@given(parts=st.lists(fetch_partitions, max_size=4), name=st.text(min_size=1, max_size=20))
def test_fetch_response_matches_kio(
    version: int, parts: list[PartitionFetchResult], name: str
) -> None:
    cls = load_response_schema(1, version)
    part_cls = nested(cls, "PartitionData")
    topic_cls = nested(cls, "FetchableTopicResponse")
    aborted_cls = nested(cls, "AbortedTransaction")
    if version < 11:
        parts = [
            PartitionFetchResult(
                p.index,
                p.error_code,
                p.high_watermark,
                p.last_stable_offset,
                p.log_start_offset,
                p.records,
                p.aborted_transactions,
            )
            for p in parts
        ]
    entity = make(
        cls,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=(
            make(
                topic_cls,
                topic=name,
                topic_id=TOPIC_ID,
                partitions=tuple(
                    make(
                        part_cls,
                        partition_index=p.index,
                        error_code=ErrorCode(p.error_code),
                        high_watermark=p.high_watermark,
                        last_stable_offset=p.last_stable_offset,
                        log_start_offset=p.log_start_offset,
                        aborted_transactions=None
                        if p.aborted_transactions is None
                        else tuple(
                            make(
                                aborted_cls, producer_id=a.producer_id, first_offset=a.first_offset
                            )
                            for a in p.aborted_transactions
                        ),
                        preferred_read_replica=p.preferred_read_replica,
                        records=p.records,
                    )
                    for p in parts
                ),
            ),
        ),
    )
    ours = b"".join(
        bytes(c)
        for c in encode_fetch_response(9, version, [TopicFetchResult(name, TOPIC_ID, parts)])
    )
    assert ours == kio_bytes(9, entity, header_v1=version >= 12)
