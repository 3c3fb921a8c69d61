"""KRaft metadata snapshots (KIP-630) with real processes.

With a small `metadata.log.max.record.bytes.between.snapshots`, creating many topics makes
every node write `<offset>-<epoch>.checkpoint` files under `__cluster_metadata-0` and trim
its log; a restart of every node (kill -9) restores every topic and config from them (one
node's newest snapshot damaged on purpose: it falls back to the previous one); a
node that was down while the log was trimmed, and a node whose data directory was wiped,
catch up by fetching the leader's snapshot and then serve the same metadata.

Each node's own view is read with raw Metadata and DescribeConfigs requests sent to that
node (clients would route to any broker).
"""

from __future__ import annotations

import json
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from kio.schema.describe_configs.v4.request import DescribeConfigsRequest, DescribeConfigsResource
from kio.schema.describe_configs.v4.response import DescribeConfigsResponse
from kio.schema.metadata.v12.request import MetadataRequest
from kio.schema.metadata.v12.response import MetadataResponse
from kio.serial import entity_reader
from kio.static.primitive import i8

from millrace_broker.protocol.codec import encode_request
from support_broker import BrokerProcess, running_broker
from support_kraft import AckedProducer, KraftCluster, check_exactly_once, consume_everything
from support_wire import RawConnection

pytestmark = pytest.mark.slow

SNAPSHOT_EVERY = "metadata.log.max.record.bytes.between.snapshots=4096"
TOPIC_CONFIG_SOURCE = 1  # DescribeConfigs config_source: DYNAMIC_TOPIC_CONFIG
_FRAME = struct.Struct(">II")
T = TypeVar("T")

State = dict[str, tuple[int, dict[str, str]]]  # topic -> (partitions, dynamic configs)


# ---------------------------------------------------------------- on-disk views
def metadata_dir(node: BrokerProcess) -> Path:
    return node.data_dir / "__cluster_metadata-0"


def checkpoint_offsets(node: BrokerProcess) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in metadata_dir(node).glob("*.checkpoint"))


def snapshots_of(node: BrokerProcess) -> list[int]:
    """Offsets of the node's own snapshots (not the bootstrap checkpoint 0-0)."""
    return [o for o in checkpoint_offsets(node) if o > 0]


def has_snapshots(node: BrokerProcess, count: int) -> bool:
    return len(snapshots_of(node)) >= count


def log_file_offsets(node: BrokerProcess) -> list[int]:
    """Offsets of the entries in the node's metadata log file, read without opening it
    as a log (frames: u32 length, u32 crc, JSON entry)."""
    data = (metadata_dir(node) / "log").read_bytes()
    offsets, pos = [], 0
    while pos + _FRAME.size <= len(data):
        length, _crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size : pos + _FRAME.size + length]
        if len(body) < length:
            break
        offsets.append(int(json.loads(body)["offset"]))
        pos += _FRAME.size + length
    return offsets


def metadata_end(node: BrokerProcess) -> int:
    """The offset below which a stopped node holds the metadata log (snapshot or log)."""
    ends = [o + 1 for o in log_file_offsets(node)] + checkpoint_offsets(node)
    return max(ends, default=0)


# ---------------------------------------------------------------- one node's own view
def _call(port: int, request: Any, response_type: type[T]) -> T:
    conn = RawConnection(port)
    try:
        frame = conn.request(encode_request(request, correlation_id=7))
    finally:
        conn.sock.close()
    assert struct.unpack_from(">i", frame)[0] == 7
    entity, _size = entity_reader(response_type)(frame, 5)  # correlation id, tagged fields
    return entity  # type: ignore[no-any-return]


