"""Exactly-once consume-transform-produce with confluent-kafka across processor failures.

The processor (`eos_processor.py`) is its own process: a read_committed group consumer
and a transactional producer that commits its input offsets with its output
(send_offsets_to_transaction). A read_committed reader of the output must find every
input exactly once, whatever happens to the processor:

- `kill -9` while a transaction is open (its records already in the log), then a restart
  with the same transactional.id: the open transaction is aborted, its input redone;
- a zombie: the processor frozen (SIGSTOP) mid-transaction while a successor with the
  same transactional.id takes over; once thawed it is fenced and its writes stay
  invisible.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from test_groups_support import create_topic_v7, group_broker, produce_spread, wait_for

PROCESSOR = Path(__file__).with_name("eos_processor.py")
PARTITIONS = 3
INPUTS = 120


class Processor:
    """One eos_processor.py process; its JSON-line events gathered by a thread."""

    def __init__(self, log_dir: Path, name: str, args: list[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.stderr_path = log_dir / f"{name}.stderr"
        self.proc = subprocess.Popen(
            [sys.executable, str(PROCESSOR), *args],
            stdout=subprocess.PIPE,
            stderr=open(self.stderr_path, "wb"),  # noqa: SIM115 - owned by the process
            env={**os.environ},
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)

    def count(self, ev: str) -> int:
        with self._lock:
            return sum(1 for e in self.events if e["ev"] == ev)

    def last(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.events[-1]) if self.events else {}

    def of(self, ev: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["ev"] == ev]

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self._thread.join(5)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]


@contextmanager
def processors(
    tmp_path: Path, bootstrap: str, group: str, in_topic: str, out_topic: str
) -> Iterator[Callable[[str, str, int], Processor]]:
    started: list[Processor] = []

    def start(name: str, transactional_id: str, hold_ms: int) -> Processor:
        args = [bootstrap, group, in_topic, out_topic, transactional_id, str(hold_ms)]
        proc = Processor(tmp_path, name, args)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def read_output(bootstrap: str, topic: str, isolation: str, timeout: float = 30) -> list[str]:
    """Every value of `topic` up to its end (the LSO for read_committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader-" + uuid.uuid4().hex[:8],
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    values: list[str] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            m = consumer.poll(0.3)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                continue
            at_end.discard(m.partition())
            values.append(m.value().decode())
    finally:
        consumer.close()
    assert len(at_end) == PARTITIONS, f"{topic} was not read to its end in {timeout}s"
    return values


def exactly_once_problems(values: list[str], inputs: list[str]) -> str:
    counts = Counter(values)
    dup = sorted(v for v, n in counts.items() if n > 1)
    missing = sorted({f"out:{i}" for i in inputs} - counts.keys())
    unknown = sorted(counts.keys() - {f"out:{i}" for i in inputs})
    problems = []
    if dup:
        problems.append(f"{len(dup)} duplicated (e.g. {dup[:3]})")
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[:3]})")
    if unknown:
        problems.append(f"{len(unknown)} never consumed (e.g. {unknown[:3]})")
    return "; ".join(problems)


def setup_topics(port: int, bootstrap: str) -> tuple[str, str, list[str]]:
    tag = uuid.uuid4().hex[:8]
    in_topic, out_topic = f"eos-in-{tag}", f"eos-out-{tag}"
    create_topic_v7(port, in_topic, PARTITIONS)
    create_topic_v7(port, out_topic, PARTITIONS)
    inputs = [f"in{i:04d}" for i in range(INPUTS)]
    produce_spread(bootstrap, in_topic, inputs, PARTITIONS)
    return in_topic, out_topic, inputs


def test_kill9_mid_transaction_then_restart_outputs_each_input_once(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b:
        in_topic, out_topic, inputs = setup_topics(b.port, b.bootstrap)
        group = "eos-" + uuid.uuid4().hex[:8]
        with processors(tmp_path, b.bootstrap, group, in_topic, out_topic) as start:
            first = start("first", "eos-proc", 400)
            # Some transactions commit, then one is open (its records flushed): kill -9.
            wait_for(
                lambda: first.count("committed") >= 3 and first.last().get("ev") == "open",
                120,
                "three commits, then an open transaction",
                interval=0.01,
            )
            first.signal(signal.SIGKILL)
            first.proc.wait(10)
            done_before = first.of("committed")[-1]["n"]
            assert done_before < INPUTS, "the processor finished before it could be killed"

            second = start("second", "eos-proc", 0)
            wait_for(lambda: second.count("done"), 200, "the restarted processor to finish")
            assert second.proc.wait(30) == 0, second.stderr()

        committed = read_output(b.bootstrap, out_topic, "read_committed")
        assert not exactly_once_problems(committed, inputs), exactly_once_problems(
            committed, inputs
        )
        # The killed transaction's records are in the log, aborted: read_uncommitted sees
        # them, read_committed never did.
        uncommitted = read_output(b.bootstrap, out_topic, "read_uncommitted")
        assert len(uncommitted) > len(committed)
        assert "Traceback" not in b.log()


def test_zombie_processor_is_fenced_and_its_writes_stay_invisible(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b:
        in_topic, out_topic, inputs = setup_topics(b.port, b.bootstrap)
        group = "eos-" + uuid.uuid4().hex[:8]
        with processors(tmp_path, b.bootstrap, group, in_topic, out_topic) as start:
            zombie = start("zombie", "eos-zombie", 1500)
            wait_for(
                lambda: zombie.count("committed") >= 2 and zombie.last().get("ev") == "open",
                120,
                "two commits, then an open transaction",
                interval=0.01,
            )
            zombie.signal(signal.SIGSTOP)  # frozen mid-transaction: a zombie to be
            successor = start("successor", "eos-zombie", 0)
            wait_for(lambda: successor.count("done"), 200, "the successor to finish")
            assert successor.proc.wait(30) == 0, successor.stderr()

            zombie.signal(signal.SIGCONT)
            wait_for(lambda: zombie.proc.poll() is not None, 90, "the zombie to give up")
            (error,) = zombie.of("txn_error")
            assert error["fatal"] and error["code"] in (
                "_FENCED",
                "PRODUCER_FENCED",
                "INVALID_PRODUCER_EPOCH",
            ), error
            assert zombie.proc.returncode == 3, zombie.stderr()

        committed = read_output(b.bootstrap, out_topic, "read_committed")
        assert not exactly_once_problems(committed, inputs), exactly_once_problems(
            committed, inputs
        )
        uncommitted = read_output(b.bootstrap, out_topic, "read_uncommitted")
        assert len(uncommitted) > len(committed)  # the zombie's open transaction, aborted
        assert "Traceback" not in b.log()
