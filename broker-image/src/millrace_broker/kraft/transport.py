"""One-way delivery of Raft messages between controllers.

The Raft core pairs requests and responses by correlation id itself, so the transport
only has to deliver messages, in order per peer, best effort: a lost message is a lost
message to Raft, which retries. Each peer gets one outbound TCP connection to its
controller listener, fed from a bounded queue; frames use a private API key
(`RAFT_MESSAGE_KEY`, outside Kafka's range) and get no response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

from ..raft.messages import Message
from .message_codec import encode_message

log = logging.getLogger(__name__)
RAFT_MESSAGE_KEY = 32000
_QUEUE_LIMIT = 1000


def raft_frame(source: int, message: Message) -> bytes:
    body = encode_message(source, message)
    header = struct.pack(">hhih", RAFT_MESSAGE_KEY, 0, 0, -1)
    return struct.pack(">i", len(header) + len(body)) + header + body


class PeerLink:
    """Outbound messages to one peer over one reconnecting connection."""

    def __init__(self, node_id: int, address: Callable[[], tuple[str, int] | None]) -> None:
        self.node_id = node_id
        self._address = address
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(_QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None

    def send(self, frame: bytes) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(frame)  # a full queue drops: Raft retries

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
                        _reader, writer = await asyncio.wait_for(
                            asyncio.open_connection(*addr), 2.0
                        )
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
        if self._task is not None:
            self._task.cancel()
