"""Elections and epoch notices: Vote (with pre-vote), BeginQuorumEpoch, EndQuorumEpoch.

A voter that hears nothing from a leader for an election timeout (unattached) or the
fetch timeout (follower) becomes Prospective and asks for pre-votes for epoch + 1
(KIP-996).  Only with a majority of pre-votes does it bump and persist the epoch as
Candidate and ask for real votes.  A replica grants a real vote at most once per epoch,
to a candidate whose (last epoch, end offset) is at least its own, and persists the vote
before answering.  A voter that still hears from its leader rejects pre-votes, so a
replica returning from a partition cannot depose a healthy leader; pre-vote requests
never change the receiver's state.  Votes are counted against the candidate's newest
voter set (KIP-853: sets take effect when appended).

The winner writes a LeaderChange record and sends BeginQuorumEpoch to the voters until
each answers or fetches.  A resigning leader (check-quorum, shutdown, or removal) sends
EndQuorumEpoch with its successors ranked by replication progress; followers that get
it time out faster the higher they rank, and grant pre-votes at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millrace_broker.raft import membership
from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Outbound,
    VoteRequest,
    VoteResponse,
)
from millrace_broker.raft.records import (
    DataRecord,
    LeaderChangeRecord,
    OffsetAndEpoch,
    VotersRecord,
)
from millrace_broker.raft.state import (
    Candidate,
    Follower,
    Leader,
    Pending,
    Prospective,
    Resigned,
    Unattached,
)

if TYPE_CHECKING:
    from millrace_broker.raft.core import RaftNode


# ---------------------------------------------------------------- transitions
def become_prospective(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    st = node.state
    leader = st.leader_id if isinstance(st, Follower | Prospective) else None
    voted = node.voted_key()
    if isinstance(st, Candidate | Resigned):
        voted = node.key
    node.state = Prospective(st.epoch, leader, voted, node.election_deadline(now_ms))
    node.state.granted.add(node.key.id)
    check_election(node, now_ms, out)
    if isinstance(node.state, Prospective):
        send_votes(node, node.state, now_ms, out)


def become_candidate(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    epoch = node.epoch + 1
    node.persist(epoch, None, node.key)
    node.state = Candidate(epoch, node.election_deadline(now_ms))
    node.state.granted.add(node.key.id)
    check_election(node, now_ms, out)
    if isinstance(node.state, Candidate):
        send_votes(node, node.state, now_ms, out)


def become_leader(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    st = node.state
    assert isinstance(st, Candidate)
    node.persist(st.epoch, node.key.id, node.key)
    timeout = int(node.config.fetch_timeout_ms * node.config.check_quorum_factor)
    leader = Leader(st.epoch, node.key, node.log.end_offset, now_ms + timeout, timeout)
    leader.unacked_voters = set(node.voters.ids) - {node.key.id}
    node.state = leader
    records: list[DataRecord | LeaderChangeRecord | VotersRecord] = [
        LeaderChangeRecord(node.key.id, tuple(sorted(st.granted)))
    ]
    if node.voter_history.base_is_bootstrap:
        # KIP-853: the first leader copies the bootstrap voter set into the log
        records.append(VotersRecord(node.voters))
    node.append_as_leader(records)
    send_begin_epoch(node, leader, now_ms, out)


def resign(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    st = node.state
    assert isinstance(st, Leader)
    membership.fail_pending_change(node, st, out)
    others = [v for v in node.voters.ids if v != node.key.id]
    # prefer the most caught-up voters as successors
    ranked = sorted(others, key=lambda v: -(st.replicas[v].end_offset if v in st.replicas else -1))
    node.state = Resigned(
        st.epoch, node.election_deadline(now_ms), tuple(ranked), unacked=set(others)
    )
    send_end_epoch(node, node.state, now_ms, out)


# ---------------------------------------------------------------- votes
def check_election(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    st = node.state
    if not isinstance(st, Prospective | Candidate):
        return
    voters = node.voters
    if voters.is_majority(st.granted):
        if isinstance(st, Prospective):
            become_candidate(node, now_ms, out)
        else:
            become_leader(node, now_ms, out)
    elif (
        isinstance(st, Prospective)
        and st.leader_id is not None
        and len(st.rejected & voters.ids) >= voters.majority()
    ):
        # a majority still follows the leader: go back to it (KIP-996)
        node.become_follower(st.epoch, st.leader_id, now_ms, out)


def send_votes(
    node: RaftNode, st: Prospective | Candidate, now_ms: int, out: list[Outbound]
) -> None:
    pre_vote = isinstance(st, Prospective)
    last = node.log.end_offset_and_epoch()
    for voter in node.voters:
        vid = voter.key.id
        if vid == node.key.id or vid in st.granted or vid in st.rejected:
            continue
        p = st.pending.get(vid)
        if p is not None and now_ms < p.sent_ms + node.config.request_timeout_ms:
            continue
        corr = node.next_correlation_id()
        st.pending[vid] = Pending(corr, now_ms)
        epoch = st.epoch + 1 if pre_vote else st.epoch
        out.append(
            Outbound(
                vid,
                VoteRequest(
                    corr, node.config.cluster_id, node.key, voter.key, epoch, last, pre_vote
                ),
            )
        )


def log_up_to_date(node: RaftNode, last: OffsetAndEpoch) -> bool:
    mine = node.log.end_offset_and_epoch()
    return (last.epoch, last.offset) >= (mine.epoch, mine.offset)


def handle_vote_request(
    node: RaftNode, src: int, req: VoteRequest, now_ms: int, out: list[Outbound]
) -> None:
    def reply(granted: bool, error: ErrorCode = ErrorCode.NONE) -> None:
        out.append(
            Outbound(
                src,
                VoteResponse(
                    req.correlation_id, error, node.epoch, node.leader_id, granted, req.pre_vote
                ),
            )
        )

    if req.cluster_id != node.config.cluster_id:
        return reply(False, ErrorCode.INCONSISTENT_CLUSTER_ID)
    if not req.voter.matches(node.key):
        return reply(False, ErrorCode.INVALID_VOTER_KEY)
    if req.candidate_epoch < node.epoch:
        return reply(False)
    up_to_date = log_up_to_date(node, req.last_offset_epoch)
    st = node.state
    if req.pre_vote:
        # never change state for a pre-vote; refuse while a leader is alive
        alive = isinstance(st, Leader) or (
            isinstance(st, Follower) and st.has_fetched and not st.leader_resigned
        )
        return reply(up_to_date and not alive)
    if req.candidate_epoch > node.epoch:
        node.become_unattached(req.candidate_epoch, None, now_ms, out)
        st = node.state
    voted = st.voted_key if isinstance(st, Unattached | Prospective) else None
    can_vote = (
        (isinstance(st, Unattached) or (isinstance(st, Prospective) and st.leader_id is None))
        and (voted is None or voted.matches(req.candidate))
        and up_to_date
    )
    if can_vote:
        node.become_unattached(node.epoch, req.candidate, now_ms)
    reply(can_vote)


def handle_vote_response(
    node: RaftNode, src: int, resp: VoteResponse, now_ms: int, out: list[Outbound]
) -> None:
    st = node.state
    if not isinstance(st, Prospective | Candidate):
        node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out)
        return
    p = st.pending.get(src)
    if p is None or p.correlation_id != resp.correlation_id:
        return
    del st.pending[src]
    if resp.pre_vote != isinstance(st, Prospective):
        return
    if resp.leader_epoch > node.epoch:
        node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out)
        return
    if resp.error != ErrorCode.NONE:
        return
    if resp.vote_granted:
        st.granted.add(src)
    else:
        st.rejected.add(src)
        if node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out):
            return
    check_election(node, now_ms, out)


# ---------------------------------------------------------------- epoch notices
def send_begin_epoch(node: RaftNode, st: Leader, now_ms: int, out: list[Outbound]) -> None:
    for vid in sorted(st.unacked_voters):
        voter = node.voters.get(vid)
        if voter is None:
            continue
        p = st.begin_epoch_pending.get(vid)
        if p is not None and now_ms < p.sent_ms + node.config.request_timeout_ms:
            continue
        corr = node.next_correlation_id()
        st.begin_epoch_pending[vid] = Pending(corr, now_ms)
        out.append(
            Outbound(
                vid,
                BeginQuorumEpochRequest(
                    corr, node.config.cluster_id, node.key.id, st.epoch, voter.key
                ),
            )
        )
    st.unacked_voters &= node.voters.ids


def send_end_epoch(node: RaftNode, st: Resigned, now_ms: int, out: list[Outbound]) -> None:
    for vid in sorted(st.unacked):
        p = st.pending.get(vid)
        if p is not None and now_ms < p.sent_ms + node.config.request_timeout_ms:
            continue
        corr = node.next_correlation_id()
        st.pending[vid] = Pending(corr, now_ms)
        out.append(
            Outbound(
                vid,
                EndQuorumEpochRequest(
                    corr, node.config.cluster_id, node.key.id, st.epoch, st.preferred_successors
                ),
            )
        )


def handle_begin_epoch(
    node: RaftNode, src: int, req: BeginQuorumEpochRequest, now_ms: int, out: list[Outbound]
) -> None:
    if req.cluster_id != node.config.cluster_id:
        error = ErrorCode.INCONSISTENT_CLUSTER_ID
    elif not req.voter.matches(node.key):
        error = ErrorCode.INVALID_VOTER_KEY
    elif req.leader_epoch < node.epoch:
        error = ErrorCode.FENCED_LEADER_EPOCH
    else:
        error = ErrorCode.NONE
        st = node.state
        if not (
            isinstance(st, Follower)
            and st.epoch == req.leader_epoch
            and st.leader_id == req.leader_id
        ):
            node.become_follower(req.leader_epoch, req.leader_id, now_ms, out)
    out.append(
        Outbound(
            src, BeginQuorumEpochResponse(req.correlation_id, error, node.epoch, node.leader_id)
        )
    )


def handle_end_epoch(
    node: RaftNode, src: int, req: EndQuorumEpochRequest, now_ms: int, out: list[Outbound]
) -> None:
    if req.leader_epoch >= node.epoch and req.cluster_id == node.config.cluster_id:
        if req.leader_epoch > node.epoch:
            node.become_unattached(req.leader_epoch, None, now_ms, out)
        st = node.state
        if isinstance(st, Follower) and st.leader_id == req.leader_id:
            # the most caught-up successors time out first (Kafka's backoff by rank)
            succ = req.preferred_successors
            rank = succ.index(node.key.id) if node.key.id in succ else len(succ)
            backoff = node.config.retry_backoff_ms * (2 ** min(rank, 6))
            st.leader_resigned = True
            st.fetch_deadline = min(
                st.fetch_deadline, now_ms + backoff + node.rng.randrange(backoff)
            )
    out.append(
        Outbound(
            src,
            EndQuorumEpochResponse(req.correlation_id, ErrorCode.NONE, node.epoch, node.leader_id),
        )
    )
