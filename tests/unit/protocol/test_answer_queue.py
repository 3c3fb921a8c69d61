"""A connection's answers leave in request order even when later ones are ready first."""

from __future__ import annotations

import asyncio

import pytest

from millrace_broker.network.answer_queue import AnswerQueue
from millrace_broker.server.dispatch import Output
from millrace_broker.server.pipelined import Pipelined


def _queue(written: list[Output], errors: list[BaseException]) -> AnswerQueue:
    return AnswerQueue(written.append, on_error=errors.append, on_progress=lambda: None)


def test_answers_leave_in_request_order() -> None:
    async def scenario() -> list[Output]:
        written: list[Output] = []
        queue = _queue(written, [])
        first: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        second: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        queue.later(first)
        queue.later(second)
        queue.ready(b"3")  # a synchronous answer behind two pending ones
        second.set_result(b"2")
        await asyncio.sleep(0)
        assert written == []  # the first is not answered yet: nothing may overtake it
        first.set_result(b"1")
        for _ in range(3):
            await asyncio.sleep(0)
        queue.ready(b"4")  # nothing pending: written at once
        return written

    assert asyncio.run(scenario()) == [b"1", b"2", b"3", b"4"]


def test_a_failed_answer_reports_and_drops_the_rest() -> None:
    async def scenario() -> tuple[list[Output], list[BaseException], int]:
        written: list[Output] = []
        errors: list[BaseException] = []
        queue = _queue(written, errors)
        bad: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        queue.later(bad)
        queue.ready(b"after")
        bad.set_exception(RuntimeError("boom"))
        for _ in range(3):
            await asyncio.sleep(0)
        return written, errors, len(queue)

    written, errors, left = asyncio.run(scenario())
    assert written == [] and [str(e) for e in errors] == ["boom"] and left == 0


def test_pipelined_is_awaitable_for_code_that_does_not_know_it() -> None:
    async def answer() -> bytes:
        return b"x"

    async def scenario() -> bytes:
        return await Pipelined(answer())  # type: ignore[no-any-return]

    assert asyncio.run(scenario()) == b"x"


@pytest.mark.parametrize("count", [1, 5])
def test_cancel_stops_pending_answers(count: int) -> None:
    async def scenario() -> list[bool]:
        queue = _queue([], [])
        futures = [asyncio.get_running_loop().create_future() for _ in range(count)]
        for fut in futures:
            queue.later(fut)
        queue.cancel()
        await asyncio.sleep(0)
        return [f.cancelled() for f in futures]

    assert all(asyncio.run(scenario()))
