"""Follower-side replication rules, pure: where to truncate when the leader reports a
divergence.

The follower sends its last fetched epoch with each fetch (Fetch v12+, KIP-595's scheme
that Kafka's replica fetchers also use); the leader answers with a DivergingEpoch
(epoch, end offset) when the follower's log has records the leader does not. Kafka's
`AbstractFetcherThread` decides the truncation offset as follows:

- The leader does not know the epoch (end offset undefined): fall back to the high
  watermark (everything below it is committed, so it is the same on every replica).
- The follower has the leader's epoch: truncate to the smaller of the two end offsets of
  that epoch (and never above the log end).
- The follower does not have that epoch: truncate to the end of the largest epoch it has
  below it; the next fetch (with that epoch as last fetched) resolves the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.leader_epochs import UNDEFINED_EPOCH, UNDEFINED_OFFSET, LeaderEpochCache


@dataclass(frozen=True, slots=True)
class Truncation:
    offset: int
    complete: bool  # False: fetch again with the new last epoch to finish


def truncation_for_divergence(
    epochs: LeaderEpochCache,
    *,
    leader_epoch: int,
    leader_end_offset: int,
    log_end_offset: int,
    high_watermark: int,
) -> Truncation:
    if leader_end_offset == UNDEFINED_OFFSET:
        return Truncation(min(high_watermark, log_end_offset), True)
    if leader_epoch == UNDEFINED_EPOCH:
        return Truncation(min(leader_end_offset, log_end_offset), True)
    own_epoch, own_end = epochs.end_offset_for(leader_epoch, log_end_offset)
    if own_epoch == UNDEFINED_EPOCH:
        return Truncation(min(leader_end_offset, log_end_offset), True)
    if own_epoch != leader_epoch:
        return Truncation(min(own_end, log_end_offset), False)
    return Truncation(min(leader_end_offset, own_end, log_end_offset), True)
