"""Voter sets: who votes, how a majority is counted, and VotersRecord semantics.

A replica is identified by a ReplicaKey: its node id plus the directory id of its
metadata log directory (KIP-853).  Two replicas with the same node id but different
directory ids are different replicas: a controller whose disk was wiped comes back with
a new directory id and must not be counted as the voter it used to be.

The voter set is data in the replicated log (a VotersRecord) and takes effect as soon as
it is appended, not when it commits.  Safety of such single-server changes rests on two
rules the leader enforces: only one uncommitted change at a time, and consecutive sets
differ by exactly one voter, so any majority of the old set intersects any majority of
the new one.  ``VoterSet.differs_by_at_most_one`` is that check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class ReplicaKey:
    """A node id and, when known, the directory id ("" means unknown / not given)."""

    id: int
    directory_id: str = ""

    def matches(self, other: ReplicaKey) -> bool:
        """Same replica, treating an unknown directory id on either side as a wildcard."""
        if self.id != other.id:
            return False
        return (
            not self.directory_id
            or not other.directory_id
            or (self.directory_id == other.directory_id)
        )


@dataclass(frozen=True)
class Voter:
    key: ReplicaKey
    # listener name -> "host:port"; opaque to the core, carried for DescribeQuorum.
    endpoints: tuple[tuple[str, str], ...] = ()
    # supported kraft.version range (min, max) as advertised in UpdateRaftVoter.
    kraft_version: tuple[int, int] = (0, 1)


@dataclass(frozen=True)
class VoterSet:
    """An immutable set of voters indexed by node id (at most one replica per node id)."""

    voters: Mapping[int, Voter] = field(default_factory=dict)

    @staticmethod
    def of(voters: Iterable[Voter]) -> VoterSet:
        return VoterSet({v.key.id: v for v in voters})

    @staticmethod
    def from_keys(keys: Iterable[ReplicaKey]) -> VoterSet:
        return VoterSet.of(Voter(k) for k in keys)

    def __iter__(self) -> Iterator[Voter]:
        return iter(sorted(self.voters.values(), key=lambda v: v.key.id))

    def __len__(self) -> int:
        return len(self.voters)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VoterSet) and tuple(self) == tuple(other)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(self.voters)

    @property
    def keys(self) -> tuple[ReplicaKey, ...]:
        return tuple(v.key for v in self)

    def majority(self) -> int:
        """Votes needed to win: strictly more than half of the voters."""
        return len(self.voters) // 2 + 1

    def is_voter(self, key: ReplicaKey) -> bool:
        voter = self.voters.get(key.id)
        return voter is not None and voter.key.matches(key)

    def get(self, node_id: int) -> Voter | None:
        return self.voters.get(node_id)

    def is_majority(self, ids: Iterable[int]) -> bool:
        return len(set(ids) & self.ids) >= self.majority()

    def with_voter(self, voter: Voter) -> VoterSet:
        merged = dict(self.voters)
        merged[voter.key.id] = voter
        return VoterSet(merged)

    def without(self, key: ReplicaKey) -> VoterSet:
        return VoterSet({i: v for i, v in self.voters.items() if i != key.id})

    def differs_by_at_most_one(self, other: VoterSet) -> bool:
        """True when the sets are equal or differ by one added or one removed voter.

        Replica keys are compared, so replacing a voter's directory id counts as two
        changes (remove + add), exactly as KIP-853 requires.
        """
        mine = set(self.keys)
        theirs = set(other.keys)
        return len(mine ^ theirs) <= 1


class VoterHistory:
    """Voter sets by the log offset of the VotersRecord that introduced them.

    The first entry is the base: the bootstrap checkpoint (offset -1) or the voter set
    stored in the latest snapshot (offset ``snapshot_end - 1``).  Followers truncating a
    divergent suffix also forget the voter sets that suffix introduced, which is how an
    uncommitted voter change is rolled back.
    """

    def __init__(self, base_offset: int, base: VoterSet | None) -> None:
        self._entries: list[tuple[int, VoterSet | None]] = [(base_offset, base)]

    def reset(self, base_offset: int, base: VoterSet | None) -> None:
        self._entries = [(base_offset, base)]

    def add(self, offset: int, voters: VoterSet) -> None:
        if offset <= self._entries[-1][0]:
            raise ValueError(f"voter set at {offset} is not after {self._entries[-1][0]}")
        self._entries.append((offset, voters))

    def truncate(self, end_offset: int) -> None:
        """Forget voter sets introduced at or after ``end_offset`` (never the base)."""
        while len(self._entries) > 1 and self._entries[-1][0] >= end_offset:
            self._entries.pop()

    def prune_below(self, offset: int) -> None:
        """Drop entries superseded before ``offset`` (after a snapshot), keeping one."""
        while len(self._entries) > 1 and self._entries[1][0] < offset:
            self._entries.pop(0)

    @property
    def latest(self) -> VoterSet:
        return self._entries[-1][1] or VoterSet()

    @property
    def latest_offset(self) -> int:
        return self._entries[-1][0]

    @property
    def base_is_bootstrap(self) -> bool:
        """True while no VotersRecord has been read from the log or a snapshot."""
        return len(self._entries) == 1 and self._entries[0][0] == -1

    def at(self, end_offset: int) -> VoterSet:
        """The voter set in force for a log ending at ``end_offset``."""
        found: VoterSet | None = None
        for offset, voters in self._entries:
            if offset < end_offset:
                found = voters
        return found or VoterSet()

    def since(self, end_offset: int) -> list[VoterSet]:
        """The set in force at ``end_offset`` and every set introduced after it."""
        later = [v or VoterSet() for offset, v in self._entries if offset >= end_offset]
        return [self.at(end_offset), *later]

    def uncommitted(self, high_watermark: int) -> int:
        """How many voter changes sit at or above the high watermark."""
        return sum(1 for offset, _ in self._entries if offset >= high_watermark)
