"""The pods' readiness probe against a real broker: registered means ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace_operator.nodeprobe import (
    PROPERTIES_ENV,
    listener_ports,
    main,
    probe,
    read_properties,
)
from support_broker import BrokerProcess


def props(tmp_path: Path, port: int, node_id: int) -> Path:
    path = tmp_path / "node.properties"
    path.write_text(
        f"# test\nprocess.roles=broker,controller\nnode.id={node_id}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://:1\n"
    )
    return path


def test_parse() -> None:
    assert listener_ports({"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}) == {
        "PLAINTEXT": 9092,
        "CONTROLLER": 9093,
    }


def test_ready_and_alive(broker: BrokerProcess, tmp_path: Path) -> None:
    path = props(tmp_path, broker.port, 1)
    assert read_properties(path)["node.id"] == "1"
    assert probe("ready", path) is None
    assert probe("alive", path) is None
    assert main(["ready", str(path)]) == 0


def test_path_from_the_environment(
    broker: BrokerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pods run the probes without a path: exec probes get no $(POD_NAME) expansion."""
    monkeypatch.setenv(PROPERTIES_ENV, str(props(tmp_path, broker.port, 1)))
    assert main(["ready"]) == 0
    assert main(["alive"]) == 0
    monkeypatch.delenv(PROPERTIES_ENV)
    assert main(["ready"]) == 2


def test_not_registered_is_not_ready(broker: BrokerProcess, tmp_path: Path) -> None:
    reason = probe("ready", props(tmp_path, broker.port, 77))
    assert reason is not None and "not registered" in reason


def test_nothing_listening(tmp_path: Path) -> None:
    path = props(tmp_path, 1, 1)
    assert probe("alive", path) is not None
    assert probe("ready", path) is not None
    assert main(["bogus"]) == 2
