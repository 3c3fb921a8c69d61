"""A consume-transform-produce processor, run as its own process by test_groups_eos.py.

    python eos_processor.py BOOTSTRAP GROUP IN_TOPIC OUT_TOPIC TRANSACTIONAL_ID HOLD_MS

Reads IN_TOPIC in GROUP (read_committed), writes `out:<value>` to the same partition of
OUT_TOPIC and commits the consumed offsets in the same transaction
(send_offsets_to_transaction), up to 5 records per transaction. After flushing a
transaction's records it reports `open` and waits HOLD_MS before committing, so a test can
kill or freeze it while a transaction is open. Every step is a JSON line on stdout.
Bounded: it exits after 240 s, or 15 s without input once it has committed something.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer

BATCH = 5
LIFETIME_S = 240
IDLE_EXIT_S = 15


def out(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def rewind(consumer: Consumer) -> None:
    """After an abort, go back to the committed offsets: the aborted output is redone."""
    for tp in consumer.committed(consumer.assignment(), 30):
        if tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
        consumer.seek(tp)


def main() -> int:
    bootstrap, group, in_topic, out_topic, transactional_id, hold = sys.argv[1:7]
    hold_s = int(hold) / 1000
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 60000,
        }
    )
    producer.init_transactions(60)
    out(ev="initialized")
    consumer.subscribe([in_topic])
    deadline = time.monotonic() + LIFETIME_S
    last_input = time.monotonic()
    committed = 0
    try:
        while not stop and time.monotonic() < deadline:
            messages = [m for m in consumer.consume(BATCH, 0.5) if not m.error()]
            if not messages:
                if committed and time.monotonic() - last_input > IDLE_EXIT_S:
                    break
                continue
            last_input = time.monotonic()
            producer.begin_transaction()
            for m in messages:
                producer.produce(out_topic, value=b"out:" + m.value(), partition=m.partition())
            producer.flush(30)
            out(ev="open", n=len(messages))
            if hold_s:
                time.sleep(hold_s)
            positions = consumer.position(consumer.assignment())
            try:
                producer.send_offsets_to_transaction(
                    positions, consumer.consumer_group_metadata(), 30
                )
                producer.commit_transaction(30)
            except KafkaException as exc:
                error = exc.args[0]
                out(ev="txn_error", code=error.name(), fatal=error.fatal(), err=str(error))
                if error.fatal():
                    return 3
                if not error.txn_requires_abort():
                    return 4
                producer.abort_transaction(30)
                rewind(consumer)
                continue
            committed += len(messages)
            out(ev="committed", n=committed)
    finally:
        consumer.close()
    out(ev="done", n=committed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
