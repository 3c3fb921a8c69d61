"""State transitions of the KRaft core, one rule per test, driven by hand."""

from __future__ import annotations

import random
from typing import TypeVar

from raft_harness import CLUSTER, Net, config, key

from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.messages import (
    BeginQuorumEpochRequest,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchResponse,
    Inbound,
    Outbound,
    VoteRequest,
    VoteResponse,
)
from millrace_broker.raft.quorum_store import ElectionState, MemoryQuorumStore
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
    Follower,
    Leader,
    Prospective,
    Resigned,
    Unattached,
)
from millrace_broker.raft.voters import VoterSet

M = TypeVar("M")
VOTERS3 = VoterSet.from_keys(key(i) for i in (1, 2, 3))


def solo(
    node_id: int = 1,
    *,
    log: MemoryLog | None = None,
    store: MemoryQuorumStore | None = None,
    voters: VoterSet = VOTERS3,
) -> RaftNode:
    return RaftNode(
        config(node_id, (1, 2, 3)),
        log=log or MemoryLog(),
        store=store or MemoryQuorumStore(),
        rng=random.Random(7),
        now_ms=0,
        bootstrap_voters=voters,
    )


def vote_req(
    epoch: int,
    last: OffsetAndEpoch,
    *,
    candidate: int = 2,
    voter: int = 1,
    pre_vote: bool = False,
    corr: int = 1,
) -> VoteRequest:
    return VoteRequest(corr, CLUSTER, key(candidate), key(voter), epoch, last, pre_vote)


def only(outs: list[Outbound], kind: type[M]) -> list[M]:
    return [o.message for o in outs if isinstance(o.message, kind)]


# ------------------------------------------------------------------ elections
def test_single_voter_elects_itself_and_commits_its_epoch() -> None:
    node = solo(voters=VoterSet.from_keys([key(1)]))
    assert isinstance(node.state, Unattached)
    node.tick(node.state.election_deadline)
    assert node.is_leader() and node.epoch == 1
    records = [e.record for e in node.log.read(0, 10)]
    assert isinstance(records[0], LeaderChangeRecord)
    assert isinstance(records[1], VotersRecord)  # bootstrap voters copied into the log
    assert node.high_watermark == 2
    assert node.propose([b"a"]) == OffsetAndEpoch(2, 1)
    assert node.high_watermark == 3


def test_election_timeout_starts_pre_vote_without_bumping_epoch() -> None:
    store = MemoryQuorumStore()
    node = solo(store=store)
    assert isinstance(node.state, Unattached)
    outs = node.tick(node.state.election_deadline)
    assert isinstance(node.state, Prospective)
    reqs = only(outs, VoteRequest)
    assert {r.voter.id for r in reqs} == {2, 3}
    assert all(r.pre_vote and r.candidate_epoch == 1 for r in reqs)
    assert node.epoch == 0 and store.read() is None


def test_pre_vote_majority_makes_candidate_then_votes_make_leader() -> None:
    store = MemoryQuorumStore()
    node = solo(store=store)
    assert isinstance(node.state, Unattached)
    reqs = only(node.tick(node.state.election_deadline), VoteRequest)
    r2 = next(r for r in reqs if r.voter.id == 2)
    outs = node.step(
        Inbound(2, VoteResponse(r2.correlation_id, ErrorCode.NONE, 0, None, True, True)), 1000
    )
    assert isinstance(node.state, Candidate) and node.epoch == 1
    assert store.read() == ElectionState(1, None, key(1))
    votes = only(outs, VoteRequest)
    assert all(not v.pre_vote and v.candidate_epoch == 1 for v in votes)
    v3 = next(v for v in votes if v.voter.id == 3)
    outs = node.step(
        Inbound(3, VoteResponse(v3.correlation_id, ErrorCode.NONE, 1, None, True, False)), 1001
    )
    assert isinstance(node.state, Leader)
    assert {m.voter.id for m in only(outs, BeginQuorumEpochRequest)} == {2, 3}
    first = node.log.read(0, 1)[0]
    assert isinstance(first.record, LeaderChangeRecord) and first.epoch == 1


def test_stale_or_duplicate_vote_response_is_ignored() -> None:
    node = solo()
    assert isinstance(node.state, Unattached)
    reqs = only(node.tick(node.state.election_deadline), VoteRequest)
    r2 = next(r for r in reqs if r.voter.id == 2)
    # a response with another correlation id (an older request) does not count
    node.step(
        Inbound(2, VoteResponse(r2.correlation_id + 99, ErrorCode.NONE, 0, None, True, True)), 1000
    )
    assert isinstance(node.state, Prospective)


