"""Static configuration of one Raft replica (the `controller.quorum.*` settings)."""

from __future__ import annotations

from dataclasses import dataclass

from millrace_broker.raft.voters import ReplicaKey


@dataclass(frozen=True)
class RaftConfig:
    local: ReplicaKey
    cluster_id: str
    # controller.quorum.bootstrap.servers, as node ids the driver can reach
    bootstrap_servers: tuple[int, ...] = ()
    election_timeout_ms: int = 1000  # randomized in [t, 2t)
    fetch_timeout_ms: int = 2000
    request_timeout_ms: int = 500
    retry_backoff_ms: int = 50
    # a follower with nothing new to fetch waits this long before fetching again
    # (the driver may replace this with a leader-side long poll)
    fetch_interval_ms: int = 50
    fetch_max_records: int = 64
    snapshot_chunk_bytes: int = 4096
    check_quorum_factor: float = 1.5
