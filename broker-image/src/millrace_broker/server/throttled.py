"""A response that mutes its connection afterwards (client quotas, KIP-219).

A handler over a client's quota answers at once with `throttle_time_ms` set, wrapped in
`Throttled(answer, mute_s)`; the dispatcher encodes the answer inside the wrapper and the
connection writes it, then reads no further request for `mute_s` seconds, as Kafka's
socket server mutes a throttled channel. Clients that honour the throttle time (KIP-219)
wait the same time themselves, so the two overlap instead of adding up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Throttled:
    answer: Any
    mute_s: float
