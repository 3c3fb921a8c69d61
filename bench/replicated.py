"""Replicated produce benchmark: 3 nodes, RF=3, min.insync.replicas=2, acks=all.

    python bench/replicated.py                  # Millrace and Apache Kafka 4.1
    python bench/replicated.py --only kafka     # the reference alone

Starts two 3-node clusters on loopback, each node a combined broker+controller in its own
process: Apache Kafka 4.1 (KRaft, -Xmx1G each) and Millrace (`millrace-broker
--cluster-id ID --override node.id=i --override controller.quorum.voters=...`). Both stay
up; only one is under load at a time. Each round creates a topic with 3 partitions
(leadership spread over the nodes), replication factor 3 and min.insync.replicas=2, waits
for full ISR, then runs the client of bench/produce_consume.py in its own process
(confluent-kafka, 1 KiB records, linger.ms=5, batch.size=64 KiB, acks=all): a saturating
produce (MiB/s, msgs/s), a consume of everything (MiB/s) and a rate-limited produce
(p50/p99 latency). Warm-up rounds first (Kafka's JIT), then measured rounds alternating
between the clusters; figures are medians. Every node's RSS is sampled from /proc.
Target: Millrace >= 0.4x Kafka's replicated produce MiB/s. Six broker processes share the
machine's cores, so absolute numbers are far below a real cluster's; ratios are the point.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkaref import (
    KafkaCluster,
    RssSampler,
    die_with_parent,
    free_port,
    kafka_version,
    wait_for_brokers,
)
from produce_consume import RunningBroker, consume_run, create_topic, git_head, produce_run

TARGET_RATIO = 0.4


@dataclass
class Cluster:
    broker: RunningBroker  # bootstrap of all nodes; pid/log of node 1
    pids: dict[int, int]


@contextlib.contextmanager
def start_kafka_cluster(*, heap: str) -> Iterator[Cluster]:
    with KafkaCluster(3, heap=heap) as cluster:
        pids = {nd.node_id: nd.pid for nd in cluster.nodes if nd.pid is not None}
        node1 = cluster.nodes[0]
        broker = RunningBroker(
            f"kafka {kafka_version()}", cluster.bootstrap, pids[1], node1.log_path
        )
        yield Cluster(broker, pids)


@contextlib.contextmanager
def start_millrace_cluster(*, command: str, extra: list[str]) -> Iterator[Cluster]:
    exe = shlex.split(command)
    if shutil.which(exe[0]) is None:
        raise SystemExit(f"replicated: {exe[0]!r} not found on PATH; pip install -e . first")
    workdir = Path(tempfile.mkdtemp(prefix="millrace-bench-rf3-"))
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    ports = {i: (free_port(), free_port()) for i in (1, 2, 3)}
    voters = ",".join(f"{i}@127.0.0.1:{c}" for i, (_, c) in ports.items())
    procs: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    failed = True
    try:
        for i, (port, cport) in ports.items():
            overrides = {
                "node.id": str(i),
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "log.dirs": str(workdir / f"node-{i}" / "data"),
            }
            args = [a for k, v in overrides.items() for a in ("--override", f"{k}={v}")]
            log = workdir / f"node-{i}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [*exe, "--cluster-id", cluster_id, *args, *extra],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            procs[i] = (proc, log)
        bootstrap = ",".join(f"127.0.0.1:{p}" for p, _ in ports.values())
        wait_for_brokers(
            bootstrap,
            brokers=3,
            timeout=180,
            processes={f"millrace node {i}": pl for i, pl in procs.items()},
        )
        pids = {i: p.pid for i, (p, _) in procs.items()}
        yield Cluster(RunningBroker("millrace", bootstrap, pids[1], procs[1][1]), pids)
        failed = False
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        if failed:
            print(f"replicated: millrace logs and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def wait_full_isr(bootstrap: str, topic: str, *, timeout: float = 60.0) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            parts = admin.list_topics(topic, timeout=5).topics[topic].partitions.values()
            if parts and all(p.leader >= 0 and sorted(p.isrs) == sorted(p.replicas) for p in parts):
                return
        time.sleep(0.25)
    raise TimeoutError(f"topic {topic} on {bootstrap} not at full ISR after {timeout:.0f}s")


def run_round(cluster: Cluster, args: argparse.Namespace, *, tag: str) -> dict[str, Any]:
    broker = cluster.broker
    topic = f"bench-rf3-{tag}"
    create_topic(
        broker.bootstrap,
        topic,
        partitions=args.partitions,
        rf=3,
        config={"min.insync.replicas": "2"},
    )
    wait_full_isr(broker.bootstrap, topic)
    p = produce_run(broker, topic, args, acks="all", records=args.records)
    c = consume_run(broker, topic, args, records=p["acked"])
    lat = None
    if not tag.startswith("warmup") and args.latency_rate > 0:
        lat = produce_run(
            broker,
            topic,
            args,
            acks="all",
            records=int(args.latency_rate * args.latency_seconds),
            rate=args.latency_rate,
            time_cap=args.latency_seconds + 30,
        )
    print(
        f"  {broker.name:>12} {tag}: produce {p['mib_per_s']:.1f} MiB/s, "
        f"consume {c['mib_per_s']:.1f} MiB/s"
        + (f", p50/p99 {lat['latency_ms_p50']:.1f}/{lat['latency_ms_p99']:.1f} ms" if lat else ""),
        file=sys.stderr,
    )
    return {"produce": p, "consume": c, "latency": lat, "loadavg_1m": os.getloadavg()[0]}


def _median(rounds: list[dict[str, Any]], phase: str, key: str) -> float:
    values = sorted(float(r[phase][key]) for r in rounds if r[phase])
    return values[(len(values) - 1) // 2] if values else float("nan")


def run(clusters: dict[str, Cluster], args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        rss = {
            (n, i): stack.enter_context(RssSampler(pid))
            for n, c in clusters.items()
            for i, pid in c.pids.items()
        }
        for w in range(args.warmup_rounds):
            for c in clusters.values():
                run_round(c, args, tag=f"warmup-{w + 1}")
        rounds: dict[str, list[dict[str, Any]]] = {n: [] for n in clusters}
        for r in range(args.repeat):
            order = list(clusters) if r % 2 == 0 else list(reversed(clusters))
            for n in order:
                rounds[n].append(run_round(clusters[n], args, tag=f"round-{r + 1}"))
    return {
        n: {
            "name": c.broker.name,
            "produce_mib_per_s": _median(rounds[n], "produce", "mib_per_s"),
            "produce_msgs_per_s": _median(rounds[n], "produce", "msgs_per_s"),
            "latency_ms_p50": _median(rounds[n], "latency", "latency_ms_p50"),
            "latency_ms_p99": _median(rounds[n], "latency", "latency_ms_p99"),
            "consume_mib_per_s": _median(rounds[n], "consume", "mib_per_s"),
            "rss_peak_mib_by_node": {i: rss[(n, i)].peak_rss_mib for i in c.pids},
            "rounds": rounds[n],
        }
        for n, c in clusters.items()
    }


METRICS = (
    ("produce MiB/s", "produce_mib_per_s", "{:.1f}"),
    ("produce msgs/s", "produce_msgs_per_s", "{:,.0f}"),
    ("latency p50 ms (rated)", "latency_ms_p50", "{:.1f}"),
    ("latency p99 ms (rated)", "latency_ms_p99", "{:.1f}"),
    ("consume MiB/s", "consume_mib_per_s", "{:.1f}"),
)


def render(results: dict[str, Any]) -> str:
    names = list(results)
    both = len(names) == 2
    lines = [
        "| metric (RF=3, acks=all) | "
        + " | ".join(f"{results[n]['name']} x3" for n in names)
        + (" | millrace/kafka |" if both else " |"),
        "|---" * (len(names) + 1 + both) + "|",
    ]
    for label, key, fmt in METRICS:
        cells = [fmt.format(results[n][key]) for n in names]
        ratio = f" {results['millrace'][key] / results['kafka'][key]:.2f}x |" if both else ""
        lines.append(f"| {label} | " + " | ".join(cells) + " |" + ratio)
    rss = [
        " / ".join(f"{v:.0f}" for v in results[n]["rss_peak_mib_by_node"].values()) for n in names
    ]
    lines.append("| RSS peak MiB per node | " + " | ".join(rss) + (" | |" if both else " |"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--only", choices=["kafka", "millrace"], help="run one cluster only")
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup-rounds", type=int, default=2)
    p.add_argument("--time-cap", type=float, default=90.0)
    p.add_argument("--latency-rate", type=float, default=500.0)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--kafka-heap", default="1G")
    p.add_argument("--millrace-command", default="millrace-broker")
    p.add_argument("--millrace-arg", action="append", default=[])
    p.add_argument(
        "--json", type=Path, default=Path(__file__).resolve().parent / "results" / "replicated.json"
    )
    p.add_argument("--render", type=Path, metavar="JSON", help="print a stored run and exit")
    args = p.parse_args(argv)
    if args.render is not None:
        print(render(json.loads(args.render.read_text(encoding="utf-8"))["results"]))
        return 0
    clusters: dict[str, Cluster] = {}
    loadavg_start = os.getloadavg()
    with contextlib.ExitStack() as stack:
        if args.only in (None, "kafka"):
            print("starting a 3-node Apache Kafka cluster...", file=sys.stderr)
            clusters["kafka"] = stack.enter_context(start_kafka_cluster(heap=args.kafka_heap))
        if args.only in (None, "millrace"):
            print("starting a 3-node Millrace cluster...", file=sys.stderr)
            clusters["millrace"] = stack.enter_context(
                start_millrace_cluster(command=args.millrace_command, extra=args.millrace_arg)
            )
        results = run(clusters, args)
    print(render(results))
    ratio = None
    if len(results) == 2:
        ratio = results["millrace"]["produce_mib_per_s"] / results["kafka"]["produce_mib_per_s"]
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(f"replicated produce: {ratio:.2f}x (target >= {TARGET_RATIO}x) {verdict}")
        p99 = results["millrace"]["latency_ms_p99"] / results["kafka"]["latency_ms_p99"]
        print(f"replicated produce p99 (rated): millrace/kafka {p99:.2f}x (lower is better)")
    report = {
        "command": shlex.join(["python", "bench/replicated.py", *(argv or sys.argv[1:])]),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg_start,
            "loadavg_end": os.getloadavg(),
            "platform": platform.platform(),
        },
        "kafka_version": kafka_version(),
        "millrace_commit": git_head(),
        "settings": {k: str(v) for k, v in vars(args).items() if k not in ("json", "render")},
        "target_ratio": TARGET_RATIO,
        "results": results,
        "produce_ratio": ratio,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
