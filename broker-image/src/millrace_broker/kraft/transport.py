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

Who listens where (`PeerDirectory`): every frame names its sender's controller endpoint
in the header's client id, and that wins; otherwise voters are at the controller
endpoint the current voter set names for them (static `controller.quorum.voters` or a
VotersRecord, KIP-853) -- Kafka's followers likewise learn the leader's endpoint from
BeginQuorumEpoch and Fetch responses rather than only from the voter set;
`controller.quorum.bootstrap.servers` entries under the negative ids -2, -3, ... (as
Kafka numbers them) until we know who answers there. A node first heard on a bootstrap
connection is reachable at that address: that is how an observer started with
`--no-initial-controllers` reaches the leader before it has replicated the voter set.

Admin requests from this process (AddRaftVoter & co. served on the Kafka wire, see
server/raft_voters.py) enter the core from `LOCAL_CALLER`; `LocalCalls` pairs the core's
responses with the awaiting handlers by request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable

from ..raft.messages import Message
from ..raft.voters import VoterSet
from .message_codec import decode_message, encode_message

log = logging.getLogger(__name__)
RAFT_MESSAGE_KEY = 32000
HEADER_SIZE = 10  # api key, version, correlation id, client id length (the id follows)
_QUEUE_LIMIT = 1000
_SIZE = struct.Struct(">i")
# The source id of admin requests made by this process itself (never a node id, and not
# in the bootstrap range -2, -3, ...).
LOCAL_CALLER = -1_000_000

Deliver = Callable[[int, Message], None]


def raft_frame(source: int, message: Message, endpoint: str | None = None) -> bytes:
    """A frame; `endpoint` ("host:port" of the sender's controller listener, if it has
    one) rides in the header's client id so receivers always know where it listens."""
    body = encode_message(source, message)
    client = endpoint.encode() if endpoint else b""
    header = struct.pack(">hhih", RAFT_MESSAGE_KEY, 0, 0, len(client) if client else -1) + client
    return _SIZE.pack(len(header) + len(body)) + header + body


def decode_frame(frame: bytes) -> tuple[int, Message, str | None]:
    """A frame without its size prefix -> (source node id, message, sender endpoint)."""
    (client_len,) = struct.unpack_from(">h", frame, HEADER_SIZE - 2)
    if client_len <= 0:
        return (*decode_message(frame[HEADER_SIZE:]), None)
    endpoint = frame[HEADER_SIZE : HEADER_SIZE + client_len].decode()
    return (*decode_message(frame[HEADER_SIZE + client_len :]), endpoint)


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


def bootstrap_ids(addresses: list[tuple[str, int]]) -> dict[int, tuple[str, int]]:
    """Kafka's ids for `controller.quorum.bootstrap.servers` entries: -2, -3, ..."""
    return {-(i + 2): address for i, address in enumerate(addresses)}


class PeerDirectory:
    """The address of each Raft peer (see the module docstring)."""

    def __init__(
        self,
        *,
        voters: Callable[[], VoterSet],
        listener_names: list[str],
        bootstrap: dict[int, tuple[str, int]] | None = None,
        local: tuple[int, tuple[str, int]] | None = None,
    ) -> None:
        # our own controller endpoint wins over the voter set's (stale until announced)
        self._local = local
        self._voters = voters
        self._listener_names = listener_names
        self._bootstrap = dict(bootstrap or {})
        self._learned: dict[int, tuple[str, int]] = {}  # from bootstrap connections
        self._announced: dict[int, tuple[str, int]] = {}  # from the peers' own frames

    def __call__(self, node_id: int) -> tuple[str, int] | None:
        if node_id < 0:
            return self._bootstrap.get(node_id)
        if self._local is not None and node_id == self._local[0]:
            return self._local[1]
        # What a peer says about itself beats the voter set, which lags when a voter
        # moved (until its UpdateRaftVoter commits -- which may need this very address).
        announced = self._announced.get(node_id)
        if announced is not None:
            return announced
        voter = self._voters().get(node_id)
        if voter is not None and voter.endpoints:
            names = dict(voter.endpoints)
            chosen = next((names[n] for n in self._listener_names if n in names), None)
            return _host_port(chosen or voter.endpoints[0][1])
        return self._learned.get(node_id)

    def learn(self, node_id: int, via: int | None, endpoint: str | None) -> None:
        """A frame from `node_id` arrived (on the connection to bootstrap server `via`,
        if that is where) naming `endpoint` as the sender's controller listener."""
        if node_id < 0:
            return
        if endpoint:
            self._announced[node_id] = _host_port(endpoint)
        address = self._bootstrap.get(via) if via is not None else None
        if address is not None:
            self._learned[node_id] = address


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class LocalCalls:
    """Admin requests this process put into the core, awaiting their responses."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    def open(self) -> tuple[int, asyncio.Future[Message]]:
        request_id = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        return request_id, fut

    def resolve(self, message: Message) -> None:
        fut = self._waiting.pop(getattr(message, "request_id", -1), None)
        if fut is not None and not fut.done():
            fut.set_result(message)

    def forget(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# opens a connection to a controller listener, with TLS and SASL when it is secured
# (network/secure_client.py): (host, port, timeout_s) -> streams
Connect = Callable[[str, int, float], Awaitable[Streams]]


async def open_plain(host: str, port: int, timeout_s: float) -> Streams:
    return await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)


class PeerLink:
    """Outbound messages to one peer over one reconnecting connection; messages the peer
    sends back on it are delivered too."""

    def __init__(
        self,
        node_id: int,
        address: Callable[[], tuple[str, int] | None],
        deliver: Deliver,
        *,
        on_source: Callable[[int, str | None], None] | None = None,
        connect: Connect = open_plain,
    ) -> None:
        self.node_id = node_id
        self._connect = connect
        self._address = address
        self._deliver = deliver
        # told who answered on this link, and where it listens (PeerDirectory.learn)
        self._on_source = on_source
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
                source, message, endpoint = decode_frame(frame)
                if self._on_source is not None:
                    self._on_source(source, endpoint)
                self._deliver(source, message)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        while True:
            frame = await self._queue.get()
            for _attempt in range(2):
                try:
                    if writer is not None and writer.is_closing():
                        writer = None  # closed under us (e.g. its SASL session ended)
                    if writer is None:
                        addr = self._address()
                        if addr is None:
                            break
                        reader, writer = await self._connect(*addr, 2.0)
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
