"""Pytest fixtures for Apache Kafka's reference broker and CLI tools.

Enable with `pytest_plugins = ["kafkaref.pytest_plugin"]` in tests/conftest.py (with
bench/ on pytest's pythonpath). Tests using these fixtures should carry the `kafka_cli`
marker; they are skipped when no Java runtime is installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from kafkaref.broker import KafkaBroker
from kafkaref.dist import kafka_home


@pytest.fixture(scope="session")
def kafka_tools_home() -> str:
    """Kafka's home directory with its jars (fetched once); skips without Java."""
    if shutil.which("java") is None:
        pytest.skip("Apache Kafka's tools need a Java runtime (JDK 17+)")
    return str(kafka_home())


@pytest.fixture(scope="session")
def kafka_reference(kafka_tools_home: str) -> Iterator[KafkaBroker]:
    """One real Apache Kafka 4.1 node (KRaft combined) shared by the whole session."""
    with KafkaBroker(heap="512M") as broker:
        yield broker
