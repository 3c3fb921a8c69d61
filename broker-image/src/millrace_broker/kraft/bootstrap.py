"""Assemble a node's KRaft side from its configuration: Raft log, quorum state, core,
driver and quorum controller (static voters from `controller.quorum.voters`)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from ..config import BrokerConfig
from ..raft.config import RaftConfig
from ..raft.core import RaftNode
from ..raft.quorum_store import FileQuorumStore
from ..raft.voters import ReplicaKey, Voter, VoterSet
from .controller import RaftController
from .disk_log import DiskLog, metadata_log_directory
from .driver import RaftDriver

RAFT_DIR = "__millrace_raft"


def uses_kraft(config: BrokerConfig) -> bool:
    """Metadata comes from the Raft quorum (KRaft). MILLRACE_METADATA=journal keeps a
    single node on the local journal instead (kept for comparison and in-process tests)."""
    import os

    return os.environ.get("MILLRACE_METADATA") != "journal"


def build_kraft(config: BrokerConfig, cluster_id: str) -> tuple[RaftController, RaftDriver]:
    voters = config.controller_quorum_voters
    voter_set = VoterSet.of(
        Voter(ReplicaKey(node_id), (("CONTROLLER", f"{hp.host}:{hp.port}"),))
        for node_id, hp in voters.items()
    )
    directory = Path(config.metadata_log_dir) / RAFT_DIR
    log = DiskLog(metadata_log_directory(Path(config.metadata_log_dir)))
    store = FileQuorumStore(directory)
    raft_config = RaftConfig(
        local=ReplicaKey(config.node_id),
        cluster_id=cluster_id,
        # observers (broker-only nodes) discover the leader by fetching from the voters
        bootstrap_servers=tuple(sorted(voters)),
    )
    now = int(time.monotonic() * 1000)
    node = RaftNode(
        raft_config,
        log=log,
        store=store,
        rng=random.Random(),
        now_ms=now,
        bootstrap_voters=voter_set,
    )
    controller = RaftController(cluster_id)

    def peer_address(node_id: int) -> tuple[str, int] | None:
        hp = voters.get(node_id)
        return None if hp is None else (hp.host, hp.port)

    driver = RaftDriver(node, peer_address=peer_address, on_commit=controller.on_commit)
    controller.attach(driver)
    return controller, driver
