"""Request header parsing and response framing (pure, no sockets).

A request frame is ``int32 size`` followed by the header and body. The header is v1
(api key, version, correlation id, nullable client id) for non-flexible request
versions, and v2 (v1 plus tagged fields) for flexible ones; the client id stays a
non-compact string in both. Responses carry header v0 (correlation id) or, for flexible
versions, v1 (plus an empty tagged-field section) — except ApiVersions, whose responses
always use header v0 so that a client can read them before it knows any version.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEADER_FIXED = struct.Struct(">hhih")
_SIZE = struct.Struct(">i")
_PEEK = struct.Struct(">hhi")
API_VERSIONS_KEY = 18


class MalformedRequest(Exception):
    """The frame cannot be parsed; the connection must be closed."""


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    size: int  # bytes the header takes, up to the body


def read_varint_unsigned(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at pos; returns (value, new position)."""
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise MalformedRequest("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise MalformedRequest("varint too long")


def skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    count, pos = read_varint_unsigned(buf, pos)
    for _ in range(count):
        _tag, pos = read_varint_unsigned(buf, pos)
        length, pos = read_varint_unsigned(buf, pos)
        pos += length
        if pos > len(buf):
            raise MalformedRequest("truncated tagged field")
    return pos


def parse_request_header(frame: bytes | memoryview, *, flexible: bool) -> RequestHeader:
    """Parse the header at the start of a frame (the size prefix already removed)."""
    if len(frame) < _HEADER_FIXED.size:
        raise MalformedRequest("frame shorter than a request header")
    api_key, api_version, correlation_id, client_len = _HEADER_FIXED.unpack_from(frame, 0)
    pos = _HEADER_FIXED.size
    client_id: str | None = None
    if client_len >= 0:
        end = pos + client_len
        if end > len(frame):
            raise MalformedRequest("client id runs past the frame")
        try:
            client_id = bytes(frame[pos:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest("client id is not UTF-8") from exc
        pos = end
    elif client_len != -1:
        raise MalformedRequest("negative client id length")
    if flexible:
        pos = skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def peek_api(frame: bytes | memoryview) -> tuple[int, int, int]:
    """(api key, api version, correlation id) without parsing the rest."""
    if len(frame) < 8:
        raise MalformedRequest("frame shorter than a request header")
    api_key, api_version, correlation_id = _PEEK.unpack_from(frame, 0)
    return api_key, api_version, correlation_id


def frame_response(correlation_id: int, body: bytes, *, header_v1: bool) -> bytes:
    """Size prefix + response header + body, as one bytes object."""
    if header_v1:
        return struct.pack(">iiB", len(body) + 5, correlation_id, 0) + body
    return struct.pack(">ii", len(body) + 4, correlation_id) + body


def read_frame_size(buf: bytes | bytearray | memoryview, pos: int) -> int:
    return int(_SIZE.unpack_from(buf, pos)[0])
