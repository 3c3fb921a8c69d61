"""Persisted election state: the epoch, the leader if known, and whom we voted for.

Raft's safety needs one fact to survive crashes: a replica votes at most once per epoch,
and its epoch never goes backwards.  So the core writes ``ElectionState`` before it sends
a vote or acts on a new epoch.  ``MemoryQuorumStore`` is used by the simulation (it
survives a simulated crash because the simulator keeps the object); ``FileQuorumStore``
writes Kafka's ``quorum-state`` JSON file atomically (write temp, fsync, rename, fsync
the directory) so a crash leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from millrace_broker.raft.voters import ReplicaKey

QUORUM_STATE_FILE = "quorum-state"
DATA_VERSION = 1


@dataclass(frozen=True)
class ElectionState:
    epoch: int
    leader_id: int | None = None
    voted_key: ReplicaKey | None = None


class QuorumStore(Protocol):
    def read(self) -> ElectionState | None: ...

    def write(self, state: ElectionState) -> None: ...


class MemoryQuorumStore:
    def __init__(self) -> None:
        self.state: ElectionState | None = None
        self.writes = 0

    def read(self) -> ElectionState | None:
        return self.state

    def write(self, state: ElectionState) -> None:
        self.state = state
        self.writes += 1


def encode_election_state(state: ElectionState) -> bytes:
    body = {
        "leaderId": -1 if state.leader_id is None else state.leader_id,
        "leaderEpoch": state.epoch,
        "votedId": -1 if state.voted_key is None else state.voted_key.id,
        "votedDirectoryId": "" if state.voted_key is None else state.voted_key.directory_id,
        "data_version": DATA_VERSION,
    }
    return json.dumps(body, sort_keys=True).encode()


def decode_election_state(raw: bytes) -> ElectionState:
    body = json.loads(raw)
    leader = int(body.get("leaderId", -1))
    voted = int(body.get("votedId", -1))
    voted_key = ReplicaKey(voted, str(body.get("votedDirectoryId", ""))) if voted >= 0 else None
    return ElectionState(int(body["leaderEpoch"]), leader if leader >= 0 else None, voted_key)


class FileQuorumStore:
    def __init__(self, directory: Path) -> None:
        self.path = directory / QUORUM_STATE_FILE

    def read(self) -> ElectionState | None:
        try:
            return decode_election_state(self.path.read_bytes())
        except FileNotFoundError:
            return None

    def write(self, state: ElectionState) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(encode_election_state(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
