"""Acceptance of the e2e cluster itself: what later zone-aware operator tests rely on.

Real API server, scheduler, kube-proxy, CoreDNS, local-path PVCs, and nodes that fail
(`docker stop` of a worker's container) and come back (`docker start`).
"""

from __future__ import annotations

import functools
import subprocess
from typing import Any

import pytest

from millrace_e2e.cluster import TOOLBOX_IMAGE, Cluster
from millrace_e2e.kube import Kubectl, node_ready, summarize_pods
from millrace_e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

ZONE = "topology.kubernetes.io/zone"
HTTP_SERVER = [
    "python3",
    "-c",
    (
        "import http.server,socket,os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body=socket.gethostname().encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self,*a): pass\n"
        "http.server.ThreadingHTTPServer(('',8080),H).serve_forever()\n"
    ),
]
# prints the body of GET url, exit 1 on any failure (within 3 s)
HTTP_GET = (
    "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode())"
)


def container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": TOOLBOX_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        **extra,
    }


def deployment(name: str, replicas: int, pod_spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def pod(name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, **spec},
    }


def client_pod(ns: Kubectl, name: str = "client", **spec: Any) -> str:
    ns.apply(pod(name, {"containers": [container("c", ["sleep", "infinity"])], **spec}))
    ns.wait_pods_ready(f"app={name}", 1)
    return name


def _resolved_to(ip: str, result: tuple[int, str]) -> bool:
    status, out = result
    return status == 0 and out.split()[:1] == [ip]


def node_zones(kube: Kubectl) -> dict[str, str]:
    return {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE, "")
        for n in kube.get("nodes")["items"]
    }


def test_four_nodes_ready_with_zone_labels(kube: Kubectl) -> None:
    nodes = kube.get("nodes")["items"]
    summary = {
        n["metadata"]["name"]: (node_ready(n), n["metadata"]["labels"].get(ZONE)) for n in nodes
    }
    assert len(nodes) == 4, summary
    assert all(ready for ready, _ in summary.values()), summary
    assert sorted(z for _, z in summary.values() if z) == ["zone-a", "zone-b", "zone-c"], summary


def test_topology_spread_places_pods_in_every_zone(kube: Kubectl, namespace: Kubectl) -> None:
    spec = {
        "terminationGracePeriodSeconds": 1,
        "containers": [container("c", ["sleep", "infinity"])],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "spread"}},
            }
        ],
    }
    namespace.apply(deployment("spread", 6, spec))
    pods = namespace.wait_pods_ready("app=spread", 6)
    zones = node_zones(kube)
    per_zone: dict[str, int] = {}
    for p in pods:
        z = zones[p["spec"]["nodeName"]]
        per_zone[z] = per_zone.get(z, 0) + 1
    assert per_zone == {"zone-a": 2, "zone-b": 2, "zone-c": 2}, summarize_pods(pods)


def test_clusterip_service_answers_from_another_pod(namespace: Kubectl) -> None:
    namespace.apply(
        deployment(
            "web",
            2,
            {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    container(
                        "web",
                        HTTP_SERVER,
                        ports=[{"containerPort": 8080}],
                        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    )
                ],
            },
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    backends = {p["metadata"]["name"] for p in namespace.wait_pods_ready("app=web", 2)}
    client = client_pod(namespace)
    svc_ip = namespace.get("service", "web")["spec"]["clusterIP"]
    seen: set[str] = set()

    def observe() -> set[str]:
        for url in (f"http://{svc_ip}/", "http://web/"):  # by ClusterIP and by name
            seen.add(namespace.exec(client, "python3", "-c", HTTP_GET, url).strip())
        return seen

    wait_for(
        observe, lambda s: s == backends, timeout=60, what=f"answers from both backends {backends}"
    )


def test_headless_service_pod_dns_names_resolve(namespace: Kubectl) -> None:
    labels = {"app": "db"}
    namespace.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 2,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [container("db", ["sleep", "infinity"])],
                    },
                },
            },
        },
    )
    pods = {
        p["metadata"]["name"]: p["status"]["podIP"] for p in namespace.wait_pods_ready("app=db", 2)
    }
    client = client_pod(namespace)
    ns = namespace.namespace

    def resolve(fqdn: str) -> tuple[int, str]:
        return namespace.exec_status(client, "getent", "hosts", fqdn)

    for name, ip in pods.items():
        fqdn = f"{name}.db.{ns}.svc.cluster.local"
        wait_for(
            functools.partial(resolve, fqdn),
            functools.partial(_resolved_to, ip),
            timeout=60,
            what=f"{fqdn} -> {ip}",
        )
    # and the short form through the search path
    status, out = namespace.exec_status(client, "getent", "hosts", "db-0.db")
    assert status == 0 and out.split()[0] == pods["db-0"], out


def test_pvc_binds_and_keeps_data_across_pod_restart(namespace: Kubectl) -> None:
    namespace.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "64Mi"}},
            },
        }
    )

    def writer_pod() -> dict[str, Any]:
        return pod(
            "store",
            {
                "containers": [
                    container(
                        "c",
                        ["sleep", "infinity"],
                        volumeMounts=[{"name": "d", "mountPath": "/data"}],
                    )
                ],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            },
        )

    namespace.apply(writer_pod())
    namespace.wait_pods_ready("app=store", 1)
    pvc = namespace.get("pvc", "data")
    assert pvc["status"]["phase"] == "Bound", pvc["status"]
    namespace.exec("store", "sh", "-c", "echo millrace-was-here > /data/proof && sync")
    namespace.run("delete", "pod", "store", "--wait=true", timeout=120)
    namespace.apply(writer_pod())
    namespace.wait_pods_ready("app=store", 1)
    assert namespace.exec("store", "cat", "/data/proof").strip() == "millrace-was-here"


@pytest.mark.disruptive
@pytest.mark.timeout(900)
def test_stopped_worker_goes_notready_and_comes_back(
    kube: Kubectl, namespace: Kubectl, e2e_cluster: Cluster
) -> None:
    zones = node_zones(kube)
    victim = next(n for n, z in zones.items() if z == "zone-c")
    # a server pinned to the victim, a client in another zone
    namespace.apply(
        pod(
            "victim-web",
            {
                "nodeName": victim,
                "containers": [
                    container(
                        "web",
                        HTTP_SERVER,
                        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    )
                ],
            },
        )
    )
    namespace.wait_pods_ready("app=victim-web", 1)
    client = client_pod(namespace, nodeSelector={ZONE: "zone-a"})

    def fetch() -> tuple[int, str]:
        ip = namespace.get("pod", "victim-web")["status"].get("podIP", "")
        return namespace.exec_status(
            client, "python3", "-c", HTTP_GET, f"http://{ip}:8080/", timeout=30
        )

    wait_for(fetch, lambda r: r[0] == 0, timeout=60, what="victim pod reachable before the stop")

    container_name = e2e_cluster.node_container(victim)
    subprocess.run(["docker", "stop", container_name], check=True, capture_output=True, timeout=120)
    try:
        kube.wait_node_ready(victim, False, timeout=180)
        status, out = fetch()
        assert status != 0, f"pod on stopped node {victim} still answered: {out}"
    finally:
        subprocess.run(
            ["docker", "start", container_name], check=True, capture_output=True, timeout=120
        )
    kube.wait_node_ready(victim, True, timeout=300)
    wait_for(
        fetch,
        lambda r: r[0] == 0,
        timeout=300,
        what=f"victim pod reachable again after {victim} restarted",
    )
