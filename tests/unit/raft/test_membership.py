"""Dynamic voters (KIP-853): AddRaftVoter / RemoveRaftVoter / UpdateRaftVoter rules."""

from __future__ import annotations

import dataclasses
import random

from raft_harness import CLUSTER, Net, config, key

from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.messages import (
    AddRaftVoterRequest,
    RemoveRaftVoterRequest,
    UpdateRaftVoterRequest,
    VoterChangeResponse,
)
from millrace_broker.raft.quorum_store import MemoryQuorumStore
from millrace_broker.raft.records import Entry, LeaderChangeRecord, VotersRecord
from millrace_broker.raft.state import Leader
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterSet


def settled(ids: list[int], voters: list[int]) -> tuple[Net, RaftNode]:
    net = Net(ids, voters)
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    return net, leader


def last_response(net: Net) -> VoterChangeResponse:
    msg = net.client[-1]
    assert isinstance(msg, VoterChangeResponse)
    return msg


def test_observer_learns_voters_and_is_added_after_catching_up() -> None:
    net, leader = settled([1, 2, 3, 4], [1, 2, 3])
    observer = net.nodes[4]
    assert not observer.is_voter and observer.voters.ids == {1, 2, 3}
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(key(4))))
    assert not net.client  # answered only when the VotersRecord commits
    assert leader.voters.ids == {1, 2, 3, 4}  # in effect as soon as appended
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    assert all(n.voters.ids == {1, 2, 3, 4} for n in net.nodes.values())
    assert observer.is_voter


def test_a_lone_leader_grows_to_two_voters_without_losing_leadership() -> None:
    """`--standalone` then add-controller: the leader's check-quorum clock had never run
    (it was the only voter); growing the set must not make it resign at once."""
    net, leader = settled([1, 2], [1])
    epoch = leader.epoch
    net.advance(10_000)  # long after the election: any stale deadline has passed
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(key(2))))
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    assert net.leader() is leader and leader.epoch == epoch
    net.advance(10_000)  # and it keeps leading: the new voter's fetches count
    assert net.leader() is leader and leader.epoch == epoch


def test_add_rejects_a_replica_that_never_fetched() -> None:
    net, leader = settled([1, 2, 3], [1, 2, 3])
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(key(9))))
    resp = last_response(net)
    assert resp.error == ErrorCode.REQUEST_TIMED_OUT and "not caught up" in resp.message


def test_add_rejects_wrong_directory_id_and_duplicates() -> None:
    net, leader = settled([1, 2, 3, 4], [1, 2, 3])
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(ReplicaKey(4, "other"))))
    assert last_response(net).error == ErrorCode.REQUEST_TIMED_OUT
    net.admin(leader, AddRaftVoterRequest(2, CLUSTER, Voter(key(2))))
    assert last_response(net).error == ErrorCode.DUPLICATE_VOTER


def test_only_one_voter_change_in_flight() -> None:
    net, leader = settled([1, 2, 3, 4, 5], [1, 2, 3])
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(key(4))))
    net.admin(leader, AddRaftVoterRequest(2, CLUSTER, Voter(key(5))))
    resp = last_response(net)
    assert resp.request_id == 2 and resp.error == ErrorCode.REQUEST_TIMED_OUT
    assert "in flight" in resp.message
    net.advance(500)
    net.admin(leader, AddRaftVoterRequest(3, CLUSTER, Voter(key(5))))
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    assert leader.voters.ids == {1, 2, 3, 4, 5}


def test_non_leader_refuses_voter_changes() -> None:
    net, leader = settled([1, 2, 3], [1, 2, 3])
    other = next(n for n in net.nodes.values() if n is not leader)
    net.admin(other, RemoveRaftVoterRequest(1, CLUSTER, key(3)))
    resp = last_response(net)
    assert resp.error == ErrorCode.NOT_LEADER_OR_FOLLOWER and resp.leader_id == leader.key.id


def test_remove_follower_and_unknown_voter() -> None:
    net, leader = settled([1, 2, 3], [1, 2, 3])
    gone = next(i for i in net.ids if i != leader.key.id)
    net.admin(leader, RemoveRaftVoterRequest(1, CLUSTER, key(gone)))
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    assert gone not in leader.voters.ids and not net.nodes[gone].is_voter
    net.admin(leader, RemoveRaftVoterRequest(2, CLUSTER, key(gone)))
    assert last_response(net).error == ErrorCode.VOTER_NOT_FOUND


