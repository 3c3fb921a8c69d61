"""The broker's command line: a cluster id that starts with '-' is still a value."""

from __future__ import annotations

from millrace_broker.main import parse_args


def test_cluster_id_starting_with_a_dash_is_a_value() -> None:
    # URL-safe base64 ids start with '-' one time in 64 (seen as a random CI failure).
    args = parse_args(["--cluster-id", "-IiCIiDaQlqo5qGnCEJITQ", "--override", "node.id=1"])
    assert args.cluster_id == "-IiCIiDaQlqo5qGnCEJITQ"
    assert args.override == ["node.id=1"]


def test_attached_and_plain_cluster_ids() -> None:
    assert parse_args(["--cluster-id=abc"]).cluster_id == "abc"
    assert parse_args(["server.properties", "--cluster-id", "abc"]).cluster_id == "abc"
