"""One client connection: frame, dispatch in order, write responses.

Like Kafka's socket server, a connection serves one request at a time: while a request
is waiting (a long-polling fetch), later frames stay buffered and reading pauses once the
buffer is large, so responses always leave in request order however deeply the client
pipelines. Frames larger than `socket.request.max.bytes` and frames that cannot be
parsed close the connection; nothing a client sends can crash the broker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
from collections.abc import Awaitable
from typing import Any

from ..protocol.framing import MalformedRequest
from ..server.dispatch import Dispatcher, Output

log = logging.getLogger(__name__)
_SIZE = struct.Struct(">i")
_PAUSE_ABOVE = 4 * 1024 * 1024


class KafkaConnection(asyncio.Protocol):
    def __init__(self, dispatcher: Dispatcher, *, listener: str, max_request_bytes: int) -> None:
        self._dispatcher = dispatcher
        self._listener = listener
        self._max_request = max_request_bytes
        self._buffer = bytearray()
        self._busy = False
        self._paused = False
        self._closed = False
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "?"

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._serve_buffered()
        elif len(self._buffer) > _PAUSE_ABOVE and not self._paused and self._transport:
            self._transport.pause_reading()
            self._paused = True

    def _next_frame(self) -> bytes | None:
        buf = self._buffer
        if len(buf) < 4:
            return None
        (size,) = _SIZE.unpack_from(buf, 0)
        if size < 0 or size > self._max_request:
            raise MalformedRequest(
                f"request of {size} bytes exceeds socket.request.max.bytes={self._max_request}"
            )
        if len(buf) < 4 + size:
            return None
        frame = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        return frame

    def _serve_buffered(self) -> None:
        try:
            while not self._closed:
                frame = self._next_frame()
                if frame is None:
                    break
                result = self._dispatcher.dispatch(
                    frame, listener=self._listener, client_host=self._peer, reply=self._send_raw
                )
                if inspect.isawaitable(result):
                    self._busy = True
                    self._task = asyncio.ensure_future(self._await_then_continue(result))
                    return
                self._write(result)
        except MalformedRequest as exc:
            self._abort(str(exc))
            return
        except Exception:
            log.exception("unexpected error serving a request from %s; closing", self._peer)
            self._abort("internal error")
            return
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False

    async def _await_then_continue(self, pending: Awaitable[Output]) -> None:
        try:
            self._write(await pending)
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("unexpected error serving a request from %s; closing", self._peer)
            self._abort("internal error")
            return
        self._busy = False
        self._serve_buffered()

    def _send_raw(self, data: bytes) -> None:
        """Unsolicited frames back to the peer (Raft messages to an observer)."""
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _write(self, output: Output) -> None:
        if output is None or self._transport is None or self._closed:
            return
        if isinstance(output, bytes):
            self._transport.write(output)
        else:
            self._transport.writelines(output)

    def _abort(self, reason: str) -> None:
        log.info("closing connection from %s: %s", self._peer, reason)
        self._closed = True
        if self._transport is not None:
            self._transport.close()


def make_protocol_factory(dispatcher: Dispatcher, *, listener: str, max_request_bytes: int) -> Any:
    return lambda: KafkaConnection(
        dispatcher, listener=listener, max_request_bytes=max_request_bytes
    )
