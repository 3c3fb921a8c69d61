"""Sparse offset and time indexes: Kafka's entry formats, lookups, truncation, sanity."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from millrace_broker.storage.index import OffsetIndex, TimeIndex


def test_offset_index_format_and_lookup(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "00000000000000000100.index", 100, 1 << 20)
    index.append(110, 0)
    index.append(120, 4096)
    index.append(130, 8192)
    assert (tmp_path / "00000000000000000100.index").read_bytes() == struct.pack(
        ">iiiiii", 10, 0, 20, 4096, 30, 8192
    )
    assert index.lookup(99) == (100, 0)
    assert index.lookup(115) == (110, 0)
    assert index.lookup(120) == (120, 4096)
    assert index.lookup(10**9) == (130, 8192)
    assert index.floor_position(5000) == 4096
    index.truncate_to(120)
    assert len(index) == 1 and index.lookup(125) == (110, 0)
    index.close()
    again = OffsetIndex(tmp_path / "00000000000000000100.index", 100, 1 << 20)
    assert again.load(log_size=10_000) and len(again) == 1


def test_offset_index_rejects_implausible_files(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000000.index"
    path.write_bytes(struct.pack(">ii", 5, 100) + struct.pack(">ii", 3, 200))  # not increasing
    assert not OffsetIndex(path, 0, 1 << 20).load(log_size=1000)
    path.write_bytes(struct.pack(">ii", 5, 5000))  # beyond the log
    assert not OffsetIndex(path, 0, 1 << 20).load(log_size=1000)
    path.write_bytes(b"\x00" * 7)  # torn entry
    assert not OffsetIndex(path, 0, 1 << 20).load(log_size=1000)
    assert path.stat().st_size == 0


def test_index_full(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 16)
    index.append(1, 1)
    assert not index.is_full
    index.append(2, 2)
    assert index.is_full


def test_time_index(tmp_path: Path) -> None:
    index = TimeIndex(tmp_path / "00000000000000000000.timeindex", 0, 1 << 20)
    index.append(1000, 5)
    index.append(900, 7)  # not growing: ignored
    index.append(2000, 9)
    assert len(index) == 2 and index.last_entry == (2000, 9)
    assert index.lookup(500) == 0
    assert index.lookup(1500) == 5
    assert index.lookup(2000) == 9
    assert (tmp_path / "00000000000000000000.timeindex").read_bytes() == struct.pack(
        ">qiqi", 1000, 5, 2000, 9
    )
    index.truncate_to(9)
    assert index.last_entry == (1000, 5)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 50), st.integers(1, 500)), min_size=1, max_size=100),
    st.integers(0, 3000),
)
def test_property_lookup_is_floor(steps: list[tuple[int, int]], target: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        index = OffsetIndex(Path(d) / "p.index", 0, 1 << 20)
        entries = []
        offset = position = 0
        for d_off, d_pos in steps:
            offset += d_off
            position += d_pos
            index.append(offset, position)
            entries.append((offset, position))
        expected = max((e for e in entries if e[0] <= target), default=(0, 0))
        assert index.lookup(target) == expected
        index.close()
