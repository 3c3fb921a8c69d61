"""Records of the replicated ``__cluster_metadata`` log as the Raft core sees them.

The core only interprets two control records: LeaderChange (written by every new leader
at the start of its epoch, so the leader has an entry of its own epoch to commit before
it exposes anything older) and Voters (KIP-853 voter set).  Everything else is opaque
data for the state machine above (metadata records, encoded by the driver's caller).

One ``Entry`` is one record at one offset; the on-disk adapter groups entries into
Kafka record batches.  ``OffsetAndEpoch`` orders lexicographically, which is exactly the
"is this log at least as up to date" comparison used in elections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from millrace_broker.raft.voters import VoterSet


class OffsetAndEpoch(NamedTuple):
    offset: int
    epoch: int


@dataclass(frozen=True)
class DataRecord:
    payload: bytes


@dataclass(frozen=True)
class LeaderChangeRecord:
    leader_id: int
    # voters that granted the winning vote (Kafka's LeaderChangeMessage.grantingVoters)
    granting_voters: tuple[int, ...] = ()


@dataclass(frozen=True)
class VotersRecord:
    voters: VoterSet


Record = DataRecord | LeaderChangeRecord | VotersRecord


@dataclass(frozen=True)
class Entry:
    offset: int
    epoch: int
    record: Record

    @property
    def is_control(self) -> bool:
        return not isinstance(self.record, DataRecord)
