"""Helpers for driving RaftNode objects by hand in unit tests.

``Net`` is a lossless, instant network: ``flush`` delivers every queued message (and the
replies they cause) in FIFO order until the network is quiet or a step limit is hit.
Tests that need faults use ``raft_simulation.Cluster`` instead.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable

from millrace_broker.raft.config import RaftConfig
from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.messages import Inbound, Message, Outbound
from millrace_broker.raft.quorum_store import MemoryQuorumStore
from millrace_broker.raft.voters import ReplicaKey, VoterSet

CLUSTER = "sim-cluster"
CLIENT = 10_000


def key(i: int) -> ReplicaKey:
    return ReplicaKey(i, f"dir-{i}")


def config(i: int, ids: Iterable[int]) -> RaftConfig:
    return RaftConfig(
        key(i),
        CLUSTER,
        bootstrap_servers=tuple(ids),
        election_timeout_ms=300,
        fetch_timeout_ms=600,
        request_timeout_ms=150,
        retry_backoff_ms=20,
        fetch_interval_ms=50,
        fetch_max_records=8,
        snapshot_chunk_bytes=32,
    )


class Net:
    def __init__(self, ids: Iterable[int], voters: Iterable[int], seed: int = 1) -> None:
        self.ids = list(ids)
        self.voter_ids = list(voters)
        self.rng = random.Random(seed)
        self.now = 0
        self.logs = {i: MemoryLog() for i in self.ids}
        self.stores = {i: MemoryQuorumStore() for i in self.ids}
        self.nodes: dict[int, RaftNode] = {}
        self.queue: deque[tuple[int, Outbound]] = deque()
        self.down: set[int] = set()
        self.client: list[Message] = []
        for i in self.ids:
            self.start(i)

    def start(self, i: int) -> RaftNode:
        boot = VoterSet.from_keys(key(v) for v in self.voter_ids) if i in self.voter_ids else None
        node = RaftNode(
            config(i, self.ids),
            log=self.logs[i],
            store=self.stores[i],
            rng=random.Random(self.rng.getrandbits(32)),
            now_ms=self.now,
            bootstrap_voters=boot,
        )
        self.nodes[i] = node
        return node

    def send(self, src: int, outs: list[Outbound]) -> None:
        for o in outs:
            if o.destination == CLIENT:
                self.client.append(o.message)
            else:
                self.queue.append((src, o))

    def flush(self, limit: int = 10_000) -> None:
        while self.queue and limit:
            limit -= 1
            src, o = self.queue.popleft()
            if o.destination in self.down or src in self.down:
                continue
            dst = self.nodes[o.destination]
            self.send(o.destination, dst.step(Inbound(src, o.message), self.now))

    def advance(self, ms: int, step: int = 10) -> None:
        """Move time forward, ticking every node and flushing the network."""
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + step)
            for i, node in self.nodes.items():
                if i not in self.down and node.next_deadline() <= self.now:
                    self.send(i, node.tick(self.now))
            self.flush()

    def leader(self) -> RaftNode | None:
        leaders = [n for i, n in self.nodes.items() if i not in self.down and n.is_leader()]
        return leaders[0] if len(leaders) == 1 else None

    def admin(self, node: RaftNode, msg: Message) -> None:
        self.send(node.key.id, node.step(Inbound(CLIENT, msg), self.now))
        self.flush()
