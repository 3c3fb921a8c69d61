"""The Fetch response's replication tagged fields (DivergingEpoch, CurrentLeader) are
encoded byte for byte as kio writes them, for every flexible version."""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from millrace_broker.protocol.fetch_response import (
    PartitionFetchResult,
    TopicFetchResult,
    encode_fetch_response,
)
from millrace_broker.protocol.framing import frame_response
from millrace_broker.server.kio_build import make, nested

TOPIC_ID = uuid.UUID(int=42)


@pytest.mark.parametrize("version", range(12, 19))
@pytest.mark.parametrize(
    ("diverging", "leader"),
    [((3, 120), None), (None, (2, 7)), ((0, 5), (1, 4)), (None, None)],
)
def test_tagged_fields_match_kio(
    version: int, diverging: tuple[int, int] | None, leader: tuple[int, int] | None
) -> None:
    ours_part = PartitionFetchResult(
        0,
        ErrorCode.not_leader_or_follower if leader else ErrorCode.none,
        10,
        10,
        0,
        records=b"",
        diverging_epoch=diverging,
        current_leader=leader,
    )
    cls = load_response_schema(1, version)
    kwargs = {}
    if diverging is not None:
        kwargs["diverging_epoch"] = nested(cls, "EpochEndOffset")(
            epoch=diverging[0], end_offset=diverging[1]
        )
    if leader is not None:
        kwargs["current_leader"] = nested(cls, "LeaderIdAndEpoch")(
            leader_id=leader[0], leader_epoch=leader[1]
        )
    part = make(
        nested(cls, "PartitionData"),
        partition_index=0,
        error_code=ErrorCode(ours_part.error_code),
        high_watermark=10,
        last_stable_offset=10,
        log_start_offset=0,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=b"",
        **kwargs,
    )
    entity = make(
        cls,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=(
            make(
                nested(cls, "FetchableTopicResponse"),
                topic="t",
                topic_id=TOPIC_ID,
                partitions=(part,),
            ),
        ),
    )
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    expected = frame_response(5, buf.getvalue(), header_v1=True)
    ours = b"".join(
        bytes(c)
        for c in encode_fetch_response(5, version, [TopicFetchResult("t", TOPIC_ID, [ours_part])])
    )
    assert ours == expected
