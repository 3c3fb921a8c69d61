"""A small asyncio Kafka client for broker-to-broker requests (replica fetchers).

One TCP connection, one request in flight at a time (a replica fetcher sends its next
fetch only after the previous answer). Requests are kio request entities, encoded with
kio's writer behind a request header v1 (v2 for flexible versions); responses are decoded
with kio's reader. `open_broker_connection` connects, then sends ApiVersions (v3) so that
callers can check the peer serves what they need.
"""

from __future__ import annotations

import asyncio
import io
import logging
import struct
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from ..protocol.framing import API_VERSIONS_KEY, skip_tagged_fields
from .secure_client import AuthenticationError, Connector, plain_connect

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
_HEADER = struct.Struct(">hhi")
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class BrokerClientError(Exception):
    """The peer closed, sent garbage or did not answer in time; reconnect and retry."""


class BrokerConnection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, client_id: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._client_id = client_id.encode()
        self._correlation = 0
        self.api_ranges: dict[int, tuple[int, int]] = {}

    def max_version(self, api_key: int) -> int:
        return self.api_ranges.get(api_key, (0, -1))[1]

    async def request(self, entity: Any, *, timeout_s: float) -> Any:
        """Send one request entity and return the decoded response entity."""
        api_key, version = entity.__api_key__, entity.__version__
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        body = io.BytesIO()
        entity_writer(type(entity))(body, entity)
        header = _HEADER.pack(api_key, version, self._correlation)
        header += struct.pack(">h", len(self._client_id)) + self._client_id
        if entity.__flexible__:
            header += b"\x00"
        payload = header + body.getvalue()
        try:
            self._writer.write(_SIZE.pack(len(payload)) + payload)
            await asyncio.wait_for(self._writer.drain(), timeout_s)
            size_bytes = await asyncio.wait_for(self._reader.readexactly(4), timeout_s)
            (size,) = _SIZE.unpack(size_bytes)
            if not 4 <= size <= MAX_RESPONSE_BYTES:
                raise BrokerClientError(f"bad response size {size}")
            frame = await asyncio.wait_for(self._reader.readexactly(size), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self.close()
            raise BrokerClientError(f"request {api_key} v{version} failed: {exc!r}") from exc
        (correlation,) = _SIZE.unpack_from(frame, 0)
        if correlation != self._correlation:
            self.close()
            raise BrokerClientError(f"correlation id {correlation} != {self._correlation}")
        schema = load_response_schema(api_key, version)
        pos = 4
        if schema.__flexible__ and api_key != API_VERSIONS_KEY:
            pos = skip_tagged_fields(frame, pos)
        try:
            response, _ = entity_reader(schema)(frame, pos)
        except Exception as exc:  # kio raises several types for bad input
            self.close()
            raise BrokerClientError(f"cannot decode {schema.__name__}: {exc}") from exc
        return response

    def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()


async def open_broker_connection(
    host: str,
    port: int,
    *,
    client_id: str,
    timeout_s: float,
    connect: Connector = plain_connect,
) -> BrokerConnection:
    """`connect` secures the connection (TLS, SASL) for a secured inter-broker listener."""
    try:
        reader, writer = await connect(host, port, timeout_s)
    except AuthenticationError as exc:
        log.warning("cannot authenticate to broker %s:%s: %s", host, port, exc)
        raise BrokerClientError(f"cannot authenticate to {host}:{port}: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise BrokerClientError(f"cannot connect to {host}:{port}: {exc!r}") from exc
    conn = BrokerConnection(reader, writer, client_id=client_id)
    request_cls: Any = load_request_schema(API_VERSIONS_KEY, 3)
    response = await conn.request(
        request_cls(client_software_name="millrace-replica", client_software_version="0.1"),
        timeout_s=timeout_s,
    )
    if response.error_code != 0:
        conn.close()
        raise BrokerClientError(f"ApiVersions failed with error {response.error_code}")
    conn.api_ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    return conn
