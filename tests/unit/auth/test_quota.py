"""Client quota decisions: Kafka's entity precedence, validation and the rate window."""

from __future__ import annotations

import pytest

from millrace_broker.auth.quota import (
    QuotaError,
    QuotaSensors,
    RateSensor,
    entity_of,
    matches_filter,
    resolve,
    validate_op,
)

U = "user"
C = "client-id"
KEY = "producer_byte_rate"

ALL = {
    ((C, "app"), (U, "alice")): 1.0,
    ((C, None), (U, "alice")): 2.0,
    ((U, "alice"),): 3.0,
    ((C, "app"), (U, None)): 4.0,
    ((C, None), (U, None)): 5.0,
    ((U, None),): 6.0,
    ((C, "app"),): 7.0,
    ((C, None),): 8.0,
}


@pytest.mark.parametrize("level", range(8))
def test_precedence(level: int) -> None:
    """Removing the more specific quotas one by one exposes the next in Kafka's order."""
    entities = list(ALL)[level:]
    quotas = {e: {KEY: ALL[e]} for e in entities}
    found = resolve(quotas, "alice", "app", KEY)
    assert found is not None and found[0] == level + 1


def test_sensor_keys_follow_the_matched_entity() -> None:
    assert resolve({((U, None),): {KEY: 1.0}}, "alice", "app", KEY) == (1.0, ("alice", ""))
    assert resolve({((C, None),): {KEY: 1.0}}, "alice", "app", KEY) == (1.0, ("", "app"))
    assert resolve({((C, None),): {KEY: 1.0}}, "alice", "app", "consumer_byte_rate") is None


@pytest.mark.parametrize(
    ("pairs", "ok"),
    [
        ([(U, "a")], True),
        ([(U, "a"), (C, None)], True),
        ([("ip", "1.2.3.4")], True),
        ([(U, "a"), ("ip", None)], False),
        ([(U, "a"), (U, "b")], False),
        ([(U, "")], False),
        ([("group", "g")], False),
    ],
)
def test_entities(pairs: list[tuple[str, str | None]], ok: bool) -> None:
    if ok:
        entity_of(pairs)
    else:
        with pytest.raises(QuotaError):
            entity_of(pairs)


def test_op_validation() -> None:
    user = entity_of([(U, "a")])
    validate_op(user, KEY, 1024, False)
    validate_op(user, "request_percentage", 12.5, False)
    validate_op(user, KEY, 0, False)  # Kafka puts no bound on the value
    for key, value in ((KEY, 10.5), ("connection_creation_rate", 5), ("bogus", 1)):
        with pytest.raises(QuotaError):
            validate_op(user, key, value, False)


def test_filters() -> None:
    e = entity_of([(U, "a"), (C, None)])
    assert matches_filter(e, [(U, 0, "a")], strict=False)
    assert not matches_filter(e, [(U, 0, "a")], strict=True)
    assert matches_filter(e, [(U, 2, None), (C, 1, None)], strict=True)
    assert not matches_filter(e, [(C, 2, None)], strict=False)


def test_rate_window_and_throttle() -> None:
    sensor = RateSensor(samples=11, window_ms=1000)
    sensor.record(5000, 0)
    # A first burst is measured over the minimum of 10 windows: 500 B/s.
    assert sensor.rate(0) == pytest.approx(500)
    assert sensor.throttle_ms(1000, 0) == 0
    sensor.record(15000, 100)
    # 20000 B over 10 s is 2000 B/s, twice the bound: throttle one whole window length.
    assert sensor.throttle_ms(1000, 100) == pytest.approx(10000, rel=0.02)
    # Old windows expire.
    sensor.record(0, 30000)
    assert sensor.rate(30000) == 0


def test_sensors_share_by_entity() -> None:
    sensors = QuotaSensors()
    quotas = {((U, None),): {KEY: 100.0}}
    assert sensors.record(quotas, key=KEY, user="a", client_id="x", value=900, now_ms=0) == 0
    assert sensors.record(quotas, key=KEY, user="b", client_id="x", value=900, now_ms=0) == 0
    assert sensors.record(quotas, key=KEY, user="a", client_id="y", value=900, now_ms=0) > 0
