"""A connection's answers, written strictly in request order.

Kafka clients match responses to requests by correlation id but expect them in the order
they sent the requests. With `server.pipelined.Pipelined` answers a connection can have
several requests still to be answered while it serves later ones; this queue holds
their answers and writes each as soon as it and every earlier one are ready. An answer
that is ready while nothing is queued is written at once (the common case: no cost).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from ..server.dispatch import Output


class AnswerQueue:
    def __init__(
        self,
        write: Callable[[Output], None],
        *,
        on_error: Callable[[BaseException], None],
        on_progress: Callable[[], None],
    ) -> None:
        self._write = write
        self._on_error = on_error
        self._on_progress = on_progress
        self._queue: deque[asyncio.Future[Output]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def ready(self, output: Output) -> None:
        """An answer available now: written at once unless earlier answers are pending."""
        if not self._queue:
            self._write(output)
            return
        fut: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        fut.set_result(output)
        self._queue.append(fut)

    def later(self, answer: Awaitable[Output]) -> None:
        """An answer still to come; it leaves after every earlier answer."""
        task = asyncio.ensure_future(answer)
        self._queue.append(task)
        task.add_done_callback(self._flush)

    def cancel(self) -> None:
        """The connection is gone: stop waiting for answers no one will read."""
        for fut in self._queue:
            fut.cancel()
        self._queue.clear()

    def _flush(self, _done: object = None) -> None:
        wrote = False
        while self._queue and self._queue[0].done():
            fut = self._queue.popleft()
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is not None:
                self.cancel()
                self._on_error(exc)
                return
            self._write(fut.result())
            wrote = True
        if wrote:
            self._on_progress()
