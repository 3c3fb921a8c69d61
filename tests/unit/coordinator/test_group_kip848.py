"""KIP-848 consumer groups: server-side assignment and member-by-member reconciliation."""

from __future__ import annotations

from kio.schema.errors import ErrorCode as E

from millrace_broker.coordinator import consumer_group as cg
from millrace_broker.coordinator import offsets
from millrace_broker.coordinator.consumer_group import CgConfig, CgHeartbeat, CgResult
from millrace_broker.coordinator.manager import GroupConfig, GroupManager, RecordPair

COUNTS = {"t": 4, "u": 2}


class Cluster:
    def __init__(self, **config: object) -> None:
        self.groups: dict[str, cg.ConsumerGroup] = {}
        self.cfg = CgConfig(session_timeout_ms=6000, **config)  # type: ignore[arg-type]
        self.counts = dict(COUNTS)

    def hb(
        self,
        member: str,
        epoch: int,
        *,
        now: int = 0,
        topics: tuple[str, ...] | None = None,
        owned: dict[str, set[int]] | None = None,
        instance: str | None = None,
        assignor: str | None = None,
        rebalance_ms: int = -1,
    ) -> CgResult:
        if epoch == 0 and topics is None:
            topics = ("t",)
        return cg.heartbeat(
            self.groups,
            self.cfg,
            CgHeartbeat("g", member, epoch, instance, None, rebalance_ms, topics, assignor, owned),
            self.counts.get,
            now,
        )

    @property
    def group(self) -> cg.ConsumerGroup:
        return self.groups["g"]


def flat(a: dict[str, set[int]] | None) -> set[tuple[str, int]]:
    return {(t, p) for t, ps in (a or {}).items() for p in ps}


def test_first_member_gets_everything() -> None:
    c = Cluster()
    r = c.hb("a", 0)
    assert r.error is E.none and r.member_epoch == 1
    assert flat(r.assignment) == {("t", p) for p in range(4)}
    assert c.group.state() == "Stable"


def test_second_member_waits_for_revocation_then_gets_half() -> None:
    c = Cluster()
    a = c.hb("a", 0)
    b = c.hb("b", 0, now=10)
    assert b.error is E.none and b.member_epoch == c.group.epoch == 2
    assert flat(b.assignment) == set()  # its partitions are still a's: unreleased
    a2 = c.hb("a", 1, now=20, owned=a.assignment)
    assert a2.member_epoch == 1 and len(flat(a2.assignment)) == 2  # revoke two, keep epoch
    assert c.group.state() == "Reconciling"
    a3 = c.hb("a", 1, now=30, owned=a2.assignment)  # revocation done
    assert a3.member_epoch == 2 and flat(a3.assignment) == flat(a2.assignment)
    b2 = c.hb("b", 2, now=40, owned={})
    assert flat(b2.assignment) == {("t", p) for p in range(4)} - flat(a3.assignment)
    assert c.group.state() == "Stable"


def test_fencing() -> None:
    c = Cluster()
    a = c.hb("a", 0)
    assert c.hb("a", 7).error is E.fenced_member_epoch
    assert c.hb("ghost", 1).error is E.unknown_member_id
    missing = cg.heartbeat(c.groups, c.cfg, CgHeartbeat("nope", "a", 3), c.counts.get, 0)
    assert missing.error is E.group_id_not_found
    c.hb("b", 0)
    c.hb("a", 1, owned=a.assignment)  # revoking
    done = c.hb("a", 1, owned={"t": {0, 1}})
    assert done.member_epoch == 2
    # The answer was lost: the previous epoch with matching owned partitions is accepted.
    assert c.hb("a", 1, owned=done.assignment).error is E.none
    assert c.hb("a", 1, owned={"t": {3}}).error is E.fenced_member_epoch
    assert (
        cg.heartbeat(
            c.groups,
            c.cfg,
            CgHeartbeat("g", "x", 0, server_assignor="magic", subscribed=("t",)),
            c.counts.get,
            0,
        ).error
        is E.unsupported_assignor
    )


def test_session_timeout_moves_partitions_to_survivor() -> None:
    c = Cluster()
    c.hb("a", 0)
    c.hb("b", 0)
    a = c.hb("a", 1, owned={"t": {0, 1, 2, 3}})
    c.hb("a", 1, now=1000, owned=a.assignment)
    c.hb("b", 2, now=1000, owned={})
    assert cg.tick(c.groups, 6999) == []  # both heartbeated at t=1000: 6 s sessions
    assert set(c.group.members) == {"a", "b"}
    assert cg.tick(c.groups, 7000) == ["g"]
    assert set(c.group.members) == set()


def test_survivor_takes_over_after_peer_expires() -> None:
    c = Cluster()
    c.hb("a", 0)
    c.hb("b", 0, now=0)
    a = c.hb("a", 1, now=100, owned={"t": {0, 1, 2, 3}})
    c.hb("a", 1, now=200, owned=a.assignment)
    c.hb("b", 2, now=200, owned={})
    for now in range(1000, 8000, 1000):
        r = c.hb("a", c.group.members["a"].epoch, now=now, owned=c.group.members["a"].assigned)
        cg.tick(c.groups, now)
    r = c.hb("a", c.group.members["a"].epoch, now=8000, owned=c.group.members["a"].assigned)
    assert set(c.group.members) == {"a"}
    assert flat(r.assignment) == {("t", p) for p in range(4)}


