"""Idempotent-producer semantics on the wire, and producer state across restarts."""

from __future__ import annotations

from pathlib import Path

from support_broker import BrokerProcess, free_port
from support_clients import consume_n, create_topic, unique_topic
from support_wire import RawConnection, batch, produce_v9

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47


def test_duplicates_gaps_and_fencing(broker: BrokerProcess) -> None:
    topic = unique_topic("idem-wire")
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.port)
    try:
        first = produce_v9(conn, topic, batch([b"a", b"b"], producer_id=4242, epoch=0, sequence=0))
        assert (first.error_code, first.base_offset) == (0, 0)
        # A retry of the same batch is acknowledged with its original offset, not re-written.
        retry = produce_v9(conn, topic, batch([b"a", b"b"], producer_id=4242, epoch=0, sequence=0))
        assert (retry.error_code, retry.base_offset) == (0, 0)
        # A gap in sequence numbers is refused.
        gap = produce_v9(conn, topic, batch([b"x"], producer_id=4242, epoch=0, sequence=5))
        assert gap.error_code == OUT_OF_ORDER_SEQUENCE_NUMBER
        nxt = produce_v9(conn, topic, batch([b"c"], producer_id=4242, epoch=0, sequence=2))
        assert (nxt.error_code, nxt.base_offset) == (0, 2)
        # A bumped epoch starts again at sequence 0; the old epoch is then fenced.
        bumped = produce_v9(conn, topic, batch([b"d"], producer_id=4242, epoch=1, sequence=0))
        assert (bumped.error_code, bumped.base_offset) == (0, 3)
        stale = produce_v9(conn, topic, batch([b"e"], producer_id=4242, epoch=0, sequence=3))
        assert stale.error_code == INVALID_PRODUCER_EPOCH
    finally:
        conn.close()
    assert [m.value() for m in consume_n(broker.bootstrap, topic, 4)] == [b"a", b"b", b"c", b"d"]


def test_producer_state_survives_clean_and_unclean_restarts(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", free_port())
    broker.start()
    topic = unique_topic("idem-restart")
    create_topic(broker.bootstrap, topic)
    conn = RawConnection(broker.port)
    produce_v9(conn, topic, batch([b"a"], producer_id=77, epoch=0, sequence=0))
    produce_v9(conn, topic, batch([b"b"], producer_id=77, epoch=0, sequence=1))
    conn.close()
    for restart in (broker.stop, broker.kill9):
        restart()
        broker.start()
        conn = RawConnection(broker.port)
        try:
            retry = produce_v9(conn, topic, batch([b"b"], producer_id=77, epoch=0, sequence=1))
            assert (retry.error_code, retry.base_offset) == (0, 1), restart.__name__
            gap = produce_v9(conn, topic, batch([b"z"], producer_id=77, epoch=0, sequence=9))
            assert gap.error_code == OUT_OF_ORDER_SEQUENCE_NUMBER, restart.__name__
        finally:
            conn.close()
    try:
        assert [m.value() for m in consume_n(broker.bootstrap, topic, 2)] == [b"a", b"b"]
    finally:
        broker.stop()