def node_state(node: BrokerProcess, prefix: str) -> State:
    everything = MetadataRequest(
        topics=None, allow_auto_topic_creation=False, include_topic_authorized_operations=False
    )
    md = _call(node.port, everything, MetadataResponse)
    names = sorted(str(t.name) for t in md.topics if str(t.name).startswith(prefix))
    partitions = {str(t.name): len(t.partitions) for t in md.topics}
    if not names:
        return {}
    resources = tuple(
        DescribeConfigsResource(resource_type=i8(2), resource_name=name, configuration_keys=None)
        for name in names
    )
    request = DescribeConfigsRequest(
        resources=resources, include_synonyms=False, include_documentation=False
    )
    configs = _call(node.port, request, DescribeConfigsResponse)
    state: State = {}
    for result in configs.results:
        assert result.error_code == 0, result
        dynamic = {
            str(c.name): str(c.value)
            for c in result.configs
            if c.config_source == TOPIC_CONFIG_SOURCE
        }
        state[str(result.resource_name)] = (partitions[str(result.resource_name)], dynamic)
    return state


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # a node still starting, a rewrite mid-read
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


# ---------------------------------------------------------------- cluster actions
@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KraftCluster]:
    yield from _cluster(tmp_path, dedicated=False)


@pytest.fixture
def dedicated(tmp_path: Path) -> Iterator[KraftCluster]:
    yield from _cluster(tmp_path, dedicated=True)


def _cluster(tmp_path: Path, *, dedicated: bool) -> Iterator[KraftCluster]:
    cluster = KraftCluster(tmp_path, dedicated=dedicated)
    for node in cluster.nodes.values():
        node.overrides.append(SNAPSHOT_EVERY)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def admin(cluster: KraftCluster) -> AdminClient:
    return cluster.admin(*cluster.live_ids())


def create_topics(
    cluster: KraftCluster, first: int, count: int, *, prefix: str, within: float = 120.0
) -> None:
    """Topics with 1-3 partitions, RF 1-3 and a dynamic config of their own each. Retried
    through transient errors (an election in progress) until `within` seconds."""
    wanted = {
        f"{prefix}{i:03d}": NewTopic(
            f"{prefix}{i:03d}",
            1 + i % 3,
            1 + i % 3,
            config={"retention.ms": str(3_600_000 + i), "segment.bytes": str(1_048_576 + i)},
        )
        for i in range(first, first + count)
    }
    deadline = time.monotonic() + within
    while True:
        client = admin(cluster)  # kept alive until the results are in
        futures = client.create_topics(list(wanted.values()), operation_timeout=30)
        for name, future in futures.items():
            try:
                future.result(60)
                del wanted[name]
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    del wanted[name]  # an earlier attempt made it after all
                elif time.monotonic() > deadline:
                    raise
        if not wanted:
            return
        time.sleep(1)


