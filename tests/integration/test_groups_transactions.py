"""Transactions with confluent-kafka: commit, abort, offsets in a transaction
(consume-transform-produce), producer fencing, transaction timeout, broker restart."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from test_groups_support import committed_offsets, create_topic_v7, group_broker


def read_all(bootstrap: str, topic: str, isolation: str, timeout: float = 10) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{isolation}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is None:
                continue
            if m.error():
                break  # partition EOF
            out.append((m.offset(), m.value().decode()))
    finally:
        consumer.close()
    return out


def test_commit_abort_offsets_fencing_and_restart(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 1)
        producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-a"})
        producer.init_transactions(20)
        producer.begin_transaction()
        for i in range(3):
            producer.produce("t", value=f"c{i}".encode())
        producer.commit_transaction(20)
        producer.begin_transaction()
        producer.produce("t", value=b"aborted")
        producer.flush(10)
        producer.abort_transaction(20)
        # Data at 0-2, the commit marker at 3, the aborted record at 4, its marker at 5.
        assert read_all(b.bootstrap, "t", "read_uncommitted") == [
            (0, "c0"),
            (1, "c1"),
            (2, "c2"),
            (4, "aborted"),
        ]

        # Offsets committed inside a transaction appear only when it commits.
        group = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-txn"})
        metadata = group.consumer_group_metadata()
        producer.begin_transaction()
        producer.send_offsets_to_transaction([TopicPartition("t", 0, 2)], metadata, 20)
        producer.abort_transaction(20)
        assert committed_offsets(b.bootstrap, "g-txn", "t", 1) == {0: -1001}
        producer.begin_transaction()
        producer.produce("t", value=b"out")
        producer.send_offsets_to_transaction([TopicPartition("t", 0, 3)], metadata, 20)
        producer.commit_transaction(20)
        assert committed_offsets(b.bootstrap, "g-txn", "t", 1) == {0: 3}
        group.close()

        # A second producer with the same transactional.id fences the first.
        successor = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-a"})
        successor.init_transactions(20)
        with pytest.raises(KafkaException) as fenced:
            producer.begin_transaction()
            producer.produce("t", value=b"zombie")
            producer.commit_transaction(10)
        assert fenced.value.args[0].fatal()
        assert "zombie" not in {v for _, v in read_all(b.bootstrap, "t", "read_uncommitted")}

        # State and offsets survive kill -9 of the broker.
        b.kill9()
        b.start()
        assert committed_offsets(b.bootstrap, "g-txn", "t", 1) == {0: 3}
        after = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-a"})
        after.init_transactions(20)
        after.begin_transaction()
        after.produce("t", value=b"after-restart")
        after.commit_transaction(20)
        assert "after-restart" in {v for _, v in read_all(b.bootstrap, "t", "read_uncommitted")}
        assert "Traceback" not in b.log()


def test_open_transaction_is_aborted_after_its_timeout(tmp_path: Path) -> None:
    overrides = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=300"]
    with group_broker(tmp_path / "data", overrides) as b:
        create_topic_v7(b.port, "t", 1)
        producer = Producer(
            {
                "bootstrap.servers": b.bootstrap,
                "transactional.id": "tx-slow",
                "transaction.timeout.ms": 1500,
            }
        )
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce("t", value=b"late")
        producer.flush(10)
        time.sleep(3.0)
        with pytest.raises(KafkaException):
            producer.commit_transaction(10)


def test_read_committed_skips_aborted_records(tmp_path: Path) -> None:
    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 1)
        producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-rc"})
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce("t", value=b"aborted")
        producer.flush(10)
        producer.abort_transaction(20)
        producer.begin_transaction()
        producer.produce("t", value=b"kept")
        producer.commit_transaction(20)
        assert [v for _, v in read_all(b.bootstrap, "t", "read_committed")] == ["kept"]


@pytest.mark.kafka_cli
def test_kafka_transactions_cli_lists_and_describes(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from kafkaref import kafka_cli

    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 2)
        producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-open"})
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce("t", value=b"x", partition=1)
        producer.flush(10)
        listed = kafka_cli(
            "kafka-transactions", "--bootstrap-server", b.bootstrap, "list", check=True
        ).stdout
        assert [line.split()[0::3] for line in listed.splitlines()[1:]] == [["tx-open", "Ongoing"]]
        described = kafka_cli(
            "kafka-transactions",
            "--bootstrap-server",
            b.bootstrap,
            "describe",
            "--transactional-id",
            "tx-open",
            check=True,
        ).stdout
        row = described.splitlines()[1].split()
        assert row[1] == "tx-open" and row[4] == "Ongoing" and row[-1] == "t-1"
        missing = kafka_cli(
            "kafka-transactions",
            "--bootstrap-server",
            b.bootstrap,
            "describe",
            "--transactional-id",
            "nope",
        )
        assert missing.returncode != 0 and "could not be found" in missing.stderr
        producer.abort_transaction(20)


def test_write_txn_markers_ends_an_open_transaction(tmp_path: Path) -> None:
    from kio.schema.errors import ErrorCode
    from kio.schema.write_txn_markers.v1 import request as wtm
    from test_groups_support import kio_call

    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 1)
        producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-w"})
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce("t", value=b"pending")
        producer.flush(10)
        described = kio_call(
            b.port,
            wtm.WriteTxnMarkersRequest(
                markers=(
                    wtm.WritableTxnMarker(
                        producer_id=0,
                        producer_epoch=0,
                        transaction_result=False,
                        coordinator_epoch=0,
                        topics=(
                            wtm.WritableTxnMarkerTopic(name="t", partition_indexes=(0,)),
                            wtm.WritableTxnMarkerTopic(name="missing", partition_indexes=(0,)),
                        ),
                    ),
                )
            ),
        )
        (result,) = described.markers
        codes = {t.name: t.partitions[0].error_code for t in result.topics}
        assert codes == {"t": ErrorCode.none, "missing": ErrorCode.unknown_topic_or_partition}
        # The marker sits after the pending record.
        assert read_all(b.bootstrap, "t", "read_uncommitted") == [(0, "pending")]
        producer.abort_transaction(20)


def test_kafka_python_transactions_commit_abort_and_offsets(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata
    from kafka import TopicPartition as KpTopicPartition

    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 1)
        producer = KafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="kp-tx")
        try:
            producer.init_transactions()
            producer.begin_transaction()
            for i in range(3):
                producer.send("t", f"kept{i}".encode())
            producer.commit_transaction()
            producer.begin_transaction()
            producer.send("t", b"dropped").get(timeout=20)  # in the log, then aborted
            producer.abort_transaction()
            # Offsets committed in a transaction (kafka-python's group metadata form).
            producer.begin_transaction()
            producer.send("t", b"with-offsets")
            producer.send_offsets_to_transaction(
                {KpTopicPartition("t", 0): OffsetAndMetadata(2, "", -1)}, "kp-group"
            )
            producer.commit_transaction()
        finally:
            producer.close(timeout=10)

        committed = ["kept0", "kept1", "kept2", "with-offsets"]
        assert [v for _, v in read_all(b.bootstrap, "t", "read_committed")] == committed
        assert "dropped" in {v for _, v in read_all(b.bootstrap, "t", "read_uncommitted")}
        assert committed_offsets(b.bootstrap, "kp-group", "t", 1) == {0: 2}

        # kafka-python's own read_committed consumer drops the aborted record too.
        consumer = KafkaConsumer(
            bootstrap_servers=b.bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=5000,
        )
        try:
            consumer.assign([KpTopicPartition("t", 0)])
            seen = [m.value.decode() for m in consumer]
        finally:
            consumer.close()
        assert seen == committed


def test_produce_to_a_partition_not_added_is_refused(tmp_path: Path) -> None:
    """KIP-890 part 1: a transactional batch for a partition the transaction never added
    gets INVALID_TXN_STATE and nothing is written (no hanging transaction holds the last
    stable offset back); once added, the same batch goes in."""
    import datetime

    from kio.index import load_request_schema
    from kio.schema.errors import ErrorCode
    from test_groups_support import kio_call

    from millrace_broker.storage.records import Record, build_batch

    def request(api_key: int, version: int, **fields: Any) -> Any:
        return load_request_schema(api_key, version)(**fields)

    def nested_cls(api_key: int, version: int, name: str) -> Any:
        return getattr(sys.modules[load_request_schema(api_key, version).__module__], name)

    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 2)
        # FindCoordinator creates __transaction_state.
        Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "warm"}).init_transactions(
            20
        )
        init = kio_call(
            b.port,
            request(
                22,
                4,
                transactional_id="raw-tx",
                transaction_timeout=datetime.timedelta(seconds=60),
                producer_id=-1,
                producer_epoch=-1,
            ),
        )
        assert init.error_code == ErrorCode.none
        pid, epoch = init.producer_id, init.producer_epoch

        def produce(partition: int, sequence: int) -> Any:
            batch = build_batch(
                [Record(0, 1000, None, f"txn-{partition}".encode())],
                base_offset=0,
                attributes=0x10,  # transactional
                producer_id=pid,
                producer_epoch=epoch,
                base_sequence=sequence,
            )
            data = nested_cls(0, 9, "PartitionProduceData")(index=partition, records=bytes(batch))
            topic = nested_cls(0, 9, "TopicProduceData")(name="t", partition_data=(data,))
            response = kio_call(
                b.port,
                request(
                    0,
                    9,
                    transactional_id="raw-tx",
                    acks=-1,
                    timeout=datetime.timedelta(seconds=10),
                    topic_data=(topic,),
                ),
            )
            return response.responses[0].partition_responses[0]

        def add(partition: int) -> Any:
            topic = nested_cls(24, 3, "AddPartitionsToTxnTopic")(name="t", partitions=(partition,))
            response = kio_call(
                b.port,
                request(
                    24,
                    3,
                    v3_and_below_transactional_id="raw-tx",
                    v3_and_below_producer_id=pid,
                    v3_and_below_producer_epoch=epoch,
                    v3_and_below_topics=(topic,),
                ),
            )
            return response.results_by_topic_v3_and_below[0].results_by_partition[0]

        assert add(0).partition_error_code == ErrorCode.none
        assert produce(0, 0).error_code == ErrorCode.none
        refused = produce(1, 0)  # partition 1 was never added
        assert refused.error_code == ErrorCode.invalid_txn_state, refused
        assert refused.error_message == "Partition was not added to the transaction"
        assert add(1).partition_error_code == ErrorCode.none
        assert produce(1, 0).error_code == ErrorCode.none
        ended = kio_call(
            b.port,
            request(
                26,
                3,
                transactional_id="raw-tx",
                producer_id=pid,
                producer_epoch=epoch,
                committed=True,
            ),
        )
        assert ended.error_code == ErrorCode.none
        # One record per partition: the refused batch left nothing behind, and the last
        # stable offsets moved past the transaction.
        got = Consumer(
            {
                "bootstrap.servers": b.bootstrap,
                "group.id": "check",
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
        got.assign([TopicPartition("t", 0, 0), TopicPartition("t", 1, 0)])
        values, eof = [], set()
        deadline = time.monotonic() + 20
        while len(eof) < 2 and time.monotonic() < deadline:
            m = got.poll(0.2)
            if m is None:
                continue
            if m.error():
                eof.add(m.partition())
                continue
            values.append(m.value().decode())
        got.close()
        assert sorted(values) == ["txn-0", "txn-1"] and len(eof) == 2


def test_kafka_python_zombie_is_fenced(tmp_path: Path) -> None:
    from kafka import KafkaProducer

    with group_broker(tmp_path / "data") as b:
        create_topic_v7(b.port, "t", 1)
        zombie = KafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="kp-z")
        successor = KafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="kp-z")
        try:
            zombie.init_transactions()
            zombie.begin_transaction()
            zombie.send("t", b"zombie").get(timeout=20)
            successor.init_transactions()  # fences the zombie, aborts its transaction
            with pytest.raises(Exception) as fenced:
                zombie.commit_transaction()
            assert (
                "Fenced" in type(fenced.value).__name__ or "Epoch" in type(fenced.value).__name__
            ), repr(fenced.value)
            successor.begin_transaction()
            successor.send("t", b"successor")
            successor.commit_transaction()
        finally:
            zombie.close(timeout=5)
            successor.close(timeout=10)
        assert [v for _, v in read_all(b.bootstrap, "t", "read_committed")] == ["successor"]