def test_vote_granted_once_per_epoch_and_persisted_first() -> None:
    store = MemoryQuorumStore()
    node = solo(store=store)
    outs = node.step(Inbound(2, vote_req(5, OffsetAndEpoch(0, 0))), 10)
    assert only(outs, VoteResponse)[0].vote_granted
    assert store.read() == ElectionState(5, None, key(2))
    outs = node.step(Inbound(3, vote_req(5, OffsetAndEpoch(0, 0), candidate=3)), 11)
    assert not only(outs, VoteResponse)[0].vote_granted
    # the same candidate asking again (retry) is granted again
    outs = node.step(Inbound(2, vote_req(5, OffsetAndEpoch(0, 0), corr=2)), 12)
    assert only(outs, VoteResponse)[0].vote_granted


def test_vote_rejected_for_less_up_to_date_log() -> None:
    log = MemoryLog()
    log.append([Entry(0, 3, DataRecord(b"x")), Entry(1, 3, DataRecord(b"y"))])
    node = solo(log=log)
    # higher offset but older epoch loses; same epoch shorter log loses
    for last in (OffsetAndEpoch(10, 2), OffsetAndEpoch(1, 3)):
        outs = node.step(Inbound(2, vote_req(4, last)), 10)
        assert not only(outs, VoteResponse)[0].vote_granted
    outs = node.step(Inbound(2, vote_req(4, OffsetAndEpoch(2, 3))), 10)
    assert only(outs, VoteResponse)[0].vote_granted


def test_vote_with_wrong_voter_key_is_rejected() -> None:
    node = solo()
    req = VoteRequest(
        1, CLUSTER, key(2), key(1).__class__(1, "other-dir"), 1, OffsetAndEpoch(0, 0), False
    )
    resp = only(node.step(Inbound(2, req), 1), VoteResponse)[0]
    assert resp.error == ErrorCode.INVALID_VOTER_KEY and not resp.vote_granted


def test_pre_vote_never_changes_receiver_state() -> None:
    store = MemoryQuorumStore()
    node = solo(store=store)
    outs = node.step(Inbound(2, vote_req(9, OffsetAndEpoch(0, 0), pre_vote=True)), 1)
    assert only(outs, VoteResponse)[0].vote_granted
    assert node.epoch == 0 and store.read() is None


def test_follower_hearing_from_leader_rejects_pre_vote() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    follower = next(n for n in net.nodes.values() if n is not leader)
    assert isinstance(follower.state, Follower) and follower.state.has_fetched
    last = follower.log.end_offset_and_epoch()
    outs = follower.step(
        Inbound(
            9, vote_req(follower.epoch + 1, last, candidate=9, voter=follower.key.id, pre_vote=True)
        ),
        net.now,
    )
    assert not only(outs, VoteResponse)[0].vote_granted


def test_higher_epoch_real_vote_request_moves_receiver_to_that_epoch() -> None:
    node = solo()
    node.step(Inbound(2, vote_req(4, OffsetAndEpoch(0, 0))), 1)
    assert node.epoch == 4 and isinstance(node.state, Unattached)


def test_begin_quorum_epoch_makes_follower() -> None:
    node = solo()
    node.step(Inbound(2, BeginQuorumEpochRequest(1, CLUSTER, 2, 3, key(1))), 5)
    assert isinstance(node.state, Follower) and node.leader_id == 2 and node.epoch == 3


def test_restarted_leader_comes_back_resigned() -> None:
    store = MemoryQuorumStore()
    store.write(ElectionState(4, 1, key(1)))
    node = solo(store=store)
    assert isinstance(node.state, Resigned) and node.epoch == 4


def test_observer_never_campaigns() -> None:
    node = RaftNode(
        config(4, (1, 2, 3)),
        log=MemoryLog(),
        store=MemoryQuorumStore(),
        rng=random.Random(1),
        now_ms=0,
        bootstrap_voters=None,
    )
    for t in range(0, 10_000, 100):
        for o in node.tick(t):
            assert isinstance(o.message, FetchRequest)  # only discovery fetches
    assert isinstance(node.state, Unattached) and node.epoch == 0


# ------------------------------------------------------------------ replication and HW
def test_three_nodes_elect_replicate_and_commit() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    result = leader.propose([b"a", b"b"])
    assert isinstance(result, OffsetAndEpoch)
    net.advance(500)
    for node in net.nodes.values():
        assert node.high_watermark == result.offset + 1
        assert [e.record for e in node.log.read(result.offset - 1, 2)] == [
            DataRecord(b"a"),
            DataRecord(b"b"),
        ]


def test_high_watermark_waits_for_a_record_of_the_leaders_epoch() -> None:
    log = MemoryLog()
    log.append([Entry(0, 1, DataRecord(b"old"))])
    node = solo(log=log)
    store = node.store
    store.write(ElectionState(1, None, key(1)))
    node.state = Candidate(1, 10_000, granted={1, 2})
    from millrace_broker.raft import elections

    elections.check_election(node, 0, [])
    st = node.state
    assert isinstance(st, Leader) and st.epoch_start_offset == 1
    # follower 2 has only the old record: nothing of epoch 1 is replicated, HW unknown
    node.step(Inbound(2, FetchRequest(5, CLUSTER, key(2), 1, 1, 1, 10)), 1)
    assert node.high_watermark == 0
    node.step(Inbound(2, FetchRequest(6, CLUSTER, key(2), 1, node.log.end_offset, 1, 10)), 2)
    assert node.high_watermark == node.log.end_offset


