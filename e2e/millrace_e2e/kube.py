"""kubectl as a small typed API for tests (no client library: the same kubectl users run).

Every call is bounded by a timeout; a failing call raises `KubectlError` with the command,
its exit status and stderr.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millrace_e2e.waiting import wait_for


class KubectlError(RuntimeError):
    pass


@dataclass(frozen=True)
class Kubectl:
    kubectl: Path
    kubeconfig: Path
    namespace: str | None = None

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.kubectl, self.kubeconfig, namespace)

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True
    ) -> str:
        cmd = [str(self.kubectl), "--kubeconfig", str(self.kubeconfig)]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        cmd += list(args)
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def get(self, kind: str, name: str | None = None, *, selector: str | None = None) -> Any:
        args = ["get", kind] + ([name] if name else []) + (["-l", selector] if selector else [])
        return json.loads(self.run(*args, "-o", "json"))

    def apply(self, *objects: dict[str, Any]) -> None:
        self.run(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def exec(self, pod: str, *command: str, timeout: float = 60, check: bool = True) -> str:
        return self.run("exec", pod, "--", *command, timeout=timeout, check=check)

    def exec_status(self, pod: str, *command: str, timeout: float = 60) -> tuple[int, str]:
        """Exit status and combined output of a command in a pod (never raises on status)."""
        cmd = [str(self.kubectl), "--kubeconfig", str(self.kubeconfig)]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        proc = subprocess.run(
            [*cmd, "exec", pod, "--", *command], capture_output=True, text=True, timeout=timeout
        )
        return proc.returncode, proc.stdout + proc.stderr

    # ---- waits -------------------------------------------------------------------------

    def wait_pods_ready(
        self, selector: str, count: int, *, timeout: float = 180
    ) -> list[dict[str, Any]]:
        def observe() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = self.get("pods", selector=selector)["items"]
            return items

        def ok(pods: list[dict[str, Any]]) -> bool:
            return len([p for p in pods if pod_ready(p)]) >= count

        pods = wait_for(
            observe, ok, timeout=timeout, what=f"{count} ready pods with {selector}", interval=2
        )
        return [p for p in pods if pod_ready(p)]

    def wait_node_ready(self, node: str, ready: bool, *, timeout: float) -> dict[str, Any]:
        node_obj: dict[str, Any] = wait_for(
            lambda: self.get("node", node),
            lambda n: node_ready(n) is ready,
            timeout=timeout,
            what=f"node {node} Ready={ready}",
            interval=2,
        )
        return node_obj


def pod_ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds) and not pod[
        "metadata"
    ].get("deletionTimestamp")


def node_ready(node: dict[str, Any]) -> bool:
    conds = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def summarize_pods(pods: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{p['metadata']['name']} node={p['spec'].get('nodeName')} "
        f"phase={p['status'].get('phase')} ready={pod_ready(p)} ip={p['status'].get('podIP')}"
        for p in pods
    )
