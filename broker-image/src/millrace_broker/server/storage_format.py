"""meta.properties: the identity of a log directory (cluster id, node id, directory id),
and formatting like `kafka-storage format`.

Kafka requires `kafka-storage format` before the first start. Millrace formats empty
directories on first start instead (so the README's one command works), and refuses to
start on a directory that belongs to another node or cluster — the check that matters.

A dynamic quorum (`controller.quorum.bootstrap.servers`, KIP-853) needs more than an
identity: a controller's metadata log directory is formatted with one of Kafka's three
modes (`--standalone`, `--initial-controllers`, `--no-initial-controllers`; see
raft/format.py, which plans the files), given on the `millrace-broker` command line
next to `--cluster-id`. `plan_format_mode` turns those flags into a mode, refusing
combinations Kafka refuses; already formatted directories ignore them (Kafka's
`--ignore-formatted`), so the same command line restarts a node.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from ..config import BrokerConfig
from ..kraft.bootstrap import is_dialable
from ..raft.format import (
    FormatError,
    FormatMode,
    InitialControllers,
    NoInitialControllers,
    Standalone,
    parse_initial_controllers,
    parse_meta_properties,
    plan_format,
    write_format,
)

META = "meta.properties"


class StorageFormatError(Exception):
    pass


def new_cluster_id() -> str:
    """Kafka's format: a random UUID as URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def read_meta(directory: Path) -> dict[str, str] | None:
    path = directory / META
    if not path.exists():
        return None
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def directory_id(directory: Path) -> str:
    """The directory id in meta.properties ("" when the directory has none)."""
    meta = read_meta(directory) or {}
    return meta.get("directory.id", "")


def plan_format_mode(
    config: BrokerConfig,
    *,
    standalone: bool = False,
    initial_controllers: str | None = None,
    no_initial_controllers: bool = False,
) -> FormatMode | None:
    """The KIP-853 format mode the command line asks for (None: none given)."""
    chosen = [standalone, initial_controllers is not None, no_initial_controllers]
    if sum(chosen) > 1:
        raise StorageFormatError(
            "use only one of --standalone, --initial-controllers and --no-initial-controllers"
        )
    if not any(chosen):
        return None
    if not no_initial_controllers and config.controller_quorum_voters:
        raise StorageFormatError(
            "--standalone and --initial-controllers are for a dynamic quorum: set "
            "controller.quorum.bootstrap.servers instead of controller.quorum.voters"
        )
    if not no_initial_controllers and not config.is_controller:
        raise StorageFormatError(
            "--standalone and --initial-controllers apply to controllers only "
            "(process.roles must include controller); format brokers with "
            "--no-initial-controllers or just --cluster-id"
        )
    listener = (config.controller_listener_names or ["CONTROLLER"])[0]
    if standalone:
        endpoints = config.advertised_controller_listeners or config.controller_listeners
        if not endpoints:
            raise StorageFormatError(
                "--standalone needs this controller's endpoint: add a listener named in "
                "controller.listener.names to listeners"
            )
        if not is_dialable(endpoints[0].host):
            raise StorageFormatError(
                f"--standalone would publish {endpoints[0]} as this controller's endpoint: "
                "advertise the controller listener with a reachable host in "
                "advertised.listeners"
            )
        return Standalone(f"{endpoints[0].host}:{endpoints[0].port}")
    if initial_controllers is not None:
        try:
            voters = parse_initial_controllers(initial_controllers, listener=listener)
            return InitialControllers(voters)
        except FormatError as exc:
            raise StorageFormatError(str(exc)) from exc
    return NoInitialControllers()


FORMAT_FILE_ENV = "MILLRACE_FORMAT_FILE"


def plan_format_file(config: BrokerConfig, path: Path) -> FormatMode | None:
    """The format mode a format file asks for (the operator's `<pod>.format`:
    `initial.controllers=id@host:port:directoryId,...` for the quorum's first voters).

    Only for a dynamic quorum's controllers: one listed there formats with the initial
    voter set; one that is not (added later, to join with AddRaftVoter) formats with
    `--no-initial-controllers`. Static quorums and brokers need no mode (None)."""
    if config.controller_quorum_voters or not config.is_controller or not path.exists():
        return None
    wanted = parse_meta_properties(path.read_bytes()).get("initial.controllers", "")
    if not wanted:
        return NoInitialControllers()
    listener = (config.controller_listener_names or ["CONTROLLER"])[0]
    try:
        voters = parse_initial_controllers(wanted, listener=listener)
    except FormatError as exc:
        raise StorageFormatError(f"{path}: initial.controllers: {exc}") from exc
    return InitialControllers(voters) if config.node_id in voters.ids else NoInitialControllers()


