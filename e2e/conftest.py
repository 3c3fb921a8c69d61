"""pytest plumbing of the e2e tier (tests in e2e/tests).

Fixtures:
  e2e_cluster  session: brings up (or reuses) the kind cluster, exports KUBECONFIG
  kube         session: cluster-scoped Kubectl
  namespace    per test: a fresh namespace, deleted afterwards; yields a namespaced Kubectl
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from millrace_e2e.cluster import Cluster, ensure_cluster
from millrace_e2e.kube import Kubectl


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the kind e2e cluster (e2e/cluster.sh up)")
    config.addinivalue_line("markers", "disruptive: stops or restarts cluster nodes")


@pytest.fixture(scope="session")
def e2e_cluster() -> Cluster:
    cluster = ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    return cluster


@pytest.fixture(scope="session")
def kube(e2e_cluster: Cluster) -> Kubectl:
    return Kubectl(e2e_cluster.kubectl, e2e_cluster.kubeconfig)


@pytest.fixture
def namespace(kube: Kubectl, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"e2e-{base}-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", name)
    try:
        yield kube.in_namespace(name)
    finally:
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
