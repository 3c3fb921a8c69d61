"""Answers that may be completed out of step with the connection's reading.

A request handler normally answers synchronously, or returns an awaitable, and the
connection then reads no further frame until that awaitable completes (Kafka's socket
server mutes a channel the same way). That is right for a long-polling fetch, but wrong
for an `acks=all` produce: its append is already done when the handler returns, and only
the wait for the followers remains. Serialising those waits per connection makes every
small produce request pay a full replication round trip *after* the previous one, so a
client that sends requests faster than one per round trip (librdkafka sends one per
`linger.ms` with up to `max.in.flight` outstanding) queues without bound: seconds of
latency at a few hundred records/s on a busy machine.

A handler that returns `Pipelined(answer)` promises that all its side effects are done;
the connection keeps serving the following frames (their appends go in after this one,
in request order) and writes the answers strictly in request order as they complete.
The wait is still bounded per connection (`MAX_PIPELINED`), so a client cannot make the
broker hold unbounded state. A `Pipelined` is itself awaitable: code between the
handler and the connection that does not know it (a wrapper that post-processes
awaitables) turns it into a plain awaitable, which is served the serial way: correct,
only slower.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from typing import Any

# Kafka clients keep at most 5 requests in flight with idempotence (librdkafka allows
# more without it); beyond this many unanswered requests the connection stops reading.
MAX_PIPELINED = 16


@dataclass(frozen=True, slots=True)
class Pipelined:
    """An answer still to come, for a request whose side effects are complete."""

    answer: Awaitable[Any]

    def __await__(self) -> Generator[Any, None, Any]:
        return self.answer.__await__()