def ensure_formatted(
    directories: list[Path],
    *,
    node_id: int,
    cluster_id: str | None,
    metadata_dir: Path | None = None,
    mode: FormatMode | None = None,
    is_controller: bool = False,
    listener: str = "CONTROLLER",
) -> str:
    """Format unformatted directories; verify formatted ones; return the cluster id.

    With a `mode`, the metadata log directory is formatted by raft/format.py's plan
    (which may write the bootstrap checkpoint of the initial voter set)."""
    if metadata_dir is not None and metadata_dir not in directories:
        directories = [*directories, metadata_dir]
    found = {d: read_meta(d) for d in directories}
    ids = {m["cluster.id"] for m in found.values() if m and "cluster.id" in m}
    if len(ids) > 1:
        raise StorageFormatError(
            f"log directories belong to different clusters {sorted(ids)}; "
            "point log.dirs at directories of one cluster"
        )
    cluster = next(iter(ids)) if ids else (cluster_id or new_cluster_id())
    for directory, meta in found.items():
        if meta is None and mode is not None and directory == metadata_dir:
            try:
                plan = plan_format(
                    cluster_id=cluster,
                    node_id=node_id,
                    mode=mode,
                    directory_id=new_cluster_id(),
                    is_controller=is_controller,
                    listener=listener,
                )
                write_format(directory, plan)
            except FormatError as exc:
                raise StorageFormatError(str(exc)) from exc
        elif meta is None:
            directory.mkdir(parents=True, exist_ok=True)
            text = (
                "# Written by millrace-broker on first start\n"
                f"version=1\ncluster.id={cluster}\nnode.id={node_id}\n"
                f"directory.id={new_cluster_id()}\n"
            )
            tmp = directory / (META + ".tmp")
            tmp.write_text(text)
            tmp.replace(directory / META)
        elif int(meta.get("node.id", node_id)) != node_id:
            raise StorageFormatError(
                f"{directory / META} says node.id={meta['node.id']} but the configuration "
                f"says node.id={node_id}; use the node.id the directory was formatted with "
                "or an empty log directory"
            )
    return cluster


def format_for_kraft(
    config: BrokerConfig, *, cluster_id: str | None, mode: FormatMode | None
) -> tuple[str, str]:
    """Format or verify a KRaft node's directories: (cluster id, metadata directory id).

    A lone static voter formats itself on first start (the README's one command); any
    other node needs `--cluster-id`, and a controller of a dynamic quorum also one of the
    three modes, because only the operator knows whether it starts a new quorum or joins
    one."""
    log_dirs = [Path(d) for d in config.log_dirs]
    metadata_dir = Path(config.metadata_log_dir)
    formatted = read_meta(metadata_dir) is not None or any(read_meta(d) for d in log_dirs)
    static = config.controller_quorum_voters
    if not formatted:
        if static and cluster_id is None and not set(static) <= {config.node_id}:
            raise StorageFormatError(
                "a node of a multi-voter KRaft quorum needs formatted storage: start every "
                "node once with the same --cluster-id <id> (like kafka-storage format -t <id>)"
            )
        if not static and cluster_id is None:
            raise StorageFormatError(
                "a node of a dynamic KRaft quorum (controller.quorum.bootstrap.servers) needs "
                "formatted storage: start it once with --cluster-id <id> and, for a "
                "controller, --standalone, --initial-controllers or --no-initial-controllers"
            )
        if not static and config.is_controller and mode is None:
            raise StorageFormatError(
                "a controller of a dynamic KRaft quorum must be formatted with --standalone "
                "(a new quorum of one), --initial-controllers id@host:port:directoryId,... "
                "(a new quorum) or --no-initial-controllers (to join an existing quorum)"
            )
    if mode is None and not static:
        mode = NoInitialControllers()  # brokers of a dynamic quorum
    cluster = ensure_formatted(
        log_dirs,
        node_id=config.node_id,
        cluster_id=cluster_id,
        metadata_dir=metadata_dir,
        mode=mode,
        is_controller=config.is_controller,
        listener=(config.controller_listener_names or ["CONTROLLER"])[0],
    )
    return cluster, directory_id(metadata_dir)
