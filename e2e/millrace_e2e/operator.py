"""The operator under test: its images on the nodes, its Helm release, its resources.

`e2e/cluster.sh load-images` builds the operator, broker and client images from the
working tree (offline: wheels from the host, the local Python base) and loads them onto
the workers; `e2e/ci-tier.sh` runs it before pytest. `require_images` fails a test run
early, naming that command, when they are missing.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millrace_e2e.cluster import E2E_DIR, Cluster, toolchain_bin
from millrace_e2e.kube import Kubectl

REPO = E2E_DIR.parent
CHART = REPO / "charts" / "millrace-operator"
POD_CLIENT = Path(__file__).with_name("pod_client.py")
RELEASE = "millrace"
OPERATOR_NAMESPACE = "millrace-system"
GROUP = "millrace.io"


def project_version() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise RuntimeError("no version in pyproject.toml")


def images() -> dict[str, str]:
    v = project_version()
    return {
        "operator": f"millrace/operator:{v}",
        "broker": f"millrace/broker:{v}",
        "client": f"millrace/e2e-kafka-client:{v}",
    }


def require_images(cluster: Cluster, kube: Kubectl) -> None:
    """Every worker has the three project images (kind loads them as docker.io/...)."""
    workers = [
        n["metadata"]["name"]
        for n in kube.get("nodes")["items"]
        if "node-role.kubernetes.io/control-plane" not in n["metadata"].get("labels", {})
    ]
    missing = []
    for node in workers:
        for image in images().values():
            proc = subprocess.run(
                [
                    "docker",
                    "exec",
                    cluster.node_container(node),
                    "crictl",
                    "inspecti",
                    f"docker.io/{image}",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if proc.returncode != 0:
                missing.append(f"{image} on {node}")
    if missing:
        raise RuntimeError(
            "project images missing: " + ", ".join(missing) + "; build and load them with "
            "`e2e/cluster.sh load-images --offline` (or run e2e/ci-tier.sh)"
        )


def helm(*args: str, kubeconfig: Path, timeout: float = 600) -> str:
    cmd = [str(toolchain_bin() / "helm"), "--kubeconfig", str(kubeconfig), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout


def image_id(image: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip().removeprefix("sha256:")[:16]


def install_operator(kubeconfig: Path, *values: str) -> None:
    """`helm upgrade --install` the chart from the working tree and wait for the operator.

    The tag of a freshly built image does not change, so the image id goes into a pod
    annotation: a rebuilt operator image rolls the Deployment, an unchanged one does not.
    """
    sets = [a for v in values for a in ("--set", v)]
    sets += [
        "--set-string",
        f"podAnnotations.millrace\\.io/image-id={image_id(images()['operator'])}",
    ]
    helm(
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        *sets,
        kubeconfig=kubeconfig,
    )


def uninstall_operator(kubeconfig: Path) -> None:
    helm(
        "uninstall",
        RELEASE,
        "--namespace",
        OPERATOR_NAMESPACE,
        "--wait",
        "--ignore-not-found",
        kubeconfig=kubeconfig,
    )


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The condition `kind` of a resource's status ({} when absent)."""
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


def is_true(obj: dict[str, Any], kind: str) -> bool:
    return condition(obj, kind).get("status") == "True"


@dataclass(frozen=True)
class PodClient:
    """Runs pod_client.py subcommands in a client pod; returns their JSON answers."""

    kube: Kubectl
    pod: str

    def __call__(self, *args: str, timeout: float = 180) -> Any:
        out = self.kube.run(
            "exec",
            "-i",
            self.pod,
            "--",
            "python3",
            "-",
            *args,
            stdin=POD_CLIENT.read_text(),
            timeout=timeout,
        )
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError(f"pod_client {args} printed no JSON: {out!r}")
        return json.loads(lines[-1])


def pod_states(kube: Kubectl, selector: str) -> dict[str, tuple[str, int]]:
    """Pod name -> (uid, total container restarts) of the pods matching `selector`."""
    return {
        p["metadata"]["name"]: (
            p["metadata"]["uid"],
            sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        )
        for p in kube.get("pods", selector=selector)["items"]
    }


class Stopwatch:
    """Measured durations, printed in the test report (-rA) for the docs."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.start
