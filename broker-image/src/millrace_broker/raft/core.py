"""RaftNode: the sans-IO KRaft replica; elections, replication and membership live in
``elections.py``, ``replication.py`` and ``membership.py``.

Driving it: the driver calls ``step(Inbound, now_ms)`` for every message received,
``tick(now_ms)`` whenever ``next_deadline()`` passes, ``propose`` on the leader, and
``poll_committed`` to feed the state machine.  Each call returns the ``Outbound``
messages to send.  No clock, sockets or threads in here; randomness comes from the
injected ``random.Random`` so a simulation run is a pure function of its seed.

Lifecycle: on start the persisted election state decides the first state (a replica
that was leader comes back Resigned: its volatile leader state is gone).  Any message
carrying a higher epoch moves the replica to that epoch first (follower if the sender
names a leader, unattached otherwise) -- except pre-vote requests, see ``elections``.
The high watermark and the state machine's read cursor are volatile; after a restart
the high watermark restarts at the log start and is relearned from the leader.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from millrace_broker.raft import elections, membership, replication
from millrace_broker.raft.config import RaftConfig
from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.log import RaftLog
from millrace_broker.raft.messages import (
    AddRaftVoterRequest,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DescribeQuorumRequest,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Inbound,
    Outbound,
    RemoveRaftVoterRequest,
    UpdateRaftVoterRequest,
    VoteRequest,
    VoteResponse,
)
from millrace_broker.raft.quorum_store import ElectionState, QuorumStore
from millrace_broker.raft.records import (
    DataRecord,
    Entry,
    LeaderChangeRecord,
    OffsetAndEpoch,
    VotersRecord,
)
from millrace_broker.raft.snapshot import Snapshot
from millrace_broker.raft.state import (
    Candidate,
    EpochState,
    Follower,
    Leader,
    Prospective,
    Resigned,
    Unattached,
)
from millrace_broker.raft.voters import ReplicaKey, VoterHistory, VoterSet

Committed = Entry | Snapshot


class RaftNode:
    def __init__(
        self,
        config: RaftConfig,
        *,
        log: RaftLog,
        store: QuorumStore,
        rng: random.Random,
        now_ms: int,
        bootstrap_voters: VoterSet | None = None,
    ) -> None:
        self.config = config
        self.key = config.local
        self.log = log
        self.store = store
        self.rng = rng
        self._next_correlation = rng.getrandbits(31)
        self.voter_history = VoterHistory(-1, bootstrap_voters)
        self.rebuild_voter_history()
        # volatile: the high watermark and the state machine's read cursor
        self.high_watermark = log.start_offset
        self.applied_offset = 0
        self.deferred: list[Outbound] = []
        self.encoded_snapshot: tuple[OffsetAndEpoch, bytes] | None = None
        persisted = store.read() or ElectionState(0)
        self._persisted = persisted
        self.state: EpochState
        if persisted.leader_id == self.key.id:
            # we led this epoch before crashing: we cannot lead it again (our volatile
            # state is gone), so resign and let the quorum elect a new leader
            self.state = Resigned(persisted.epoch, self.election_deadline(now_ms), ())
        elif persisted.leader_id is not None:
            self.state = self._new_follower(
                persisted.epoch, persisted.leader_id, persisted.voted_key, now_ms
            )
        else:
            self.state = Unattached(
                persisted.epoch, persisted.voted_key, self.election_deadline(now_ms)
            )

    # ------------------------------------------------------------------ queries
    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def voters(self) -> VoterSet:
        return self.voter_history.latest

    @property
    def is_voter(self) -> bool:
        return self.voters.is_voter(self.key)

    @property
    def can_campaign(self) -> bool:
        """Voters campaign; so does a replica removed by a change that is not known to be
        committed yet, because until then the quorum may need its vote and its log
        (Raft dissertation 4.2.2): the remaining voters may lack the change.  "Known"
        is judged by our high watermark, which restarts low after a crash, so a
        replica is eligible if any voter set from there on names it."""
        return any(s.is_voter(self.key) for s in self.voter_history.since(self.high_watermark))

    @property
    def leader_id(self) -> int | None:
        st = self.state
        if isinstance(st, Leader):
            return self.key.id
        if isinstance(st, Follower):
            return st.leader_id
        if isinstance(st, Prospective):
            return st.leader_id
        return None

    def is_leader(self) -> bool:
        return isinstance(self.state, Leader)

    # ------------------------------------------------------------------ API
    def step(self, inbound: Inbound, now_ms: int) -> list[Outbound]:
        out: list[Outbound] = []
        src, msg = inbound.source, inbound.message
        if isinstance(msg, VoteRequest):
            elections.handle_vote_request(self, src, msg, now_ms, out)
        elif isinstance(msg, VoteResponse):
            elections.handle_vote_response(self, src, msg, now_ms, out)
        elif isinstance(msg, BeginQuorumEpochRequest):
            elections.handle_begin_epoch(self, src, msg, now_ms, out)
        elif isinstance(msg, BeginQuorumEpochResponse):
            if not self.observe_epoch(msg.leader_epoch, msg.leader_id, now_ms, out):
                st = self.state
                if isinstance(st, Leader) and st.begin_epoch_pending.get(src) is not None:
                    st.begin_epoch_pending.pop(src)
                    st.unacked_voters.discard(src)
        elif isinstance(msg, EndQuorumEpochRequest):
            elections.handle_end_epoch(self, src, msg, now_ms, out)
        elif isinstance(msg, EndQuorumEpochResponse):
            if not self.observe_epoch(msg.leader_epoch, msg.leader_id, now_ms, out):
                st = self.state
                if isinstance(st, Resigned) and src in st.pending:
                    del st.pending[src]
                    st.unacked.discard(src)
        elif isinstance(msg, FetchRequest):
            replication.handle_fetch_request(self, src, msg, now_ms, out)
        elif isinstance(msg, FetchResponse):
            replication.handle_fetch_response(self, src, msg, now_ms, out)
        elif isinstance(msg, FetchSnapshotRequest):
            replication.handle_fetch_snapshot_request(self, src, msg, now_ms, out)
        elif isinstance(msg, FetchSnapshotResponse):
            replication.handle_fetch_snapshot_response(self, src, msg, now_ms, out)
        elif isinstance(msg, AddRaftVoterRequest | RemoveRaftVoterRequest | UpdateRaftVoterRequest):
            membership.handle_voter_change(self, src, msg, now_ms, out)
        elif isinstance(msg, DescribeQuorumRequest):
            out.append(Outbound(src, membership.describe_quorum(self, msg)))
        return self._drain_deferred() + out

    def tick(self, now_ms: int) -> list[Outbound]:
        out: list[Outbound] = self._drain_deferred()
        st = self.state
        if isinstance(st, Leader):
            if st.resign_after_commit or st.check_quorum_expired(self.voters, now_ms):
                elections.resign(self, now_ms, out)
            else:
                elections.send_begin_epoch(self, st, now_ms, out)
        elif isinstance(st, Candidate | Prospective):
            if not self.can_campaign:
                self.become_unattached(st.epoch, self.voted_key(), now_ms)
            elif now_ms >= st.election_deadline:
                elections.become_prospective(self, now_ms, out)
            else:
                elections.send_votes(self, st, now_ms, out)
        elif isinstance(st, Follower):
            if now_ms >= st.fetch_deadline:
                if self.can_campaign:
                    elections.become_prospective(self, now_ms, out)
                else:
                    self.become_unattached(st.epoch, None, now_ms)
                    replication.send_discovery_fetch(self, now_ms, out)
            else:
                replication.maybe_send_fetch(self, st, now_ms, out)
        elif isinstance(st, Unattached):
            if self.can_campaign and now_ms >= st.election_deadline:
                elections.become_prospective(self, now_ms, out)
            else:
                replication.send_discovery_fetch(self, now_ms, out)
        elif isinstance(st, Resigned):
            if now_ms >= st.election_deadline:
                if self.can_campaign:
                    elections.become_prospective(self, now_ms, out)
                else:
                    self.become_unattached(st.epoch, None, now_ms)
            else:
                elections.send_end_epoch(self, st, now_ms, out)
        return out

    def next_deadline(self) -> int:
        """The time by which ``tick`` must be called again."""
        st = self.state
        timeout = self.config.request_timeout_ms
        if self.deferred:
            return 0
        if isinstance(st, Leader):
            if st.resign_after_commit:
                return 0
            alone = self.voters.ids == {self.key.id}  # check-quorum cannot fail
            times = [1 << 62 if alone else st.check_quorum_deadline]
            for vid in st.unacked_voters:
                p = st.begin_epoch_pending.get(vid)
                times.append(p.sent_ms + timeout if p is not None else 0)
            return min(times)
        if isinstance(st, Candidate | Prospective | Resigned):
            # only requests we would resend: a stale entry must not wake us up forever
            waiting = (
                st.unacked
                if isinstance(st, Resigned)
                else self.voters.ids - st.granted - st.rejected
            )
            times = [st.election_deadline]
            times += [p.sent_ms + timeout for vid, p in st.pending.items() if vid in waiting]
            return min(times)
        if isinstance(st, Follower):
            nxt = st.inflight.sent_ms + timeout if st.inflight else st.next_fetch_ms
            return min(st.fetch_deadline, nxt)
        pending = st.discovery.sent_ms + timeout if st.discovery else 0
        return min(st.election_deadline, pending) if self.can_campaign else pending

    def propose(self, payloads: Sequence[bytes]) -> OffsetAndEpoch | ErrorCode:
        """Append data records as leader; returns the (offset, epoch) of the last one."""
        st = self.state
        if not isinstance(st, Leader) or st.resign_after_commit:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if not payloads:
            return ErrorCode.INVALID_REQUEST
        self.append_as_leader([DataRecord(p) for p in payloads])
        return OffsetAndEpoch(self.log.end_offset - 1, st.epoch)

    def poll_committed(self, max_entries: int = 1000) -> list[Committed]:
        """Committed entries (or a snapshot to load first) not yet handed out."""
        result: list[Committed] = []
        # the latest snapshot, not just one at the log start: a log may keep entries
        # below its latest snapshot, and a restarted replica should load the newest state
        snap = self.log.latest_snapshot()
        if snap is not None and self.applied_offset < snap.snapshot_id.offset:
            result.append(snap)
            self.applied_offset = snap.snapshot_id.offset
        end = min(self.high_watermark, self.applied_offset + max_entries)
        if end > self.applied_offset:
            result.extend(self.log.read(self.applied_offset, end - self.applied_offset))
            self.applied_offset = end
        return result

    def create_snapshot(self, end_offset: int, data: bytes) -> Snapshot:
        """Fold the committed prefix below ``end_offset`` into a snapshot of ``data``."""
        if not self.log.start_offset < end_offset <= min(self.high_watermark, self.applied_offset):
            raise ValueError(f"snapshot end {end_offset} is not committed and applied")
        epoch = self.log.epoch_at(end_offset - 1)
        assert epoch is not None
        snapshot = Snapshot(
            OffsetAndEpoch(end_offset, epoch), self.voter_history.at(end_offset), data
        )
        self.log.install_snapshot(snapshot)
        self.voter_history.prune_below(end_offset)
        return snapshot

    def resign(self, now_ms: int) -> list[Outbound]:
        """Graceful shutdown of a leader: hand leadership over quickly."""
        out: list[Outbound] = []
        if isinstance(self.state, Leader):
            elections.resign(self, now_ms, out)
        return out

    # ------------------------------------------------------------------ helpers
    def _drain_deferred(self) -> list[Outbound]:
        out, self.deferred = self.deferred, []
        return out

    def next_correlation_id(self) -> int:
        self._next_correlation = (self._next_correlation + 1) & 0x7FFFFFFF
        return self._next_correlation

    def election_deadline(self, now_ms: int) -> int:
        base = self.config.election_timeout_ms
        return now_ms + base + self.rng.randrange(base)

    def rebuild_voter_history(self) -> None:
        snap = self.log.latest_snapshot()
        offset = self.log.start_offset
        if snap is not None:
            self.voter_history.reset(snap.snapshot_id.offset - 1, snap.voters)
            # a log may keep entries below its latest snapshot (the on-disk log keeps one
            # snapshot interval for fetchers): their voter sets are older than the base
            offset = max(offset, snap.snapshot_id.offset)
        while offset < self.log.end_offset:
            batch = self.log.read(offset, 1024)
            for entry in batch:
                if isinstance(entry.record, VotersRecord):
                    self.voter_history.add(entry.offset, entry.record.voters)
            offset += len(batch)

    def append_as_leader(
        self, records: Sequence[DataRecord | LeaderChangeRecord | VotersRecord]
    ) -> None:
        st = self.state
        assert isinstance(st, Leader)
        start = self.log.end_offset
        entries = [Entry(start + i, st.epoch, r) for i, r in enumerate(records)]
        self.log.append(entries)
        for entry in entries:
            if isinstance(entry.record, VotersRecord):
                self.voter_history.add(entry.offset, entry.record.voters)
        replication.update_leader_high_watermark(self, st)

    def on_truncate(self, end_offset: int) -> None:
        self.voter_history.truncate(end_offset)

    def persist(self, epoch: int, leader_id: int | None, voted: ReplicaKey | None) -> None:
        new = ElectionState(epoch, leader_id, voted)
        if self._persisted != new:
            self.store.write(new)  # before acting on it: see quorum_store
            self._persisted = new

    def voted_key(self) -> ReplicaKey | None:
        st = self.state
        if isinstance(st, Unattached | Prospective | Follower):
            return st.voted_key
        return self.key  # candidates, leaders and resigned leaders voted for themselves

    # ------------------------------------------------------------------ transitions
    def _new_follower(
        self, epoch: int, leader_id: int, voted: ReplicaKey | None, now_ms: int
    ) -> Follower:
        return Follower(
            epoch, leader_id, voted, now_ms + self.config.fetch_timeout_ms, next_fetch_ms=now_ms
        )

    def become_follower(self, epoch: int, leader_id: int, now_ms: int, out: list[Outbound]) -> None:
        voted = self.voted_key() if epoch == self.epoch else None
        self._abandon_leadership(out)
        self.persist(epoch, leader_id, voted)
        self.state = self._new_follower(epoch, leader_id, voted, now_ms)
        replication.maybe_send_fetch(self, self.state, now_ms, out)

    def become_unattached(
        self, epoch: int, voted: ReplicaKey | None, now_ms: int, out: list[Outbound] | None = None
    ) -> None:
        if out is not None:
            self._abandon_leadership(out)
        self.persist(epoch, None, voted)
        self.state = Unattached(epoch, voted, self.election_deadline(now_ms))

    def _abandon_leadership(self, out: list[Outbound]) -> None:
        if isinstance(self.state, Leader):
            membership.fail_pending_change(self, self.state, out)

    def observe_epoch(
        self, epoch: int, leader_id: int | None, now_ms: int, out: list[Outbound]
    ) -> bool:
        """Move to a newer epoch, or attach to a leader newly learned for this epoch.

        Returns True if the state changed (the caller's message is then stale).
        """
        if epoch > self.epoch:
            if leader_id is not None and leader_id != self.key.id:
                self.become_follower(epoch, leader_id, now_ms, out)
            else:
                self.become_unattached(epoch, None, now_ms, out)
            return True
        # A Prospective replica told of its own leader goes back to it too: the teller
        # heard from that leader recently (or is it), and a replica whose voter set is
        # stale may otherwise never get a majority either way and never fetch again.
        if (
            epoch == self.epoch
            and leader_id is not None
            and leader_id != self.key.id
            and isinstance(self.state, Unattached | Prospective | Candidate)
        ):
            self.become_follower(epoch, leader_id, now_ms, out)
            return True
        return False
