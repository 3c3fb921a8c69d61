"""One client connection: frame, dispatch in order, write responses.

Like Kafka's socket server, a connection serves one request at a time: while a request
is waiting (a long-polling fetch), later frames stay buffered and reading pauses once the
buffer is large, so responses always leave in request order however deeply the client
pipelines. The exception is a `Pipelined` answer (an `acks=all` produce whose append is
done and only waits for the followers, server/pipelined.py): later frames are served
meanwhile, up to `MAX_PIPELINED` unanswered requests, and `AnswerQueue` still writes
every answer in request order. Frames larger than `socket.request.max.bytes` and frames
that cannot be parsed close the connection; nothing a client sends can crash the broker.

On SASL listeners the connection's `SaslSession` (auth/session.py) sees every frame
first: before authentication only ApiVersions and the SASL exchange are served and
anything else closes the connection; afterwards requests carry the principal
User:<name>, and a session past `connections.max.reauth.ms` is closed unless it
re-authenticates. On SSL listeners the principal comes from the client certificate
(`ssl.principal.mapping.rules`), User:ANONYMOUS without one. Failures are logged with
the peer and the reason, never with a credential.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..auth.principal import PrincipalMappingError, map_principal, rfc2253_name
from ..auth.session import Admit, SaslSession
from ..metadata.image import MetadataImage
from ..observability.metrics import BrokerMetrics
from ..protocol.framing import MalformedRequest
from ..server.client_quotas import admit_connection
from ..server.dispatch import Dispatcher, Output
from ..server.pipelined import MAX_PIPELINED, Pipelined
from ..server.sasl import SaslReply, serve_authenticate, serve_handshake, serve_raw_token
from ..server.sasl_config import ListenerSecurity
from ..server.throttled import Throttled
from .answer_queue import AnswerQueue

log = logging.getLogger(__name__)
_SIZE = struct.Struct(">i")
_PAUSE_ABOVE = 4 * 1024 * 1024
ANONYMOUS = "User:ANONYMOUS"


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class KafkaConnection(asyncio.Protocol):
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        listener: str,
        max_request_bytes: int,
        security: ListenerSecurity | None = None,
        image: Callable[[], MetadataImage] | None = None,
        metrics: BrokerMetrics | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._listener = listener
        self._max_request = max_request_bytes
        self._security = security
        self._metrics = metrics
        self._principal = ANONYMOUS
        self._sasl: SaslSession | None = None
        if security is not None and security.sasl is not None:
            assert image is not None
            self._sasl = security.sasl.new_session(image)
        self._buffer = bytearray()
        self._data_at = time.monotonic()
        self._busy = False
        self._paused = False
        self._closed = False
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._task: asyncio.Task[None] | None = None
        self._lost = False
        self._answers = AnswerQueue(
            self._write, on_error=self._answer_failed, on_progress=self._answers_progressed
        )
        self._blocked = False  # MAX_PIPELINED answers pending: read no further frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "?"
        if self._metrics is not None:
            self._metrics.connections.labels(self._listener).inc()
        if not admit_connection(self._dispatcher.broker, self._peer, self._listener):
            self._abort("connection_creation_rate quota of this address exceeded")
            return
        if self._security is not None and self._security.protocol == "SSL":
            self._principal_from_certificate(transport)

    def _principal_from_certificate(self, transport: asyncio.Transport) -> None:
        cert = transport.get_extra_info("peercert")
        if not cert or not cert.get("subject"):
            return  # no client certificate (ssl.client.auth=none or requested)
        assert self._security is not None
        dn = rfc2253_name(cert["subject"])
        try:
            self._principal = "User:" + map_principal(dn, self._security.principal_rules)
        except PrincipalMappingError as exc:
            self._count_authentication("SSL", ok=False)
            self._abort(f"client certificate not accepted: {exc}")
            return
        self._count_authentication("SSL", ok=True)

    def _count_authentication(self, mechanism: str, *, ok: bool) -> None:
        if self._metrics is not None:
            counter = (
                self._metrics.successful_authentications
                if ok
                else self._metrics.failed_authentications
            )
            counter.labels(self._listener, mechanism).inc()

    def connection_lost(self, exc: Exception | None) -> None:
        # counted in connection_made only (a failed TLS handshake never gets there)
        if self._metrics is not None and not self._lost and self._transport is not None:
            self._metrics.connections.labels(self._listener).dec()
        self._lost = True
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._answers.cancel()

    def data_received(self, data: bytes) -> None:
        # When the newest bytes arrived: a frame served later waited at least since then
        # (the request-queue-time metric; frames pipelined behind a busy request).
        self._data_at = time.monotonic()
        self._buffer += data
        if not self._busy:
            self._serve_buffered()
        elif len(self._buffer) > _PAUSE_ABOVE and not self._paused and self._transport:
            self._transport.pause_reading()
            self._paused = True

    def _next_frame(self) -> bytes | None:
        buf = self._buffer
        if len(buf) < 4:
            return None
        (size,) = _SIZE.unpack_from(buf, 0)
        if size < 0 or size > self._max_request:
            raise MalformedRequest(
                f"request of {size} bytes exceeds socket.request.max.bytes={self._max_request}"
            )
        sasl = self._sasl
        if sasl is not None and not sasl.authenticated:
            assert self._security is not None and self._security.sasl is not None
            limit = self._security.sasl.max_receive_bytes
            if size > limit:  # before authentication, frames are small (Kafka's limit)
                raise MalformedRequest(
                    f"frame of {size} bytes before SASL authentication exceeds "
                    f"sasl.server.max.receive.size={limit}"
                )
        if len(buf) < 4 + size:
            return None
        frame = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        return frame

    def _serve_buffered(self) -> None:
        try:
            while not self._closed:
                if len(self._answers) >= MAX_PIPELINED:
                    self._busy = self._blocked = True  # resumed by _answers_progressed
                    return
                frame = self._next_frame()
                if frame is None:
                    break
                if self._sasl is not None and not self._admit_sasl(frame):
                    continue
                result = self._dispatcher.dispatch(
                    frame,
                    listener=self._listener,
                    client_host=self._peer,
                    reply=self._send_raw,
                    principal=self._principal,
                    arrived=self._data_at,
                )
                if isinstance(result, Pipelined):
                    self._answers.later(result.answer)
                    continue
                if isinstance(result, Throttled):
                    self._mute(result)
                    return
                if inspect.isawaitable(result):
                    self._busy = True
                    self._task = asyncio.ensure_future(self._await_then_continue(result))
                    return
                self._answers.ready(result)
        except MalformedRequest as exc:
            self._abort(str(exc))
            return
        except Exception:
            log.exception("unexpected error serving a request from %s; closing", self._peer)
            self._abort("internal error")
            return
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False

    def _admit_sasl(self, frame: bytes) -> bool:
        """Serve SASL frames here; True when the frame goes to the dispatcher."""
        session = self._sasl
        assert session is not None
        now = _now_ms()
        api_key = int.from_bytes(frame[:2], "big", signed=True) if len(frame) >= 2 else -1
        admission = session.admit(api_key, now)
        action = admission.action
        if action is Admit.DISPATCH:
            if session.principal is not None:
                self._principal = session.principal
            return True
        if action is Admit.CLOSE:
            self._abort(admission.reason)
            return False
        if action is Admit.HANDSHAKE:
            reply = serve_handshake(session, frame)
        elif action is Admit.AUTHENTICATE:
            reply = serve_authenticate(session, frame, now)
        else:
            reply = serve_raw_token(session, frame, now)
        self._after_sasl(session, reply)
        return False

    def _after_sasl(self, session: SaslSession, reply: SaslReply) -> None:
        if reply.data:
            self._answers.ready(reply.data)
        mechanism = session.mechanism_name or "?"
        if reply.failure is not None:
            self._count_authentication(mechanism, ok=False)
            log.info(
                "authentication failed on listener %s from %s: %s",
                self._listener,
                self._peer,
                reply.failure,
            )
        elif reply.completed:
            self._count_authentication(mechanism, ok=True)
            log.debug("%s authenticated from %s with %s", session.principal, self._peer, mechanism)
        if reply.close_after:
            # As Kafka (connection.failed.authentication.delay.ms): the failure answer goes
            # out now, the close a little later, which slows down password guessing.
            assert self._security is not None and self._security.sasl is not None
            delay_s = self._security.sasl.failed_delay_ms / 1000
            self._abort("SASL authentication failed", delay_s=delay_s if reply.failure else 0)

    async def _await_then_continue(self, pending: Awaitable[Output | Throttled]) -> None:
        try:
            output = await pending
            if isinstance(output, Throttled):
                self._answers.ready(output.answer)
                await asyncio.sleep(output.mute_s)
            else:
                self._answers.ready(output)
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("unexpected error serving a request from %s; closing", self._peer)
            self._abort("internal error")
            return
        self._busy = False
        self._serve_buffered()

    def _mute(self, throttled: Throttled) -> None:
        """Answer now, then read nothing more for the throttle time (client quotas)."""

        async def answered() -> Throttled:
            return throttled

        self._busy = True
        self._task = asyncio.ensure_future(self._await_then_continue(answered()))

    def _answer_failed(self, exc: BaseException) -> None:
        log.error("unexpected error serving a request from %s; closing", self._peer, exc_info=exc)
        self._abort("internal error")

    def _answers_progressed(self) -> None:
        if self._blocked and len(self._answers) < MAX_PIPELINED:
            self._blocked = self._busy = False
            self._serve_buffered()

    def _send_raw(self, data: bytes) -> None:
        """Unsolicited frames back to the peer (Raft messages to an observer)."""
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _write(self, output: Output) -> None:
        if output is None or self._transport is None or self._closed:
            return
        if isinstance(output, bytes):
            self._transport.write(output)
        else:
            self._transport.writelines(output)

    def _abort(self, reason: str, *, delay_s: float = 0.0) -> None:
        log.info("closing connection from %s: %s", self._peer, reason)
        self._closed = True
        transport = self._transport
        if transport is None:
            return
        if delay_s > 0:
            transport.pause_reading()
            asyncio.get_running_loop().call_later(delay_s, transport.close)
        else:
            transport.close()


def make_protocol_factory(
    dispatcher: Dispatcher,
    *,
    listener: str,
    max_request_bytes: int,
    security: ListenerSecurity | None = None,
    image: Callable[[], MetadataImage] | None = None,
    metrics: BrokerMetrics | None = None,
) -> Any:
    return lambda: KafkaConnection(
        dispatcher,
        listener=listener,
        max_request_bytes=max_request_bytes,
        security=security,
        image=image,
        metrics=metrics,
    )
