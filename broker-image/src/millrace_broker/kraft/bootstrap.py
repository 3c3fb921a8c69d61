"""Assemble a node's KRaft side from its configuration: Raft log, quorum state, core,
driver and quorum controller.

Two ways to name the quorum, as in Kafka:

- static `controller.quorum.voters` (`id@host:port,...`): the voter set is the
  configuration, identical on every node, and never changes (kraft.version 0);
- dynamic `controller.quorum.bootstrap.servers` (`host:port,...`, KIP-853): the voter set
  lives in the metadata log. A controller formatted with `--standalone` or
  `--initial-controllers` starts from the bootstrap checkpoint that formatting wrote;
  everyone else (`--no-initial-controllers`, brokers) starts as an observer with no
  voter set, asks the bootstrap servers who leads, and learns the voters by replicating
  the log. AddRaftVoter / RemoveRaftVoter change the set at runtime.

Every replica is identified by its node id and the directory id of its metadata log
directory (meta.properties), which is what DescribeQuorum reports and what
`kafka-metadata-quorum remove-controller --controller-directory-id` names.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from ..config import BrokerConfig
from ..raft.config import RaftConfig
from ..raft.core import RaftNode
from ..raft.format import read_bootstrap_voters
from ..raft.quorum_store import FileQuorumStore
from ..raft.voters import ReplicaKey, Voter, VoterSet
from .controller import RaftController
from .disk_log import DiskLog, metadata_log_directory
from .driver import RaftDriver
from .snapshots import SnapshotPolicy
from .transport import PeerDirectory, bootstrap_ids

RAFT_DIR = "__millrace_raft"
SNAPSHOT_CHUNK_BYTES = 1 << 20


def uses_kraft(config: BrokerConfig) -> bool:
    """Metadata comes from the Raft quorum (KRaft). MILLRACE_METADATA=journal keeps a
    single node on the local journal instead (kept for comparison and in-process tests)."""
    import os

    return os.environ.get("MILLRACE_METADATA") != "journal"


def controller_listener_name(config: BrokerConfig) -> str:
    names = config.controller_listener_names
    return names[0] if names else "CONTROLLER"


def static_voter_set(config: BrokerConfig) -> VoterSet:
    """`controller.quorum.voters` as a voter set without directory ids (any directory id
    matches, as in Kafka's static quorums)."""
    listener = controller_listener_name(config)
    return VoterSet.of(
        Voter(ReplicaKey(node_id), ((listener, f"{hp.host}:{hp.port}"),))
        for node_id, hp in config.controller_quorum_voters.items()
    )


def is_dialable(host: str) -> bool:
    """A host another machine can connect to (not empty, not a wildcard bind address)."""
    return host not in ("", "0.0.0.0", "::", "[::]")


def is_dynamic_quorum(config: BrokerConfig) -> bool:
    return not config.controller_quorum_voters


def build_kraft(
    config: BrokerConfig, cluster_id: str, *, directory_id: str = ""
) -> tuple[RaftController, RaftDriver]:
    metadata_dir = Path(config.metadata_log_dir)
    bootstrap: dict[int, tuple[str, int]] = {}
    if is_dynamic_quorum(config):
        # None: an observer until a VotersRecord naming it is replicated
        voter_set = read_bootstrap_voters(metadata_dir)
        bootstrap = bootstrap_ids(
            [(hp.host, hp.port) for hp in config.controller_quorum_bootstrap_servers]
        )
        discovery = tuple(sorted(bootstrap, reverse=True))
    else:
        voter_set = static_voter_set(config)
        # observers (broker-only nodes) discover the leader by fetching from the voters
        discovery = tuple(sorted(voter_set.ids))
    directory = metadata_dir / RAFT_DIR
    directory.mkdir(parents=True, exist_ok=True)  # quorum-state lives here; a fresh volume lacks it
    log = DiskLog(metadata_log_directory(metadata_dir))  # __cluster_metadata-0, as Kafka
    store = FileQuorumStore(directory)
    raft_config = RaftConfig(
        local=ReplicaKey(config.node_id, directory_id),
        cluster_id=cluster_id,
        bootstrap_servers=discovery,
        # FetchSnapshot chunks: few round trips for a large metadata snapshot, while one
        # frame stays far below socket.request.max.bytes
        snapshot_chunk_bytes=SNAPSHOT_CHUNK_BYTES,
    )
    node = RaftNode(
        raft_config,
        log=log,
        store=store,
        rng=random.Random(),
        now_ms=int(time.monotonic() * 1000),
        bootstrap_voters=voter_set,
    )
    controller = RaftController(cluster_id, snapshots=SnapshotPolicy.from_config(config))
    own = config.advertised_controller_listeners or config.controller_listeners
    peers = PeerDirectory(
        voters=lambda: node.voters,
        listener_names=config.controller_listener_names,
        bootstrap=bootstrap,
        local=(config.node_id, (own[0].host or "localhost", own[0].port)) if own else None,
    )
    driver = RaftDriver(
        node,
        peer_address=peers,
        on_commit=controller.on_commit,
        learn_peer=peers.learn,
        # peers must be able to dial it: never a wildcard bind address
        endpoint=f"{own[0].host}:{own[0].port}" if own and is_dialable(own[0].host) else None,
    )
    controller.attach(driver)
    return controller, driver
