"""Storage formatting, like ``kafka-storage format``.

A log directory is formatted once, before first start.  It gets ``meta.properties``
(cluster.id, node.id, directory.id, version=1), and a controller's metadata log
directory may also get a bootstrap checkpoint: snapshot ``0-0`` of
``__cluster_metadata`` holding the initial voter set.  The three modes of KIP-853:

- ``--standalone``: the initial voter set is this controller alone.  Start one
  controller this way, then add the others with AddRaftVoter.
- ``--initial-controllers id@host:port:directoryId,...``: the full initial voter set; this
  node's directory id is the one listed for it, so every controller agrees on the keys.
- ``--no-initial-controllers`` (and brokers): no checkpoint.  The node starts as an
  observer, learns the voter set by fetching from ``controller.quorum.bootstrap.servers``,
  and becomes a voter only when a VotersRecord naming it is appended.

``plan_format`` is pure (inputs -> file contents, or a ``FormatError`` saying what is
wrong and how to fix it); ``write_format`` is the thin writer.  Kafka writes the
checkpoint as record batches; we write the core's snapshot encoding and the on-disk log
adapter converts.  Uuids use Kafka's text form: 16 bytes, URL-safe base64, no padding.
"""

from __future__ import annotations

import base64
import os
import random
from dataclasses import dataclass
from pathlib import Path

from millrace_broker.raft.records import OffsetAndEpoch
from millrace_broker.raft.snapshot import Snapshot, decode_snapshot, encode_snapshot
from millrace_broker.raft.voters import ReplicaKey, Voter, VoterSet

META_PROPERTIES = "meta.properties"
METADATA_LOG_DIR = "__cluster_metadata-0"
BOOTSTRAP_CHECKPOINT = f"{METADATA_LOG_DIR}/00000000000000000000-0000000000.checkpoint"


class FormatError(ValueError):
    pass


def uuid_to_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_valid_uuid_text(text: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (ValueError, TypeError):
        return False
    return len(text) == 22 and len(raw) == 16 and uuid_to_text(raw) == text


def random_uuid(rng: random.Random) -> str:
    """A Kafka-style random Uuid (``kafka-storage random-uuid``), from an injected rng."""
    while True:
        raw = rng.getrandbits(128).to_bytes(16, "big")
        text = uuid_to_text(raw)
        # Kafka reserves the all-zero uuid and ones whose text starts with '-'
        if raw != bytes(16) and not text.startswith("-"):
            return text


@dataclass(frozen=True)
class Standalone:
    endpoint: str  # host:port of this controller's listener


@dataclass(frozen=True)
class InitialControllers:
    voters: VoterSet


@dataclass(frozen=True)
class NoInitialControllers:
    pass


FormatMode = Standalone | InitialControllers | NoInitialControllers


def parse_initial_controllers(spec: str, *, listener: str = "CONTROLLER") -> VoterSet:
    """Parse ``id@host:port:directoryId,...`` (``--initial-controllers``)."""
    voters: list[Voter] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        node, at, rest = item.partition("@")
        host_port, colon, directory_id = rest.rpartition(":")
        if not at or not colon or not node.isdigit() or ":" not in host_port:
            raise FormatError(f"bad controller {item!r}: expected id@host:port:directoryId")
        if not is_valid_uuid_text(directory_id):
            raise FormatError(
                f"bad directory id {directory_id!r} for controller {node}: "
                "use a Uuid from `kafka-storage random-uuid`"
            )
        if any(v.key.id == int(node) for v in voters):
            raise FormatError(f"controller {node} is listed twice in --initial-controllers")
        voters.append(Voter(ReplicaKey(int(node), directory_id), ((listener, host_port),)))
    if not voters:
        raise FormatError("--initial-controllers lists no controllers")
    return VoterSet.of(voters)


def meta_properties(*, cluster_id: str, node_id: int, directory_id: str) -> bytes:
    lines = [
        "#",
        "#Written by millrace storage format",
        f"cluster.id={cluster_id}",
        f"directory.id={directory_id}",
        f"node.id={node_id}",
        "version=1",
    ]
    return ("\n".join(lines) + "\n").encode()


def parse_meta_properties(raw: bytes) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in raw.decode().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


@dataclass(frozen=True)
class FormatPlan:
    directory_id: str
    files: dict[str, bytes]  # path relative to the log directory -> contents
    voters: VoterSet | None


def plan_format(
    *,
    cluster_id: str,
    node_id: int,
    mode: FormatMode,
    directory_id: str,
    is_controller: bool,
    listener: str = "CONTROLLER",
) -> FormatPlan:
    """Decide the files a format writes into one metadata log directory."""
    if not is_valid_uuid_text(cluster_id):
        raise FormatError(
            f"cluster id {cluster_id!r} is not a Kafka Uuid; generate one "
            "with `kafka-storage random-uuid`"
        )
    if node_id < 0:
        raise FormatError(f"node.id must be non-negative, got {node_id}")
    voters: VoterSet | None = None
    if isinstance(mode, Standalone | InitialControllers) and not is_controller:
        raise FormatError(
            "--standalone and --initial-controllers apply to controllers only; "
            "format brokers with --no-initial-controllers"
        )
    if isinstance(mode, Standalone):
        voters = VoterSet.of(
            [Voter(ReplicaKey(node_id, directory_id), ((listener, mode.endpoint),))]
        )
    elif isinstance(mode, InitialControllers):
        mine = mode.voters.get(node_id)
        if mine is None:
            raise FormatError(
                f"node {node_id} is not in --initial-controllers; add it, or "
                "format it with --no-initial-controllers and add it later"
            )
        directory_id = mine.key.directory_id
        voters = mode.voters
    if not is_valid_uuid_text(directory_id):
        raise FormatError(f"directory id {directory_id!r} is not a Kafka Uuid")
    files = {
        META_PROPERTIES: meta_properties(
            cluster_id=cluster_id, node_id=node_id, directory_id=directory_id
        )
    }
    if voters is not None:
        files[BOOTSTRAP_CHECKPOINT] = encode_snapshot(Snapshot(OffsetAndEpoch(0, 0), voters, b""))
    return FormatPlan(directory_id, files, voters)


def write_format(log_dir: Path, plan: FormatPlan, *, ignore_formatted: bool = False) -> bool:
    """Write the plan; refuses an already formatted directory unless told to skip it.

    Returns False when the directory was already formatted and ``ignore_formatted``.
    """
    if (log_dir / META_PROPERTIES).exists():
        if ignore_formatted:
            return False
        raise FormatError(
            f"{log_dir} is already formatted; use --ignore-formatted to skip "
            "it, or empty the directory to reformat (this destroys its data)"
        )
    # meta.properties last: a crash mid-format leaves a directory that is not formatted
    for rel in sorted(plan.files, key=lambda r: r == META_PROPERTIES):
        contents = plan.files[rel]
        path = log_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(contents)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return True


def read_bootstrap_voters(log_dir: Path) -> VoterSet | None:
    """The voter set of the bootstrap checkpoint, or None (observer start)."""
    path = log_dir / BOOTSTRAP_CHECKPOINT
    if not path.exists():
        return None
    return decode_snapshot(path.read_bytes()).voters
