"""Request decoding and response encoding through kio's generated schemas.

Readers and writers are looked up once per (api key, version) and cached. kio's native
reader is fast enough for every request; its pure-Python writer is not fast enough for
Produce and Fetch responses, which have hand-written encoders beside this module.
"""

from __future__ import annotations

import io
import struct
from functools import cache
from typing import Any

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from .framing import API_VERSIONS_KEY, MalformedRequest, frame_response


@cache
def request_schema(api_key: int, version: int) -> Any | None:
    """kio's request class, or None when kio cannot parse that key and version."""
    try:
        return load_request_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        return None


@cache
def response_schema(api_key: int, version: int) -> Any:
    return load_response_schema(api_key, version)


_READERS: dict[Any, Any] = {}
_WRITERS: dict[Any, Any] = {}


def _reader(schema: Any) -> Any:
    reader = _READERS.get(schema)
    if reader is None:
        reader = _READERS[schema] = entity_reader(schema)
    return reader


def _writer(schema: Any) -> Any:
    writer = _WRITERS.get(schema)
    if writer is None:
        writer = _WRITERS[schema] = entity_writer(schema)
    return writer


def is_flexible(api_key: int, version: int) -> bool:
    schema = request_schema(api_key, version)
    return bool(schema is not None and schema.__flexible__)


def decode_request(schema: Any, frame: bytes | memoryview, offset: int) -> Any:
    """Decode the body at offset; any decoding failure is a malformed request."""
    try:
        entity, _size = _reader(schema)(frame, offset)
    except Exception as exc:  # kio raises several types for bad input; all mean the same
        raise MalformedRequest(f"cannot decode {schema.__name__}: {exc}") from exc
    return entity


def encode_body(entity: Any) -> bytes:
    buffer = io.BytesIO()
    _writer(type(entity))(buffer, entity)
    return buffer.getvalue()


def response_uses_header_v1(api_key: int, version: int) -> bool:
    """Flexible responses use header v1, except ApiVersions (always v0)."""
    if api_key == API_VERSIONS_KEY:
        return False
    return bool(response_schema(api_key, version).__flexible__)


def encode_response(correlation_id: int, api_key: int, version: int, entity: Any) -> bytes:
    return frame_response(
        correlation_id, encode_body(entity), header_v1=response_uses_header_v1(api_key, version)
    )


BROKER_CLIENT_ID = b"millrace-broker"


def encode_request(entity: Any, *, correlation_id: int = 0) -> bytes:
    """A request frame (without the size prefix) for a kio request entity, as one broker
    sends another: header v2 for flexible versions (v1 otherwise), client id
    `millrace-broker`."""
    header = struct.pack(
        ">hhih", entity.__api_key__, entity.__version__, correlation_id, len(BROKER_CLIENT_ID)
    )
    header += BROKER_CLIENT_ID + (b"\x00" if entity.__flexible__ else b"")
    return header + encode_body(entity)
