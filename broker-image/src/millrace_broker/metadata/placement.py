"""Rack-aware replica placement for new partitions: Kafka's StripedReplicaPlacer.

The algorithm (KIP-660's "striped" placer, as Kafka's KRaft controller runs it):

- Brokers are grouped by rack (brokers without `broker.rack` share one unnamed rack).
  Each rack keeps two rotating lists, its unfenced and its fenced brokers.
- Partitions are placed one after the other. For each one, the leader comes from the
  next rack in turn (the rack offset advances by one per partition), taking that rack's
  next unfenced broker; if that rack has none, the following racks are tried. The other
  replicas come from the racks after the leader's, one rack each in turn, so a partition
  spans min(replication factor, racks) racks before any rack holds two of its replicas.
  Fenced brokers may hold followers but never lead.
- Within a rack, each broker is handed out at most once per partition, and the starting
  point rotates by one for every partition, so leaders and replicas spread over the
  brokers of a rack as well as over racks.
- After as many partitions as there are unfenced brokers, Kafka reshuffles the racks and
  the brokers in each rack to avoid repeating the same assignments. Kafka shuffles with a
  random generator; here the generator is seeded by the caller (the controller seeds it
  with the topic's name and first partition), so a placement is reproducible in tests
  and identical on every controller that plans it.

`place_replicas` raises `PlacementError` (INVALID_REPLICATION_FACTOR) with Kafka's
messages when the request cannot be placed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BrokerSlot:
    """What placement needs to know about one registered broker."""

    broker_id: int
    rack: str | None = None
    fenced: bool = False


class PlacementError(ValueError):
    """The replication factor cannot be met by the registered brokers."""


class _BrokerList:
    """Brokers of one kind (fenced or unfenced) of one rack, handed out in rotation."""

    def __init__(self) -> None:
        self.brokers: list[int] = []
        self._epoch = 0
        self._index = 0
        self._offset = 0

    def next(self, epoch: int) -> int:
        """The next broker for the partition being placed (`epoch`), -1 when every broker
        of this list was already handed out for it."""
        if not self.brokers:
            return -1
        if self._epoch != epoch:
            self._epoch = epoch
            self._index = 0
            self._offset = (self._offset + 1) % len(self.brokers)
        if self._index >= len(self.brokers):
            return -1
        broker = self.brokers[(self._index + self._offset) % len(self.brokers)]
        self._index += 1
        return broker

    def shuffle(self, rng: random.Random) -> None:
        rng.shuffle(self.brokers)


class _Rack:
    def __init__(self) -> None:
        self.unfenced = _BrokerList()
        self.fenced = _BrokerList()

    def next_unfenced(self, epoch: int) -> int:
        return self.unfenced.next(epoch)

    def next(self, epoch: int) -> int:
        broker = self.unfenced.next(epoch)
        return broker if broker >= 0 else self.fenced.next(epoch)

    def shuffle(self, rng: random.Random) -> None:
        self.unfenced.shuffle(rng)
        self.fenced.shuffle(rng)


class _RackList:
    def __init__(self, brokers: Iterable[BrokerSlot], rng: random.Random) -> None:
        self._rng = rng
        self._racks: dict[str | None, _Rack] = {}
        for b in sorted(brokers, key=lambda b: b.broker_id):
            rack = self._racks.setdefault(b.rack, _Rack())
            (rack.fenced if b.fenced else rack.unfenced).brokers.append(b.broker_id)
        self._names: list[str | None] = sorted(self._racks, key=lambda r: (r is not None, r or ""))
        self.num_total = sum(
            len(r.unfenced.brokers) + len(r.fenced.brokers) for r in self._racks.values()
        )
        self.num_unfenced = sum(len(r.unfenced.brokers) for r in self._racks.values())
        self._epoch = 0
        self._offset = 0
        self._shuffle()

    def _shuffle(self) -> None:
        self._rng.shuffle(self._names)
        for rack in self._racks.values():
            rack.shuffle(self._rng)

    def place(self, replication_factor: int) -> list[int]:
        check_replication_factor(replication_factor, self.num_total, self.num_unfenced)
        # After as many placements as unfenced brokers, shuffle to avoid repeating the
        # same assignments (never with a single unfenced broker: it would loop forever).
        if self._epoch == self.num_unfenced and self.num_unfenced > 1:
            self._shuffle()
            self._epoch = 0
        if self._offset == len(self._names):
            self._offset = 0
        n = len(self._names)
        chosen: list[int] = []
        # The leader: the first unfenced broker from the rack at the offset onwards.
        first = self._offset
        for _ in range(n):
            broker = self._racks[self._names[first]].next_unfenced(self._epoch)
            if broker >= 0:
                chosen.append(broker)
                break
            first = (first + 1) % n
        # Followers: one per rack in turn after the offset, fenced brokers allowed.
        rack_index = self._offset
        attempts = 0
        while len(chosen) < replication_factor:
            rack_index = (rack_index + 1) % n
            broker = self._racks[self._names[rack_index]].next(self._epoch)
            attempts += 1
            if broker >= 0 and broker not in chosen:
                chosen.append(broker)
            elif attempts > 2 * n * (self.num_total + 1):  # cannot happen: rf <= brokers
                raise PlacementError("no broker left to place a replica on")
        self._epoch += 1
        self._offset += 1
        return chosen


def check_replication_factor(replication_factor: int, total: int, unfenced: int) -> None:
    if replication_factor <= 0:
        raise PlacementError("Replication factor must be larger than 0.")
    if replication_factor > total:
        raise PlacementError(
            f"Unable to replicate the partition {replication_factor} time(s): The target "
            f"replication factor of {replication_factor} cannot be reached because only "
            f"{total} broker(s) are registered."
        )
    if unfenced == 0:
        raise PlacementError("All brokers are currently fenced.")


def place_replicas(
    brokers: Sequence[BrokerSlot],
    *,
    first_partition: int,
    count: int,
    replication_factor: int,
    seed: int,
) -> dict[int, tuple[int, ...]]:
    """Replica lists (leader first) for partitions first_partition..+count-1."""
    racks = _RackList(brokers, random.Random(seed))
    check_replication_factor(replication_factor, racks.num_total, racks.num_unfenced)
    return {
        p: tuple(racks.place(replication_factor))
        for p in range(first_partition, first_partition + count)
    }
