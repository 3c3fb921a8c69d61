"""Forward controller requests from a broker to the active controller, as KRaft brokers do.

Admin requests that change metadata (CreateTopics, DeleteTopics, CreatePartitions,
AlterConfigs, IncrementalAlterConfigs, InitProducerId's id blocks) are decided by the
active controller only. A node that is not the active controller sends the client's
request frame, unchanged, to the active controller's controller listener and relays the
response frame, unchanged: same API, same version, same correlation id, so the client
cannot tell. One connection per controller carries one forwarded request at a time.
"""

from __future__ import annotations

import asyncio
import datetime
import struct
from collections.abc import Awaitable, Callable

from kio.schema.create_topics.v7.request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from kio.schema.types import TopicName
from kio.static.primitive import i16, i32, i32Timedelta

from ..metadata.controller import NewTopic
from ..protocol.codec import encode_request

# 80/81: AddRaftVoter/RemoveRaftVoter, which Kafka brokers forward too (KIP-853)
FORWARDED_KEYS = frozenset({19, 20, 22, 30, 31, 33, 37, 43, 44, 45, 46, 49, 51, 55, 80, 81})
_SIZE = struct.Struct(">i")


class ForwardingError(Exception):
    pass


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# how to open a connection to a controller listener (TLS and SASL when it is secured;
# network/secure_client.py): (host, port, timeout_s) -> streams
Connect = Callable[[str, int, float], Awaitable[Streams]]


async def _open_plain(host: str, port: int, timeout_s: float) -> Streams:
    return await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)


class _ControllerConnection:
    def __init__(self, host: str, port: int, connect: Connect = _open_plain) -> None:
        self.address = (host, port)
        self._connect = connect
        self._lock = asyncio.Lock()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def round_trip(self, frame: bytes, timeout_s: float) -> bytes:
        async with self._lock:
            for attempt in range(2):
                try:
                    if self._streams is None:
                        self._streams = await self._connect(*self.address, timeout_s)
                    reader, writer = self._streams
                    writer.write(_SIZE.pack(len(frame)) + frame)
                    await writer.drain()
                    head = await asyncio.wait_for(reader.readexactly(4), timeout_s)
                    body = await asyncio.wait_for(
                        reader.readexactly(_SIZE.unpack(head)[0]), timeout_s
                    )
                    return head + body
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    if self._streams is not None:
                        self._streams[1].close()
                    self._streams = None
                    if attempt == 1:
                        raise ForwardingError(f"controller {self.address}: {exc}") from exc
            raise ForwardingError("unreachable")


class Forwarder:
    def __init__(
        self,
        controller_addresses: dict[int, tuple[str, int]] | Callable[[int], tuple[str, int] | None],
    ) -> None:
        # a function for a dynamic quorum: the voters and their endpoints change
        self._address_of = (
            controller_addresses.get
            if isinstance(controller_addresses, dict)
            else controller_addresses
        )
        self._connections: dict[int, _ControllerConnection] = {}
        self.connect: Connect = _open_plain  # secured by wiring for a secured listener

    async def forward(self, controller_id: int, frame: bytes, *, timeout_s: float = 30.0) -> bytes:
        address = self._address_of(controller_id)
        if address is None:
            raise ForwardingError(f"no address for controller {controller_id}")
        connection = self._connections.get(controller_id)
        if connection is None or connection.address != address:
            connection = _ControllerConnection(*address, self.connect)
            self._connections[controller_id] = connection
        return await connection.round_trip(frame, timeout_s)


def create_topics_frame(new: NewTopic) -> bytes:
    """A CreateTopics v7 request frame (without size) for one topic, as a broker sends
    to the controller when auto-creating."""
    request = CreateTopicsRequest(
        topics=(
            CreatableTopic(
                name=TopicName(new.name),
                num_partitions=i32(new.num_partitions),
                replication_factor=i16(new.replication_factor),
                assignments=(),
                configs=tuple(
                    CreatableTopicConfig(name=k, value=v) for k, v in new.configs.items()
                ),
            ),
        ),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=30)),
        validate_only=False,
    )
    return encode_request(request)
