"""Small byte-level writers for the hand-written response encoders.

Each helper returns bytes; encoders join them once. Flexible ("compact") versions use
unsigned varints with +1 for lengths and counts, older versions fixed-width int16/int32.
"""

from __future__ import annotations

import struct
import uuid

I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
I64 = struct.Struct(">q")
NO_TAGS = b"\x00"


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(value: str, *, compact: bool) -> bytes:
    data = value.encode("utf-8")
    prefix = uvarint(len(data) + 1) if compact else I16.pack(len(data))
    return prefix + data


def nullable_string(value: str | None, *, compact: bool) -> bytes:
    if value is None:
        return b"\x00" if compact else b"\xff\xff"
    return string(value, compact=compact)


def array_length(count: int, *, compact: bool) -> bytes:
    return uvarint(count + 1) if compact else I32.pack(count)


def null_array(*, compact: bool) -> bytes:
    return b"\x00" if compact else b"\xff\xff\xff\xff"


def bytes_length(length: int, *, compact: bool) -> bytes:
    return uvarint(length + 1) if compact else I32.pack(length)


def uuid_bytes(value: uuid.UUID) -> bytes:
    return value.bytes
