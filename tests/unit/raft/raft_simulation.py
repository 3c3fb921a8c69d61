"""Deterministic simulation of a KRaft quorum (after Kafka's RaftEventSimulationTest).

Everything is a function of the seed: one ``random.Random`` decides message delays,
loss, duplication, crashes, partitions, proposals and voter changes, and each node's
core gets its own ``Random`` derived from it.  Events sit in a priority queue ordered by
(simulated time, sequence number); reordering comes from random per-message delays.

A crash drops the node's volatile state (the RaftNode object, its state machine and its
in-flight messages) and keeps what is persistent (the MemoryLog and MemoryQuorumStore,
which model an fsynced disk).  A restart builds a new RaftNode over them.

``Invariants`` is run after every event; see its docstring.  To replay a failing seed:
``MILLRACE_RAFT_SEED=<seed> pytest tests/unit/raft/test_simulation.py -k replay -s``.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from millrace_broker.raft.config import RaftConfig
from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.messages import (
    AddRaftVoterRequest,
    Inbound,
    Message,
    Outbound,
    RemoveRaftVoterRequest,
)
from millrace_broker.raft.quorum_store import MemoryQuorumStore
from millrace_broker.raft.records import DataRecord, Entry, VotersRecord
from millrace_broker.raft.snapshot import Snapshot
from millrace_broker.raft.state import Leader
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterSet

ADMIN_CLIENT = 10_000
MOD = (1 << 61) - 1


def _entry_hash(entry: Entry) -> int:
    payload = entry.record.payload if isinstance(entry.record, DataRecord) else b""
    return hash((entry.offset, entry.epoch, payload)) & 0xFFFFFFFFFFFF


class InvariantViolation(AssertionError):
    pass


@dataclass
class FaultConfig:
    loss: float = 0.05
    duplicate: float = 0.03
    min_delay_ms: int = 1
    max_delay_ms: int = 40
    crash_every_ms: int = 3000  # mean time between crashes (0: none)
    partition_every_ms: int = 4000  # mean time between partitions (0: none)
    voter_change_every_ms: int = 1500  # 0: none
    snapshot_every_ms: int = 1000  # 0: none


@dataclass
class SimNode:
    node_id: int
    key: ReplicaKey
    bootstrap: VoterSet | None
    log: MemoryLog = field(default_factory=MemoryLog)
    store: MemoryQuorumStore = field(default_factory=MemoryQuorumStore)
    raft: RaftNode | None = None
    incarnation: int = 0
    tick_at: int = -1
    # the state machine: how far it has applied and a rolling hash of what it applied
    sm_offset: int = 0
    sm_hash: int = 0
    # invariant bookkeeping (volatile ones reset on restart)
    max_epoch: int = 0
    last_hw: int = 0
    verified: int = 0
    # highest committed offset this node's log ever held (persistent, like the log)
    durable: int = 0


class Cluster:
    def __init__(
        self,
        seed: int,
        *,
        n_nodes: int = 0,
        n_voters: int = 0,
        faults: FaultConfig | None = None,
        trace_messages: bool = False,
    ) -> None:
        self.seed = seed
        self.trace_messages = trace_messages
        self.rng = random.Random(seed)
        self.faults = faults or FaultConfig(
            loss=self.rng.choice([0.0, 0.05, 0.15]),
            duplicate=self.rng.choice([0.0, 0.03, 0.1]),
            max_delay_ms=self.rng.choice([10, 40, 150]),
        )
        self.now = 0
        self.seq = 0
        self.queue: list[tuple[int, int, str, Any]] = []
        n_nodes = n_nodes or self.rng.choice([1, 2, 3, 3, 4, 5, 6])
        n_voters = n_voters or self.rng.randint(1, n_nodes)
        ids = list(range(1, n_nodes + 1))
        self.bootstrap_voters = VoterSet.from_keys(
            ReplicaKey(i, f"dir-{i}") for i in ids[:n_voters]
        )
        self.nodes: dict[int, SimNode] = {}
        for i in ids:
            boot = self.bootstrap_voters if i <= n_voters else None
            self.nodes[i] = SimNode(i, ReplicaKey(i, f"dir-{i}"), boot)
        self.config_base = dict(
            election_timeout_ms=300,
            fetch_timeout_ms=600,
            request_timeout_ms=150,
            retry_backoff_ms=20,
            fetch_interval_ms=60,
            fetch_max_records=16,
            snapshot_chunk_bytes=64,
        )
        self.group: dict[int, int] = {i: 0 for i in ids}  # partition group per node
        self.faults_on = True
        self.proposed = 0
        self.events = 0
        # global truth
        self.committed: list[Entry] = []
        self.committed_hash: list[int] = [0]
        self.leaders: dict[int, int] = {}
        self.committed_voters: VoterSet = self.bootstrap_voters
        self.admin_responses: list[Message] = []
        # what happened, so tests can prove the faults and features were exercised
        self.stats: dict[str, int] = {}
        self.trace: list[str] = []
        for node in self.nodes.values():
            self._start(node)

    # ------------------------------------------------------------ plumbing
    def count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def _push(self, at: int, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, payload))

    def _start(self, node: SimNode) -> None:
        cfg = RaftConfig(
            node.key, "sim-cluster", bootstrap_servers=tuple(self.nodes), **self.config_base
        )
        node.raft = RaftNode(
            cfg,
            log=node.log,
            store=node.store,
            rng=random.Random(self.rng.getrandbits(64)),
            now_ms=self.now,
            bootstrap_voters=node.bootstrap,
        )
        node.incarnation += 1
        node.tick_at = -1
        node.sm_offset = 0
        node.sm_hash = 0
        node.last_hw = node.raft.high_watermark
        node.verified = 0
        self._after(node, [])

    def _send(self, src: int, outs: list[Outbound]) -> None:
        for o in outs:
            if o.destination == ADMIN_CLIENT:
                self.admin_responses.append(o.message)
                continue
            if self.faults_on and self.rng.random() < self.faults.loss:
                self.count("lost")
                continue
            copies = 2 if self.faults_on and self.rng.random() < self.faults.duplicate else 1
            for _ in range(copies):
                lo, hi = self.faults.min_delay_ms, self.faults.max_delay_ms
                delay = self.rng.randint(lo, hi) if self.faults_on else lo
                self._push(self.now + delay, "deliver", (src, o.destination, o.message))

    def _after(self, node: SimNode, outs: list[Outbound]) -> None:
        raft = node.raft
        assert raft is not None
        self._send(node.node_id, outs)
        self._apply(node)
        self.invariants_for(node)
        due = max(raft.next_deadline(), self.now + 1)
        if node.tick_at < self.now or due < node.tick_at:
            node.tick_at = due
            self._push(due, "tick", (node.node_id, node.incarnation))

    def _apply(self, node: SimNode) -> None:
        """The state machine: fold committed entries into a rolling hash."""
        assert node.raft is not None
        for item in node.raft.poll_committed():
            if isinstance(item, Snapshot):
                end, digest = item.data.decode().split(":")
                node.sm_offset, node.sm_hash = int(end), int(digest)
            else:
                node.sm_hash = (node.sm_hash * 1_000_003 + _entry_hash(item)) % MOD
                node.sm_offset = item.offset + 1

    # ------------------------------------------------------------ invariants
    def fail(self, what: str) -> None:
        raise InvariantViolation(f"seed {self.seed} at t={self.now}ms: {what}")

    def invariants_for(self, node: SimNode) -> None:
        """Checked after every event touching ``node``:

        - epochs never decrease on a node, across restarts;
        - at most one leader per epoch, in memory and in the persisted election state;
        - the high watermark never decreases within an incarnation, never exceeds
          the log end, and the newest leader, once it committed its epoch, is at or
          past every high watermark ever reported (Kafka's MonotonicHighWatermark);
        - a log that starts above 0 starts at its latest snapshot;
        - committed entries are never lost or changed: every node's log below its high
          watermark equals the global committed history (first committer defines it);
        - the state machine's applied hash equals the committed history's at that point
          (this covers snapshots, whose content is that hash);
        - when a leader's high watermark moves, a majority of its voters hold it;
        - no node ever truncates below a committed offset its log held (durable across
          restarts, unlike the high watermark);
        - a leader has at most one uncommitted voter change;
        - consecutive committed voter sets differ by at most one voter.
        """
        raft = node.raft
        assert raft is not None
        nid = node.node_id
        if raft.epoch < node.max_epoch:
            self.fail(f"node {nid} epoch went back from {node.max_epoch} to {raft.epoch}")
        node.max_epoch = raft.epoch
        if raft.is_leader():
            other = self.leaders.setdefault(raft.epoch, nid)
            if other != nid:
                self.fail(f"two leaders in epoch {raft.epoch}: {other} and {nid}")
        persisted = node.store.state
        if persisted is not None and persisted.leader_id is not None:
            # what replicas durably believe must agree too (Kafka's SingleLeader)
            other = self.leaders.setdefault(persisted.epoch, persisted.leader_id)
            if other != persisted.leader_id:
                self.fail(
                    f"node {nid} persisted leader {persisted.leader_id} for epoch "
                    f"{persisted.epoch}, but {other} led it"
                )
        hw, log = raft.high_watermark, node.log
        if hw < node.last_hw:
            self.fail(f"node {nid} high watermark went back from {node.last_hw} to {hw}")
        advanced = hw > node.last_hw
        node.last_hw = hw
        if hw > log.end_offset:
            self.fail(f"node {nid} high watermark {hw} beyond its log end {log.end_offset}")
        if log.start_offset > 0:
            snap = log.latest_snapshot()
            if snap is None or snap.snapshot_id.offset != log.start_offset:
                self.fail(f"node {nid} log starts at {log.start_offset} without a snapshot there")
        if node.verified < log.start_offset:
            node.verified = log.start_offset
            self._check_state_hash(nid, log.start_offset, self._snapshot_hash(node))
        if node.verified < hw:
            for entry in log.read(node.verified, hw - node.verified):
                self._check_committed(nid, entry)
            node.verified = hw
        node.durable = max(node.durable, hw)
        if log.end_offset < node.durable:
            # only uncommitted suffixes may be truncated, across restarts too
            self.fail(
                f"node {nid} truncated to {log.end_offset}, below committed "
                f"offset {node.durable} it held"
            )
        if node.sm_offset:
            self._check_state_hash(nid, node.sm_offset, node.sm_hash)
        if raft.is_leader():
            st = raft.state
            assert isinstance(st, Leader)
            newest = st.epoch == max(self.leaders)
            if newest and st.epoch_start_offset < hw < len(self.committed):
                # the newest leader, once it committed its epoch, has every committed
                # entry below its high watermark (a deposed leader may lag: not checked)
                self.fail(f"leader {nid} hw {hw} below committed {len(self.committed)}")
            if advanced:
                # When the high watermark moves, a majority of the leader's current voter
                # set holds the entries below it.  (Checked at that moment only: later
                # single-voter changes keep old and new majorities intersecting, but the
                # new set's majority need not hold entries committed under the old one.)
                epoch_at = log.epoch_at(hw - 1)
                reached = {
                    n.node_id
                    for n in self.nodes.values()
                    if n.log.start_offset >= hw or n.log.epoch_at(hw - 1) == epoch_at
                }
                if not raft.voters.is_majority(reached):
                    self.fail(
                        f"leader {nid} moved hw to {hw}, held only by "
                        f"{sorted(reached)} of voters {sorted(raft.voters.ids)}"
                    )
            # a restarted leader's own high watermark is stale: use the global truth too
            if raft.voter_history.uncommitted(max(hw, len(self.committed))) > 1:
                self.fail(f"leader {nid} has more than one uncommitted voter change")

    def _snapshot_hash(self, node: SimNode) -> int:
        snap = node.log.latest_snapshot()
        assert snap is not None
        end, digest = snap.data.decode().split(":")
        assert int(end) == snap.snapshot_id.offset
        return int(digest)

    def _check_state_hash(self, nid: int, offset: int, digest: int) -> None:
        if offset >= len(self.committed_hash):
            self.fail(f"node {nid} applied offset {offset} beyond the committed history")
        if self.committed_hash[offset] != digest:
            self.fail(f"node {nid} state at offset {offset} differs from committed history")

    def _check_committed(self, nid: int, entry: Entry) -> None:
        if entry.offset < len(self.committed):
            known = self.committed[entry.offset]
            if known != entry:
                self.fail(f"node {nid} committed {entry} but history has {known}")
            return
        if entry.offset != len(self.committed):
            self.fail(f"node {nid} committed offset {entry.offset} leaving a gap")
        self.committed.append(entry)
        self.committed_hash.append((self.committed_hash[-1] * 1_000_003 + _entry_hash(entry)) % MOD)
        if isinstance(entry.record, VotersRecord):
            new = entry.record.voters
            if new != self.committed_voters:
                self.count("voter_change_committed")
            if not self.committed_voters.differs_by_at_most_one(new):
                self.fail(f"committed voter sets {self.committed_voters.ids} -> {new.ids}")
            self.committed_voters = new

    # ------------------------------------------------------------ events
    def run(self, until_ms: int) -> None:
        while self.queue and self.queue[0][0] <= until_ms:
            at, _, kind, payload = heapq.heappop(self.queue)
            self.now = at
            self.events += 1
            getattr(self, "_on_" + kind)(payload)
        self.now = until_ms

    def _on_deliver(self, payload: tuple[int, int, Message]) -> None:
        src, dst, msg = payload
        node = self.nodes[dst]
        if node.raft is None or self.group[src] != self.group[dst]:
            return
        if self.trace_messages:
            self.trace.append(f"{self.now}: {src}->{dst} {msg}")
        before = (
            node.log.start_offset,
            node.log.end_offset,
            node.raft.epoch,
            node.raft.is_leader(),
        )
        self._after(node, node.raft.step(Inbound(src, msg), self.now))
        if node.raft is not None:
            if node.log.start_offset > before[0]:
                self.count("snapshot_installed")
            if node.log.end_offset < before[1]:
                self.count("truncated")
            if node.raft.is_leader() and not before[3]:
                self.count("elected")

    def _on_tick(self, payload: tuple[int, int]) -> None:
        nid, incarnation = payload
        node = self.nodes[nid]
        if node.raft is None or node.incarnation != incarnation or node.tick_at != self.now:
            return
        node.tick_at = -1
        state = type(node.raft.state).__name__
        self._after(node, node.raft.tick(self.now))
        if self.trace_messages and node.raft is not None:
            now_state = type(node.raft.state).__name__
            if now_state != state:
                self.trace.append(
                    f"{self.now}: {nid} tick {state} -> {now_state} epoch {node.raft.epoch}"
                )

    def _on_crash(self, nid: int) -> None:
        node = self.nodes[nid]
        if node.raft is not None:
            self.count("crash")
            self.trace.append(f"{self.now}: crash {nid}")
            node.raft = None
            self._push(self.now + self.rng.randint(100, 2000), "restart", nid)
        self._schedule("crash", self.faults.crash_every_ms, self.rng.choice(list(self.nodes)))

    def _on_restart(self, nid: int) -> None:
        node = self.nodes[nid]
        if node.raft is None:
            self.trace.append(f"{self.now}: restart {nid}")
            self._start(node)

    def _on_partition(self, _: None) -> None:
        if not self.faults_on:
            return
        ids = list(self.nodes)
        self.rng.shuffle(ids)
        cut = self.rng.randint(1, max(1, len(ids) - 1))
        self.group = {i: (0 if k < cut else 1) for k, i in enumerate(ids)}
        self.count("partition")
        self.trace.append(f"{self.now}: partition {self.group}")
        self._push(self.now + self.rng.randint(200, 2000), "heal", None)
        self._schedule("partition", self.faults.partition_every_ms, None)

    def _on_heal(self, _: None) -> None:
        self.group = {i: 0 for i in self.nodes}

    def leader_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raft is not None and n.raft.is_leader()]

    def _on_propose(self, every: int) -> None:
        for node in self.leader_nodes():
            assert node.raft is not None
            self.proposed += 1
            node.raft.propose([f"{self.seed}-{self.proposed}".encode()])
            self._after(node, [])
        self._push(self.now + every, "propose", every)

    def _on_voter_change(self, _: None) -> None:
        for node in self.leader_nodes():
            raft = node.raft
            assert raft is not None
            voters = raft.voters
            others = [n for n in self.nodes if n not in voters.ids]
            self.proposed += 1
            msg: Message
            if others and (len(voters) == 1 or self.rng.random() < 0.5):
                new = self.nodes[self.rng.choice(others)].key
                msg = AddRaftVoterRequest(self.proposed, "sim-cluster", Voter(new))
            else:
                gone = self.rng.choice(list(voters))
                msg = RemoveRaftVoterRequest(self.proposed, "sim-cluster", gone.key)
            self._after(
                node, node.raft.step(Inbound(ADMIN_CLIENT, msg), self.now) if node.raft else []
            )
        self._schedule("voter_change", self.faults.voter_change_every_ms, None)

    def _on_snapshot(self, nid: int) -> None:
        node = self.nodes[nid]
        raft = node.raft
        if raft is not None and node.sm_offset > node.log.start_offset:
            raft.create_snapshot(node.sm_offset, f"{node.sm_offset}:{node.sm_hash}".encode())
            self._after(node, [])
        self._schedule("snapshot", self.faults.snapshot_every_ms, self.rng.choice(list(self.nodes)))

    def _schedule(self, kind: str, every: int, payload: Any) -> None:
        if every and self.faults_on:
            self._push(self.now + self.rng.randint(every // 2, every * 3 // 2), kind, payload)

    # ------------------------------------------------------------ scenario
    def start_faults(self) -> None:
        self._schedule("crash", self.faults.crash_every_ms, self.rng.choice(list(self.nodes)))
        self._schedule("partition", self.faults.partition_every_ms, None)
        self._schedule("voter_change", self.faults.voter_change_every_ms, None)
        self._schedule("snapshot", self.faults.snapshot_every_ms, self.rng.choice(list(self.nodes)))
        self._push(self.now + 1, "propose", 40)

    def heal_all(self) -> None:
        """Stop injecting faults: reconnect everyone, restart crashed nodes."""
        self.faults_on = False
        self.group = {i: 0 for i in self.nodes}
        for node in self.nodes.values():
            if node.raft is None:
                self._start(node)
        # fault events already queued become no-ops or are rescheduled no more
        self.queue = [q for q in self.queue if q[2] not in ("crash", "partition")]
        heapq.heapify(self.queue)

    def committed_payloads(self) -> set[bytes]:
        return {e.record.payload for e in self.committed if isinstance(e.record, DataRecord)}