def test_member_that_never_revokes_is_removed_after_rebalance_timeout() -> None:
    c = Cluster()
    a = c.hb("a", 0, rebalance_ms=3000)
    c.hb("b", 0)
    c.hb("a", 1, now=100, owned=a.assignment)  # told to revoke two
    c.hb("a", 1, now=2000, owned=a.assignment)  # still owns them
    c.hb("b", 2, now=2000, owned={})
    cg.tick(c.groups, 3101)
    assert "a" not in c.group.members


def test_static_member_rejoins_with_its_assignment() -> None:
    c = Cluster()
    a = c.hb("a", 0, instance="inst-a")
    epoch = c.group.epoch
    assert c.hb("a2", 0, instance="inst-a").error is E.unreleased_instance_id
    assert c.hb("a", 1, owned=a.assignment).error is E.none
    left = c.hb("a", cg.STATIC_LEAVE_EPOCH, instance="inst-a")
    assert left.error is E.none and left.member_epoch == cg.STATIC_LEAVE_EPOCH
    back = c.hb("a-new", 0, instance="inst-a", now=100)
    assert back.error is E.none and flat(back.assignment) == flat(a.assignment)
    assert back.member_epoch == 1 and c.group.epoch == epoch
    assert set(c.group.members) == {"a-new"}


def test_leave_and_range_assignor() -> None:
    c = Cluster()
    c.hb("a", 0, topics=("t", "u"), assignor="range")
    c.hb("b", 0, topics=("t", "u"), assignor="range")
    assert c.group.target == {"a": {"t": {0, 1}, "u": {0}}, "b": {"t": {2, 3}, "u": {1}}}
    assert c.hb("b", cg.LEAVE_EPOCH).member_epoch == cg.LEAVE_EPOCH
    assert set(c.group.members) == {"a"}


def test_new_partitions_bump_the_group_epoch() -> None:
    c = Cluster()
    a = c.hb("a", 0)
    c.counts["t"] = 6
    r = c.hb("a", 1, owned=a.assignment)
    assert r.member_epoch == 2 and flat(r.assignment) == {("t", p) for p in range(6)}


def test_uniform_assignor_is_sticky_and_balanced() -> None:
    members = {m: cg.CgMember(m, subscribed=("t",)) for m in ("a", "b", "c")}
    counts = {"t": 7}
    first = cg.assign_uniform(members, counts, {})
    sizes = sorted(len(a.get("t", ())) for a in first.values())
    assert sizes == [2, 2, 3]
    del members["c"]
    second = cg.assign_uniform(members, counts, first)
    for m in ("a", "b"):
        assert first[m]["t"] <= second[m]["t"]  # nobody lost a partition it had
    assert sorted(len(a["t"]) for a in second.values()) == [3, 4]


def test_snapshot_replays_and_commits_check_member_epoch() -> None:
    written: list[RecordPair] = []
    mgr = GroupManager(GroupConfig(), lambda g, r: written.extend(r))
    c = Cluster()
    c.groups = mgr.consumer_groups
    a = c.hb("a", 0)
    mgr.store_consumer_group(c.group)

    def commit(member: str, epoch: int) -> list[E]:
        return offsets.commit(
            mgr,
            group_id="g",
            member_id=member,
            instance_id=None,
            generation=epoch,
            partitions=[offsets.CommitPartition("t", 0, 9)],
            partition_exists=lambda t, p: True,
            api_version=9,
            now=1,
        )

    assert commit("a", 0) == [E.stale_member_epoch]
    assert commit("a", 5) == [E.fenced_member_epoch]
    assert commit("zz", 1) == [E.unknown_member_id]
    assert commit("", -1) == [E.unknown_member_id]
    assert commit("a", 1) == [E.none]
    assert [g[0] for g in mgr.list_groups(set())] == ["g"]
    assert mgr.delete_group("g", 2) is E.non_empty_group
    assert offsets.delete_offsets(mgr, "g", [("t", 0), ("u", 0)]) == (
        E.none,
        [E.group_subscribed_to_topic, E.none],
    )

    fresh = GroupManager(GroupConfig(), lambda g, r: None)
    for key, value in written:
        fresh.replay(key, value)
    fresh.finish_load(0)
    restored = fresh.consumer_groups["g"]
    assert restored.epoch == c.group.epoch and flat(restored.members["a"].assigned) == flat(
        a.assignment
    )
    assert fresh.groups["g"].offsets[("t", 0)].offset == 9


def test_regex_subscription_follows_new_topics() -> None:
    c = Cluster()
    topics = ["t", "tx", "u", "__consumer_offsets"]
    c.counts = {"t": 2, "tx": 1, "u": 1, "__consumer_offsets": 50}

    def hb(epoch: int, **kw: object) -> CgResult:
        return cg.heartbeat(
            c.groups,
            c.cfg,
            CgHeartbeat("g", "a", epoch, **kw),  # type: ignore[arg-type]
            c.counts.get,
            0,
            lambda: topics,
        )

    first = hb(0, regex="t.*")
    assert first.error is E.none and flat(first.assignment) == {("t", 0), ("t", 1), ("tx", 0)}
    topics.append("t2")
    c.counts["t2"] = 1
    second = hb(first.member_epoch, owned=first.assignment)
    assert ("t2", 0) in flat(second.assignment) and second.member_epoch > first.member_epoch
    bad = cg.heartbeat(
        c.groups, c.cfg, CgHeartbeat("g", "b", 0, regex="t(("), c.counts.get, 0, lambda: topics
    )
    assert bad.error is E.invalid_regular_expression
