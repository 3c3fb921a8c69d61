"""Seeded simulation runs of the KRaft core: safety on every event, liveness after healing.

Default: ``MILLRACE_RAFT_SEEDS`` (200) seeds.  Slow tier: ``MILLRACE_RAFT_SEEDS=5000``.
Replay one seed with its event trace: ``MILLRACE_RAFT_SEED=<seed> pytest
tests/unit/raft/test_simulation.py -k replay -s``.
"""

from __future__ import annotations

import os

import pytest
from raft_simulation import Cluster, FaultConfig, InvariantViolation

SEEDS = int(os.environ.get("MILLRACE_RAFT_SEEDS", "200"))
CHAOS_MS = 8_000
LIVENESS_MS = 10_000
CATCH_UP_MS = 3_000


def replay_hint(seed: int) -> str:
    return (
        f"replay: MILLRACE_RAFT_SEED={seed} pytest tests/unit/raft/test_simulation.py -k replay -s"
    )


def run_seed(
    seed: int, faults: FaultConfig | None = None, *, cluster: Cluster | None = None
) -> Cluster:
    cluster = cluster or Cluster(seed, faults=faults)
    cluster.start_faults()
    try:
        cluster.run(CHAOS_MS)
        cluster.heal_all()
        marker = cluster.proposed
        deadline = cluster.now + LIVENESS_MS
        while cluster.now < deadline:
            cluster.run(cluster.now + 100)
            if any(
                int(p.decode().rsplit("-", 1)[1]) > marker for p in cluster.committed_payloads()
            ):
                break
        else:
            raise InvariantViolation(
                f"seed {seed}: no proposal committed within {LIVENESS_MS}ms after healing"
            )
        # every replica, observers included, catches up with what was committed
        target = len(cluster.committed)
        cluster.run(cluster.now + CATCH_UP_MS)
        behind = {
            n.node_id: n.raft.high_watermark
            for n in cluster.nodes.values()
            if n.raft is not None and n.raft.high_watermark < target
        }
        if behind:
            raise InvariantViolation(
                f"seed {seed}: replicas {behind} did not reach high watermark {target} "
                f"within {CATCH_UP_MS}ms"
            )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{replay_hint(seed)}") from exc
    return cluster


@pytest.mark.parametrize("seed", range(SEEDS))
def test_seed(seed: int) -> None:
    run_seed(seed)


# seeds that once found bugs or wrong invariants, kept whatever MILLRACE_RAFT_SEEDS says
REGRESSIONS = [22, 44, 81, 1563, 1725, 4126]


@pytest.mark.parametrize("seed", REGRESSIONS)
def test_regression_seed(seed: int) -> None:
    run_seed(seed)


def test_simulation_exercises_faults_and_features() -> None:
    """Guard against a vacuous simulation: over a few seeds every fault and feature the
    invariants are meant to cover actually happens."""
    totals: dict[str, int] = {}
    for seed in range(10_000, 10_020):
        for what, n in run_seed(seed).stats.items():
            totals[what] = totals.get(what, 0) + n
    for what in (
        "lost",
        "crash",
        "partition",
        "elected",
        "truncated",
        "snapshot_installed",
        "voter_change_committed",
    ):
        assert totals.get(what, 0) > 0, f"no {what} in 20 seeds: {totals}"


def test_replay() -> None:
    seed = os.environ.get("MILLRACE_RAFT_SEED")
    if seed is None:
        pytest.skip("set MILLRACE_RAFT_SEED to replay one seed")
    cluster = Cluster(int(seed), trace_messages=True)
    try:
        run_seed(int(seed), cluster=cluster)
    finally:
        print("\n".join(cluster.trace[-400:]))
        print(
            f"nodes={len(cluster.nodes)} voters={sorted(cluster.bootstrap_voters.ids)} "
            f"events={cluster.events} committed={len(cluster.committed)} {cluster.stats}"
        )
