"""NOT_CONTROLLER is found in a forwarded answer wherever the API puts its error codes."""

from __future__ import annotations

import io

from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from millrace_broker.metadata.controller import NewTopic
from millrace_broker.protocol.framing import frame_response
from millrace_broker.server.controller_answer import says_not_controller
from millrace_broker.server.forwarding import create_topics_frame
from millrace_broker.server.kio_build import ZERO_THROTTLE, make, nested


def _create_topics_answer(code: ErrorCode) -> bytes:
    cls = load_response_schema(19, 7)
    result = make(
        nested(cls, "CreatableTopicResult"),
        name="t",
        topic_id=None,
        error_code=code,
        error_message=None,
        topic_config_error_code=0,
        num_partitions=1,
        replication_factor=1,
        configs=None,
    )
    body = io.BytesIO()
    entity_writer(cls)(body, make(cls, throttle_time=ZERO_THROTTLE, topics=(result,)))
    return frame_response(7, body.getvalue(), header_v1=True)


REQUEST = create_topics_frame(
    NewTopic(name="t", num_partitions=1, replication_factor=1, assignments={}, configs={})
)


def test_per_topic_not_controller_is_seen() -> None:
    assert says_not_controller(REQUEST, _create_topics_answer(ErrorCode.not_controller))


def test_other_answers_are_relayed() -> None:
    assert not says_not_controller(REQUEST, _create_topics_answer(ErrorCode.none))
    assert not says_not_controller(REQUEST, _create_topics_answer(ErrorCode.topic_already_exists))


def test_an_undecodable_answer_is_relayed_as_it_is() -> None:
    assert not says_not_controller(REQUEST, b"\x00\x00\x00\x05\x00\x00\x00\x07\x00")
