"""The classic group state machine, driven step by step with explicit time."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from kio.schema.errors import ErrorCode as E

from millrace_broker.coordinator import membership, offsets
from millrace_broker.coordinator.group import GroupState
from millrace_broker.coordinator.manager import (
    GroupConfig,
    GroupManager,
    JoinResult,
    PersistError,
    RecordPair,
    SyncResult,
)
from millrace_broker.coordinator.membership import JoinRequest


class Harness:
    def __init__(self, **config: int) -> None:
        self.written: list[RecordPair] = []
        self.fail_writes = False
        cfg = {"initial_rebalance_delay_ms": 0, **config}
        self.mgr = GroupManager(GroupConfig(**cfg), self.persist)
        self.token = 0
        self.results: dict[int, JoinResult | SyncResult] = {}

    def persist(self, group_id: str, records: Sequence[RecordPair]) -> None:
        if self.fail_writes:
            raise PersistError(E.coordinator_not_available, "disk on fire")
        self.written.extend(records)

    def collect(self) -> None:
        for token, result in self.mgr.take_replies():
            assert token not in self.results, "a token was answered twice"
            self.results[token] = result

    def join(
        self,
        member_id: str = "",
        *,
        now: int = 0,
        group: str = "g",
        instance: str | None = None,
        protocols: tuple[tuple[str, bytes], ...] = (("range", b"r"),),
        ptype: str = "consumer",
        session: int = 6000,
        rebalance: int = 10000,
        known_id_required: bool = True,
    ) -> int:
        self.token += 1
        membership.join(
            self.mgr,
            JoinRequest(
                group,
                member_id,
                instance,
                ptype,
                protocols,
                session,
                rebalance,
                "client",
                "/127.0.0.1",
                known_id_required,
                True,
            ),
            self.token,
            now,
        )
        self.collect()
        return self.token

    def sync(
        self,
        member_id: str,
        generation: int,
        *,
        now: int = 0,
        group: str = "g",
        assignments: dict[str, bytes] | None = None,
        instance: str | None = None,
    ) -> int:
        self.token += 1
        membership.sync(
            self.mgr,
            group_id=group,
            member_id=member_id,
            instance_id=instance,
            generation=generation,
            protocol_type=None,
            protocol_name=None,
            assignments=assignments or {},
            token=self.token,
            now=now,
        )
        self.collect()
        return self.token

    def tick(self, now: int) -> None:
        membership.tick(self.mgr, now)
        self.collect()

    def join_result(self, token: int) -> JoinResult:
        result = self.results[token]
        assert isinstance(result, JoinResult)
        return result

    def sync_result(self, token: int) -> SyncResult:
        result = self.results[token]
        assert isinstance(result, SyncResult)
        return result

    def new_member_id(self, **kw: object) -> str:
        first = self.join_result(self.join(**kw))  # type: ignore[arg-type]
        assert first.error is E.member_id_required
        return first.member_id

    def form_group(
        self, n: int, *, now: int = 0, instances: Sequence[str | None] = (), **kw: object
    ) -> list[str]:
        tokens = []
        for i in range(n):
            instance = instances[i] if i < len(instances) else None
            if instance is None:
                tokens.append(self.join(self.new_member_id(now=now, **kw), now=now, **kw))  # type: ignore[arg-type]
            else:
                tokens.append(self.join(now=now, instance=instance, **kw))  # type: ignore[arg-type]
        self.tick(now)
        joined = [self.join_result(t) for t in tokens]
        assert all(j.error is E.none for j in joined)
        ids = [j.member_id for j in joined]
        leader = joined[0].leader
        assert sum(1 for j in joined if j.members) == 1
        gen = joined[0].generation
        syncs = [
            self.sync(
                m,
                gen,
                now=now,
                instance=instances[i] if i < len(instances) else None,
                assignments={x: x.encode() for x in ids} if m == leader else None,
            )
            for i, m in enumerate(ids)
        ]
        assert [self.sync_result(t).assignment for t in syncs] == [m.encode() for m in ids]
        return ids

    def group(self, group_id: str = "g") -> object:
        found = self.mgr.group(group_id)
        assert found is not None
        return found


def state(h: Harness, group_id: str = "g") -> GroupState:
    group = h.mgr.group(group_id)
    return GroupState.DEAD if group is None else group.state


def test_two_members_form_a_stable_group() -> None:
    h = Harness()
    ids = h.form_group(2)
    group = h.mgr.groups["g"]
    assert group.state is GroupState.STABLE and group.generation == 1
    assert group.protocol_name == "range"
    assert set(group.members) == set(ids)
    assert h.written, "the assignment was persisted"


def test_member_id_required_then_pending_member_expires() -> None:
    h = Harness()
    first = h.join_result(h.join())
    assert first.error is E.member_id_required and first.member_id.startswith("client-")
    assert first.member_id in h.mgr.groups["g"].pending_members
    h.tick(6001)
    assert "g" not in h.mgr.groups or not h.mgr.groups["g"].pending_members


def test_fencing_errors_on_heartbeat() -> None:
    h = Harness()
    a, b = h.form_group(2)
    hb = membership.heartbeat
    assert hb(h.mgr, group_id="g", member_id=a, instance_id=None, generation=1, now=1) is E.none
    assert (
        hb(h.mgr, group_id="g", member_id=a, instance_id=None, generation=0, now=1)
        is E.illegal_generation
    )
    assert (
        hb(h.mgr, group_id="g", member_id="nobody", instance_id=None, generation=1, now=1)
        is E.unknown_member_id
    )
    assert (
        hb(h.mgr, group_id="nogroup", member_id=a, instance_id=None, generation=1, now=1)
        is E.unknown_member_id
    )
    # A third member joins: the others learn about the rebalance from their heartbeat.
    c = h.new_member_id(now=2)
    h.join(c, now=2)
    assert state(h) is GroupState.PREPARING_REBALANCE
    assert (
        hb(h.mgr, group_id="g", member_id=a, instance_id=None, generation=1, now=3)
        is E.rebalance_in_progress
    )
    ta, tb = h.join(a, now=4), h.join(b, now=4)
    assert state(h) is GroupState.COMPLETING_REBALANCE  # everyone rejoined: no waiting
    assert {h.join_result(t).generation for t in (ta, tb)} == {2}


def test_session_timeout_removes_silent_member_and_rebalances() -> None:
    h = Harness()
    a, b = h.form_group(2)
    membership.heartbeat(h.mgr, group_id="g", member_id=a, instance_id=None, generation=1, now=5000)
    h.tick(6001)  # b's session (6000 ms from the sync at 0) ran out
    group = h.mgr.groups["g"]
    assert b not in group.members and state(h) is GroupState.PREPARING_REBALANCE
    t = h.join(a, now=6100)
    result = h.join_result(t)
    assert result.error is E.none and result.generation == 2
    assert [m[0] for m in result.members] == [a]


def test_rebalance_timeout_drops_members_that_do_not_rejoin() -> None:
    h = Harness()
    a, b = h.form_group(2)
    t = h.join(a, now=100)  # leader rejoins: rebalance; b keeps heartbeating only
    for now in range(1000, 10100, 1000):
        membership.heartbeat(
            h.mgr, group_id="g", member_id=b, instance_id=None, generation=1, now=now
        )
        h.tick(now)
    assert t not in h.results
    h.tick(10100)  # rebalance timeout (10 s) after the rebalance started
    result = h.join_result(t)
    assert result.error is E.none and result.generation == 2
    assert set(h.mgr.groups["g"].members) == {a}


def test_initial_rebalance_delay_is_extended_by_new_members() -> None:
    h = Harness(initial_rebalance_delay_ms=3000)
    a = h.new_member_id()
    ta = h.join(a, now=0)
    b = h.new_member_id(now=1000)
    tb = h.join(b, now=1000)
    h.tick(2999)
    assert ta not in h.results
    h.tick(3000)  # a new member arrived during the delay: wait one more delay
    assert ta not in h.results
    h.tick(6000)
    assert h.join_result(ta).generation == h.join_result(tb).generation == 1


def test_sync_errors() -> None:
    h = Harness()
    a, _ = h.form_group(2)
    assert h.sync_result(h.sync(a, 0)).error is E.illegal_generation
    assert h.sync_result(h.sync("ghost", 1)).error is E.unknown_member_id
    assert h.sync_result(h.sync(a, 1, group="other")).error is E.unknown_member_id
    stable = h.sync_result(h.sync(a, 1))
    assert stable.error is E.none and stable.assignment == a.encode()


def test_inconsistent_protocol_is_refused_and_group_unchanged() -> None:
    h = Harness()
    ids = h.form_group(2)
    bogus = h.join_result(h.join(ptype="not-a-consumer"))
    assert bogus.error is E.inconsistent_group_protocol
    other = h.join_result(h.join(protocols=(("unknown-assignor", b""),)))
    assert other.error is E.inconsistent_group_protocol
    empty = h.join_result(h.join(group="fresh", ptype=""))
    assert empty.error is E.inconsistent_group_protocol
    group = h.mgr.groups["g"]
    assert group.state is GroupState.STABLE and list(group.members) == ids
    assert "fresh" not in h.mgr.groups


def test_protocol_vote_picks_one_every_member_supports() -> None:
    h = Harness()
    both = (("cooperative-sticky", b"c"), ("range", b"r"))
    a = h.new_member_id(protocols=both)
    ta = h.join(a, protocols=both)
    b = h.new_member_id(protocols=(("range", b"r"),))
    tb = h.join(b, protocols=(("range", b"r"),))
    h.tick(0)
    assert h.join_result(ta).protocol_name == h.join_result(tb).protocol_name == "range"


def test_static_member_rejoin_keeps_generation_and_fences_old_id() -> None:
    h = Harness()
    a = h.form_group(1, instances=["inst-a"])[0]
    generation = h.mgr.groups["g"].generation
    t = h.join(instance="inst-a", now=100)
    result = h.join_result(t)
    assert result.error is E.none and result.generation == generation
    assert result.member_id != a and result.skip_assignment  # it is the leader
    assert state(h) is GroupState.STABLE
    synced = h.sync_result(h.sync(result.member_id, generation, instance="inst-a"))
    assert synced.assignment == a.encode()
    assert (
        membership.heartbeat(
            h.mgr, group_id="g", member_id=a, instance_id="inst-a", generation=generation, now=200
        )
        is E.fenced_instance_id
    )


def test_static_member_is_not_removed_at_join_completion() -> None:
    h = Harness()
    a, s = h.form_group(2, instances=[None, "inst-s"])
    ta = h.join(a, now=10)  # the leader rejoins: rebalance; the static member only heartbeats
    for now in (5000, 9000):
        assert (
            membership.heartbeat(
                h.mgr, group_id="g", member_id=s, instance_id="inst-s", generation=1, now=now
            )
            is E.rebalance_in_progress
        )
    h.tick(10_010)
    assert h.join_result(ta).generation == 2
    assert set(h.mgr.groups["g"].members) == {a, s}  # not removed: only its session can


def test_group_max_size() -> None:
    h = Harness(max_size=2)
    h.form_group(2)
    assert h.join_result(h.join()).error is E.group_max_size_reached
    assert len(h.mgr.groups["g"].members) == 2


def test_leave_rebalances_and_last_leave_empties_group() -> None:
    h = Harness()
    a, b = h.form_group(2)
    top, errors = membership.leave(h.mgr, "g", [(b, None), ("ghost", None)], 10)
    assert top is E.none and errors == [E.none, E.unknown_member_id]
    assert state(h) is GroupState.PREPARING_REBALANCE
    t = h.join(a, now=20)
    assert h.join_result(t).generation == 2
    membership.leave(h.mgr, "g", [(a, None)], 30)
    assert state(h) is GroupState.EMPTY
    assert h.mgr.groups["g"].generation == 3
    assert membership.leave(h.mgr, "none", [(a, None)], 40)[0] is E.unknown_member_id


def test_leave_static_member_by_instance_id() -> None:
    h = Harness()
    h.form_group(1, instances=["inst"])
    _top, errors = membership.leave(h.mgr, "g", [("", "inst"), ("", "other")], 10)
    assert errors == [E.none, E.unknown_member_id]
    assert state(h) is GroupState.EMPTY


def test_new_join_during_sync_fails_parked_syncs_with_rebalance_in_progress() -> None:
    h = Harness()
    a = h.new_member_id()
    b = h.new_member_id()
    ta, _tb = h.join(a), h.join(b)
    h.tick(0)
    leader = h.join_result(ta).leader
    follower = b if leader == a else a
    ts = h.sync(follower, 1)
    assert ts not in h.results
    c = h.new_member_id(now=1)
    h.join(c, now=1)
    assert h.sync_result(ts).error is E.rebalance_in_progress


def test_pending_sync_expiry_removes_members_that_never_synced() -> None:
    h = Harness()
    a = h.new_member_id()
    b = h.new_member_id()
    ta, _tb = h.join(a), h.join(b)
    h.tick(0)
    leader = h.join_result(ta).leader
    h.sync(leader, 1, assignments={a: b"1", b: b"2"})
    assert state(h) is GroupState.STABLE
    membership.heartbeat(
        h.mgr, group_id="g", member_id=leader, instance_id=None, generation=1, now=5000
    )
    h.tick(10001)
    follower = b if leader == a else a
    assert follower not in h.mgr.groups["g"].members
    assert state(h) is GroupState.PREPARING_REBALANCE


def test_failed_assignment_write_fails_syncs_and_rebalances() -> None:
    h = Harness()
    a = h.new_member_id()
    ta = h.join(a)
    h.tick(0)
    h.fail_writes = True
    result = h.sync_result(h.sync(a, h.join_result(ta).generation, assignments={a: b"x"}))
    assert result.error is E.coordinator_not_available
    assert state(h) is GroupState.PREPARING_REBALANCE


def test_commit_validation() -> None:
    h = Harness()
    a, _ = h.form_group(2)
    topic = [offsets.CommitPartition("t", 0, 5, 1, "md")]

    def commit(
        member: str,
        generation: int,
        *,
        group: str = "g",
        instance: str | None = None,
        version: int = 8,
    ) -> list[E]:
        return offsets.commit(
            h.mgr,
            group_id=group,
            member_id=member,
            instance_id=instance,
            generation=generation,
            partitions=topic,
            partition_exists=lambda t, p: t == "t",
            api_version=version,
            now=1,
        )

    before = len(h.written)
    assert commit(a, 0) == [E.illegal_generation]
    assert commit("ghost", 1) == [E.unknown_member_id]
    assert commit("", -1) == [E.unknown_member_id]  # simple commit needs an Empty group
    assert commit(a, 1, group="missing") == [E.illegal_generation]
    assert commit(a, 1, group="missing", version=9) == [E.group_id_not_found]
    assert len(h.written) == before and not h.mgr.groups["g"].offsets
    assert commit(a, 1) == [E.none]
    assert h.mgr.groups["g"].offsets[("t", 0)].metadata == "md"
    assert commit("", -1, group="simple") == [E.none]
    unknown = offsets.commit(
        h.mgr,
        group_id="simple",
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("nope", 0, 1)],
        partition_exists=lambda t, p: t == "t",
        api_version=8,
        now=1,
    )
    assert unknown == [E.unknown_topic_or_partition]
    big = offsets.commit(
        h.mgr,
        group_id="simple",
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 1, -1, "x" * 5000)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=1,
    )
    assert big == [E.offset_metadata_too_large]


def test_commit_during_completing_rebalance_is_rebalance_in_progress() -> None:
    h = Harness()
    a = h.new_member_id()
    ta = h.join(a)
    h.tick(0)
    assert state(h) is GroupState.COMPLETING_REBALANCE
    errors = offsets.commit(
        h.mgr,
        group_id="g",
        member_id=a,
        instance_id=None,
        generation=h.join_result(ta).generation,
        partitions=[offsets.CommitPartition("t", 0, 1)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=1,
    )
    assert errors == [E.rebalance_in_progress]


def test_replay_restores_groups_and_offsets() -> None:
    h = Harness()
    a, b = h.form_group(2)
    offsets.commit(
        h.mgr,
        group_id="g",
        member_id=a,
        instance_id=None,
        generation=1,
        partitions=[
            offsets.CommitPartition("t", 0, 10, 3, "meta"),
            offsets.CommitPartition("t", 1, 20),
        ],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=5,
    )
    offsets.commit(
        h.mgr,
        group_id="solo",
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 7)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=5,
    )
    assert offsets.delete_offsets(h.mgr, "solo", [("t", 0)]) == (E.none, [E.none])
    offsets.commit(
        h.mgr,
        group_id="gone",
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 7)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=5,
    )
    assert h.mgr.delete_group("gone", 6) is E.none

    fresh = GroupManager(GroupConfig(), lambda g, r: None)
    for key, value in h.written:
        fresh.replay(key, value)
    fresh.finish_load(1000)
    group = fresh.groups["g"]
    assert group.state is GroupState.STABLE and group.generation == 1
    assert set(group.members) == {a, b}
    assert group.members[a].assignment == a.encode()
    assert group.offsets[("t", 0)].offset == 10
    assert group.offsets[("t", 0)].leader_epoch == 3
    assert group.offsets[("t", 0)].metadata == "meta"
    assert "solo" not in fresh.groups and "gone" not in fresh.groups
    # The reloaded members must heartbeat within their session from the load.
    assert (
        membership.heartbeat(
            fresh, group_id="g", member_id=a, instance_id=None, generation=1, now=2000
        )
        is E.none
    )
    membership.tick(fresh, 7001)
    assert b not in fresh.groups["g"].members


def test_delete_group_and_offset_delete() -> None:
    h = Harness()
    _a, _ = h.form_group(2)
    assert h.mgr.delete_group("g", 1) is E.non_empty_group
    assert h.mgr.delete_group("nope", 1) is E.group_id_not_found
    # Consumer group members subscribe to "range" metadata b"r", which is no valid
    # subscription: OffsetDelete treats every topic as in use.
    assert offsets.delete_offsets(h.mgr, "g", [("t", 0)]) == (E.none, [E.group_subscribed_to_topic])
    ids = list(h.mgr.groups["g"].members)
    membership.leave(h.mgr, "g", [(m, None) for m in ids], 2)
    assert state(h) is GroupState.EMPTY
    assert h.mgr.delete_group("g", 3) is E.none
    assert "g" not in h.mgr.groups


def test_offset_retention() -> None:
    h = Harness(offsets_retention_ms=60_000)
    a = h.form_group(1)[0]
    offsets.commit(
        h.mgr,
        group_id="g",
        member_id=a,
        instance_id=None,
        generation=1,
        partitions=[offsets.CommitPartition("t", 0, 1)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=0,
    )
    offsets.commit(
        h.mgr,
        group_id="simple",
        member_id="",
        instance_id=None,
        generation=-1,
        partitions=[offsets.CommitPartition("t", 0, 1)],
        partition_exists=lambda t, p: True,
        api_version=8,
        now=0,
    )
    assert offsets.expire_offsets(h.mgr, 59_999) == 0
    assert offsets.expire_offsets(h.mgr, 60_000) == 1  # the simple group's, by commit time
    assert "simple" not in h.mgr.groups
    membership.leave(h.mgr, "g", [(a, None)], 100_000)  # empty from t=100 s
    assert offsets.expire_offsets(h.mgr, 159_999) == 0
    assert offsets.expire_offsets(h.mgr, 160_000) == 1
    assert "g" not in h.mgr.groups


def test_describe_and_list() -> None:
    h = Harness()
    a, b = h.form_group(2)
    d = h.mgr.describe("g")
    assert d.state == "Stable" and d.protocol_name == "range" and d.protocol_type == "consumer"
    assert {m.member_id: m.assignment for m in d.members} == {a: a.encode(), b: b.encode()}
    assert h.mgr.describe("missing").error is E.group_id_not_found
    assert h.mgr.list_groups(set()) == [("g", "consumer", "Stable", "classic")]
    assert h.mgr.list_groups({"empty"}) == []


@pytest.mark.parametrize("session", [5999, 1_800_001])
def test_session_timeout_bounds(session: int) -> None:
    h = Harness()
    assert h.join_result(h.join(session=session)).error is E.invalid_session_timeout


def test_commits_keep_a_classic_member_alive() -> None:
    h = Harness()
    a, b = h.form_group(2)
    for now in (3000, 6000, 9000):
        assert offsets.commit(
            h.mgr,
            group_id="g",
            member_id=a,
            instance_id=None,
            generation=1,
            partitions=[offsets.CommitPartition("t", 0, now)],
            partition_exists=lambda t, p: True,
            api_version=8,
            now=now,
        ) == [E.none]
        membership.heartbeat(
            h.mgr, group_id="g", member_id=b, instance_id=None, generation=1, now=now
        )
        h.tick(now)
    assert set(h.mgr.groups["g"].members) == {a, b}


def test_txn_commit_for_a_missing_group_with_a_generation_is_illegal_generation() -> None:
    h = Harness()
    errors = offsets.txn_commit(
        h.mgr,
        group_id="nope",
        producer_id=1,
        producer_epoch=0,
        member_id="m",
        instance_id=None,
        generation=3,
        partitions=[offsets.CommitPartition("t", 0, 1)],
        partition_exists=lambda t, p: True,
        now=0,
    )
    assert errors == [E.illegal_generation]
