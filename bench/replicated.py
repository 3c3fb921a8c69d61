"""Replicated produce benchmark: 3 nodes, RF=3, min.insync.replicas=2, acks=all.

    python bench/replicated.py                # Apache Kafka 4.1 only (see below)

Starts a 3-node Apache Kafka 4.1 cluster (KRaft, every node broker+controller, -Xmx1G
each) on loopback, creates a topic with replication factor 3 (3 partitions, so
leadership is spread over the nodes, min.insync.replicas=2), and measures with the same
client as bench/produce_consume.py (confluent-kafka in its own process, 1 KiB records,
linger.ms=5, batch.size=64 KiB): saturating acks=all produce MiB/s and msgs/s, a
rate-limited produce for p50/p99 latency, a consume of everything, and each node's RSS.

Millrace has no replication yet, so it is not run: `--with-millrace` stops with a message
saying so. When it has, this script starts it the same way and prints Millrace/Kafka
ratios against the target (>= 0.4x Kafka's replicated MiB/s). All three nodes share the
machine's cores, so absolute numbers are far below a real cluster's; ratios are the point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from kafkaref import KafkaCluster, RssSampler, kafka_version
from produce_consume import RunningBroker, consume_run, create_topic, produce_run

TARGET_RATIO = 0.4


def run(args: argparse.Namespace) -> dict[str, Any]:
    with KafkaCluster(3, heap=args.kafka_heap) as cluster:
        broker = RunningBroker(
            f"kafka {kafka_version()} x3",
            cluster.bootstrap,
            cluster.nodes[0].pid or 0,
            cluster.nodes[0].log_path,
        )
        pids = {nd.node_id: nd.pid for nd in cluster.nodes if nd.pid is not None}
        with contextlib.ExitStack() as stack:
            rss = {i: stack.enter_context(RssSampler(pid)) for i, pid in pids.items()}
            rounds: list[dict[str, Any]] = []
            for i in range(args.warmup_rounds + args.repeat):
                warm = i < args.warmup_rounds
                topic = f"bench-rf3-{i}"
                create_topic(
                    cluster.bootstrap,
                    topic,
                    partitions=args.partitions,
                    rf=3,
                    config={"min.insync.replicas": "2"},
                )
                p = produce_run(broker, topic, args, acks="all", records=args.records)
                c = consume_run(broker, topic, args, records=p["acked"])
                lat = None
                if not warm and args.latency_rate > 0:
                    lat = produce_run(
                        broker,
                        topic,
                        args,
                        acks="all",
                        records=int(args.latency_rate * args.latency_seconds),
                        rate=args.latency_rate,
                        time_cap=args.latency_seconds + 30,
                    )
                label = (
                    f"warm-up {i + 1}"
                    if warm
                    else f"round {i - args.warmup_rounds + 1}/{args.repeat}"
                )
                print(
                    f"  {broker.name} {label}: produce {p['mib_per_s']:.1f} MiB/s, "
                    f"consume {c['mib_per_s']:.1f} MiB/s"
                    + (
                        f", p50/p99 {lat['latency_ms_p50']:.1f}/{lat['latency_ms_p99']:.1f} ms"
                        if lat
                        else ""
                    ),
                    file=sys.stderr,
                )
                if not warm:
                    rounds.append({"produce": p, "consume": c, "latency": lat})
        mem = {i: s.peak_rss_mib for i, s in rss.items()}

    def median(key: str, phase: str) -> float:
        values = sorted(float(r[phase][key]) for r in rounds if r[phase])
        return values[(len(values) - 1) // 2] if values else float("nan")

    return {
        "name": broker.name,
        "produce_mib_per_s": median("mib_per_s", "produce"),
        "produce_msgs_per_s": median("msgs_per_s", "produce"),
        "latency_ms_p50": median("latency_ms_p50", "latency"),
        "latency_ms_p99": median("latency_ms_p99", "latency"),
        "consume_mib_per_s": median("mib_per_s", "consume"),
        "rss_peak_mib_by_node": mem,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup-rounds", type=int, default=2)
    p.add_argument("--time-cap", type=float, default=90.0)
    p.add_argument("--latency-rate", type=float, default=2000.0)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--kafka-heap", default="1G")
    p.add_argument("--with-millrace", action="store_true")
    p.add_argument(
        "--json", type=Path, default=Path(__file__).resolve().parent / "results" / "replicated.json"
    )
    args = p.parse_args(argv)
    if args.with_millrace:
        raise SystemExit(
            "replicated: Millrace has no replication yet (KRaft quorum and follower fetch are "
            "on the roadmap); run without --with-millrace for the Kafka reference numbers"
        )
    kafka = run(args)
    print(f"{'metric':<28}{kafka['name']:>20}")
    for key in (
        "produce_mib_per_s",
        "produce_msgs_per_s",
        "latency_ms_p50",
        "latency_ms_p99",
        "consume_mib_per_s",
    ):
        print(f"{key:<28}{kafka[key]:>20.2f}")
    for node, mib in kafka["rss_peak_mib_by_node"].items():
        print(f"{f'rss peak MiB node {node}':<28}{mib:>20.0f}")
    print(
        "millrace: not run (no replication yet); target when it is: "
        f">= {TARGET_RATIO}x Kafka's replicated produce MiB/s"
    )
    report = {
        "command": shlex.join(["python", "bench/replicated.py", *(argv or sys.argv[1:])]),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_end": os.getloadavg(),
            "platform": platform.platform(),
        },
        "kafka_version": kafka_version(),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "target_ratio": TARGET_RATIO,
        "results": {"kafka": kafka},
        "millrace": "not run: no replication yet",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
