"""Dynamic KRaft quorum (KIP-853) with real processes: a quorum started `--standalone`
grows and shrinks with Apache Kafka's own `kafka-metadata-quorum add-controller /
remove-controller`, and a controller is added and another removed (AddRaftVoter /
RemoveRaftVoter on the wire) under a continuous idempotent acks=all producer without
losing or duplicating an acknowledged record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from support_broker import free_port, running_broker
from support_kraft import AckedProducer, check_exactly_once, consume_everything
from support_quorum import (
    DynamicQuorum,
    add_raft_voter,
    describe_quorum,
    new_uuid,
    remove_raft_voter,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def quorum(tmp_path: Path) -> Iterator[DynamicQuorum]:
    q = DynamicQuorum(tmp_path)
    try:
        yield q
    finally:
        q.stop()


def metadata_quorum(*args: str, attempts: int = 1) -> str:
    """Run the Kafka tool; voter changes are retried as Kafka's docs advise when the
    leader answers "retry" (new voter not caught up yet, leader changing: busy machine)."""
    from kafkaref import kafka_cli

    for attempt in range(attempts):
        proc = kafka_cli("kafka-metadata-quorum", *args, timeout=180)
        if proc.returncode == 0:
            return str(proc.stdout)
        retriable = any(s in proc.stderr for s in ("retry", "Timed out", "NotLeader"))
        if attempt + 1 == attempts or not retriable:
            raise AssertionError(f"kafka-metadata-quorum {args} failed:\n{proc.stderr}")
        time.sleep(2)
    raise AssertionError("unreachable")


def until_accepted(call, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    """A voter change, retried while the leader says retry (REQUEST_TIMED_OUT 7,
    NOT_LEADER_OR_FOLLOWER 6): what an operator does."""
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        if response.error_code not in (6, 7) or time.monotonic() > deadline:
            return response
        time.sleep(1)


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


@pytest.mark.kafka_cli
def test_standalone_quorum_grows_and_shrinks_with_kafka_metadata_quorum(
    quorum: DynamicQuorum,
) -> None:
    first = quorum.add_node(1, mode=["--standalone"])
    first.process.start(timeout=120)
    joiners = [quorum.add_node(i, mode=["--no-initial-controllers"]) for i in (2, 3)]
    for node in joiners:
        node.process.start(timeout=120)
    controller = f"127.0.0.1:{first.controller_port}"
    for node in joiners:
        quorum.wait_observer(node.node_id)
    status = metadata_quorum("--bootstrap-controller", controller, "describe", "--status")
    assert f'CurrentVoters:          [{{"id": 1, "directoryId": "{first.directory_id}"' in status
    assert '"id": 2' in status.split("CurrentObservers:")[1]

    for node in joiners:  # as Kafka documents: the new controller's own properties file
        out = metadata_quorum(
            "--bootstrap-controller",
            controller,
            "--command-config",
            str(node.properties),
            "add-controller",
            attempts=5,
        )
        assert f"Added controller {node.node_id} with directory id {node.directory_id}" in out
    expected = {n.node_id: n.directory_id for n in (first, *joiners)}
    assert quorum.voters() == expected

    status = metadata_quorum("--bootstrap-server", first.process.bootstrap, "describe", "--status")
    print(status)
    for node in joiners:
        endpoint = f"CONTROLLER://127.0.0.1:{node.controller_port}"
        assert f'"directoryId": "{node.directory_id}", "endpoints": ["{endpoint}"]' in status
    replication = metadata_quorum("--bootstrap-controller", controller, "describe", "--replication")
    rows = [line.split() for line in replication.splitlines()[1:] if line.strip()]
    assert sorted((int(r[0]), r[1]) for r in rows) == sorted(expected.items())
    assert sorted(r[-1] for r in rows) == ["Follower", "Follower", "Leader"]

    # remove one voter that is not the leader; it stays a broker, now a Raft observer
    leader = int(quorum.describe().leader_id)
    gone = next(n for n in joiners if n.node_id != leader)
    out = metadata_quorum(  # through a broker this time: brokers forward it (as Kafka's)
        "--bootstrap-server",
        gone.process.bootstrap,
        "remove-controller",
        "--controller-id",
        str(gone.node_id),
        "--controller-directory-id",
        gone.directory_id,
    )
    assert f"KRaft controller {gone.node_id} with directory id {gone.directory_id}" in out
    assert gone.node_id not in quorum.voters()
    wait_for(lambda: gone.node_id in quorum.observers(), "the removed voter keeps fetching")
    replication = metadata_quorum("--bootstrap-controller", controller, "describe", "--replication")
    observer_rows = [line.split() for line in replication.splitlines() if "Observer" in line]
    assert [int(r[0]) for r in observer_rows] == [gone.node_id]

    # the cluster still serves: a replicated topic on all three brokers
    admin = quorum.admin()
    admin.create_topics([NewTopic("after-change", 1, 3)])["after-change"].result(30)


def test_unknown_voter_and_static_quorum_errors(quorum: DynamicQuorum) -> None:
    first = quorum.add_node(1, mode=["--standalone"])
    first.process.start(timeout=120)
    quorum.describe()
    # a directory id that is not the voter's: VOTER_NOT_FOUND (127), nothing changes
    assert (
        remove_raft_voter(first.controller_port, quorum.cluster_id, 1, new_uuid()).error_code == 127
    )
    assert list(quorum.voters()) == [1]
    # the last voter cannot go
    resp = remove_raft_voter(first.controller_port, quorum.cluster_id, 1, first.directory_id)
    assert resp.error_code == 42 and "last voter" in resp.error_message
    # a replica that never fetched cannot be added: REQUEST_TIMED_OUT (7) with the reason
    stranger = quorum.add_node(9, mode=["--no-initial-controllers"])
    stranger.process.data_dir.mkdir(parents=True)
    (stranger.process.data_dir / "meta.properties").write_text(f"directory.id={new_uuid()}\n")
    resp = add_raft_voter(first.controller_port, quorum.cluster_id, stranger)
    assert resp.error_code == 7 and "not caught up" in resp.error_message
    assert list(quorum.voters()) == [1]


def test_a_static_quorum_refuses_voter_changes(tmp_path: Path) -> None:
    """controller.quorum.voters is kraft.version 0: UNSUPPORTED_VERSION (35), as Kafka."""
    with running_broker(tmp_path / "static") as broker:
        resp = remove_raft_voter(broker.port, "", 1, new_uuid())
        assert resp.error_code == 35 and "static" in resp.error_message
        wait_for(lambda: describe_quorum(broker.port).error_code == 0, "the one voter leads")
        assert [v.replica_id for v in describe_quorum(broker.port).current_voters] == [1]


def test_dedicated_controller_and_broker_of_a_dynamic_quorum(quorum: DynamicQuorum) -> None:
    """A broker formatted with just --cluster-id finds the leader through
    controller.quorum.bootstrap.servers and serves clients."""
    controller = quorum.add_node(1, mode=["--standalone"], controller_only=True)
    controller.process.start(timeout=120)
    broker = quorum.add_node(2, mode=[], broker_only=True)
    broker.process.start(timeout=120)
    quorum.wait_observer(2)
    assert list(quorum.voters()) == [1]
    admin = quorum.admin()
    admin.create_topics([NewTopic("dynamic", 1, 1)])["dynamic"].result(30)
    producer = AckedProducer(quorum.bootstrap, "dynamic", partitions=1, limit=500)
    producer.start()
    producer.finish()
    assert producer.count() == 500 and not producer.errors
    got = consume_everything(quorum.bootstrap, "dynamic", 1, 500)
    assert check_exactly_once(producer.acked, got) == ""


def test_a_voter_back_on_a_new_port_announces_it(quorum: DynamicQuorum) -> None:
    """UpdateRaftVoter: the voter set follows a controller that moved (a rescheduled pod)."""
    first = quorum.add_node(1, mode=["--standalone"])
    first.process.start(timeout=120)
    second = quorum.add_node(2, mode=["--no-initial-controllers"])
    second.process.start(timeout=120)
    quorum.wait_observer(2)
    added = until_accepted(lambda: add_raft_voter(first.controller_port, quorum.cluster_id, second))
    assert added.error_code == 0, added.error_message
    assert second.process.stop() == 0
    new_port = quorum.move_controller(2)
    second.process.start(timeout=120)
    wanted = [f"CONTROLLER://127.0.0.1:{new_port}"]
    wait_for(lambda: quorum.voter_endpoints().get(2) == wanted, "node 2's new endpoint", 90)
    assert quorum.voters() == {1: first.directory_id, 2: second.directory_id}
    # the quorum of two commits through the moved voter
    admin = quorum.admin()
    admin.create_topics([NewTopic("after-move", 1, 2)])["after-move"].result(30)


def test_add_and_remove_a_controller_under_load_loses_nothing(quorum: DynamicQuorum) -> None:
    """The issue's fault test: RF=3, min ISR 2, an idempotent acks=all producer; a
    controller joins (AddRaftVoter) and the active controller leaves (RemoveRaftVoter)."""
    ids = {i: new_uuid() for i in (1, 2, 3)}
    ports = {i: free_port() for i in (1, 2, 3)}
    quorum.bootstrap_controllers[:] = list(ports.values())
    initial = ",".join(f"{i}@127.0.0.1:{ports[i]}:{ids[i]}" for i in (1, 2, 3))
    nodes = [
        quorum.add_node(i, mode=["--initial-controllers", initial], controller_port=ports[i])
        for i in (1, 2, 3)
    ]
    for node in nodes:
        node.process.launch()
    for node in nodes:
        node.process.wait_listening(timeout=120)
    assert quorum.voters() == ids
    newcomer = quorum.add_node(4, mode=["--no-initial-controllers"], controller_only=True)
    newcomer.process.start(timeout=120)
    quorum.wait_observer(4)

    admin = quorum.admin()
    topic = NewTopic("quorum-change", 3, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([topic])["quorum-change"].result(30)
    wait_for(lambda: full_isr(quorum, "quorum-change"), "full ISR after creation")

    producer = AckedProducer(quorum.bootstrap, "quorum-change", partitions=3)
    producer.start()
    wait_for(lambda: producer.count() >= 2000, "2000 acknowledged records before the change")
    before = producer.count()
    via = nodes[1].process.port  # a broker listener: the broker forwards to the controller
    added = until_accepted(lambda: add_raft_voter(via, quorum.cluster_id, newcomer))
    assert added.error_code == 0, added.error_message
    leader = int(quorum.describe().leader_id)
    removed = until_accepted(lambda: remove_raft_voter(via, quorum.cluster_id, leader, ids[leader]))
    assert removed.error_code == 0, removed.error_message
    after_change = producer.count()
    wait_for(lambda: producer.count() >= after_change + 2000, "progress after the change", 90)
    producer.stop()

    voters = quorum.voters()
    assert sorted(voters) == sorted({1, 2, 3, 4} - {leader})
    assert int(quorum.describe().leader_id) != leader
    acked = producer.count()
    got = consume_everything(quorum.bootstrap, "quorum-change", 3, acked)
    consumed = sum(len(v) for v in got.values())
    print(
        f"acked={acked} (before change {before}, after {after_change}) consumed={consumed} "
        f"errors={len(producer.errors)} voters={sorted(voters)} removed={leader}"
    )
    assert check_exactly_once(producer.acked, got) == ""
    wait_for(lambda: full_isr(quorum, "quorum-change"), "full ISR after the change", 90)


def full_isr(quorum: DynamicQuorum, topic: str) -> bool:
    try:
        parts = quorum.admin().list_topics(timeout=10).topics[topic].partitions.values()
    except Exception:
        return False
    return all(sorted(p.isrs) == sorted(p.replicas) and p.leader >= 0 for p in parts)
