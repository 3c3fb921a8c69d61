"""DescribeConfigs data compared with what a real Apache Kafka 4.1.0 broker answered.

`kafka41_describe_configs.json` holds DescribeConfigs v4 responses (with synonyms) of a
Kafka 4.1.0 combined-mode node for a few static/dynamic/topic-override scenarios (the
third adds static settings: retention in minutes, roll in hours, a per-listener
override, a password, a list policy...). Every
entry must match field for field: value, read-only flag, source, sensitivity, type and
the synonym list in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from millrace_broker.config import (
    BrokerConfig,
    ConfigDescription,
    ConfigSource,
    ConfigType,
    describe_broker_configs,
    describe_topic_configs,
    load_broker_config,
)
from millrace_broker.config.registry import BROKER, TOPIC

GOLDEN = json.loads((Path(__file__).parent / "kafka41_describe_configs.json").read_text())
CASES = [
    (index, target)
    for index, scenario in enumerate(GOLDEN["scenarios"])
    for target in scenario["describe"]
]


def _as_wire(d: ConfigDescription) -> dict[str, Any]:
    return {
        "name": d.name,
        "value": d.value,
        "read_only": d.read_only,
        "source": int(d.source),
        "sensitive": d.is_sensitive,
        "type": int(d.config_type),
        "synonyms": [[s.name, s.value, int(s.source)] for s in d.synonyms],
    }


def _describe(scenario: dict[str, Any], target: str) -> list[ConfigDescription]:
    static = {**GOLDEN["static"], **scenario.get("static_extra", {})}
    cfg = BrokerConfig(static).with_dynamic(
        scenario["dynamic_broker"], cluster_default=scenario["dynamic_default"]
    )
    kind, _, name = target.partition(":")
    if kind == "topic":
        return describe_topic_configs(scenario["topics"][name], cfg, include_synonyms=True)
    return describe_broker_configs(cfg, cluster_default=name == "", include_synonyms=True)


@pytest.mark.parametrize(("index", "target"), CASES)
def test_matches_kafka(index: int, target: str) -> None:
    scenario = GOLDEN["scenarios"][index]
    expected = {e["name"]: e for e in scenario["describe"][target]}
    actual = {d.name: _as_wire(d) for d in _describe(scenario, target)}
    assert sorted(actual) == sorted(expected)
    mismatches = {n: (expected[n], actual[n]) for n in expected if expected[n] != actual[n]}
    assert mismatches == {}


def test_wire_source_codes() -> None:
    # The protocol's numbering, which differs from the admin client's enum ordinals.
    assert [(s.name, int(s)) for s in ConfigSource] == [
        ("UNKNOWN", 0),
        ("DYNAMIC_TOPIC_CONFIG", 1),
        ("DYNAMIC_BROKER_CONFIG", 2),
        ("DYNAMIC_DEFAULT_BROKER_CONFIG", 3),
        ("STATIC_BROKER_CONFIG", 4),
        ("DEFAULT_CONFIG", 5),
        ("DYNAMIC_BROKER_LOGGER_CONFIG", 6),
        ("DYNAMIC_CLIENT_METRICS_CONFIG", 7),
        ("DYNAMIC_GROUP_CONFIG", 8),
    ]


def _one(entries: list[ConfigDescription], name: str) -> ConfigDescription:
    (entry,) = [e for e in entries if e.name == name]
    return entry


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["log.retention.hours=1"], "3600000"),
        (["log.retention.minutes=2"], "120000"),
        (["log.retention.minutes=2", "log.retention.ms=7"], "7"),
        (["log.retention.ms=-5"], "-1"),
        ([], "604800000"),
    ],
)
def test_retention_in_topic_units(overrides: list[str], expected: str) -> None:
    cfg = load_broker_config(None, overrides)
    entry = _one(describe_topic_configs({}, cfg, keys=["retention.ms"]), "retention.ms")
    assert entry.value == expected


def test_segment_ms_from_roll_hours() -> None:
    cfg = load_broker_config(None, ["log.roll.hours=2"])
    entries = describe_topic_configs({}, cfg, keys=["segment.ms"], include_synonyms=True)
    entry = _one(entries, "segment.ms")
    assert entry.value == "7200000"
    # Kafka drops synonyms listed before the group's leading name (log.roll.ms), and
    # log.roll.ms has no non-null value anywhere, so nothing is left.
    assert entry.synonyms == []
    assert entry.source is ConfigSource.DEFAULT_CONFIG


def test_topic_override_synonym_first() -> None:
    cfg = load_broker_config(None, ["message.max.bytes=2000"])
    entries = describe_topic_configs(
        {"max.message.bytes": "5000"}, cfg, keys=["max.message.bytes"], include_synonyms=True
    )
    entry = _one(entries, "max.message.bytes")
    assert entry.value == "5000"
    assert entry.source is ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert [(s.name, s.value, s.source) for s in entry.synonyms] == [
        ("max.message.bytes", "5000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("message.max.bytes", "2000", ConfigSource.STATIC_BROKER_CONFIG),
        ("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG),
    ]


def test_keys_filter_and_synonyms_flag() -> None:
    cfg = load_broker_config(None, [])
    entries = describe_topic_configs({}, cfg, keys=["cleanup.policy", "no.such.key"])
    assert [e.name for e in entries] == ["cleanup.policy"]
    assert entries[0].synonyms == []
    assert entries[0].documentation is None
    assert entries[0].config_type is ConfigType.LIST
    assert not entries[0].read_only


def test_documentation() -> None:
    cfg = load_broker_config(None, [])
    (entry,) = describe_topic_configs({}, cfg, keys=["retention.ms"], include_documentation=True)
    assert entry.documentation == TOPIC["retention.ms"].doc
    (broker_entry,) = describe_broker_configs(
        cfg, keys=["log.retention.hours"], include_documentation=True
    )
    assert broker_entry.documentation == BROKER["log.retention.hours"].doc
    assert broker_entry.read_only


def test_internal_topic_config_listed_only_when_set() -> None:
    cfg = load_broker_config(None, [])
    assert "internal.segment.bytes" not in {e.name for e in describe_topic_configs({}, cfg)}
    names = {e.name for e in describe_topic_configs({"internal.segment.bytes": "1000"}, cfg)}
    assert "internal.segment.bytes" in names


def test_passwords_hidden() -> None:
    cfg = load_broker_config(None, ["ssl.keystore.password=secret"])
    (entry,) = describe_broker_configs(cfg, keys=["ssl.keystore.password"], include_synonyms=True)
    assert entry.is_sensitive
    assert entry.value is None
    assert entry.source is ConfigSource.STATIC_BROKER_CONFIG
    assert all(s.value is None for s in entry.synonyms)


def test_dynamic_layers_as_lead_passes_them() -> None:
    cfg = load_broker_config(None, [])
    layers = {"broker": {"log.retention.ms": "1000"}, "default": {"message.max.bytes": "2000"}}
    entries = describe_broker_configs(
        cfg, dynamic=layers, keys=["log.retention.ms", "message.max.bytes"]
    )
    assert [(e.name, e.value, e.source) for e in entries] == [
        ("message.max.bytes", "2000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.ms", "1000", ConfigSource.DYNAMIC_BROKER_CONFIG),
    ]
    defaults = describe_broker_configs(cfg, dynamic=layers, cluster_default=True)
    assert [(e.name, e.value) for e in defaults] == [("message.max.bytes", "2000")]


def test_plain_dynamic_map_keeps_existing_default_layer() -> None:
    cfg = load_broker_config(None, []).with_dynamic(cluster_default={"message.max.bytes": "9"})
    (entry,) = describe_broker_configs(
        cfg, dynamic={"log.retention.ms": "5"}, keys=["message.max.bytes"]
    )
    assert (entry.value, entry.source) == ("9", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