def test_leader_reports_divergence_and_follower_truncates() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    follower = next(n for n in net.nodes.values() if n is not leader)
    # give the follower a bogus uncommitted suffix from an older epoch
    end = follower.log.end_offset
    follower.log.truncate_to(end)
    bogus_epoch = leader.epoch - 1 if leader.epoch > 1 else 0
    if bogus_epoch >= follower.log.last_epoch:
        follower.log.append(
            [Entry(end, max(bogus_epoch, follower.log.last_epoch), DataRecord(b"junk"))]
        )
    resp = only(
        leader.step(
            Inbound(
                follower.key.id,
                FetchRequest(
                    1,
                    CLUSTER,
                    follower.key,
                    leader.epoch,
                    follower.log.end_offset + 5,
                    follower.log.last_epoch,
                    10,
                ),
            ),
            net.now,
        ),
        FetchResponse,
    )[0]
    assert resp.diverging_epoch is not None
    leader.propose([b"real"])
    net.advance(1000)
    assert follower.log.read(0, 100) == leader.log.read(0, 100)


def test_duplicate_fetch_response_is_not_applied_twice() -> None:
    net = Net([1, 2], [1, 2])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    follower = next(n for n in net.nodes.values() if n is not leader)
    st = follower.state
    assert isinstance(st, Follower)
    st.inflight = None
    st.next_fetch_ms = 0
    out = follower.tick(net.now)
    req = only(out, FetchRequest)[0]
    leader.propose([b"x"])
    resp = only(leader.step(Inbound(follower.key.id, req), net.now), FetchResponse)[0]
    follower.step(Inbound(leader.key.id, resp), net.now)
    end = follower.log.end_offset
    follower.step(Inbound(leader.key.id, resp), net.now)
    assert follower.log.end_offset == end


def test_check_quorum_makes_isolated_leader_resign() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    net.down = {i for i in net.ids if i != leader.key.id}
    net.advance(1000)
    assert isinstance(leader.state, Resigned)
    assert leader.propose([b"x"]) == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_end_quorum_epoch_lets_followers_elect_quickly() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    old_epoch = leader.epoch
    net.send(leader.key.id, leader.resign(net.now))
    net.flush()
    net.advance(600)
    new = net.leader()
    assert new is not None and new.epoch > old_epoch


def test_end_quorum_epoch_for_other_leader_is_ignored() -> None:
    node = solo()
    node.step(Inbound(2, BeginQuorumEpochRequest(1, CLUSTER, 2, 3, key(1))), 5)
    st = node.state
    assert isinstance(st, Follower)
    deadline = st.fetch_deadline
    node.step(Inbound(3, EndQuorumEpochRequest(2, CLUSTER, 3, 3, ())), 6)
    assert st.fetch_deadline == deadline and not st.leader_resigned


# ------------------------------------------------------------------ snapshots
def test_lagging_follower_installs_snapshot_in_chunks() -> None:
    net = Net([1, 2, 3], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    lagging = next(i for i in net.ids if i != leader.key.id)
    net.down = {lagging}
    for i in range(20):
        leader.propose([f"r{i}".encode()])
        net.advance(50)
    applied = leader.poll_committed()
    snap = leader.create_snapshot(leader.applied_offset, b"state" * 40)
    assert leader.log.start_offset == snap.snapshot_id.offset
    assert any(isinstance(e, Entry) for e in applied)
    net.down = set()
    net.advance(2000)
    follower = net.nodes[lagging]
    assert follower.log.start_offset == snap.snapshot_id.offset
    assert follower.log.latest_snapshot() == snap
    committed = follower.poll_committed()
    assert isinstance(committed[0], Snapshot) and committed[0].data == b"state" * 40


# ------------------------------------------------------------------ describe
def test_describe_quorum_on_leader_and_elsewhere() -> None:
    net = Net([1, 2, 3, 4], [1, 2, 3])
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    resp = leader.step(Inbound(99, DescribeQuorumRequest(7)), net.now)[0].message
    assert isinstance(resp, DescribeQuorumResponse) and resp.error == ErrorCode.NONE
    assert {d.key.id for d in resp.voters} == {1, 2, 3}
    assert {d.key.id for d in resp.observers} == {4}
    other = next(n for n in net.nodes.values() if n is not leader)
    resp = other.step(Inbound(99, DescribeQuorumRequest(8)), net.now)[0].message
    assert isinstance(resp, DescribeQuorumResponse)
    assert resp.error == ErrorCode.NOT_LEADER_OR_FOLLOWER and resp.leader_id == leader.key.id
