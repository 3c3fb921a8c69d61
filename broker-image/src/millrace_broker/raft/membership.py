"""Dynamic quorum (KIP-853): AddRaftVoter, RemoveRaftVoter, UpdateRaftVoter, DescribeQuorum.

The leader changes the voter set by appending a VotersRecord; every replica uses the
newest voter set in its log at once, committed or not.  That is safe only for
single-voter steps taken one at a time, so the leader refuses a change unless:

- it has committed a record of its own epoch (its high watermark passed the epoch start;
  before that it cannot know which earlier change is committed),
- no VotersRecord sits at or above the high watermark (one change in flight),
- the new set differs from the current one by exactly one voter.

AddRaftVoter additionally requires the new replica to be caught up: it must have fetched
recently and reached the leader's log end in that window (Kafka's lastCaughtUpTimestamp),
so adding it does not stall the high watermark.  The response is sent once the record
commits.  If the leader removed itself, it keeps leading until that record commits (it
no longer counts toward the majority) and then resigns.  A leader that loses leadership
with a change pending answers NOT_LEADER_OR_FOLLOWER; the client retries and sees
DUPLICATE_VOTER / VOTER_NOT_FOUND if the change did commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.messages import (
    AddRaftVoterRequest,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    Outbound,
    RemoveRaftVoterRequest,
    ReplicaDescription,
    UpdateRaftVoterRequest,
    VoterChangeResponse,
)
from millrace_broker.raft.records import VotersRecord
from millrace_broker.raft.state import Leader, PendingVoterChange, ReplicaProgress
from millrace_broker.raft.voters import VoterSet

if TYPE_CHECKING:
    from millrace_broker.raft.core import RaftNode

VoterChangeRequest = AddRaftVoterRequest | RemoveRaftVoterRequest | UpdateRaftVoterRequest


def _plan_change(
    node: RaftNode, st: Leader, req: VoterChangeRequest, now_ms: int
) -> VoterSet | tuple[ErrorCode, str]:
    """The voter set to append, or why not."""
    voters = node.voters
    if req.cluster_id != node.config.cluster_id:
        return ErrorCode.INCONSISTENT_CLUSTER_ID, "cluster id mismatch"
    if node.high_watermark <= st.epoch_start_offset:
        return ErrorCode.REQUEST_TIMED_OUT, "leader has not committed its epoch yet; retry"
    if st.voter_change is not None or node.voter_history.uncommitted(node.high_watermark):
        return ErrorCode.REQUEST_TIMED_OUT, "another voter change is in flight; retry"
    if isinstance(req, AddRaftVoterRequest):
        key = req.voter.key
        if key.id in voters.ids:
            return ErrorCode.DUPLICATE_VOTER, f"node {key.id} is already a voter"
        prog = st.replicas.get(key.id)
        window = node.config.fetch_timeout_ms
        if (
            prog is None
            or prog.key != key
            or prog.last_caught_up_ms < 0
            or now_ms - prog.last_fetch_ms > window
            or now_ms - prog.last_caught_up_ms > window
        ):
            return (
                ErrorCode.REQUEST_TIMED_OUT,
                f"replica {key} is not caught up with the leader; start it as an "
                "observer and retry once it has replicated the log",
            )
        return voters.with_voter(req.voter)
    if isinstance(req, RemoveRaftVoterRequest):
        if not voters.is_voter(req.voter):
            return ErrorCode.VOTER_NOT_FOUND, f"{req.voter} is not a voter"
        if len(voters) == 1:
            return ErrorCode.INVALID_REQUEST, "cannot remove the last voter"
        return voters.without(req.voter)
    current = voters.get(req.voter.key.id)
    if current is None or not current.key.matches(req.voter.key):
        return ErrorCode.VOTER_NOT_FOUND, f"{req.voter.key} is not a voter"
    if req.current_leader_epoch not in (-1, st.epoch):
        return ErrorCode.FENCED_LEADER_EPOCH, "stale leader epoch"
    return voters.with_voter(req.voter)


def handle_voter_change(
    node: RaftNode, src: int, req: VoterChangeRequest, now_ms: int, out: list[Outbound]
) -> None:
    st = node.state
    if not isinstance(st, Leader) or st.resign_after_commit:
        out.append(
            Outbound(
                src,
                VoterChangeResponse(
                    req.request_id,
                    ErrorCode.NOT_LEADER_OR_FOLLOWER,
                    "not the leader",
                    node.epoch,
                    node.leader_id,
                ),
            )
        )
        return
    planned = _plan_change(node, st, req, now_ms)
    if isinstance(planned, tuple):
        out.append(
            Outbound(
                src,
                VoterChangeResponse(req.request_id, planned[0], planned[1], st.epoch, node.key.id),
            )
        )
        return
    if planned == node.voters:
        # UpdateRaftVoter with nothing new: done already
        out.append(
            Outbound(
                src, VoterChangeResponse(req.request_id, ErrorCode.NONE, "", st.epoch, node.key.id)
            )
        )
        return
    assert planned.differs_by_at_most_one(node.voters) or isinstance(req, UpdateRaftVoterRequest)
    removes_leader = not planned.is_voter(node.key) and node.voters.is_voter(node.key)
    st.voter_change = PendingVoterChange(node.log.end_offset, src, req.request_id, removes_leader)
    # Check-quorum restarts for the new set: a leader that was the only voter never
    # moved its deadline (nobody had to fetch), so without this it would resign at once
    # on growing to two voters, failing the very change it just made.
    st.fetched_voters.clear()
    st.check_quorum_deadline = max(st.check_quorum_deadline, now_ms + st.check_quorum_timeout_ms)
    node.append_as_leader([VotersRecord(planned)])


def on_high_watermark(node: RaftNode, st: Leader) -> None:
    change = st.voter_change
    if change is None or node.high_watermark <= change.offset:
        return
    st.voter_change = None
    node.deferred.append(
        Outbound(
            change.requester,
            VoterChangeResponse(change.request_id, ErrorCode.NONE, "", st.epoch, node.key.id),
        )
    )
    if change.removes_leader:
        st.resign_after_commit = True


def fail_pending_change(node: RaftNode, st: Leader, out: list[Outbound]) -> None:
    change = st.voter_change
    if change is None:
        return
    st.voter_change = None
    out.append(
        Outbound(
            change.requester,
            VoterChangeResponse(
                change.request_id,
                ErrorCode.NOT_LEADER_OR_FOLLOWER,
                "leadership changed before the voter change committed; retry",
                st.epoch,
                None,
            ),
        )
    )


def _describe(prog: ReplicaProgress) -> ReplicaDescription:
    return ReplicaDescription(prog.key, prog.end_offset, prog.last_fetch_ms, prog.last_caught_up_ms)


def describe_quorum(node: RaftNode, req: DescribeQuorumRequest) -> DescribeQuorumResponse:
    st = node.state
    if not isinstance(st, Leader):
        return DescribeQuorumResponse(
            req.request_id, ErrorCode.NOT_LEADER_OR_FOLLOWER, node.leader_id, node.epoch, -1
        )
    voters = []
    for voter in node.voters:
        if voter.key.id == node.key.id:
            voters.append(ReplicaDescription(node.key, node.log.end_offset, -1, -1))
        else:
            prog = st.replicas.get(voter.key.id)
            voters.append(
                _describe(prog) if prog is not None else ReplicaDescription(voter.key, -1, -1, -1)
            )
    observers = tuple(
        _describe(p) for i, p in sorted(st.replicas.items()) if i not in node.voters.ids
    )
    return DescribeQuorumResponse(
        req.request_id,
        ErrorCode.NONE,
        node.key.id,
        st.epoch,
        node.high_watermark,
        tuple(voters),
        observers,
        tuple(node.voters),
    )
