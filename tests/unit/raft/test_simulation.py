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


def replay_hint(seed: int) -> str:
    return (f"replay: MILLRACE_RAFT_SEED={seed} pytest "
            "tests/unit/raft/test_simulation.py -k replay -s")


def run_seed(seed: int, faults: FaultConfig | None = None) -> Cluster:
    cluster = Cluster(seed, faults=faults)
    cluster.start_faults()
    try:
        cluster.run(CHAOS_MS)
        cluster.heal_all()
        marker = cluster.proposed
        deadline = cluster.now + LIVENESS_MS
        while cluster.now < deadline:
            cluster.run(cluster.now + 100)
            if any(int(p.decode().rsplit("-", 1)[1]) > marker
                   for p in cluster.committed_payloads()):
                break
        else:
            raise InvariantViolation(
                f"seed {seed}: no proposal committed within {LIVENESS_MS}ms after healing")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{replay_hint(seed)}") from exc
    return cluster


@pytest.mark.parametrize("seed", range(SEEDS))
def test_seed(seed: int) -> None:
    run_seed(seed)


def test_replay() -> None:
    seed = os.environ.get("MILLRACE_RAFT_SEED")
    if seed is None:
        pytest.skip("set MILLRACE_RAFT_SEED to replay one seed")
    cluster = Cluster(int(seed))
    try:
        run_seed(int(seed))
    finally:
        print(f"nodes={len(cluster.nodes)} voters={sorted(cluster.bootstrap_voters.ids)}")
