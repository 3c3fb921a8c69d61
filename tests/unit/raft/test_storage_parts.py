"""MemoryLog, snapshots, voter sets, the quorum-state file and storage format."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from millrace_broker.raft.format import (
    BOOTSTRAP_CHECKPOINT,
    META_PROPERTIES,
    FormatError,
    InitialControllers,
    NoInitialControllers,
    Standalone,
    is_valid_uuid_text,
    parse_initial_controllers,
    parse_meta_properties,
    plan_format,
    random_uuid,
    read_bootstrap_voters,
    write_format,
)
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.quorum_store import ElectionState, FileQuorumStore
from millrace_broker.raft.records import DataRecord, Entry, OffsetAndEpoch
from millrace_broker.raft.snapshot import (
    Snapshot,
    SnapshotDownload,
    decode_snapshot,
    encode_snapshot,
    read_chunk,
)
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterHistory, VoterSet

UUID_RNG = random.Random(3)
CLUSTER_ID = random_uuid(UUID_RNG)
DIR_ID = random_uuid(UUID_RNG)


def log_from_epochs(epochs: list[int]) -> MemoryLog:
    log = MemoryLog()
    log.append([Entry(i, e, DataRecord(b"%d" % i)) for i, e in enumerate(epochs)])
    return log


# ------------------------------------------------------------------ log
def test_end_offset_for_epoch() -> None:
    log = log_from_epochs([1, 1, 3, 3, 3, 5])
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(2, 1)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(2, 1)  # largest epoch <= 2
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(5, 3)
    assert log.end_offset_for_epoch(9) == OffsetAndEpoch(6, 5)
    assert log.end_offset_for_epoch(0) == OffsetAndEpoch(0, 0)
    log.truncate_to(3)
    assert log.end_offset_for_epoch(5) == OffsetAndEpoch(3, 3)


def test_snapshot_keeps_matching_suffix_and_replaces_divergent_log() -> None:
    log = log_from_epochs([1, 1, 2, 2])
    voters = VoterSet.from_keys([ReplicaKey(1)])
    log.install_snapshot(Snapshot(OffsetAndEpoch(3, 2), voters, b""))
    assert (log.start_offset, log.end_offset) == (3, 4)
    assert log.end_offset_for_epoch(1) is None  # only the snapshot knows epoch 1
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(4, 2)
    other = log_from_epochs([1, 1, 1])
    other.install_snapshot(Snapshot(OffsetAndEpoch(3, 2), voters, b""))
    assert (other.start_offset, other.end_offset, other.last_epoch) == (3, 3, 2)
    with pytest.raises(ValueError):
        other.read(1, 1)


@st.composite
def divergent_logs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Two logs that agree up to a point, then diverge with disjoint later epochs.

    Epochs are created by distinct leaders, so after the common prefix the two logs use
    different epochs (an epoch never appears in both at different positions).
    """
    prefix = sorted(draw(st.lists(st.integers(1, 4), max_size=8)))
    base = prefix[-1] if prefix else 0
    a_tail = sorted(draw(st.lists(st.sampled_from([base + 1, base + 3]), max_size=6)))
    b_tail = sorted(draw(st.lists(st.sampled_from([base + 2, base + 4]), max_size=6)))
    return prefix + a_tail, prefix + b_tail


@given(divergent_logs())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_divergence_truncation_converges_on_common_prefix(
    logs: tuple[list[int], list[int]],
) -> None:
    """Repeat the leader's fetch validation and the follower's truncation rule until the
    fetch is valid: the follower must end at the longest common prefix, never shorter."""
    leader_epochs, follower_epochs = logs
    leader, follower = log_from_epochs(leader_epochs), log_from_epochs(follower_epochs)
    common = 0
    while (
        common < min(len(leader_epochs), len(follower_epochs))
        and leader_epochs[common] == follower_epochs[common]
    ):
        common += 1
    for _ in range(20):
        offset, epoch = follower.end_offset, follower.last_epoch
        known = leader.end_offset_for_epoch(epoch)
        assert known is not None
        if known.epoch == epoch and offset <= known.offset:
            break
        local = follower.end_offset_for_epoch(known.epoch)
        assert local is not None
        follower.truncate_to(min(known.offset, local.offset))
    else:
        pytest.fail("divergence did not converge")
    assert follower.end_offset == common


# ------------------------------------------------------------------ snapshots
@given(data=st.binary(max_size=300), chunk=st.integers(1, 64), seed=st.integers(0, 99))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_snapshot_download_survives_duplicates_and_reordering(
    data: bytes, chunk: int, seed: int
) -> None:
    voters = VoterSet.of([Voter(ReplicaKey(1, "d1"), (("CONTROLLER", "h:1"),))])
    snap = Snapshot(OffsetAndEpoch(10, 2), voters, data)
    encoded = encode_snapshot(snap)
    chunks = [(p, read_chunk(encoded, p, chunk)) for p in range(0, len(encoded), chunk)]
    rng = random.Random(seed)
    noisy = chunks + rng.sample(chunks, k=min(3, len(chunks)))
    rng.shuffle(noisy)
    download = SnapshotDownload(snap.snapshot_id)
    for pos, piece in noisy + chunks:  # the in-order pass finishes what noise left out
        download.accept(pos, len(encoded), piece)
    assert download.complete and download.result() == snap
    assert decode_snapshot(encoded) == snap


