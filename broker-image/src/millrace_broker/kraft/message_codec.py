"""Encode the Raft core's messages for the wire between Millrace controllers.

Controllers exchange the core's own message dataclasses, one-way, as tagged JSON in a
private API frame (see transport.py). The encoding is generic over the dataclasses in
raft/messages.py and raft/records.py: dataclasses become objects with a "@" type tag,
NamedTuples lists, bytes base64 strings, IntEnums ints. Unknown tags are refused.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from enum import IntEnum
from typing import Any

from ..raft import messages, records, voters
from ..raft.errors import ErrorCode

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for module in (messages, records, voters)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}
_TUPLES: dict[str, type[Any]] = {"OffsetAndEpoch": records.OffsetAndEpoch}


def _to_json(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, records.OffsetAndEpoch):
        return {"@t": "OffsetAndEpoch", "v": [value.offset, value.epoch]}
    if isinstance(value, voters.VoterSet):
        return {"@": "VoterSet", "voters": [_to_json(v) for v in value]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"@": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = _to_json(getattr(value, f.name))
        return out
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


def _from_json(raw: Any, field_type: Any = None) -> Any:
    if isinstance(raw, list):
        return tuple(_from_json(v) for v in raw)
    if not isinstance(raw, dict):
        return raw
    if "b64" in raw:
        return base64.b64decode(raw["b64"])
    if "@t" in raw:
        return _TUPLES[raw["@t"]](*raw["v"])
    tag = raw.get("@")
    if tag == "VoterSet":
        return voters.VoterSet.of(_from_json(v) for v in raw["voters"])
    cls = _TYPES.get(tag or "")
    if cls is None:
        raise ValueError(f"unknown message type {tag!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            value = _from_json(raw[f.name])
            if f.name == "error":
                value = ErrorCode(value)
            kwargs[f.name] = value
    return cls(**kwargs)


def encode_message(source: int, message: messages.Message) -> bytes:
    return json.dumps({"source": source, "message": _to_json(message)}).encode()


def decode_message(data: bytes) -> tuple[int, messages.Message]:
    raw = json.loads(data)
    message = _from_json(raw["message"])
    return int(raw["source"]), message
