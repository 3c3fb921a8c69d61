"""Helpers for the consumer-group integration tests (no tests here).

- `group_broker(...)`: a real broker process that serves the group APIs (through
  `millrace_broker.server.group_handlers` until the lead's handler table includes them);
- `ConsumerProc`: one group consumer in its own process (confluent-kafka, kafka-python or
  aiokafka), reporting assignments and records as JSON lines, killable with SIGKILL;
- `kio_call`: send one kio request on a raw socket and decode the answer (bad input).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kio.index import load_response_schema
from kio.serial import entity_reader, entity_writer

sys.path.insert(0, str(Path(__file__).parent.parent))

from support_broker import BrokerProcess, free_port

FAST_GROUPS = ["group.initial.rebalance.delay.ms=0"]
# KIP-848 groups: the broker owns session and heartbeat timing; shorten them for tests.
FAST_CONSUMER_GROUPS = [
    "group.consumer.min.session.timeout.ms=6000",
    "group.consumer.session.timeout.ms=6000",
    "group.consumer.min.heartbeat.interval.ms=500",
    "group.consumer.heartbeat.interval.ms=500",
]


def _groups_merged() -> bool:
    from millrace_broker.server.handlers import HANDLERS

    return 11 in HANDLERS and 26 in HANDLERS  # groups and transactions


class GroupBrokerProcess(BrokerProcess):
    def command(self) -> list[str]:
        args = super().command()
        if not _groups_merged():
            args[args.index("millrace_broker.main")] = "millrace_broker.server.group_handlers"
        return args


@contextmanager
def group_broker(data_dir: Path, overrides: list[str] | None = None) -> Iterator[BrokerProcess]:
    broker = GroupBrokerProcess(data_dir, free_port(), [*FAST_GROUPS, *(overrides or [])])
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, *, interval: float = 0.1
) -> Any:
    """Poll until `predicate` is truthy. Errors it raises count as "not yet" (a broker
    that just restarted may time out a request or two), and are reported at the end."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")


# -- consumers in their own processes -------------------------------------------------------

CONSUMER_SCRIPT = r"""
import asyncio, json, signal, sys, time
kind, bootstrap, group, topic = sys.argv[1:5]
conf = json.loads(sys.argv[5])
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def out(**kw):
    print(json.dumps(kw), flush=True)
DEADLINE = time.time() + 240

if kind == "confluent":
    from confluent_kafka import Consumer, KafkaException
    base = {"bootstrap.servers": bootstrap, "group.id": group,
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    if conf.get("group.protocol") != "consumer":  # KIP-848: the broker sets the timeouts
        base.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c = Consumer({**base, **conf})
    c.subscribe([topic],
                on_assign=lambda c, ps: out(ev="assign", parts=[p.partition for p in ps]),
                on_revoke=lambda c, ps: out(ev="revoke", parts=[p.partition for p in ps]),
                on_lost=lambda c, ps: out(ev="revoke", parts=[p.partition for p in ps]))
    out(ev="ready")
    while not stop and time.time() < DEADLINE:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            out(ev="error", err=str(m.error()))
            continue
        out(ev="msg", p=m.partition(), o=m.offset(), v=m.value().decode())
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as exc:
            out(ev="commit_error", err=str(exc))
    c.close()

elif kind == "kafka-python":
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            out(ev="revoke", parts=[p.partition for p in revoked])
        def on_partitions_assigned(self, assigned):
            out(ev="assign", parts=[p.partition for p in assigned])
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=6000, heartbeat_interval_ms=500, **conf)
    c.subscribe([topic], listener=L())
    out(ev="ready")
    while not stop and time.time() < DEADLINE:
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                out(ev="msg", p=m.partition, o=m.offset, v=m.value.decode())
            try:
                c.commit({tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1)})
            except Exception as exc:
                out(ev="commit_error", err=repr(exc))
    c.close()

else:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            out(ev="revoke", parts=[p.partition for p in revoked])
        def on_partitions_assigned(self, assigned):
            out(ev="assign", parts=[p.partition for p in assigned])
    async def main():
        extra = dict(conf)
        if extra.pop("range", False):
            from aiokafka.coordinator.assignors.range import RangePartitionAssignor
            extra["partition_assignment_strategy"] = (RangePartitionAssignor,)
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=500, **extra)
        c.subscribe([topic], listener=L())
        await c.start()
        out(ev="ready")
        try:
            while not stop and time.time() < DEADLINE:
                batches = await c.getmany(timeout_ms=200)
                for tp, msgs in batches.items():
                    for m in msgs:
                        out(ev="msg", p=m.partition, o=m.offset, v=m.value.decode())
                    try:
                        await c.commit({tp: msgs[-1].offset + 1})
                    except Exception as exc:
                        out(ev="commit_error", err=repr(exc))
        finally:
            await c.stop()
    asyncio.run(main())
"""


