"""Raft replicas over the on-disk metadata log: retention decides who gets records and who
gets the leader's snapshot (the core driven by hand, see tests/unit/raft/raft_harness.py)."""

from __future__ import annotations

from pathlib import Path

from millrace_broker.kraft.disk_log import DiskLog
from millrace_broker.raft.core import RaftNode
from unit.raft.raft_harness import Net


def commit(net: Net, leader: RaftNode, count: int, tag: str) -> None:
    for i in range(count):
        assert not isinstance(leader.propose([f"{tag}{i}".encode()]), int)
        net.advance(50)
    leader.poll_committed()
    assert leader.applied_offset == leader.log.end_offset


def test_a_follower_a_little_behind_gets_records_one_far_behind_the_latest_snapshot(
    tmp_path: Path,
) -> None:
    net = Net([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])
    for i in net.ids:
        net.logs[i] = DiskLog(tmp_path / f"node{i}")  # type: ignore[assignment]
        net.start(i)
    net.advance(3000)
    leader = net.leader()
    assert leader is not None
    behind, far = [i for i in net.ids if i != leader.key.id][:2]
    net.down = {far}
    commit(net, leader, 10, "a")
    first = leader.create_snapshot(leader.applied_offset, b"state-1")
    net.advance(500)  # `behind` fetches everything up to the first snapshot and past it
    net.down = {far, behind}
    behind_end = net.nodes[behind].log.end_offset
    assert behind_end >= first.snapshot_id.offset
    commit(net, leader, 10, "b")
    second = leader.create_snapshot(leader.applied_offset, b"state-2")
    # the leader's log now starts at the first snapshot; the latest is the second
    assert leader.log.start_offset == first.snapshot_id.offset
    assert leader.log.latest_snapshot() == second
    assert net.nodes[far].log.end_offset < leader.log.start_offset <= behind_end

    net.down = set()
    net.advance(3000)
    end = leader.log.end_offset
    near = net.nodes[behind]
    assert near.log.end_offset == end
    assert near.log.latest_snapshot() is None  # caught up with records only
    lagging = net.nodes[far]
    assert lagging.log.end_offset == end
    assert lagging.log.latest_snapshot() == second  # fetched: it was below the log start
    assert lagging.log.start_offset == second.snapshot_id.offset
    handed = lagging.poll_committed()
    assert handed[0] == second  # the state machine loads the snapshot, then what follows
    assert [e.offset for e in handed[1:]] == list(range(second.snapshot_id.offset, end))
    for i in net.ids:
        net.logs[i].close()  # type: ignore[attr-defined]
