"""Epoch states of a Raft replica and the leader's bookkeeping.

A replica is in exactly one state, always for one epoch:

- ``Unattached``: knows the epoch but no leader; may have voted in it.  Voters time out
  into ``Prospective``; everyone sends discovery fetches to the bootstrap servers.
- ``Prospective`` (KIP-996 pre-vote): asks the voters whether they *would* vote for it in
  epoch + 1, without bumping or persisting the epoch, so a partitioned replica cannot
  disrupt a healthy leader by inflating epochs.  A majority of yes -> ``Candidate``.
- ``Candidate``: has bumped the epoch and voted for itself; a majority -> ``Leader``.
- ``Leader``: appends, serves fetches, computes the high watermark from voters' fetch
  offsets, and resigns if it has not heard from a majority within the check-quorum
  timeout (so a leader cut off from the quorum stops accepting writes).
- ``Follower``: fetches from a known leader of the epoch; a voter whose fetches fail for
  the fetch timeout becomes ``Prospective``, an observer becomes ``Unattached``.
- ``Resigned``: a former leader telling voters (EndQuorumEpoch) to elect someone else.

``LeaderState`` holds replica progress and implements the high-watermark rule: the
largest offset reached by a majority of voters (the leader counts only if it is a voter),
exposed only once it passes the epoch's start offset, i.e. once the leader's own
LeaderChange record commits (Raft's "commit an entry of your own term" rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from millrace_broker.raft.snapshot import SnapshotDownload
from millrace_broker.raft.voters import ReplicaKey, VoterSet


@dataclass
class Pending:
    """A request awaiting its response: the correlation id and when it was sent."""

    correlation_id: int
    sent_ms: int


@dataclass
class Unattached:
    epoch: int
    voted_key: ReplicaKey | None
    election_deadline: int
    discovery: Pending | None = None
    discovery_target: int | None = None


@dataclass
class Prospective:
    epoch: int
    leader_id: int | None
    voted_key: ReplicaKey | None
    election_deadline: int
    granted: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)
    pending: dict[int, Pending] = field(default_factory=dict)


@dataclass
class Candidate:
    epoch: int
    election_deadline: int
    granted: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)
    pending: dict[int, Pending] = field(default_factory=dict)


@dataclass
class Follower:
    epoch: int
    leader_id: int
    voted_key: ReplicaKey | None
    fetch_deadline: int
    next_fetch_ms: int = 0
    inflight: Pending | None = None
    has_fetched: bool = False  # a fetch from this leader succeeded in this epoch
    leader_resigned: bool = False  # got EndQuorumEpoch: grant pre-votes right away
    download: SnapshotDownload | None = None


@dataclass
class Resigned:
    epoch: int
    election_deadline: int
    preferred_successors: tuple[int, ...]
    unacked: set[int] = field(default_factory=set)
    pending: dict[int, Pending] = field(default_factory=dict)


@dataclass
class ReplicaProgress:
    key: ReplicaKey
    end_offset: int = -1
    last_fetch_ms: int = -1
    last_fetch_leader_end: int = -1
    last_caught_up_ms: int = -1

    def record_fetch(self, fetch_offset: int, leader_end: int, now_ms: int) -> None:
        # Kafka's rule: a replica is caught up at the time it fetched at or past the
        # leader's end, or at its previous fetch time if it has now reached the leader
        # end offset as of that previous fetch.
        if fetch_offset >= leader_end:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif self.last_fetch_leader_end > 0 and fetch_offset >= self.last_fetch_leader_end:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.last_fetch_leader_end = leader_end
        self.last_fetch_ms = max(self.last_fetch_ms, now_ms)
        self.end_offset = fetch_offset


@dataclass
class PendingVoterChange:
    offset: int  # offset of the VotersRecord
    requester: int
    request_id: int
    removes_leader: bool


@dataclass
class Leader:
    epoch: int
    local: ReplicaKey
    epoch_start_offset: int
    check_quorum_deadline: int
    check_quorum_timeout_ms: int
    replicas: dict[int, ReplicaProgress] = field(default_factory=dict)
    fetched_voters: set[int] = field(default_factory=set)
    unacked_voters: set[int] = field(default_factory=set)
    begin_epoch_pending: dict[int, Pending] = field(default_factory=dict)
    voter_change: PendingVoterChange | None = None
    resign_after_commit: bool = False

    def progress(self, key: ReplicaKey) -> ReplicaProgress:
        prog = self.replicas.get(key.id)
        if prog is None or prog.key != key:
            # a different directory id is a different replica: start from scratch
            prog = ReplicaProgress(key)
            self.replicas[key.id] = prog
        return prog

    def record_voter_fetch(self, key: ReplicaKey, voters: VoterSet, now_ms: int) -> None:
        """Check-quorum: reset the timer once a majority of voters has fetched."""
        self.unacked_voters.discard(key.id)
        self.begin_epoch_pending.pop(key.id, None)  # a fetch acknowledges the epoch too
        if not voters.is_voter(key) or key.id == self.local.id:
            return
        self.fetched_voters.add(key.id)
        needed = voters.majority() - (1 if voters.is_voter(self.local) else 0)
        if len(self.fetched_voters & voters.ids) >= needed:
            self.fetched_voters.clear()
            self.check_quorum_deadline = now_ms + self.check_quorum_timeout_ms

    def check_quorum_expired(self, voters: VoterSet, now_ms: int) -> bool:
        if len(voters) == 1 and voters.is_voter(self.local):
            return False
        return now_ms >= self.check_quorum_deadline

    def compute_high_watermark(self, voters: VoterSet, local_end: int) -> int | None:
        """The majority-replicated end offset, if it commits something of this epoch."""
        ends: list[int] = []
        for voter in voters:
            if voter.key.id == self.local.id:
                ends.append(local_end if voter.key.matches(self.local) else -1)
                continue
            prog = self.replicas.get(voter.key.id)
            ok = prog is not None and voter.key.matches(prog.key)
            ends.append(prog.end_offset if prog is not None and ok else -1)
        if not ends:
            return None
        ends.sort(reverse=True)
        candidate = ends[len(ends) // 2]
        return candidate if candidate > self.epoch_start_offset else None


EpochState = Unattached | Prospective | Candidate | Leader | Follower | Resigned
