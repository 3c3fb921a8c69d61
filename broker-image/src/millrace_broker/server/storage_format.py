"""meta.properties: the identity of a log directory (cluster id, node id, directory id).

Kafka requires `kafka-storage format` before the first start. Millrace formats an empty
directory on first start instead (so the README's one command works), and refuses to
start on a directory that belongs to another node or cluster — the check that matters.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

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


def ensure_formatted(directories: list[Path], *, node_id: int, cluster_id: str | None) -> str:
    """Format unformatted directories; verify formatted ones; return the cluster id."""
    found = {d: read_meta(d) for d in directories}
    ids = {m["cluster.id"] for m in found.values() if m and "cluster.id" in m}
    if len(ids) > 1:
        raise StorageFormatError(
            f"log directories belong to different clusters {sorted(ids)}; "
            "point log.dirs at directories of one cluster"
        )
    cluster = next(iter(ids)) if ids else (cluster_id or new_cluster_id())
    for directory, meta in found.items():
        if meta is None:
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
