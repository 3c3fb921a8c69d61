"""`python -m millrace_operator.render cluster.yaml [--namespace ns] [--zones a,b,c]`

Print the objects the operator would create for a Cluster manifest, as YAML, without a
Kubernetes cluster: for reviewing a manifest or debugging the renderers. The cluster id and
directory ids are placeholders (the operator generates them once per cluster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped, unused-ignore]

from millrace_operator.model.cluster import Cluster
from millrace_operator.render import Identity, RenderContext, build_objects
from millrace_operator.render.layout import build_layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m millrace_operator.render")
    parser.add_argument("manifest", type=Path, help="a Cluster manifest (YAML)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--zones", default="", help="zones when spec.zones.names is empty")
    parser.add_argument("--cluster-domain", default="cluster.local")
    args = parser.parse_args(argv)
    doc = yaml.safe_load(args.manifest.read_text())
    cluster = Cluster.model_validate(doc)
    name = doc.get("metadata", {}).get("name", "cluster")
    zones = tuple(cluster.spec.zones.names) or tuple(z for z in args.zones.split(",") if z)
    if not zones:
        print("no zones: list spec.zones.names or pass --zones", file=sys.stderr)
        return 2
    layout = build_layout(name, cluster.spec, list(zones))
    identity = Identity(
        "CLUSTER-ID-PLACEHOLDER",
        {n.node_id: f"DIRECTORY-ID-{n.node_id}" for n in layout.controllers},
    )
    ctx = RenderContext(
        name=name,
        namespace=args.namespace,
        uid="UID-PLACEHOLDER",
        spec=cluster.spec,
        zones=zones,
        identity=identity,
        cluster_domain=args.cluster_domain,
    )
    yaml.safe_dump_all(build_objects(ctx), sys.stdout, sort_keys=False, width=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
