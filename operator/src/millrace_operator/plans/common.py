"""Values every planner shares: `Blocked`, and pure condition bookkeeping.

A planner returns one value: a step to take, `Blocked(reason, message)` when it must not
proceed (the message names the cause and the fix), or `None` when there is nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from millrace_operator.model.common import Condition, ConditionStatus


@dataclass(frozen=True, slots=True)
class Blocked:
    """The planner will not act until the user (or the world) changes something."""

    reason: str  # CamelCase, for a condition's reason
    message: str  # the cause and the fix


def condition(
    type_: str, status: bool | None, reason: str, message: str = "", *, generation: int | None
) -> Condition:
    """A condition value (without transition time; `merge_conditions` sets it)."""
    value = (
        ConditionStatus.UNKNOWN
        if status is None
        else ConditionStatus.TRUE
        if status
        else ConditionStatus.FALSE
    )
    return Condition(
        type=type_, status=value, reason=reason, message=message, observed_generation=generation
    )


def merge_conditions(
    previous: Iterable[Condition], current: Iterable[Condition], *, now: datetime
) -> list[Condition]:
    """`current` with `lastTransitionTime` kept from `previous` where the status is unchanged.

    Conditions in `previous` that `current` does not mention are kept as they were.
    """
    before = {c.type: c for c in previous}
    merged: dict[str, Condition] = dict(before)
    for cond in current:
        old = before.get(cond.type)
        keep = old is not None and old.status == cond.status and old.last_transition_time
        stamp = old.last_transition_time if keep and old is not None else now
        merged[cond.type] = cond.model_copy(update={"last_transition_time": stamp})
    return list(merged.values())
