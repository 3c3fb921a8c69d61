"""Starting a node of a dynamic quorum (KIP-853): format modes from the command line,
storage formatting, where peers are reached, and when a voter announces its endpoints."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from millrace_broker.config import BrokerConfig, load_broker_config
from millrace_broker.kraft.transport import PeerDirectory, bootstrap_ids
from millrace_broker.raft.config import RaftConfig
from millrace_broker.raft.core import RaftNode
from millrace_broker.raft.format import (
    InitialControllers,
    NoInitialControllers,
    Standalone,
    read_bootstrap_voters,
)
from millrace_broker.raft.log import MemoryLog
from millrace_broker.raft.quorum_store import MemoryQuorumStore
from millrace_broker.raft.state import Follower
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterSet
from millrace_broker.server.raft_voters_announce import own_endpoints, plan_announcement
from millrace_broker.server.storage_format import (
    StorageFormatError,
    directory_id,
    format_for_kraft,
    plan_format_file,
    plan_format_mode,
)

CLUSTER = "MkU3OEVBNTcwNTJENDM2Qg"
DIR_A = "AAAAAAAAAAAAAAAAAAAAAQ"
DIR_B = "AAAAAAAAAAAAAAAAAAAAAg"


def dynamic(tmp_path: Path, *, roles: str = "broker,controller", node_id: int = 1) -> BrokerConfig:
    listeners = (
        "CONTROLLER://127.0.0.1:9093"
        if roles == "controller"
        else "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    )
    if roles == "broker":
        listeners = "PLAINTEXT://127.0.0.1:9092"
    return load_broker_config(
        None,
        [
            f"process.roles={roles}",
            f"node.id={node_id}",
            f"listeners={listeners}",
            "advertised.listeners="
            + ("" if roles == "controller" else "PLAINTEXT://127.0.0.1:9092"),
            "controller.quorum.bootstrap.servers=127.0.0.1:9093",
            f"log.dirs={tmp_path / 'data'}",
        ],
    )


def test_format_modes_from_the_command_line(tmp_path: Path) -> None:
    cfg = dynamic(tmp_path)
    assert plan_format_mode(cfg) is None
    assert plan_format_mode(cfg, standalone=True) == Standalone("127.0.0.1:9093")
    assert plan_format_mode(cfg, no_initial_controllers=True) == NoInitialControllers()
    mode = plan_format_mode(cfg, initial_controllers=f"1@127.0.0.1:9093:{DIR_A}")
    assert isinstance(mode, InitialControllers) and mode.voters.keys == (ReplicaKey(1, DIR_A),)
    with pytest.raises(StorageFormatError, match="only one of"):
        plan_format_mode(cfg, standalone=True, no_initial_controllers=True)
    with pytest.raises(StorageFormatError, match="directory id"):
        plan_format_mode(cfg, initial_controllers="1@127.0.0.1:9093:nope")
    static = load_broker_config(None, [f"log.dirs={tmp_path / 'static'}"])
    with pytest.raises(StorageFormatError, match=r"controller\.quorum\.bootstrap\.servers"):
        plan_format_mode(static, standalone=True)
    wildcard = load_broker_config(
        None,
        [
            "listeners=PLAINTEXT://:9092,CONTROLLER://0.0.0.0:9093",
            "advertised.listeners=PLAINTEXT://h:9092",
            "controller.quorum.bootstrap.servers=h:9093",
            f"log.dirs={tmp_path / 'w'}",
        ],
    )
    with pytest.raises(StorageFormatError, match="advertise the controller listener"):
        plan_format_mode(wildcard, standalone=True)
    assert own_endpoints(wildcard) == ()  # nothing dialable to announce
    with pytest.raises(StorageFormatError, match="controllers only"):
        plan_format_mode(dynamic(tmp_path, roles="broker", node_id=4), standalone=True)


def test_standalone_format_writes_the_bootstrap_voter_set(tmp_path: Path) -> None:
    cfg = dynamic(tmp_path)
    cluster, dir_id = format_for_kraft(cfg, cluster_id=CLUSTER, mode=Standalone("127.0.0.1:9093"))
    assert cluster == CLUSTER and dir_id == directory_id(tmp_path / "data")
    voters = read_bootstrap_voters(tmp_path / "data")
    assert voters is not None
    assert [(v.key, v.endpoints) for v in voters] == [
        (ReplicaKey(1, dir_id), (("CONTROLLER", "127.0.0.1:9093"),))
    ]
    # a restart with the same command line keeps the directory (Kafka's --ignore-formatted)
    again = format_for_kraft(cfg, cluster_id=CLUSTER, mode=Standalone("127.0.0.1:9093"))
    assert again == (CLUSTER, dir_id)


def test_dynamic_nodes_must_be_formatted_knowingly(tmp_path: Path) -> None:
    with pytest.raises(StorageFormatError, match="--standalone"):
        format_for_kraft(dynamic(tmp_path), cluster_id=CLUSTER, mode=None)
    with pytest.raises(StorageFormatError, match="--cluster-id"):
        format_for_kraft(dynamic(tmp_path, roles="broker"), cluster_id=None, mode=None)
    # a broker needs only the cluster id; it starts as an observer (no voter set)
    format_for_kraft(dynamic(tmp_path, roles="broker"), cluster_id=CLUSTER, mode=None)
    assert read_bootstrap_voters(tmp_path / "data") is None


def test_peer_addresses(tmp_path: Path) -> None:
    voters = VoterSet.of([Voter(ReplicaKey(1, DIR_A), (("CONTROLLER", "h1:9093"),))])
    boot = bootstrap_ids([("b1", 1), ("b2", 2)])
    assert boot == {-2: ("b1", 1), -3: ("b2", 2)}
    peers = PeerDirectory(
        voters=lambda: voters,
        listener_names=["CONTROLLER"],
        bootstrap=boot,
        local=(7, ("me", 7)),
    )
    assert peers(1) == ("h1", 9093) and peers(-3) == ("b2", 2) and peers(7) == ("me", 7)
    assert peers(5) is None  # an observer: answered on its own connection
    peers.learn(5, -2, None)  # node 5 answered on the connection to bootstrap server -2
    assert peers(5) == ("b1", 1)
    peers.learn(1, None, "h1:9999")  # a voter that moved says where it listens now
    assert peers(1) == ("h1", 9999)


def follower_node(voter_endpoint: str) -> RaftNode:
    key = ReplicaKey(2, DIR_B)
    voters = VoterSet.of(
        [
            Voter(ReplicaKey(1, DIR_A), (("CONTROLLER", "h1:9093"),)),
            Voter(key, (("CONTROLLER", voter_endpoint),)),
        ]
    )
    node = RaftNode(
        RaftConfig(local=key, cluster_id=CLUSTER),
        log=MemoryLog(),
        store=MemoryQuorumStore(),
        rng=random.Random(1),
        now_ms=0,
        bootstrap_voters=voters,
    )
    node.state = Follower(3, 1, None, 10_000, has_fetched=True)
    return node


def test_a_voter_announces_only_a_changed_endpoint(tmp_path: Path) -> None:
    mine = own_endpoints(dynamic(tmp_path, node_id=2))
    assert mine == (("CONTROLLER", "127.0.0.1:9093"),)
    assert plan_announcement(follower_node("127.0.0.1:9093"), mine) is None
    moved = plan_announcement(follower_node("127.0.0.1:1111"), mine)
    assert moved == Voter(ReplicaKey(2, DIR_B), mine, (0, 1))
    unsure = follower_node("127.0.0.1:1111")
    assert isinstance(unsure.state, Follower)
    unsure.state.has_fetched = False  # the voter set may be stale until we have fetched
    assert plan_announcement(unsure, mine) is None


def test_the_operators_format_file(tmp_path: Path) -> None:
    """`<pod>.format` (MILLRACE_FORMAT_FILE): listed controllers start the quorum, a
    controller added later joins as an observer, brokers and static quorums need none."""
    path = tmp_path / "pod.format"
    path.write_text(
        f"cluster.id={CLUSTER}\nnode.id=1\ndirectory.id={DIR_A}\n"
        f"initial.controllers=1@c1:9093:{DIR_A},2@c2:9093:{DIR_B}\n"
    )
    mode = plan_format_file(dynamic(tmp_path), path)
    assert isinstance(mode, InitialControllers) and mode.voters.ids == {1, 2}
    assert plan_format_file(dynamic(tmp_path, node_id=3), path) == NoInitialControllers()
    assert plan_format_file(dynamic(tmp_path, roles="broker", node_id=4), path) is None
    static = load_broker_config(None, [f"log.dirs={tmp_path / 'static'}"])
    assert plan_format_file(static, path) is None
    path.write_text("initial.controllers=1@c1:9093:\n")  # no directory id yet
    with pytest.raises(StorageFormatError, match=r"initial\.controllers"):
        plan_format_file(dynamic(tmp_path), path)
