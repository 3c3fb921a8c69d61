"""Typed Raft messages: the fields of Kafka's KRaft RPCs that the core needs.

These mirror Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch, FetchSnapshot,
AddRaftVoter, RemoveRaftVoter, UpdateRaftVoter and DescribeQuorum (single partition
``__cluster_metadata``-0; topic/partition nesting is the driver's concern).  The driver
translates them to and from kio wire types; the simulation passes them around as is.

Every request carries a ``correlation_id`` that its response echoes (the wire header's
correlation id).  The core drops responses whose id is not the one it is waiting for,
which makes it immune to duplicated and reordered deliveries.

Admin requests (Add/Remove/UpdateRaftVoter, DescribeQuorum) come from clients, not
from other replicas; ``Inbound.source`` for them is whatever id the driver assigned to
the connection, and the response goes back to that id.
"""

from __future__ import annotations

from dataclasses import dataclass

from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.records import Entry, OffsetAndEpoch
from millrace_broker.raft.voters import ReplicaKey, Voter


@dataclass(frozen=True)
class VoteRequest:
    correlation_id: int
    cluster_id: str
    candidate: ReplicaKey
    voter: ReplicaKey  # the replica this request is addressed to (KIP-853)
    candidate_epoch: int  # for a pre-vote: the epoch the candidate would campaign in
    last_offset_epoch: OffsetAndEpoch  # candidate's (log end offset, last epoch)
    pre_vote: bool


@dataclass(frozen=True)
class VoteResponse:
    correlation_id: int
    error: ErrorCode
    leader_epoch: int
    leader_id: int | None
    vote_granted: bool
    pre_vote: bool


@dataclass(frozen=True)
class BeginQuorumEpochRequest:
    correlation_id: int
    cluster_id: str
    leader_id: int
    leader_epoch: int
    voter: ReplicaKey


@dataclass(frozen=True)
class BeginQuorumEpochResponse:
    correlation_id: int
    error: ErrorCode
    leader_epoch: int
    leader_id: int | None


@dataclass(frozen=True)
class EndQuorumEpochRequest:
    correlation_id: int
    cluster_id: str
    leader_id: int
    leader_epoch: int
    preferred_successors: tuple[int, ...]


@dataclass(frozen=True)
class EndQuorumEpochResponse:
    correlation_id: int
    error: ErrorCode
    leader_epoch: int
    leader_id: int | None


@dataclass(frozen=True)
class FetchRequest:
    correlation_id: int
    cluster_id: str
    replica: ReplicaKey
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    max_records: int


@dataclass(frozen=True)
class FetchResponse:
    correlation_id: int
    error: ErrorCode
    leader_epoch: int
    leader_id: int | None
    high_watermark: int
    log_start_offset: int
    records: tuple[Entry, ...] = ()
    # set when the fetcher's log diverges: truncate to the end of this epoch
    diverging_epoch: OffsetAndEpoch | None = None
    # set when the fetch offset is below the log start: fetch this snapshot instead
    snapshot_id: OffsetAndEpoch | None = None


@dataclass(frozen=True)
class FetchSnapshotRequest:
    correlation_id: int
    cluster_id: str
    replica: ReplicaKey
    current_leader_epoch: int
    snapshot_id: OffsetAndEpoch
    position: int
    max_bytes: int


@dataclass(frozen=True)
class FetchSnapshotResponse:
    correlation_id: int
    error: ErrorCode
    leader_epoch: int
    leader_id: int | None
    snapshot_id: OffsetAndEpoch
    size: int
    position: int
    chunk: bytes


@dataclass(frozen=True)
class AddRaftVoterRequest:
    request_id: int
    cluster_id: str
    voter: Voter


@dataclass(frozen=True)
class RemoveRaftVoterRequest:
    request_id: int
    cluster_id: str
    voter: ReplicaKey


@dataclass(frozen=True)
class UpdateRaftVoterRequest:
    request_id: int
    cluster_id: str
    voter: Voter
    current_leader_epoch: int


@dataclass(frozen=True)
class VoterChangeResponse:
    """Response to Add/Remove/UpdateRaftVoter (they share their fields)."""

    request_id: int
    error: ErrorCode
    message: str = ""
    leader_epoch: int = -1
    leader_id: int | None = None


@dataclass(frozen=True)
class DescribeQuorumRequest:
    request_id: int


@dataclass(frozen=True)
class ReplicaDescription:
    key: ReplicaKey
    log_end_offset: int
    last_fetch_ms: int
    last_caught_up_ms: int


@dataclass(frozen=True)
class DescribeQuorumResponse:
    request_id: int
    error: ErrorCode
    leader_id: int | None
    leader_epoch: int
    high_watermark: int
    voters: tuple[ReplicaDescription, ...] = ()
    observers: tuple[ReplicaDescription, ...] = ()
    voter_nodes: tuple[Voter, ...] = ()


Request = (
    VoteRequest
    | BeginQuorumEpochRequest
    | EndQuorumEpochRequest
    | FetchRequest
    | FetchSnapshotRequest
)
Response = (
    VoteResponse
    | BeginQuorumEpochResponse
    | EndQuorumEpochResponse
    | FetchResponse
    | FetchSnapshotResponse
)
AdminRequest = (
    AddRaftVoterRequest | RemoveRaftVoterRequest | UpdateRaftVoterRequest | DescribeQuorumRequest
)
AdminResponse = VoterChangeResponse | DescribeQuorumResponse
Message = Request | Response | AdminRequest | AdminResponse


@dataclass(frozen=True)
class Inbound:
    source: int
    message: Message


@dataclass(frozen=True)
class Outbound:
    destination: int
    message: Message
