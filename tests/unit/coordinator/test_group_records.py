"""`__consumer_offsets` key/value layouts and the group -> partition hash."""

from __future__ import annotations

import struct

import pytest

from millrace_broker.coordinator.records import (
    GroupKey,
    GroupValue,
    MemberValue,
    OffsetKey,
    OffsetValue,
    RecordFormatError,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
    java_string_hash,
    partition_for,
)


def test_java_string_hash_matches_java() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert java_string_hash("é") == 233  # one UTF-16 code unit


def test_partition_for_is_kafkas_abs_hash_mod() -> None:
    assert partition_for("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) == 0
    assert partition_for("hello", 50) == 99162322 % 50
    negative = "my-group-7"
    h = java_string_hash(negative)
    assert partition_for(negative, 50) == abs(h) % 50


def test_offset_key_and_value_round_trip() -> None:
    key = OffsetKey("g", "topic", 3)
    raw = encode_offset_key(key)
    assert raw[:2] == struct.pack(">h", 1)
    assert decode_key(raw) == key
    value = OffsetValue(42, 7, "meta ✓", 1_700_000_000_000)
    assert decode_offset_value(encode_offset_value(value)) == value


def test_group_value_round_trip_with_static_member() -> None:
    value = GroupValue(
        "consumer",
        5,
        "range",
        "m1",
        123,
        (
            MemberValue("m1", "instance-a", "client", "/127.0.0.1", 30000, 6000, b"sub", b"asg"),
            MemberValue("m2", None, "client", "/127.0.0.1", 30000, 6000, b"", b""),
        ),
    )
    assert decode_key(encode_group_key(GroupKey("g"))) == GroupKey("g")
    assert decode_group_value(encode_group_value(value)) == value


def test_old_offset_value_v1_with_expire_timestamp_decodes() -> None:
    raw = struct.pack(">hq", 1, 10) + struct.pack(">h", 2) + b"md" + struct.pack(">qq", 5, 99)
    assert decode_offset_value(raw) == OffsetValue(10, -1, "md", 5, 99)


def test_truncated_records_are_refused() -> None:
    with pytest.raises(RecordFormatError):
        decode_key(struct.pack(">h", 1) + b"\x00")
    with pytest.raises(RecordFormatError):
        decode_key(struct.pack(">h", 9))
