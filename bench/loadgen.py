"""Load generators for the benchmarks, run in their own process so client CPU is not
counted in (or competing inside) the broker's process.

    python bench/loadgen.py produce --bootstrap H:P --topic T --records N --size S --acks 1
    python bench/loadgen.py consume --bootstrap H:P --topic T --records N

Each prints one JSON object on stdout. The producer is confluent-kafka with the settings
the benchmark spec fixes (linger.ms=5, batch.size=64 KiB, no compression); latency is
librdkafka's own per-message produce()->acknowledgement time from the delivery report
(`Message.latency()`). Both loops are bounded by a record count and a time cap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

PRODUCER_SETTINGS: dict[str, str | int] = {
    "linger.ms": 5,
    "batch.size": 65536,
    "compression.type": "none",
    # As the Java producer's buffer.memory (32 MiB): bounds the client-side queue, and so
    # the queueing delay that latency at saturation measures.
    "queue.buffering.max.kbytes": 32768,
    "queue.buffering.max.messages": 100000,
}


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def produce(
    *,
    bootstrap: str,
    topic: str,
    records: int,
    size: int,
    acks: str,
    time_cap: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Produce up to `records` records of `size` bytes; throughput and latency.

    With `rate` > 0 records are sent at that many per second (open loop, like
    kafka-producer-perf-test --throughput); otherwise as fast as the client queue allows.
    """
    from confluent_kafka import KafkaException, Producer

    config: dict[str, str | int] = {"bootstrap.servers": bootstrap, "acks": acks}
    config.update(PRODUCER_SETTINGS)
    producer = Producer(config)
    payload = os.urandom(size)
    latencies: list[float] = []
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
            return
        lat = msg.latency()
        if lat is not None:
            latencies.append(lat)

    # Wait until the client has the topic's leader, so start-up is not timed.
    producer.list_topics(topic, timeout=30)
    start = time.perf_counter()
    deadline = start + time_cap
    sent = 0
    while sent < records and time.perf_counter() < deadline:
        if rate > 0 and sent >= (time.perf_counter() - start) * rate:
            producer.poll(0.0005)
            continue
        try:
            producer.produce(topic, payload, on_delivery=on_delivery)
            sent += 1
        except BufferError:
            producer.poll(0.005)
            continue
        except KafkaException as exc:
            errors.append(str(exc))
            break
        if sent % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(max(5.0, deadline + 30 - time.perf_counter()))
    elapsed = time.perf_counter() - start
    acked = len(latencies)
    latencies.sort()
    return {
        "sent": sent,
        "acked": acked,
        "unflushed": remaining,
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": elapsed,
        "msgs_per_s": acked / elapsed,
        "mib_per_s": acked * size / elapsed / 2**20,
        "latency_ms_p50": _percentile(latencies, 0.50) * 1000,
        "latency_ms_p99": _percentile(latencies, 0.99) * 1000,
        "latency_ms_max": (latencies[-1] * 1000) if latencies else float("nan"),
        "rate_limit": rate,
        "time_capped": sent < records,
    }


def consume(*, bootstrap: str, topic: str, records: int, time_cap: float) -> dict[str, Any]:
    """Read every partition of `topic` from the beginning until `records` records or time cap."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{os.getpid()}-{time.time_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    count = 0
    nbytes = 0
    errors = 0
    first: float | None = None
    start = time.perf_counter()
    deadline = start + time_cap
    try:
        while count < records and time.perf_counter() < deadline:
            batch = consumer.consume(num_messages=10000, timeout=0.5)
            for msg in batch:
                if msg.error() is not None:
                    errors += 1
                    continue
                if first is None:
                    first = time.perf_counter()
                value = msg.value()
                count += 1
                nbytes += len(value) if value is not None else 0
        end = time.perf_counter()
    finally:
        consumer.close()
    # Time from the first record, so the connect/metadata round trips are not timed.
    elapsed = end - (first if first is not None else start)
    return {
        "records": count,
        "bytes": nbytes,
        "errors": errors,
        "seconds": elapsed,
        "msgs_per_s": count / elapsed if elapsed > 0 else 0.0,
        "mib_per_s": nbytes / elapsed / 2**20 if elapsed > 0 else 0.0,
        "time_capped": count < records,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("produce", "consume"):
        p = sub.add_parser(mode)
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--records", type=int, required=True)
        p.add_argument("--time-cap", type=float, default=60.0)
        if mode == "produce":
            p.add_argument("--size", type=int, default=1024)
            p.add_argument("--acks", default="1")
            p.add_argument("--rate", type=float, default=0.0, help="records/s (0: unlimited)")
    args = parser.parse_args(argv)
    if args.mode == "produce":
        result = produce(
            bootstrap=args.bootstrap,
            topic=args.topic,
            records=args.records,
            size=args.size,
            acks=args.acks,
            time_cap=args.time_cap,
            rate=args.rate,
        )
    else:
        result = consume(
            bootstrap=args.bootstrap, topic=args.topic, records=args.records, time_cap=args.time_cap
        )
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