def test_removing_the_leader_makes_it_resign_after_commit() -> None:
    net, leader = settled([1, 2, 3], [1, 2, 3])
    old = leader.key.id
    net.admin(leader, RemoveRaftVoterRequest(1, CLUSTER, key(old)))
    assert leader.is_leader()  # keeps leading until the change commits
    net.advance(3000)
    assert last_response(net).error == ErrorCode.NONE
    new = net.leader()
    assert new is not None and new.key.id != old
    assert new.voters.ids == {1, 2, 3} - {old}
    assert not net.nodes[old].is_voter


def test_cannot_remove_last_voter() -> None:
    net, leader = settled([1], [1])
    net.admin(leader, RemoveRaftVoterRequest(1, CLUSTER, key(1)))
    assert last_response(net).error == ErrorCode.INVALID_REQUEST


def test_update_voter_endpoints() -> None:
    net, leader = settled([1, 2, 3], [1, 2, 3])
    target = next(i for i in net.ids if i != leader.key.id)
    voter = Voter(key(target), (("CONTROLLER", f"c{target}:9093"),))
    st = leader.state
    assert isinstance(st, Leader)
    net.admin(leader, UpdateRaftVoterRequest(1, CLUSTER, voter, st.epoch))
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    v = leader.voters.get(target)
    assert v is not None and v.endpoints == voter.endpoints
    net.admin(leader, UpdateRaftVoterRequest(2, CLUSTER, Voter(key(7)), st.epoch))
    assert last_response(net).error == ErrorCode.VOTER_NOT_FOUND


def test_leader_must_commit_its_epoch_before_a_change() -> None:
    net, leader = settled([1, 2, 3, 4], [1, 2, 3])
    st = leader.state
    assert isinstance(st, Leader)
    leader.high_watermark = st.epoch_start_offset  # pretend the epoch is not committed
    net.admin(leader, AddRaftVoterRequest(1, CLUSTER, Voter(key(4))))
    resp = last_response(net)
    assert resp.error == ErrorCode.REQUEST_TIMED_OUT and "epoch" in resp.message


def test_voter_that_lost_its_disk_is_a_new_replica_until_swapped_in() -> None:
    """KIP-853's reason for directory ids: a voter restarted on an empty disk must not
    count as the voter it was (it forgot what it acknowledged and whom it voted for)."""
    net, leader = settled([1, 2, 3], [1, 2, 3])
    lost = next(i for i in net.ids if i != leader.key.id)
    net.down = {lost}
    net.advance(100)
    # the replacement replica: same node id, fresh directory id, empty log and state
    new_key = ReplicaKey(lost, "dir-new")
    net.logs[lost] = MemoryLog()
    net.stores[lost] = MemoryQuorumStore()
    cfg = dataclasses.replace(config(lost, net.ids), local=new_key)
    net.nodes[lost] = RaftNode(
        cfg,
        log=net.logs[lost],
        store=net.stores[lost],
        rng=random.Random(5),
        now_ms=net.now,
        bootstrap_voters=None,
    )
    net.down = set()
    net.advance(1000)
    fresh = net.nodes[lost]
    assert not fresh.is_voter  # the voter set names the old directory id
    st = leader.state
    assert isinstance(st, Leader)
    hw = leader.high_watermark
    # its fetches do not count toward the high watermark as the old voter's would
    progress = st.replicas[lost]
    assert progress.key == new_key
    leader.propose([b"x"])
    net.advance(300)
    assert leader.high_watermark > hw  # the other two voters still commit
    net.admin(leader, RemoveRaftVoterRequest(1, CLUSTER, key(lost)))
    net.advance(500)
    net.admin(leader, AddRaftVoterRequest(2, CLUSTER, Voter(new_key)))
    net.advance(500)
    assert last_response(net).error == ErrorCode.NONE
    assert leader.voters.get(lost) == Voter(new_key) and fresh.is_voter


def test_removed_replica_campaigns_until_its_removal_is_known_committed() -> None:
    """Raft dissertation 4.2.2: until the change removing it commits, the quorum may
    still need a removed replica (it may hold the only copy of the change)."""
    log = MemoryLog()
    log.append(
        [
            Entry(0, 1, LeaderChangeRecord(1)),
            Entry(1, 1, VotersRecord(VoterSet.from_keys([key(1), key(2)]))),
            Entry(2, 1, VotersRecord(VoterSet.from_keys([key(2)]))),
        ]
    )
    node = RaftNode(
        config(1, [1, 2]),
        log=log,
        store=MemoryQuorumStore(),
        rng=random.Random(1),
        now_ms=0,
        bootstrap_voters=None,
    )
    assert not node.is_voter and node.can_campaign  # high watermark unknown (0)
    node.high_watermark = 3  # the removal is committed
    assert not node.can_campaign
