"""The broker accepts every server.properties the operator renders (its own loader).

Tests may use the broker's config package (the layering rule binds the operator's code,
not its tests): this is the contract between the two programs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from millrace_broker.config import load_broker_config
from millrace_operator.model.cluster import ClusterSpec
from millrace_operator.render import Identity, RenderContext
from millrace_operator.render.config import build_server_properties

SPECS: list[dict[str, Any]] = [
    {"replicas": 3},
    {"replicas": 4, "controllers": {"mode": "combined", "count": 3}},
    {"replicas": 1, "controllers": {"mode": "combined", "count": 1}},
    {
        "replicas": 2,
        "controllers": {"count": 1},
        "config": {
            "log.retention.hours": "24",
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "min.insync.replicas": "2",
        },
    },
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_node_config_loads(spec: dict[str, Any], tmp_path: Path) -> None:
    ctx = RenderContext(
        name="demo",
        namespace="ns",
        uid="u",
        spec=ClusterSpec.model_validate(spec),
        zones=("a", "b", "c"),
        identity=Identity("cid"),
    )
    for node in ctx.layout.nodes:
        path = tmp_path / f"{node.pod}.properties"
        path.write_text(build_server_properties(ctx, node))
        config = load_broker_config(path, [])
        assert config.get("node.id") == node.node_id
        assert config.get("broker.rack") == (node.zone if node.is_broker else None)
