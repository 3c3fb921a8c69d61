"""Waiting for a condition with a timeout that reports what was last observed.

`wait_for(observe, ok, timeout=..., what=...)` calls `observe()` until `ok(value)` holds and
returns that value. On timeout it raises `WaitTimeout` carrying the last observed value (or
the last exception `observe` raised), so a failing e2e test says what it saw, not only
that it waited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold in time; the message holds the last observation."""


def wait_for(
    observe: Callable[[], T],
    ok: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
) -> T:
    deadline = time.monotonic() + timeout
    last: object = "<nothing observed yet>"
    while True:
        try:
            value = observe()
        except Exception as exc:  # observation failures are retried and reported
            last = f"{type(exc).__name__}: {exc}"
        else:
            if ok(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout:.0f}s waiting for {what}; last observed:\n{last}"
            )
        time.sleep(interval)
