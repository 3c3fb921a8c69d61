"""Route a request frame to its handler and turn the handler's answer into bytes.

A handler returns a kio response entity (encoded here), ready bytes or chunks (hot
paths encode their own), None (no response: acks=0), or an awaitable of one of those
(long-polling fetch). A frame this broker cannot serve — unknown key, a version outside
Kafka 4.1's served range, a body that does not decode — raises `MalformedRequest`, and
the connection closes, as Kafka does; ApiVersions at an unknown version is the exception
(KIP-511: a v0 body with UNSUPPORTED_VERSION and the ranges).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..observability.log_format import request_context
from ..protocol.api_versions import is_served
from ..protocol.codec import decode_request, encode_response, request_schema
from ..protocol.framing import (
    API_VERSIONS_KEY,
    MalformedRequest,
    parse_request_header,
    peek_api,
)
from ..protocol.structure import check_structure
from .api_versions import handle_api_versions, unsupported_version_response
from .broker import Broker
from .context import RequestContext
from .envelope import ENVELOPE_KEY, serve_envelope, unwrap_response, wrap
from .forwarding import ForwardingError
from .pipelined import Pipelined
from .throttled import Throttled

log = logging.getLogger(__name__)

Chunks = list[bytes | memoryview]
Output = bytes | Chunks | None
Handler = Callable[[Broker, RequestContext, Any], Any]


class Dispatcher:
    def __init__(
        self,
        broker: Broker,
        handlers: dict[int, Handler],
        *,
        raw_handlers: dict[int, Callable[[bytes, Callable[[bytes], None]], None]] | None = None,
    ) -> None:
        self._broker = broker
        self._handlers = handlers
        # Millrace-internal one-way frames (Raft messages between controllers).
        self._raw = raw_handlers or {}

    @property
    def broker(self) -> Broker:
        return self._broker

    @property
    def implemented(self) -> list[int]:
        return [*self._handlers, API_VERSIONS_KEY]

    def dispatch(
        self,
        frame: bytes,
        *,
        listener: str,
        client_host: str,
        reply: Callable[[bytes], None] | None = None,
        arrived: float | None = None,
        principal: str = "User:ANONYMOUS",
    ) -> Output | Awaitable[Output | Throttled] | Pipelined | Throttled:
        """Serve one frame; `arrived` (time.monotonic()) is when the connection had the
        whole frame, so the time it waited behind earlier requests is measured too."""
        api_key, version, correlation_id = peek_api(frame)
        raw = self._raw.get(api_key)
        if raw is not None:
            raw(frame, reply or (lambda _data: None))
            return None
        schema = request_schema(api_key, version)
        if api_key == API_VERSIONS_KEY and (schema is None or not is_served(api_key, version)):
            return unsupported_version_response(correlation_id, self.implemented)
        if api_key == ENVELOPE_KEY and listener in self._broker.controller_listener_names:
            # A request a broker forwarded for its client (server/envelope.py).
            return serve_envelope(  # type: ignore[no-any-return]
                self,
                frame,
                listener=listener,
                client_host=client_host,
                principal=principal,
                api_version=version,
                correlation_id=correlation_id,
            )
        if api_key != API_VERSIONS_KEY and api_key not in self._handlers:
            raise MalformedRequest(f"unsupported API key {api_key}")
        if schema is None or not is_served(api_key, version):
            raise MalformedRequest(f"unsupported version {version} of API key {api_key}")
        target = self._broker.should_forward(api_key, listener)
        if target is not None:
            return self._forward(target, wrap(frame, principal=principal, client_host=client_host))
        header = parse_request_header(frame, flexible=bool(schema.__flexible__))
        request = decode_request(schema, frame, header.size)
        check_structure(request)
        ctx = RequestContext(
            api_key, version, correlation_id, header.client_id, listener, client_host, principal
        )
        started = time.monotonic()
        token = request_context.set(_log_context(ctx))
        try:
            if api_key == API_VERSIONS_KEY:
                result: Any = handle_api_versions(request, self.implemented)
            else:
                result = self._handlers[api_key](self._broker, ctx, request)
        except BaseException:
            self._record(ctx, started, arrived, failed=True)
            raise
        finally:
            request_context.reset(token)
        if isinstance(result, Pipelined):  # served; the answer comes later (pipelined.py)
            return Pipelined(self._finish_later(ctx, result.answer, started, arrived))
        if inspect.isawaitable(result):
            return self._finish_later(ctx, result, started, arrived)
        output = self._to_output(ctx, result)
        self._record(ctx, started, arrived)
        return output

    async def _forward(self, controller_id: int, frame: bytes) -> Output:
        assert self._broker.forwarder is not None
        try:
            return unwrap_response(await self._broker.forwarder.forward(controller_id, frame))
        except ForwardingError as exc:
            # Closing makes the client retry, by then against the new active controller.
            raise MalformedRequest(f"cannot forward to the active controller: {exc}") from exc

    async def _finish_later(
        self, ctx: RequestContext, pending: Awaitable[Any], started: float, arrived: float | None
    ) -> Output | Throttled:
        request_context.set(_log_context(ctx))  # this task's own context: no reset needed
        try:
            output = self._to_output(ctx, await pending)
        except asyncio.CancelledError:  # the client went away while the request waited
            raise
        except BaseException:
            self._record(ctx, started, arrived, failed=True)
            raise
        self._record(ctx, started, arrived)
        return output

    def _record(
        self, ctx: RequestContext, started: float, arrived: float | None, *, failed: bool = False
    ) -> None:
        now = time.monotonic()
        begin = started if arrived is None else min(arrived, started)
        self._broker.metrics.request_done(
            ctx.api_key,
            ctx.listener,
            total_s=now - begin,
            queue_s=started - begin,
            failed=failed,
        )

    @staticmethod
    def _to_output(ctx: RequestContext, result: Any) -> Output | Throttled:
        if isinstance(result, Throttled):  # client quotas: the connection mutes after it
            return Throttled(Dispatcher._to_output(ctx, result.answer), result.mute_s)
        if result is None or isinstance(result, bytes | list):
            return result
        return encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, result)


def _log_context(ctx: RequestContext) -> dict[str, Any]:
    return {
        "api_key": ctx.api_key,
        "api_version": ctx.api_version,
        "correlation_id": ctx.correlation_id,
        "client_id": ctx.client_id,
        "listener": ctx.listener,
        "client_host": ctx.client_host,
        "principal": ctx.principal,
    }
