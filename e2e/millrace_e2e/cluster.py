"""Bring up (or reuse) the e2e kind cluster through e2e/cluster.sh, for pytest fixtures.

Environment:
  MILLRACE_E2E_KUBECONFIG  use this existing cluster as is (nothing is created)
  MILLRACE_E2E_OFFLINE=1   build/use the offline node image (docs/e2e-offline.md)
  MILLRACE_E2E_CLUSTER     kind cluster name (default millrace-e2e)
  MILLRACE_CACHE           toolchain cache (default ~/.cache/millrace)
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent.parent
VERSIONS = E2E_DIR / "versions.env"


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in VERSIONS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("MILLRACE_CACHE", Path.home() / ".cache" / "millrace"))


def toolchain_bin() -> Path:
    return cache_dir() / f"toolchain-{versions()['K8S_VERSION']}" / "bin"


TOOLBOX_IMAGE = "millrace/e2e-toolbox:1"  # loaded into the nodes by `cluster.sh up`


@dataclass(frozen=True)
class Cluster:
    name: str
    kubeconfig: Path
    kubectl: Path

    def node_container(self, node_name: str) -> str:
        """kind names each node's Docker container after the node."""
        return node_name


def ensure_cluster() -> Cluster:
    name = os.environ.get("MILLRACE_E2E_CLUSTER", "millrace-e2e")
    given = os.environ.get("MILLRACE_E2E_KUBECONFIG")
    kubectl = toolchain_bin() / "kubectl"
    if given:
        return Cluster(name, Path(given), kubectl)
    args = [str(E2E_DIR / "cluster.sh"), "up"]
    if os.environ.get("MILLRACE_E2E_OFFLINE") == "1":
        args.append("--offline")
    # progress goes to the terminal (pytest -s) or the captured log of the session fixture
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"e2e/cluster.sh up failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    kubeconfig = cache_dir() / f"{name}.kubeconfig"
    return Cluster(name, kubeconfig, kubectl)
