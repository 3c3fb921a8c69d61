"""Produce/consume benchmark: Millrace against Apache Kafka 4.1 on the same machine, same run.

    python bench/produce_consume.py                 # both brokers, acks=1 and acks=all
    python bench/produce_consume.py --only kafka    # the reference alone

Both brokers run at once but only one is under load at a time: Kafka (KRaft single node,
-Xmx1G -Xms1G as kafka-server-start.sh) and Millrace (`millrace-broker --override ...`,
the same single-node combined layout). After unmeasured warm-up rounds on each (Kafka's
throughput climbs for several rounds while the JIT compiles), the measured rounds
alternate between the brokers (kafka, millrace, then millrace, kafka, ...) so both see
the same background load. A round, on a fresh single-partition
topic, runs in a separate client process (bench/loadgen.py, confluent-kafka: 1 KiB
records, linger.ms=5, batch.size=64 KiB, the given acks): a saturating produce of N
records (MiB/s, msgs/s), a consume of them from the beginning (MiB/s), and a rate-limited
produce (default 5000 records/s for 10 s) whose delivery-report latencies give p50/p99
(latency at saturation only measures the client queue; it is reported separately). Each
figure is the median over --repeat rounds. Broker RSS is sampled from /proc every 0.2 s
(peak), VmHWM read at the end.

Prints a table with Millrace/Kafka ratios and the targets (produce >= 0.5x, consume >=
0.7x Kafka's MiB/s, Millrace RSS <= 150 MiB), and writes the same data as JSON.
The machine is shared: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkaref import (
    KafkaBroker,
    RssSampler,
    die_with_parent,
    free_port,
    kafka_version,
    read_memory,
    wait_for_brokers,
)

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
TARGETS = {"produce_ratio": 0.5, "consume_ratio": 0.7, "millrace_rss_mib": 150.0}


@dataclass
class RunningBroker:
    name: str
    bootstrap: str
    pid: int
    log: Path


@contextlib.contextmanager
def start_kafka(*, heap: str) -> Iterator[RunningBroker]:
    with KafkaBroker(heap=heap) as kafka:
        yield RunningBroker(f"kafka {kafka_version()}", kafka.bootstrap, kafka.pid, kafka.log_path)


@contextlib.contextmanager
def start_millrace(*, command: str, extra: list[str]) -> Iterator[RunningBroker]:
    exe = shlex.split(command)
    if shutil.which(exe[0]) is None:
        raise SystemExit(
            f"produce_consume: {exe[0]!r} not found on PATH; install Millrace "
            "(pip install -e .) or run with --only kafka"
        )
    port, controller_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="millrace-bench-"))
    log = workdir / "broker.log"
    overrides = {  # the same single-node combined layout as the Kafka side
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "log.dirs": str(workdir / "data"),
    }
    cmd = [*exe, *(a for k, v in overrides.items() for a in ("--override", f"{k}={v}")), *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    failed = True
    try:
        wait_for_brokers(
            f"127.0.0.1:{port}", timeout=60, processes={"millrace-broker": (proc, log)}
        )
        # RSS must be the broker's own process, not a launcher's (pyenv shims exec).
        exe_path = os.readlink(f"/proc/{proc.pid}/exe")
        print(f"millrace-broker pid {proc.pid} runs {exe_path}", file=sys.stderr)
        yield RunningBroker("millrace", f"127.0.0.1:{port}", proc.pid, log)
    except BaseException:
        failed = True
        raise
    else:
        failed = False
    finally:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-30:]
            print(
                f"millrace-broker exited early ({proc.returncode}):",
                *tail,
                sep="\n",
                file=sys.stderr,
            )
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        if failed:
            print(f"millrace-broker's log and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def create_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int = 1,
    rf: int = 1,
    config: dict[str, str] | None = None,
) -> None:
    """Create `topic`; retry retriable errors (e.g. NOT_CONTROLLER right after start-up)."""
    from confluent_kafka import KafkaError, KafkaException

    for attempt in range(20):  # bounded: about 20 s of retries
        try:
            _create_topic(bootstrap, topic, partitions=partitions, rf=rf, config=config or {})
            return
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if (
                attempt > 0
                and isinstance(err, KafkaError)
                and (err.code() == KafkaError.TOPIC_ALREADY_EXISTS)
            ):
                return  # an earlier attempt created it
            retry = {
                KafkaError.NOT_CONTROLLER,
                KafkaError.LEADER_NOT_AVAILABLE,
                KafkaError.REQUEST_TIMED_OUT,
                KafkaError.INVALID_REPLICATION_FACTOR,  # a node not registered yet
                KafkaError._TIMED_OUT,
                KafkaError._TRANSPORT,
            }
            if (
                isinstance(err, KafkaError)
                and (err.retriable() or err.code() in retry)
                and (attempt < 19)
            ):
                print(f"create {topic}: {err.str()}; retrying", file=sys.stderr)
                time.sleep(1.0)
                continue
            raise RuntimeError(f"creating topic {topic} on {bootstrap} failed: {exc}") from exc


def _create_topic(
    bootstrap: str, topic: str, *, partitions: int, rf: int, config: dict[str, str]
) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    futures = admin.create_topics(
        [NewTopic(topic, partitions, rf, config=config)], operation_timeout=30
    )
    futures[topic].result(timeout=60)


def run_loadgen(mode: str, *args: str, time_cap: float) -> dict[str, Any]:
    cmd = [sys.executable, str(LOADGEN), mode, *args, "--time-cap", str(time_cap)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=time_cap + 180)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose `key` is the median (lower median for even counts)."""
    ordered = sorted(runs, key=lambda r: float(r[key]))
    return ordered[(len(ordered) - 1) // 2]


def produce_run(
    broker: RunningBroker,
    topic: str,
    args: argparse.Namespace,
    *,
    acks: str,
    records: int,
    rate: float = 0.0,
    time_cap: float | None = None,
) -> dict[str, Any]:
    return run_loadgen(
        "produce",
        "--bootstrap",
        broker.bootstrap,
        "--topic",
        topic,
        "--records",
        str(records),
        "--size",
        str(args.size),
        "--acks",
        acks,
        "--rate",
        str(rate),
        time_cap=time_cap or args.time_cap,
    )


def consume_run(
    broker: RunningBroker, topic: str, args: argparse.Namespace, *, records: int
) -> dict[str, Any]:
    return run_loadgen(
        "consume",
        "--bootstrap",
        broker.bootstrap,
        "--topic",
        topic,
        "--records",
        str(records),
        time_cap=args.time_cap,
    )


def run_round(
    broker: RunningBroker, args: argparse.Namespace, *, acks: str, index: int, warmup: bool = False
) -> dict[str, Any]:
    """One round on a fresh topic: saturating produce, consume, rated produce (measured)."""
    topic = f"bench-{'warmup' if warmup else 'acks' + acks}-{index}"
    create_topic(broker.bootstrap, topic)
    p = produce_run(broker, topic, args, acks=acks, records=args.records)
    c = consume_run(broker, topic, args, records=p["acked"])
    lat = None
    if args.latency_rate > 0 and not warmup:
        n = int(args.latency_rate * args.latency_seconds)
        lat = produce_run(
            broker,
            topic,
            args,
            acks=acks,
            records=n,
            rate=args.latency_rate,
            time_cap=args.latency_seconds + 30,
        )
    print(
        f"  {broker.name:>12} acks={acks} "
        + (f"warm-up {index + 1}: " if warmup else f"round {index + 1}/{args.repeat}: ")
        + f"produce {p['mib_per_s']:.1f} MiB/s, consume {c['mib_per_s']:.1f} MiB/s"
        + (
            f", p50/p99 {lat['latency_ms_p50']:.1f}/{lat['latency_ms_p99']:.1f} ms "
            f"at {args.latency_rate:.0f}/s"
            if lat
            else ""
        ),
        file=sys.stderr,
    )
    return {"produce": p, "consume": c, "latency": lat, "loadavg_1m": os.getloadavg()[0]}


def run_benchmark(
    brokers: dict[str, RunningBroker], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Warm every broker up, then run the rounds interleaved across brokers.

    Interleaving (kafka, millrace, then millrace, kafka, ...) exposes both brokers to the
    same background load on a shared machine; each figure is the median over rounds.
    """
    with contextlib.ExitStack() as stack:
        rss = {n: stack.enter_context(RssSampler(b.pid, interval=0.2)) for n, b in brokers.items()}
        for i in range(args.warmup_rounds):  # the JVM's JIT needs several rounds
            for b in brokers.values():
                run_round(b, args, acks="1", index=i, warmup=True)
        rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
            n: {acks: [] for acks in args.acks} for n in brokers
        }
        for acks in args.acks:
            for r in range(args.repeat):
                order = list(brokers) if r % 2 == 0 else list(reversed(brokers))
                for n in order:
                    rounds[n][acks].append(run_round(brokers[n], args, acks=acks, index=r))
        results: dict[str, dict[str, Any]] = {}
        for n, b in brokers.items():
            end = read_memory(b.pid)
            per_acks: dict[str, Any] = {}
            for acks, rs in rounds[n].items():
                lats = [x["latency"] for x in rs if x["latency"] is not None]
                per_acks[acks] = {
                    "produce": _median_run([x["produce"] for x in rs if x["produce"]], "mib_per_s"),
                    "consume": _median_run([x["consume"] for x in rs if x["consume"]], "mib_per_s"),
                    "latency": _median_run(lats, "latency_ms_p99") if lats else None,
                    "rounds": rs,
                }
            results[n] = {
                "name": b.name,
                "acks": per_acks,
                "rss": {
                    "peak_sampled_mib": rss[n].peak_rss_mib,
                    "vm_hwm_mib": end.hwm_mib if end else None,
                    "end_mib": end.rss_mib if end else None,
                    "samples": rss[n].samples,
                },
            }
    return results


def ratios(kafka: dict[str, Any], millrace: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for acks, k in kafka["acks"].items():
        m = millrace["acks"].get(acks)
        if m is None:
            continue
        out[acks] = {
            "produce_mib_per_s": m["produce"]["mib_per_s"] / k["produce"]["mib_per_s"],
            "produce_msgs_per_s": m["produce"]["msgs_per_s"] / k["produce"]["msgs_per_s"],
            "consume_mib_per_s": m["consume"]["mib_per_s"] / k["consume"]["mib_per_s"],
            "saturated_latency_p99": (
                m["produce"]["latency_ms_p99"] / k["produce"]["latency_ms_p99"]
            ),
        }
        if k.get("latency") and m.get("latency"):
            out[acks]["latency_p50"] = (
                m["latency"]["latency_ms_p50"] / k["latency"]["latency_ms_p50"]
            )
            out[acks]["latency_p99"] = (
                m["latency"]["latency_ms_p99"] / k["latency"]["latency_ms_p99"]
            )
    out["rss_peak"] = millrace["rss"]["peak_sampled_mib"] / kafka["rss"]["peak_sampled_mib"]
    return out


def render_table(results: dict[str, dict[str, Any]], rat: dict[str, Any] | None) -> str:
    names = list(results)
    header = f"{'metric':<36}" + "".join(f"{results[n]['name']:>16}" for n in names)
    if rat is not None:
        header += f"{'millrace/kafka':>16}"
    lines = [header, "-" * len(header)]
    first = results[names[0]]
    rows = [
        ("produce MiB/s", "produce", "mib_per_s", "produce_mib_per_s", "{:.1f}"),
        ("produce msgs/s", "produce", "msgs_per_s", "produce_msgs_per_s", "{:,.0f}"),
        ("latency p50 ms (rated)", "latency", "latency_ms_p50", "latency_p50", "{:.2f}"),
        ("latency p99 ms (rated)", "latency", "latency_ms_p99", "latency_p99", "{:.2f}"),
        (
            "latency p99 ms (saturated)",
            "produce",
            "latency_ms_p99",
            "saturated_latency_p99",
            "{:.0f}",
        ),
        ("consume MiB/s", "consume", "mib_per_s", "consume_mib_per_s", "{:.1f}"),
    ]
    for acks in first["acks"]:
        for label, phase, key, rkey, fmt in rows:
            line = f"{f'acks={acks} {label}':<36}"
            for n in names:
                run = results[n]["acks"].get(acks)
                cell = run.get(phase) if run else None
                line += f"{fmt.format(cell[key]) if cell else '-':>16}"
            if rat is not None and acks in rat and rkey in rat[acks]:
                line += f"{rat[acks][rkey]:>15.2f}x"
            lines.append(line)
    for label, key in (
        ("broker RSS peak MiB", "peak_sampled_mib"),
        ("broker VmHWM MiB", "vm_hwm_mib"),
    ):
        line = f"{label:<36}"
        for n in names:
            v = results[n]["rss"][key]
            line += f"{v:>16.0f}" if v is not None else f"{'-':>16}"
        if rat is not None and key == "peak_sampled_mib":
            line += f"{rat['rss_peak']:>15.2f}x"
        lines.append(line)
    return "\n".join(lines)


def verdict(rat: dict[str, Any], millrace: dict[str, Any]) -> list[str]:
    out = []
    for acks, r in rat.items():
        if acks == "rss_peak":
            continue
        for key, target in (
            ("produce_mib_per_s", "produce_ratio"),
            ("consume_mib_per_s", "consume_ratio"),
        ):
            ok = r[key] >= TARGETS[target]
            out.append(
                f"acks={acks} {key}: {r[key]:.2f}x (target >= {TARGETS[target]}x) "
                f"{'PASS' if ok else 'FAIL'}"
            )
    rss = millrace["rss"]["peak_sampled_mib"]
    ok = rss <= TARGETS["millrace_rss_mib"]
    out.append(
        f"millrace RSS peak: {rss:.0f} MiB (target <= {TARGETS['millrace_rss_mib']:.0f}) "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return out


def git_head() -> str | None:
    """The repository commit the Millrace broker ran from (None outside a checkout)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None


def _p50_p99(run: dict[str, Any]) -> str:
    return f"{run['latency_ms_p50']:.1f} / {run['latency_ms_p99']:.0f}"


def render_markdown(report: dict[str, Any]) -> str:
    """A markdown table of a report (as written to the JSON file) for docs/benchmarks.md."""
    results, rat = report["results"], report.get("ratios")
    names = list(results)
    head = "| metric | " + " | ".join(results[n]["name"] for n in names) + " |"
    head += " millrace/kafka |" if rat else ""
    lines = [head, "|---" * (len(names) + 1 + (1 if rat else 0)) + "|"]

    def row(label: str, cells: list[str], ratio: str | None) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |" + (f" {ratio} |" if rat else ""))

    for acks in results[names[0]]["acks"]:
        per = {n: results[n]["acks"].get(acks) for n in names}
        q = rat.get(acks, {}) if rat else {}
        row(
            f"acks={acks} produce MiB/s",
            [f"{per[n]['produce']['mib_per_s']:.1f}" if per[n] else "-" for n in names],
            f"{q['produce_mib_per_s']:.2f}x" if q else "-",
        )
        row(
            f"acks={acks} produce msgs/s",
            [f"{per[n]['produce']['msgs_per_s']:,.0f}" if per[n] else "-" for n in names],
            f"{q['produce_msgs_per_s']:.2f}x" if q else "-",
        )
        row(
            f"acks={acks} latency p50 / p99 ms (rated)",
            [
                _p50_p99(per[n]["latency"]) if per[n] and per[n].get("latency") else "-"
                for n in names
            ],
            f"{q['latency_p50']:.2f}x / {q['latency_p99']:.2f}x" if "latency_p50" in q else "-",
        )
        row(
            f"acks={acks} consume MiB/s",
            [f"{per[n]['consume']['mib_per_s']:.1f}" if per[n] else "-" for n in names],
            f"{q['consume_mib_per_s']:.2f}x" if q else "-",
        )
    row(
        "broker RSS peak MiB",
        [f"{results[n]['rss']['peak_sampled_mib']:.0f}" for n in names],
        f"{rat['rss_peak']:.2f}x" if rat else None,
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--only", choices=["kafka", "millrace"], help="run one broker only")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print a markdown table of an earlier run's JSON and exit",
    )
    p.add_argument("--records", type=int, default=300_000, help="records per measured run")
    p.add_argument("--size", type=int, default=1024, help="record value size in bytes")
    p.add_argument("--acks", default="1,all", help="comma-separated acks settings")
    p.add_argument("--repeat", type=int, default=3, help="rounds per acks setting (median)")
    p.add_argument(
        "--warmup-rounds",
        type=int,
        default=3,
        help="unmeasured produce+consume rounds per broker first (JIT warm-up)",
    )
    p.add_argument("--time-cap", type=float, default=90.0, help="seconds per load phase")
    p.add_argument(
        "--latency-rate",
        type=float,
        default=5000.0,
        help="records/s of the rate-limited latency phase (0: skip it)",
    )
    p.add_argument(
        "--latency-seconds", type=float, default=10.0, help="duration of the latency phase"
    )
    p.add_argument("--kafka-heap", default="1G", help="Kafka -Xmx/-Xms (Kafka default 1G)")
    p.add_argument("--millrace-command", default="millrace-broker")
    p.add_argument(
        "--millrace-arg",
        action="append",
        default=[],
        help="extra argument for millrace-broker (repeatable)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "produce_consume.json",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 50k records, 1 warm-up round, 1 round, 3 s latency phase",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.records, args.warmup_rounds, args.repeat, args.latency_seconds = 50_000, 1, 1, 3.0
    args.acks = list(dict.fromkeys(a.strip() for a in args.acks.split(",") if a.strip()))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    brokers: dict[str, RunningBroker] = {}
    with contextlib.ExitStack() as stack:
        if args.only in (None, "kafka"):
            print("starting Apache Kafka...", file=sys.stderr)
            brokers["kafka"] = stack.enter_context(start_kafka(heap=args.kafka_heap))
        if args.only in (None, "millrace"):
            print("starting Millrace...", file=sys.stderr)
            brokers["millrace"] = stack.enter_context(
                start_millrace(command=args.millrace_command, extra=args.millrace_arg)
            )
        results = run_benchmark(brokers, args)
    rat = ratios(results["kafka"], results["millrace"]) if len(results) == 2 else None
    print(render_table(results, rat))
    if rat is not None:
        print("\n".join(verdict(rat, results["millrace"])))
    report = {
        "command": " ".join(
            shlex.quote(a)
            for a in [
                "python",
                "bench/produce_consume.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_end": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "kafka_version": kafka_version(),
        "millrace_commit": git_head(),
        "settings": {
            "records": args.records,
            "size": args.size,
            "acks": args.acks,
            "repeat": args.repeat,
            "warmup_rounds": args.warmup_rounds,
            "kafka_heap": args.kafka_heap,
            "client": "confluent-kafka, linger.ms=5, batch.size=65536, 1 partition",
        },
        "targets": TARGETS,
        "results": results,
        "ratios": rat,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
