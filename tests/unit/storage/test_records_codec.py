"""Record decoding/encoding and every codec, cross-checked against kafka-python."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from storage_support import T0, client_batch, decode_with_kafka_python, raw_snappy_batch

from millrace_broker.protocol.record_batch import read_header, validate_batch
from millrace_broker.storage.compression import codec_for, compress, decompress
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.records import Record, build_batch, decode_batch, recompress_batch

CODECS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("codec", CODECS)
def test_decode_client_batches(codec: int) -> None:
    recs = [(b"k%d" % i, b"v" * i if i % 3 else None, T0 + i * 7) for i in range(20)]
    recs.append((None, b"keyless", T0))
    raw = client_batch(recs, codec=codec, headers=[("h", b"1")])
    header, records = decode_batch(raw)
    assert header.compression == codec
    assert [(r.key, r.value, r.timestamp) for r in records] == recs
    assert [r.offset_delta for r in records] == list(range(21))
    assert records[0].headers == ((b"h", b"1"),)


def test_decode_librdkafka_raw_snappy() -> None:
    recs = [(b"k", b"value" * 50, T0 + i) for i in range(10)]
    _, records = decode_batch(raw_snappy_batch(recs))
    assert [(r.key, r.value, r.timestamp) for r in records] == recs


@pytest.mark.parametrize("codec", CODECS)
def test_built_batches_are_readable_by_kafka_python(codec: int) -> None:
    records = [Record(i, T0 + i, b"k%d" % i, b"x" * (i * 10), ((b"h", None),)) for i in range(8)]
    raw = build_batch(
        records, base_offset=100, attributes=codec, producer_id=3, producer_epoch=1, base_sequence=5
    )
    header = read_header(raw, 0)
    validate_batch(raw, 0, header)
    assert (header.base_offset, header.last_offset, header.record_count) == (100, 107, 8)
    assert decode_with_kafka_python(raw) == [
        (100 + i, b"k%d" % i, b"x" * (i * 10), T0 + i) for i in range(8)
    ]


def test_snappy_output_is_xerial_framed_with_blocks() -> None:
    data = bytes(range(256)) * 1000  # > one 32 KiB block
    packed = compress(2, data)
    assert packed.startswith(b"\x82SNAPPY\x00")
    assert decompress(2, packed) == data


def test_lz4_output_is_kafka_compatible_frame() -> None:
    packed = compress(3, b"a" * 200_000)
    flg = packed[4]
    assert flg & 0x20  # independent blocks (Kafka decodes each block alone)
    assert not flg & 0x08  # no content size
    assert packed[5] >> 4 == 4  # 64 KiB max block size
    assert decompress(3, packed) == b"a" * 200_000


def test_undecodable_payload_is_corrupt_message() -> None:
    with pytest.raises(StorageError) as info:
        decompress(1, b"not gzip")
    assert info.value.error_code == ErrorCode.corrupt_message


def test_codec_names() -> None:
    assert codec_for("producer") is None
    assert codec_for("uncompressed") == 0 and codec_for("zstd") == 4
    with pytest.raises(ValueError):
        codec_for("brotli")


@pytest.mark.parametrize("codec", CODECS)
def test_recompress_keeps_everything_but_codec(codec: int) -> None:
    raw = client_batch(
        [(b"k%d" % i, b"v%d" % i, T0 + i) for i in range(5)],
        codec=1,
        producer_id=8,
        producer_epoch=2,
        base_sequence=40,
    )
    out = recompress_batch(raw, codec)
    a, b = read_header(raw, 0), read_header(out, 0)
    assert b.compression == codec
    for field in (
        "base_offset",
        "last_offset_delta",
        "base_timestamp",
        "max_timestamp",
        "producer_id",
        "producer_epoch",
        "base_sequence",
        "record_count",
    ):
        assert getattr(a, field) == getattr(b, field)
    assert decode_with_kafka_python(out) == decode_with_kafka_python(raw)


records_strategy = st.lists(
    st.builds(
        lambda key, value, dt, headers: (key, value, dt, headers),
        st.one_of(st.none(), st.binary(max_size=40)),
        st.one_of(st.none(), st.binary(max_size=300)),
        st.integers(-10_000, 10_000),
        st.lists(
            st.tuples(st.binary(max_size=10), st.one_of(st.none(), st.binary(max_size=10))),
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(records_strategy, st.sampled_from(CODECS))
def test_property_build_decode_roundtrip(
    spec: list[tuple[bytes | None, bytes | None, int, list[tuple[bytes, bytes | None]]]],
    codec: int,
) -> None:
    records = [Record(i, T0 + dt, k, v, tuple(h)) for i, (k, v, dt, h) in enumerate(spec)]
    raw = build_batch(records, base_offset=7, attributes=codec)
    validate_batch(raw, 0, read_header(raw, 0))
    _, decoded = decode_batch(raw)
    assert decoded == records
