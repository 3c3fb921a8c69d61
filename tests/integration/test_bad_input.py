"""Raw-socket abuse: every bad frame gets a Kafka error code or a clean close, and the
broker keeps serving everyone else."""

from __future__ import annotations

import socket
import struct

import crc32c
from confluent_kafka.admin import AdminClient

from support_broker import BrokerProcess
from support_clients import consume_n, create_topic, unique_topic


def roundtrip(port: int, frame: bytes, *, timeout: float = 5.0) -> bytes | None:
    """Send one size-prefixed frame; return the response body, or None if closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        head = _recv_exact(s, 4)
        if head is None:
            return None
        (size,) = struct.unpack(">i", head)
        return _recv_exact(s, size)


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = s.recv(n - len(data))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def header(api_key: int, version: int, correlation_id: int, client: bytes = b"t") -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client


def assert_still_serving(broker: BrokerProcess) -> None:
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert md.brokers


def test_api_versions_unknown_version_answers_v0_with_unsupported_version(
    broker: BrokerProcess,
) -> None:
    body = roundtrip(broker.port, header(18, 99, 1234) + b"\x00\x00")
    assert body is not None
    correlation, error, count = struct.unpack_from(">ihi", body, 0)
    assert (correlation, error) == (1234, 35)
    keys = {struct.unpack_from(">hhh", body, 10 + 6 * i)[0] for i in range(count)}
    assert {0, 1, 3, 18} <= keys


def test_unknown_api_key_closes_the_connection(broker: BrokerProcess) -> None:
    assert roundtrip(broker.port, header(9999, 0, 1)) is None
    assert_still_serving(broker)


def test_garbage_and_truncated_frames_close_the_connection(broker: BrokerProcess) -> None:
    assert roundtrip(broker.port, b"\x00") is None
    assert roundtrip(broker.port, header(3, 12, 5) + b"\xff\xff\xff") is None
    assert roundtrip(broker.port, header(0, 9, 6) + b"\x01\x02") is None
    assert_still_serving(broker)


def test_oversize_request_is_refused_before_reading_it(broker: BrokerProcess) -> None:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(struct.pack(">i", 500 * 1024 * 1024) + b"x" * 100)
        assert _recv_exact(s, 4) is None
    assert_still_serving(broker)


def _batch(value: bytes, *, corrupt_crc: bool = False) -> bytes:
    """A v2 record batch with one record, built by hand."""

    def varint(n: int) -> bytes:
        n = (n << 1) ^ (n >> 63)
        out = bytearray()
        while n > 0x7F:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out)

    record_body = (
        b"\x00" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    )
    record = varint(len(record_body)) + record_body
    after_crc = (
        struct.pack(">hiqqqhii", 0, 0, 1_700_000_000_000, 1_700_000_000_000, -1, -1, -1, 1) + record
    )
    crc = crc32c.crc32c(after_crc) ^ (1 if corrupt_crc else 0)
    after_length = struct.pack(">ibI", 0, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def produce_v8(topic: str, records: bytes, correlation_id: int = 77) -> bytes:
    name = topic.encode()
    body = struct.pack(">hhi", -1, 1, 10000)  # transactional id null, acks 1, timeout
    body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", len(records)) + records
    return header(0, 8, correlation_id) + body


def produce_error(body: bytes) -> int:
    # v8 response: corr, topics[1], name, partitions[1], index, error_code
    (name_len,) = struct.unpack_from(">h", body, 8)
    pos = 10 + name_len + 4 + 4
    (error,) = struct.unpack_from(">h", body, pos)
    return int(error)


def test_bad_crc_is_corrupt_message_and_nothing_is_written(broker: BrokerProcess) -> None:
    topic = unique_topic("crc")
    create_topic(broker.bootstrap, topic)
    body = roundtrip(broker.port, produce_v8(topic, _batch(b"bad", corrupt_crc=True)))
    assert body is not None and produce_error(body) == 2  # CORRUPT_MESSAGE
    body = roundtrip(broker.port, produce_v8(topic, _batch(b"good")))
    assert body is not None and produce_error(body) == 0
    got = consume_n(broker.bootstrap, topic, 1)
    assert [m.value() for m in got] == [b"good"] and got[0].offset() == 0


def test_record_over_max_message_bytes_is_message_too_large(broker: BrokerProcess) -> None:
    topic = unique_topic("big")
    create_topic(broker.bootstrap, topic, config={"max.message.bytes": "1000"})
    body = roundtrip(broker.port, produce_v8(topic, _batch(b"x" * 5000)))
    assert body is not None and produce_error(body) == 10  # MESSAGE_TOO_LARGE


def test_produce_to_unknown_topic_is_unknown_topic_or_partition(broker: BrokerProcess) -> None:
    body = roundtrip(broker.port, produce_v8("no-such-topic-here", _batch(b"x")))
    assert body is not None and produce_error(body) == 3


def test_truncated_batch_inside_produce_is_rejected(broker: BrokerProcess) -> None:
    topic = unique_topic("trunc")
    create_topic(broker.bootstrap, topic)
    body = roundtrip(broker.port, produce_v8(topic, _batch(b"abcdef")[:-3]))
    assert body is not None and produce_error(body) in (2, 87)  # CORRUPT_MESSAGE / INVALID_RECORD
    assert_still_serving(broker)
