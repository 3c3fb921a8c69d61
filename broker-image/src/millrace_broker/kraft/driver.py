"""The asyncio driver of one Raft replica: timers, message delivery, proposals, commits.

It owns the clock and the sockets; the core owns every decision. The loop ticks the core
whenever `next_deadline()` passes (or a message arrived), sends what the core returns,
and hands newly committed entries to the state machine (`on_commit`). `propose` appends
on the leader and resolves once the entry is committed and applied, or fails when this
replica stops being the leader first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

from ..raft.core import Committed, RaftNode
from ..raft.errors import ErrorCode
from ..raft.messages import (
    AdminRequest,
    FetchRequest,
    FetchSnapshotRequest,
    Inbound,
    Message,
    Outbound,
)
from .transport import (
    LOCAL_CALLER,
    Connect,
    LocalCalls,
    PeerLink,
    ReplyChannels,
    decode_frame,
    open_plain,
    raft_frame,
)

log = logging.getLogger(__name__)


class NotLeader(Exception):
    def __init__(self, leader_id: int | None) -> None:
        super().__init__(f"not the quorum leader (leader: {leader_id})")
        self.leader_id = leader_id


class RaftDriver:
    def __init__(
        self,
        node: RaftNode,
        *,
        peer_address: Callable[[int], tuple[str, int] | None],
        on_commit: Callable[[list[Committed]], None],
        clock_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000),
        learn_peer: Callable[[int, int | None, str | None], None] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.node = node
        self._peer_address = peer_address
        # told (node id, bootstrap id it answered on, the endpoint it names) per frame
        self._learn_peer = learn_peer
        self._endpoint = endpoint  # our controller listener, stamped on every frame
        self.calls = LocalCalls()
        self._on_commit = on_commit
        self._clock_ms = clock_ms
        self._links: dict[int, PeerLink] = {}
        self.connect: Connect = open_plain  # secured by wiring for a secured listener
        self.replies = ReplyChannels()
        self._wake = asyncio.Event()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # (offset, epoch, fut)
        self._task: asyncio.Task[None] | None = None
        self.leader_listeners: list[Callable[[int | None], None]] = []
        self._last_leader: int | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for link in self._links.values():
            link.close()

    async def _run(self) -> None:
        while True:
            try:
                self._send(self.node.tick(self._clock_ms()))
                self._after_step()
            except Exception:
                log.exception("raft tick failed")
            delay = max(0, self.node.next_deadline() - self._clock_ms()) / 1000
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(delay, 0.5))

    def receive_frame(self, frame: bytes, reply: Callable[[bytes], None]) -> None:
        """A Raft frame from a connection to our controller listener."""
        source, message, endpoint = decode_frame(frame)
        if self._learn_peer is not None:
            self._learn_peer(source, None, endpoint)
        self.replies.remember(source, reply)
        self.receive(source, message)

    def receive(self, source: int, message: Message) -> None:
        try:
            self._send(self.node.step(Inbound(source, message), self._clock_ms()))
            self._after_step()
        except Exception:
            log.exception("raft step failed for %s from %s", type(message).__name__, source)
        self._wake.set()

    def _send(self, outbound: list[Outbound]) -> None:
        for out in outbound:
            if out.destination == LOCAL_CALLER:
                self.calls.resolve(out.message)
                continue
            if out.destination == self.node.key.id:
                self.receive(out.destination, out.message)
                continue
            frame = raft_frame(self.node.key.id, out.message, self._endpoint)
            if self._peer_address(out.destination) is not None:
                self._link(out.destination).send(frame)
            elif not self.replies.send(out.destination, frame) and isinstance(
                out.message, FetchRequest | FetchSnapshotRequest
            ):
                # A peer we cannot address and that never wrote to us: a leader an
                # observer has only heard of. Ask every bootstrap server; the others
                # answer with errors the core ignores (they are not the leader).
                for via in self.node.config.bootstrap_servers:
                    if via < 0:
                        self._link(via).send(frame)
            # (otherwise: an observer without a controller listener, answered above on
            # the connection it opened)

    def _link(self, destination: int) -> PeerLink:
        link = self._links.get(destination)
        if link is None:
            learn = self._learn_peer
            link = self._links[destination] = PeerLink(
                destination,
                partial(self._peer_address, destination),
                self.receive,
                on_source=(lambda src, ep: learn(src, destination, ep)) if learn else None,
                connect=self.connect,
            )
        return link

    def _after_step(self) -> None:
        committed = self.node.poll_committed()
        if committed:
            self._on_commit(committed)
        applied = self.node.applied_offset
        leader = self.node.leader_id
        still: list[tuple[int, int, asyncio.Future[None]]] = []
        for offset, epoch, fut in self._waiters:
            if fut.done():
                continue
            if offset < applied:
                fut.set_result(None)
            elif self.node.epoch != epoch or not self.node.is_leader():
                fut.set_exception(NotLeader(leader))
            else:
                still.append((offset, epoch, fut))
        self._waiters = still
        if leader != self._last_leader:
            self._last_leader = leader
            for listener in self.leader_listeners:
                listener(leader)

    def address_of(self, node_id: int) -> tuple[str, int] | None:
        """Where controller `node_id` listens, as far as this node knows."""
        return self._peer_address(node_id)

    async def call(self, build: Callable[[int], AdminRequest], *, timeout_s: float) -> Message:
        """Put an admin request (built from a request id) into the core; its response."""
        request_id, fut = self.calls.open()
        self.receive(LOCAL_CALLER, build(request_id))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self.calls.forget(request_id)

    async def propose(self, payloads: Sequence[bytes], *, timeout_s: float = 15.0) -> int:
        """Append as leader and wait until committed and applied; returns the last offset."""
        result = self.node.propose(payloads)
        if isinstance(result, ErrorCode):
            raise NotLeader(self.node.leader_id)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((result.offset, result.epoch, fut))
        self._wake.set()
        await asyncio.wait_for(fut, timeout_s)
        return result.offset