def change_some(cluster: KraftCluster, *, prefix: str, deleted: list[str]) -> None:
    """Deletes and config changes: state a snapshot must hold as it is now, not as created."""
    client = admin(cluster)
    for future in client.delete_topics(deleted, operation_timeout=30).values():
        future.result(60)
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        f"{prefix}005",
        incremental_configs=[
            ConfigEntry("retention.ms", "42000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("segment.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    for future in client.incremental_alter_configs([resource]).values():
        future.result(60)


def expected_state(cluster: KraftCluster, prefix: str, count: int) -> State:
    """The state every node must converge to, read from the first live broker once it has
    all `count` topics."""
    return expected_state_of(cluster.nodes[cluster.live_ids()[0]], prefix, count)


def expected_state_of(node: BrokerProcess, prefix: str, count: int) -> State:
    found: State = {}

    def complete() -> bool:
        nonlocal found
        found = node_state(node, prefix)
        return len(found) == count

    wait_for(f"{count} topics on the node on port {node.port}", complete)
    return found


def assert_serves(node: BrokerProcess, expected: State, prefix: str) -> None:
    wait_for(
        f"node on port {node.port} to serve the expected metadata",
        lambda: node_state(node, prefix) == expected,
    )


def log_since(node: BrokerProcess, mark: int) -> str:
    return node.log()[mark:]


# ---------------------------------------------------------------- tests
def test_snapshots_trim_the_log_and_a_restart_of_every_node_restores_everything(
    cluster: KraftCluster,
) -> None:
    create_topics(cluster, 0, 45, prefix="snap-")
    change_some(cluster, prefix="snap-", deleted=["snap-000", "snap-001"])
    expected = expected_state(cluster, "snap-", 43)
    assert expected["snap-005"][1] == {"retention.ms": "42000", "cleanup.policy": "compact"}

    for node_id, node in cluster.nodes.items():
        # two snapshots written: the log file keeps only what follows the older one
        wait_for(f"two snapshots on node {node_id}", partial(has_snapshots, node, 2))
        snapshots = snapshots_of(node)
        offsets = log_file_offsets(node)
        print(f"node {node_id}: snapshots at {snapshots}, log file holds {offsets[:1]}..")
        assert offsets and offsets[0] == snapshots[-2] > 0, (snapshots, offsets[:3])
        assert "metadata snapshot" in node.log() and "written" in node.log()

    marks = {i: len(n.log()) for i, n in cluster.nodes.items()}
    for node in cluster.nodes.values():
        node.kill9()
    # node 1's newest snapshot is damaged: it must fall back to the previous one + the log
    newest = sorted(metadata_dir(cluster.nodes[1]).glob("*.checkpoint"))[-1]
    damaged = bytearray(newest.read_bytes())
    damaged[-10] ^= 0xFF
    newest.write_bytes(bytes(damaged))
    cluster.start()
    for node_id, node in cluster.nodes.items():
        assert_serves(node, expected, "snap-")
        assert "metadata image loaded from snapshot" in log_since(node, marks[node_id])
    assert f"metadata snapshot {newest} is damaged" in log_since(cluster.nodes[1], marks[1])
    assert (metadata_dir(cluster.nodes[1]) / (newest.name + ".corrupt")).exists()
    # and the cluster still works: a new topic after the restart
    create_topics(cluster, 100, 1, prefix="snap-")
    assert len(expected_state(cluster, "snap-", 44)) == 44


def test_nodes_behind_the_log_start_catch_up_through_the_leaders_snapshot(
    cluster: KraftCluster,
) -> None:
    create_topics(cluster, 0, 5, prefix="lag-")
    leader = cluster.metadata().controller_id
    down, wiped = (i for i in (1, 2, 3) if i != leader)

    # one node stopped while the leader's log moves on past two snapshots
    lagging = cluster.nodes[down]
    assert lagging.stop() == 0
    behind = metadata_end(lagging)
    create_topics(cluster, 5, 40, prefix="lag-")
    change_some(cluster, prefix="lag-", deleted=["lag-000", "lag-007"])
    expected = expected_state(cluster, "lag-", 43)
    leader = cluster.metadata().controller_id
    wait_for(
        f"node {leader} to trim its log past offset {behind}",
        lambda: checkpoint_offsets(cluster.nodes[leader])[-1] > behind,
    )
    mark = len(lagging.log())
    lagging.start(timeout=120)
    assert_serves(lagging, expected, "lag-")
    print(f"node {down} was at {behind}; snapshots: {checkpoint_offsets(cluster.nodes[leader])}")
    assert "fetched from the leader replaces the log" in log_since(lagging, mark)

    # another node loses its whole data directory and is formatted again (same cluster
    # id and node id: the test cluster passes --cluster-id on every start)
    gone = cluster.nodes[wiped]
    gone.kill9()
    shutil.rmtree(gone.data_dir)
    mark = len(gone.log())
    gone.start(timeout=120)
    assert_serves(gone, expected, "lag-")
    assert "fetched from the leader replaces the log" in log_since(gone, mark)
    for node in cluster.nodes.values():
        assert_serves(node, expected, "lag-")


def test_observers_and_a_wiped_controller_catch_up_through_snapshots(
    dedicated: KraftCluster,
) -> None:
    cluster = dedicated
    create_topics(cluster, 0, 3, prefix="obs-")
    observer = cluster.nodes[6]  # a broker-only node: a Raft observer
    assert observer.stop() == 0
    behind = metadata_end(observer)
    leader = cluster.metadata().controller_id
    voter = next(i for i in (1, 2, 3) if i != leader)
    cluster.nodes[voter].kill9()
    shutil.rmtree(cluster.nodes[voter].data_dir)

    create_topics(cluster, 3, 40, prefix="obs-")
    expected = expected_state(cluster, "obs-", 43)
    wait_for(
        f"controller {leader} to trim its log past offset {behind}",
        lambda: checkpoint_offsets(cluster.nodes[leader])[-1] > behind,
    )
    marks = {i: len(cluster.nodes[i].log()) for i in (6, voter)}
    cluster.nodes[voter].start(timeout=120)
    observer.start(timeout=120)
    assert_serves(observer, expected, "obs-")
    assert "fetched from the leader replaces the log" in log_since(observer, marks[6])
    wait_for(
        f"wiped controller {voter} to load the leader's snapshot",
        lambda: (
            "fetched from the leader replaces the log"
            in log_since(cluster.nodes[voter], marks[voter])
        ),
    )
    controller_log = log_since(cluster.nodes[voter], marks[voter])
    assert "metadata image loaded from snapshot" in controller_log
    for broker_id in cluster.broker_ids:
        assert_serves(cluster.nodes[broker_id], expected, "obs-")


def test_every_node_killed_in_turn_under_load_loses_nothing(cluster: KraftCluster) -> None:
    """Snapshots taken while ISRs shrink and expand (PartitionChangeRecords) and loaded by
    restarted nodes do not cost an acknowledged record."""
    topic = "snap-durable"
    client = admin(cluster)
    client.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})])[
        topic
    ].result(60)
    assert cluster.wait_full_isr(topic, timeout=60)
    producer = AckedProducer(cluster.bootstrap, topic, partitions=3, seconds=240)
    producer.start()
    wait_for("2000 acknowledged records", lambda: producer.count() >= 2000, timeout=60)
    before = producer.count()
    marks = {i: len(n.log()) for i, n in cluster.nodes.items()}
    for node_id, node in cluster.nodes.items():
        node.kill9()
        create_topics(cluster, 10 * node_id, 8, prefix="snap-load-")  # metadata churn
        node.start(timeout=120)
        assert cluster.wait_full_isr(topic, timeout=120), f"no full ISR after node {node_id}"
    wait_for("progress after the restarts", lambda: producer.count() >= before + 2000)
    producer.stop()
    acked = producer.count()
    got = consume_everything(cluster.bootstrap, topic, 3, acked, timeout=120)
    consumed = sum(len(v) for v in got.values())
    print(
        f"acked={acked} (before faults {before}) consumed={consumed} errors={len(producer.errors)}"
    )
    assert check_exactly_once(producer.acked, got) == ""
    for node_id, node in cluster.nodes.items():
        assert snapshots_of(node), f"node {node_id} wrote no snapshot"
        assert "metadata image loaded from snapshot" in log_since(node, marks[node_id])


def test_the_interval_rule_snapshots_a_quiet_node(tmp_path: Path) -> None:
    """`metadata.log.max.snapshot.interval.ms`: with the byte rule far away, a single
    node snapshots on its own once the interval passes, and a restart loads it."""
    overrides = [
        "metadata.log.max.record.bytes.between.snapshots=1000000000",
        "metadata.log.max.snapshot.interval.ms=2000",
    ]
    with running_broker(tmp_path / "data", overrides) as node:
        client = AdminClient({"bootstrap.servers": node.bootstrap})
        client.create_topics([NewTopic("quiet", 2, 1, config={"retention.ms": "123456"})])[
            "quiet"
        ].result(60)
        wait_for("a snapshot by the interval rule", partial(has_snapshots, node, 1), timeout=60)
        expected = expected_state_of(node, "quiet", 1)
        mark = len(node.log())
        assert node.stop() == 0
        node.start(timeout=60)
        assert_serves(node, expected, "quiet")
        assert "metadata image loaded from snapshot" in log_since(node, mark)
