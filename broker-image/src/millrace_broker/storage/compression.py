"""Compress/decompress the records payload of a v2 batch, byte-compatible with clients.

- gzip (1): a gzip stream (Java's GZIPOutputStream, librdkafka's zlib with gzip header).
- snappy (2): Java clients (xerial ``SnappyOutputStream``) write a framed stream:
  magic ``82 'SNAPPY' 00``, version and compatible-version int32s, then blocks of
  ``[int32 length][raw snappy block]``. librdkafka writes one raw snappy block with no
  framing. We read both (the magic decides) and write xerial framing with 32 KiB blocks,
  which both Java (Kafka's own format) and librdkafka (it detects the framing) read.
- lz4 (3): an LZ4 frame as Kafka's ``Lz4BlockOutputStream`` writes it: 64 KiB
  independent blocks, no content size, no block checksums (Kafka's reader decompresses
  each block on its own, so linked blocks would break Java consumers).
- zstd (4): a zstd frame; decoded streaming so frames without a content size (as some
  clients write them) work too.
"""

from __future__ import annotations

import gzip
import io
import struct

import cramjam
import lz4.frame
import zstandard
from kio.schema.errors import ErrorCode

from millrace_broker.protocol.record_batch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)
from millrace_broker.storage.errors import StorageError

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024

CODECS = {
    "uncompressed": COMPRESSION_NONE,
    "none": COMPRESSION_NONE,
    "gzip": COMPRESSION_GZIP,
    "snappy": COMPRESSION_SNAPPY,
    "lz4": COMPRESSION_LZ4,
    "zstd": COMPRESSION_ZSTD,
}


def codec_for(compression_type: str) -> int | None:
    """Topic ``compression.type`` -> codec id; None for "producer" (keep the batch's)."""
    if compression_type == "producer":
        return None
    try:
        return CODECS[compression_type]
    except KeyError:
        raise ValueError(f"unknown compression.type {compression_type!r}") from None


def _snappy_decompress(data: bytes | memoryview) -> bytes:
    raw = bytes(data)
    if not raw.startswith(XERIAL_MAGIC):
        return bytes(cramjam.snappy.decompress_raw(raw))
    out = bytearray()
    pos = len(_XERIAL_HEADER)
    while pos < len(raw):
        (size,) = struct.unpack_from(">i", raw, pos)
        pos += 4
        out += bytes(cramjam.snappy.decompress_raw(raw[pos : pos + size]))
        pos += size
    return bytes(out)


def _snappy_compress(data: bytes | bytearray | memoryview) -> bytes:
    out = bytearray(_XERIAL_HEADER)
    view = memoryview(data)
    for start in range(0, len(view), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(bytes(view[start : start + _XERIAL_BLOCK])))
        out += struct.pack(">i", len(block))
        out += block
    return bytes(out)


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    """Decode a records payload; a payload that cannot be decoded is CORRUPT_MESSAGE."""
    try:
        if codec == COMPRESSION_NONE:
            return bytes(data)
        if codec == COMPRESSION_GZIP:
            return gzip.decompress(data)
        if codec == COMPRESSION_SNAPPY:
            return _snappy_decompress(data)
        if codec == COMPRESSION_LZ4:
            return bytes(lz4.frame.decompress(bytes(data)))
        if codec == COMPRESSION_ZSTD:
            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(data), read_across_frames=True
            )
            return bytes(reader.read())
    except StorageError:
        raise
    except Exception as exc:  # each library has its own error types
        raise StorageError(
            ErrorCode.corrupt_message, f"cannot decompress record batch (codec {codec}): {exc}"
        ) from exc
    raise StorageError(
        ErrorCode.unsupported_compression_type, f"unknown compression codec {codec} in batch"
    )


def compress(codec: int, data: bytes | bytearray | memoryview) -> bytes:
    if codec == COMPRESSION_NONE:
        return bytes(data)
    if codec == COMPRESSION_GZIP:
        return gzip.compress(bytes(data), compresslevel=6)
    if codec == COMPRESSION_SNAPPY:
        return _snappy_compress(data)
    if codec == COMPRESSION_LZ4:
        return bytes(
            lz4.frame.compress(
                bytes(data),
                block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                block_linked=False,
                content_checksum=False,
                store_size=False,
            )
        )
    if codec == COMPRESSION_ZSTD:
        return bytes(zstandard.ZstdCompressor(level=3).compress(bytes(data)))
    raise ValueError(f"unknown compression codec {codec}")
