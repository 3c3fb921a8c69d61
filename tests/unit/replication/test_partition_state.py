"""Leader-side replication rules (replication/partition_state.py) as tables, no I/O."""

from __future__ import annotations

import pytest

from millrace_broker.replication.partition_state import LeaderState

LAG = 1000


def leader(
    isr: tuple[int, ...] = (1, 2, 3), *, leo: int = 10, hw: int = 10, now: int = 0
) -> LeaderState:
    return LeaderState.become_leader(
        leader_id=1,
        leader_epoch=3,
        partition_epoch=7,
        replicas=(1, 2, 3),
        isr=isr,
        log_end_offset=leo,
        high_watermark=hw,
        now_ms=now,
    )


def test_new_leader_keeps_its_hw_and_starts_the_epoch_at_its_log_end() -> None:
    st = leader(leo=10, hw=6)
    assert (st.high_watermark, st.epoch_start_offset) == (6, 10)
    assert all(f.log_end_offset == -1 for f in st.followers.values())
    assert leader(leo=4, hw=6).high_watermark == 4


@pytest.mark.parametrize(
    ("fetches", "leader_leo", "expected_hw"),
    [
        ({}, 12, 10),  # followers unknown: HW stays
        ({2: 12, 3: 11}, 12, 11),  # min over the ISR
        ({2: 12, 3: 12}, 12, 12),
        ({2: 12, 3: 12}, 15, 12),  # leader ahead: followers hold it back
        ({2: 12, 3: 8}, 12, 10),  # never backwards
    ],
)
def test_high_watermark_is_the_smallest_leo_over_the_isr(
    fetches: dict[int, int], leader_leo: int, expected_hw: int
) -> None:
    st = leader()
    for replica, offset in fetches.items():
        st.on_follower_fetch(replica, offset, leader_leo=leader_leo, now_ms=1)
    st.advance_high_watermark(leader_leo)
    assert st.high_watermark == expected_hw


def test_leader_alone_in_the_isr_commits_its_log_end() -> None:
    st = leader(isr=(1,))
    assert st.advance_high_watermark(14) and st.high_watermark == 14


def test_a_replica_being_removed_still_holds_the_hw_until_committed() -> None:
    st = leader()
    st.on_follower_fetch(2, 15, leader_leo=15, now_ms=1)
    st.pending_isr = (1, 2)  # shrink of 3 in flight
    assert not st.advance_high_watermark(15)
    st.update_partition(partition_epoch=8, replicas=(1, 2, 3), isr=(1, 2), now_ms=2)
    assert st.advance_high_watermark(15) and st.high_watermark == 15


@pytest.mark.parametrize(
    ("fetch_offset", "leader_leo_at_fetch", "previous", "expected_caught_up"),
    [
        (20, 20, None, 500),  # reached the leader's end now
        (15, 20, None, 0),  # behind, no earlier fetch: unchanged
        (15, 20, (15, 300), 300),  # reached the leader's end as of the previous fetch
        (14, 20, (15, 300), 0),  # not even that
    ],
)
def test_caught_up_time(
    fetch_offset: int,
    leader_leo_at_fetch: int,
    previous: tuple[int, int] | None,
    expected_caught_up: int,
) -> None:
    st = leader(isr=(1,), now=0)
    if previous is not None:
        leo, at = previous
        st.on_follower_fetch(2, 0, leader_leo=leo, now_ms=at)
        st.followers[2].last_caught_up_ms = 0
    st.on_follower_fetch(2, fetch_offset, leader_leo=leader_leo_at_fetch, now_ms=500)
    assert st.followers[2].last_caught_up_ms == expected_caught_up


@pytest.mark.parametrize(
    ("caught_up", "now", "expected"),
    [
        ({2: 0, 3: 0}, LAG, None),  # exactly the lag: still in sync
        ({2: 0, 3: 0}, LAG + 1, (1,)),
        ({2: 500, 3: 0}, LAG + 1, (1, 2)),
        ({2: 500, 3: 500}, LAG + 1, None),
    ],
)
def test_isr_shrinks_followers_not_caught_up_within_the_lag(
    caught_up: dict[int, int], now: int, expected: tuple[int, ...] | None
) -> None:
    st = leader(now=0)
    for replica, at in caught_up.items():
        st.followers[replica].last_caught_up_ms = at
    assert st.next_isr(now_ms=now, lag_max_ms=LAG) == expected


@pytest.mark.parametrize(
    ("follower_leo", "hw", "epoch_start", "expected"),
    [
        (10, 10, 10, (1, 2)),  # reached HW and the epoch start: joins
        (9, 9, 10, None),  # below the current epoch's start (may still diverge)
        (12, 14, 10, None),  # below the HW
    ],
)
def test_isr_expands_with_replicas_that_reached_hw_and_epoch_start(
    follower_leo: int, hw: int, epoch_start: int, expected: tuple[int, ...] | None
) -> None:
    st = leader(isr=(1,), leo=epoch_start, hw=hw)
    st.high_watermark = hw
    st.on_follower_fetch(2, follower_leo, leader_leo=20, now_ms=1)
    assert st.next_isr(now_ms=1, lag_max_ms=LAG) == expected


def test_one_isr_change_in_flight() -> None:
    st = leader(now=0)
    st.pending_isr = (1, 2)
    assert st.next_isr(now_ms=10 * LAG, lag_max_ms=LAG) is None


@pytest.mark.parametrize(
    ("isr", "hw", "last_offset", "min_isr", "expected"),
    [
        ((1, 2, 3), 10, 10, 2, None),  # HW not past the last offset yet
        ((1, 2, 3), 11, 10, 2, "ok"),
        ((1,), 11, 10, 2, "not_enough_replicas_after_append"),
        ((1,), 11, 10, 1, "ok"),
    ],
)
def test_acks_all_outcome(
    isr: tuple[int, ...], hw: int, last_offset: int, min_isr: int, expected: str | None
) -> None:
    st = leader(isr=isr)
    st.high_watermark = hw
    assert st.acks_all_outcome(last_offset, min_isr) == expected


def test_fenced_replicas_never_join_the_isr() -> None:
    st = leader(isr=(1,), leo=10, hw=10)
    st.on_follower_fetch(2, 10, leader_leo=10, now_ms=1)
    st.on_follower_fetch(3, 10, leader_leo=10, now_ms=1)
    assert st.next_isr(now_ms=1, lag_max_ms=LAG, ineligible={3}) == (1, 2)


def test_only_a_fetch_expands_the_isr() -> None:
    """The periodic check shrinks but never expands: a follower dropped for not fetching
    (say it is cut off) still shows the LEO of its last fetch, which may equal the HW."""
    st = leader(isr=(1,), leo=10, hw=10)
    st.on_follower_fetch(2, 10, leader_leo=10, now_ms=1)
    assert st.next_isr(now_ms=10 * LAG, lag_max_ms=LAG, expand=False) is None
    assert st.next_isr(now_ms=10 * LAG, lag_max_ms=LAG) == (1, 2)  # on its next fetch


def test_low_watermark_is_the_smallest_live_log_start() -> None:
    st = leader(isr=(1, 2, 3), leo=10, hw=10)
    st.on_follower_fetch(2, 10, leader_leo=10, now_ms=1, log_start_offset=4)
    assert st.low_watermark(6, live={2, 3}) == -1  # replica 3 has not reported one yet
    st.on_follower_fetch(3, 10, leader_leo=10, now_ms=1, log_start_offset=6)
    assert st.low_watermark(6, live={2, 3}) == 4
    assert st.low_watermark(6, live={3}) == 6  # replica 2 is not live: not waited for
