"""A minimal asyncio Kafka client for the operator's admin calls, built on kio.

One request at a time per connection (the operator makes few calls per reconcile): write
`size | request header | body`, read `size | response header | body`. Request and response
classes are kio's; API versions are fixed to ones Apache Kafka 4.1 and Millrace serve
(listed in `VERSIONS`). Errors: `KafkaUnavailable` (cannot connect or the connection
broke) and `KafkaError` (an error code in a response, with Kafka's message).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import struct
from types import TracebackType
from typing import Any, Final

from kio.index import load_response_schema
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i16, i32

from millrace_broker.protocol.framing import skip_tagged_fields

CLIENT_ID: Final = "millrace-operator"
VERSIONS: Final = {
    "Metadata": 12,
    "CreateTopics": 7,
    "DeleteTopics": 6,
    "CreatePartitions": 3,
    "DescribeConfigs": 4,
    "IncrementalAlterConfigs": 1,
    "DescribeQuorum": 2,
}


class KafkaUnavailable(Exception):
    """The broker could not be reached, or the connection broke."""


class KafkaError(Exception):
    """A response carried an error code."""

    def __init__(self, code: int, message: str | None, what: str) -> None:
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        super().__init__(f"{what}: {name}" + (f" ({message})" if message else ""))
        self.code = code


def check(code: Any, message: str | None, what: str) -> None:
    """Raise `KafkaError` unless `code` is NONE (0)."""
    if int(code) != 0:
        raise KafkaError(int(code), message, what)


class KafkaConnection:
    """`async with KafkaConnection(host, port) as conn: await conn.request(entity)`."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._versions: dict[int, tuple[int, int]] | None = None

    async def __aenter__(self) -> KafkaConnection:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise KafkaUnavailable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def supports(self, api_key: int, version: int) -> bool:
        """Whether the broker advertises `version` of `api_key` (ApiVersions, cached).

        Kafka (and Millrace) close the connection on an API they do not serve, so optional
        calls ask first.
        """
        if self._versions is None:
            response = await self.request(
                ApiVersionsRequest(
                    client_software_name="millrace-operator", client_software_version="0.1.0"
                )
            )
            check(response.error_code, None, "ApiVersions")
            self._versions = {
                int(k.api_key): (int(k.min_version), int(k.max_version)) for k in response.api_keys
            }
        low, high = self._versions.get(api_key, (1, 0))
        return low <= version <= high

    async def request(self, entity: Any) -> Any:
        """Send a kio request entity; return the kio response entity."""
        if self._reader is None or self._writer is None:
            raise KafkaUnavailable("not connected")
        api_key = int(entity.__api_key__)
        version = int(entity.__version__)
        correlation = next(self._ids)
        header_type = entity.__header_schema__
        header = header_type(
            request_api_key=i16(api_key),
            request_api_version=i16(version),
            correlation_id=i32(correlation),
            client_id=CLIENT_ID,
        )
        buffer = io.BytesIO()
        entity_writer(header_type)(buffer, header)
        entity_writer(type(entity))(buffer, entity)
        payload = buffer.getvalue()
        response_type = load_response_schema(api_key, version)
        try:
            self._writer.write(struct.pack(">i", len(payload)) + payload)
            await self._writer.drain()
            size_bytes = await asyncio.wait_for(self._reader.readexactly(4), self.timeout)
            (size,) = struct.unpack(">i", size_bytes)
            frame = await asyncio.wait_for(self._reader.readexactly(size), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise KafkaUnavailable(f"{self.host}:{self.port}: {exc}") from exc
        (got,) = struct.unpack_from(">i", frame, 0)
        if got != correlation:
            raise KafkaUnavailable(f"correlation id {got} != {correlation}")
        offset = 4
        if response_type.__header_schema__.__flexible__:
            offset = skip_tagged_fields(frame, offset)  # response header v1
        body, _ = entity_reader(response_type)(frame, offset)
        return body