class ConsumerProc:
    """A consumer process; its JSON-line reports are gathered by a reader thread."""

    def __init__(
        self,
        script: Path,
        kind: str,
        bootstrap: str,
        group: str,
        topic: str,
        name: str,
        **conf: Any,
    ) -> None:
        self.name = name
        self.kind = kind
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stderr_path = script.parent / f"{name}.stderr"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), kind, bootstrap, group, topic, json.dumps(conf)],
            stdout=subprocess.PIPE,
            stderr=open(self.stderr_path, "wb"),  # noqa: SIM115
            env={**os.environ},
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def assignment(self) -> set[int]:
        owned: set[int] = set()
        for e in self.snapshot():
            if e["ev"] == "assign":
                owned |= set(e["parts"])
            elif e["ev"] == "revoke":
                owned -= set(e["parts"])
        return owned

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.snapshot() if e["ev"] == "msg"]

    def values(self) -> set[str]:
        return {e["v"] for e in self.messages()}

    def count(self, ev: str) -> int:
        return sum(1 for e in self.snapshot() if e["ev"] == ev)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.thread.join(5)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]


@contextmanager
def consumers(tmp_path: Path) -> Iterator[Callable[..., ConsumerProc]]:
    """A factory of ConsumerProc; every process is stopped at the end."""
    script = tmp_path / "group_consumer.py"
    script.write_text(CONSUMER_SCRIPT)
    started: list[ConsumerProc] = []

    def start(
        kind: str, bootstrap: str, group: str, topic: str, name: str, **conf: Any
    ) -> ConsumerProc:
        proc = ConsumerProc(script, kind, bootstrap, group, topic, name, **conf)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop(timeout=10)


def assert_exclusive_cover(procs: list[ConsumerProc], partitions: int) -> bool:
    """True when the live consumers own every partition exactly once."""
    owned = [p.assignment() for p in procs]
    every = [x for s in owned for x in s]
    return sorted(every) == list(range(partitions))


# -- raw kio requests -----------------------------------------------------------------------


def kio_call(port: int, request: Any, *, correlation_id: int = 7, timeout: float = 10) -> Any:
    header_cls = type(request).__header_schema__
    header = header_cls(
        request_api_key=request.__api_key__,
        request_api_version=request.__version__,
        correlation_id=correlation_id,
        client_id="raw-test",
    )
    buffer = io.BytesIO()
    entity_writer(header_cls)(buffer, header)
    entity_writer(type(request))(buffer, request)
    body = buffer.getvalue()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    response_cls = load_response_schema(request.__api_key__, request.__version__)
    _, used = entity_reader(response_cls.__header_schema__)(data, 0)
    response, _ = entity_reader(response_cls)(data, used)
    return response


def _recv(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        out += chunk
    return out


# -- producing and reading committed offsets ------------------------------------------------


def produce_spread(bootstrap: str, topic: str, values: list[str], partitions: int) -> None:
    """Produce value i to partition i % partitions; every delivery must succeed."""
    from confluent_kafka import Producer

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(
            topic,
            value=value.encode(),
            partition=i % partitions,
            on_delivery=lambda err, _m: errors.append(err) if err else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=15
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def create_topic_v7(port: int, name: str, partitions: int) -> None:
    """CreateTopics v7 on a raw socket (setup only: independent of the admin clients)."""
    import datetime

    from kio.schema.create_topics.v7 import request as ct
    from kio.schema.errors import ErrorCode
    from kio.schema.types import TopicName
    from kio.static.primitive import i16, i32, i32Timedelta

    request = ct.CreateTopicsRequest(
        topics=(
            ct.CreatableTopic(
                name=TopicName(name),
                num_partitions=i32(partitions),
                replication_factor=i16(1),
                assignments=(),
                configs=(),
            ),
        ),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=15)),
        validate_only=False,
    )
    response = kio_call(port, request)
    assert response.topics[0].error_code == ErrorCode.none, response
