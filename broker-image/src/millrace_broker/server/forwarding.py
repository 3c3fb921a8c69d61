"""Forward controller requests from a broker to the active controller, as KRaft brokers do.

Admin requests that change metadata (CreateTopics, DeleteTopics, CreatePartitions,
AlterConfigs, IncrementalAlterConfigs, InitProducerId's id blocks) are decided by the
active controller only. A node that is not the active controller sends the client's
request frame, unchanged, to the active controller's controller listener and relays the
response frame, unchanged: same API, same version, same correlation id, so the client
cannot tell. The dispatcher wraps client frames in an Envelope (server/envelope.py) so
that the controller knows the client's principal. One connection per controller carries
one forwarded request at a time.

As Kafka's forwarding manager, a forwarded request outlives controller changes: while no
active controller is known (an election, as right after the cluster starts) it waits for
one; when the controller it reached answers NOT_CONTROLLER (it lost its leadership
meanwhile) or cannot be reached, or another controller becomes active while it waits
for the answer, the request goes again to whichever controller is active then, until
the forwarding timeout. Only then does the client see the last
answer, or its connection is closed (it retries).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
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
from .controller_answer import says_not_controller

log = logging.getLogger(__name__)

# 80/81: AddRaftVoter/RemoveRaftVoter, which Kafka brokers forward too (KIP-853)
FORWARDED_KEYS = frozenset({19, 20, 30, 31, 33, 37, 43, 44, 45, 46, 49, 51, 55, 80, 81})
_SIZE = struct.Struct(">i")
UNKNOWN_CONTROLLER = -1  # Broker.should_forward: forward once a controller is elected
_RETRY_S = 0.05
_MAX_BACKOFF_S = 1.0  # between attempts at a controller that cannot be reached
_FOLLOW_S = 0.1  # how often an unanswered forward checks the active controller


class ForwardingError(Exception):
    pass


class _ControllerMoved(Exception):
    def __init__(self, to: int) -> None:
        super().__init__(to)
        self.to = to


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
                    if self._streams is not None and self._streams[1].is_closing():
                        self._streams = None  # closed under us (e.g. its SASL session ended)
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
                except asyncio.CancelledError:
                    # Cancelled mid-exchange (the caller gave up): the answer may still
                    # come and must not be read as the next request's. Start afresh.
                    if self._streams is not None:
                        self._streams[1].close()
                    self._streams = None
                    raise
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
        # the active controller as this node knows it (set by the Broker); without it a
        # request goes once to the controller it names
        self.active_controller: Callable[[], int | None] | None = None

    async def forward(self, controller_id: int, frame: bytes, *, timeout_s: float = 30.0) -> bytes:
        """Send `frame` to the active controller and return its answer (size prefix
        included); `controller_id` may be UNKNOWN_CONTROLLER."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        target = controller_id
        backoff = _RETRY_S
        for _ in range(1_000_000):  # bounded by the deadline; the count is a backstop
            if target == UNKNOWN_CONTROLLER:
                target = await self._await_active(deadline)
            remaining = max(deadline - loop.time(), 0.1)
            try:
                response = await self._send_following(target, frame, remaining)
            except _ControllerMoved as moved:
                log.info("controller %d replaced by %d; forwarding again", target, moved.to)
                target = moved.to
                continue
            except ForwardingError as exc:
                if self.active_controller is None or loop.time() >= deadline:
                    raise
                if backoff == _RETRY_S:  # once per request: it may stay down a while
                    log.info("controller %d unreachable (%s); forwarding again", target, exc)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            else:
                if (
                    self.active_controller is None
                    or loop.time() >= deadline
                    or not says_not_controller(frame, response)
                ):
                    return response
                log.info("controller %d is no longer active; forwarding again", target)
            await asyncio.sleep(min(backoff, max(deadline - loop.time(), 0)))
            target = UNKNOWN_CONTROLLER
        raise ForwardingError("forwarding gave up")

    async def _send_following(self, target: int, frame: bytes, timeout_s: float) -> bytes:
        """`_send`, abandoned as soon as another controller becomes active: a request
        to a controller that is cut off would otherwise wait out its whole timeout (Kafka
        drops its connection to the old controller when the controller changes)."""
        send = asyncio.ensure_future(self._send(target, frame, timeout_s))
        try:
            for _ in range(1_000_000):  # ends with the send, bounded by its timeout
                done, _pending = await asyncio.wait({send}, timeout=_FOLLOW_S)
                if done:
                    break
                active = self.active_controller() if self.active_controller is not None else None
                if active is not None and active != target:
                    raise _ControllerMoved(active)
            return await send
        finally:
            if not send.done():
                send.cancel()  # round_trip drops the connection: no stale answer is read

    async def _await_active(self, deadline: float) -> int:
        loop = asyncio.get_running_loop()
        while True:
            active = self.active_controller() if self.active_controller is not None else None
            if active is not None:
                return active
            if loop.time() >= deadline:
                raise ForwardingError("no active controller was elected in time")
            await asyncio.sleep(_RETRY_S)

    async def _send(self, controller_id: int, frame: bytes, timeout_s: float) -> bytes:
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
