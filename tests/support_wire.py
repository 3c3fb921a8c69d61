"""Hand-made protocol requests for raw-socket tests (kio writes the bodies)."""

from __future__ import annotations

import datetime
import io
import socket
import struct
from typing import Any

from kio.index import load_response_schema
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.types import TopicName
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import Records, i16, i32

from millrace_broker.storage.records import Record, build_batch


def batch(
    values: list[bytes],
    *,
    producer_id: int = -1,
    epoch: int = -1,
    sequence: int = -1,
    timestamp: int = 1_700_000_000_000,
) -> bytes:
    records = [
        Record(offset_delta=i, timestamp=timestamp, key=None, value=v) for i, v in enumerate(values)
    ]
    return bytes(
        build_batch(
            records,
            base_offset=0,
            attributes=0,
            producer_id=producer_id,
            producer_epoch=epoch,
            base_sequence=sequence,
        )
    )


def produce_v9_frame(
    topic: str, records: bytes, *, correlation_id: int = 1, acks: int = -1
) -> bytes:
    request = ProduceRequest(
        transactional_id=None,
        acks=i16(acks),
        timeout=datetime.timedelta(seconds=10),
        topic_data=(
            TopicProduceData(
                name=TopicName(topic),
                partition_data=(PartitionProduceData(index=i32(0), records=Records(records)),),
            ),
        ),
    )
    body = io.BytesIO()
    entity_writer(ProduceRequest)(body, request)
    return struct.pack(">hhih", 0, 9, correlation_id, 4) + b"test" + b"\x00" + body.getvalue()


class RawConnection:
    """One TCP connection speaking size-prefixed frames."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def request(self, frame: bytes) -> bytes:
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", self._recv(4))
        return self._recv(size)

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the broker")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def produce_v9(conn: RawConnection, topic: str, records: bytes) -> Any:
    """Send Produce v9; return the partition response (error_code, base_offset, ...)."""
    body = conn.request(produce_v9_frame(topic, records))
    response, _ = entity_reader(load_response_schema(0, 9))(body, 5)  # corr id + tags
    return response.responses[0].partition_responses[0]