# ------------------------------------------------------------------ voters
@given(st.sets(st.integers(0, 9), min_size=1, max_size=7), st.integers(0, 9), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_one_voter_change_keeps_majorities_intersecting(
    ids: set[int], change: int, data: st.DataObject
) -> None:
    old = VoterSet.from_keys(ReplicaKey(i) for i in ids)
    new_ids = ids ^ {change}
    if not new_ids:
        return
    new = VoterSet.from_keys(ReplicaKey(i) for i in new_ids)
    assert old.differs_by_at_most_one(new)
    q_old = data.draw(
        st.sets(st.sampled_from(sorted(ids)), min_size=old.majority(), max_size=old.majority())
    )
    q_new = data.draw(
        st.sets(st.sampled_from(sorted(new_ids)), min_size=new.majority(), max_size=new.majority())
    )
    assert q_old & q_new


def test_voter_set_key_semantics() -> None:
    vs = VoterSet.from_keys([ReplicaKey(1, "a"), ReplicaKey(2, "b")])
    assert vs.is_voter(ReplicaKey(1, "a")) and not vs.is_voter(ReplicaKey(1, "z"))
    replaced = vs.without(ReplicaKey(1, "a")).with_voter(Voter(ReplicaKey(1, "z")))
    assert not vs.differs_by_at_most_one(replaced)  # a new disk is remove + add


def test_voter_history_truncation_rolls_back_uncommitted_change() -> None:
    a = VoterSet.from_keys([ReplicaKey(1)])
    b = VoterSet.from_keys([ReplicaKey(1), ReplicaKey(2)])
    hist = VoterHistory(-1, a)
    hist.add(5, b)
    assert hist.latest == b and hist.at(5) == a and hist.at(6) == b
    assert hist.uncommitted(5) == 1 and hist.uncommitted(6) == 0
    hist.truncate(5)
    assert hist.latest == a


# ------------------------------------------------------------------ quorum state file
def test_file_quorum_store_roundtrip(tmp_path: Path) -> None:
    store = FileQuorumStore(tmp_path)
    assert store.read() is None
    state = ElectionState(7, None, ReplicaKey(3, DIR_ID))
    store.write(state)
    assert store.read() == state
    store.write(ElectionState(8, 2, None))
    assert FileQuorumStore(tmp_path).read() == ElectionState(8, 2, None)
    assert b'"leaderEpoch": 8' in (tmp_path / "quorum-state").read_bytes()


# ------------------------------------------------------------------ format
def test_random_uuid_is_kafka_text_form() -> None:
    u = random_uuid(random.Random(1))
    assert len(u) == 22 and is_valid_uuid_text(u) and not is_valid_uuid_text(u[:-1])


def test_format_standalone(tmp_path: Path) -> None:
    plan = plan_format(
        cluster_id=CLUSTER_ID,
        node_id=1,
        mode=Standalone("c1:9093"),
        directory_id=DIR_ID,
        is_controller=True,
    )
    assert write_format(tmp_path, plan)
    props = parse_meta_properties((tmp_path / META_PROPERTIES).read_bytes())
    assert props == {
        "cluster.id": CLUSTER_ID,
        "directory.id": DIR_ID,
        "node.id": "1",
        "version": "1",
    }
    voters = read_bootstrap_voters(tmp_path)
    assert voters is not None and voters.keys == (ReplicaKey(1, DIR_ID),)
    with pytest.raises(FormatError, match="already formatted"):
        write_format(tmp_path, plan)
    assert not write_format(tmp_path, plan, ignore_formatted=True)


def test_format_initial_controllers_takes_directory_id_from_the_list(tmp_path: Path) -> None:
    d = [random_uuid(UUID_RNG) for _ in range(3)]
    spec = ",".join(f"{i}@c{i}:9093:{d[i]}" for i in range(3))
    voters = parse_initial_controllers(spec)
    plan = plan_format(
        cluster_id=CLUSTER_ID,
        node_id=2,
        mode=InitialControllers(voters),
        directory_id=DIR_ID,
        is_controller=True,
    )
    assert plan.directory_id == d[2]
    write_format(tmp_path, plan)
    assert read_bootstrap_voters(tmp_path) == voters
    with pytest.raises(FormatError, match="not in --initial-controllers"):
        plan_format(
            cluster_id=CLUSTER_ID,
            node_id=5,
            mode=InitialControllers(voters),
            directory_id=DIR_ID,
            is_controller=True,
        )


def test_format_no_initial_controllers_writes_no_checkpoint(tmp_path: Path) -> None:
    plan = plan_format(
        cluster_id=CLUSTER_ID,
        node_id=4,
        mode=NoInitialControllers(),
        directory_id=DIR_ID,
        is_controller=True,
    )
    assert BOOTSTRAP_CHECKPOINT not in plan.files
    write_format(tmp_path, plan)
    assert read_bootstrap_voters(tmp_path) is None


@pytest.mark.parametrize(
    "spec",
    ["", "x@h:1:" + DIR_ID, "1@h1:" + DIR_ID, "1@h:1:notauuid", f"1@h:1:{DIR_ID},1@h:2:{DIR_ID}"],
)
def test_bad_initial_controllers(spec: str) -> None:
    with pytest.raises(FormatError):
        parse_initial_controllers(spec)


def test_format_rejects_bad_cluster_id_and_standalone_broker() -> None:
    with pytest.raises(FormatError, match="random-uuid"):
        plan_format(
            cluster_id="nope",
            node_id=1,
            mode=NoInitialControllers(),
            directory_id=DIR_ID,
            is_controller=False,
        )
    with pytest.raises(FormatError, match="controllers only"):
        plan_format(
            cluster_id=CLUSTER_ID,
            node_id=1,
            mode=Standalone("h:1"),
            directory_id=DIR_ID,
            is_controller=False,
        )
