"""Did the controller refuse a forwarded request because it is no longer active?

Kafka brokers forward admin requests to the active controller and, when the answer
carries NOT_CONTROLLER (the controller lost its leadership between the broker's lookup
and the request's arrival), look the controller up again and resend: clients never see
that error from a forwarded request (`NodeToControllerRequestThread.handleResponse`).
Responses are relayed as frames, so this decodes the frame with kio and looks for the
code anywhere in it (top level or per topic/partition/resource), as Kafka's
`errorCounts()` does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from ..protocol.framing import API_VERSIONS_KEY, peek_api, skip_tagged_fields

_NOT_CONTROLLER = int(ErrorCode.not_controller)
_MAX_DEPTH = 8


def says_not_controller(request_frame: bytes, response: bytes) -> bool:
    """True if `response` (size prefix included) answers `request_frame` with
    NOT_CONTROLLER anywhere; False if not, or if it cannot be decoded."""
    try:
        api_key, version, _ = peek_api(request_frame)
        schema: Any = load_response_schema(api_key, version)
        pos = 8  # size prefix + correlation id
        if schema.__flexible__ and api_key != API_VERSIONS_KEY:
            pos = skip_tagged_fields(response, pos)
        entity, _ = entity_reader(schema)(response, pos)
    except Exception:  # kio raises several types for bad input: not ours to judge
        return False
    return _has_code(entity, 0)


def _has_code(value: Any, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, tuple):
        return any(_has_code(v, depth + 1) for v in value)
    if not dataclasses.is_dataclass(value):
        return False
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if f.name == "error_code" and int(item) == _NOT_CONTROLLER:
            return True
        nested = isinstance(item, tuple) or dataclasses.is_dataclass(item)
        if nested and _has_code(item, depth + 1):
            return True
    return False
