"""Delivery of Raft messages between KRaft nodes.

The Raft core pairs requests and responses by correlation id itself, so the transport
only has to deliver messages, in order per peer, best effort: a lost message is a lost
message to Raft, which retries. Messages are frames with a private API key
(`RAFT_MESSAGE_KEY`, outside Kafka's range) carrying the core's messages (see
message_codec.py); they get no Kafka-style response.

A node sends to a peer over one outbound connection to that peer's controller listener
(`PeerLink`), and reads whatever comes back on it. A peer without a controller listener
— a broker-only node, a Raft observer — is answered on the connection it opened
(`ReplyChannels`): the voters remember, per source node id, the connection its messages
arrived on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

from ..raft.messages import Message
from .message_codec import decode_message, encode_message

log = logging.getLogger(__name__)
RAFT_MESSAGE_KEY = 32000
HEADER_SIZE = 10  # api key, version, correlation id, null client id
_QUEUE_LIMIT = 1000
_SIZE = struct.Struct(">i")

Deliver = Callable[[int, Message], None]


def raft_frame(source: int, message: Message) -> bytes:
    body = encode_message(source, message)
    header = struct.pack(">hhih", RAFT_MESSAGE_KEY, 0, 0, -1)
    return _SIZE.pack(len(header) + len(body)) + header + body


def decode_frame(frame: bytes) -> tuple[int, Message]:
    """A frame without its size prefix -> (source node id, message)."""
    return decode_message(frame[HEADER_SIZE:])


class ReplyChannels:
    """Per source node, the latest inbound connection its messages came on."""

    def __init__(self) -> None:
        self._writers: dict[int, Callable[[bytes], None]] = {}

    def remember(self, source: int, write: Callable[[bytes], None]) -> None:
        self._writers[source] = write

    def send(self, destination: int, frame: bytes) -> bool:
        write = self._writers.get(destination)
        if write is None:
            return False
        write(frame)
        return True


class PeerLink:
    """Outbound messages to one peer over one reconnecting connection; messages the peer
    sends back on it are delivered too."""

    def __init__(
        self, node_id: int, address: Callable[[], tuple[str, int] | None], deliver: Deliver
    ) -> None:
        self.node_id = node_id
        self._address = address
        self._deliver = deliver
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(_QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self._reader_task: asyncio.Task[None] | None = None

    def send(self, frame: bytes) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(frame)  # a full queue drops: Raft retries

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                frame = await reader.readexactly(_SIZE.unpack(head)[0])
                source, message = decode_frame(frame)
                self._deliver(source, message)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        while True:
            frame = await self._queue.get()
            for _attempt in range(2):
                try:
                    if writer is None:
                        addr = self._address()
                        if addr is None:
                            break
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), 2.0)
                        if self._reader_task is not None:
                            self._reader_task.cancel()
                        self._reader_task = asyncio.create_task(self._read(reader))
                    assert writer is not None
                    writer.write(frame)
                    await asyncio.wait_for(writer.drain(), 2.0)
                    break
                except (OSError, TimeoutError):
                    if writer is not None:
                        writer.close()
                    writer = None
                    await asyncio.sleep(0.05)

    def close(self) -> None:
        for task in (self._task, self._reader_task):
            if task is not None:
                task.cancel()
