"""Reject decoded requests whose non-nullable arrays or structs arrived as null.

The wire lets a client send a null (length -1 / compact 0) for any array or struct;
kio decodes it as None even where the schema says the field is not nullable. Handlers
rely on the schema, so such a request is malformed and must be refused up front rather
than fail half-way through a handler. The per-class walk plan is computed once.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from types import NoneType, UnionType
from typing import Any, get_args, get_origin

from .framing import MalformedRequest

# (field name, may be None, nested dataclass to walk or None, value is a tuple)
_Plan = tuple[tuple[str, bool, type[Any] | None, bool], ...]
_PLANS: dict[type[Any], _Plan] = {}


def _plan(cls: type[Any]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    steps = []
    for f in fields(cls):
        field_type: Any = f.type
        nullable = False
        if get_origin(field_type) is UnionType:
            args = get_args(field_type)
            nullable = NoneType in args
            field_type = next((a for a in args if a is not NoneType), field_type)
        is_tuple = get_origin(field_type) is tuple
        inner = get_args(field_type)[0] if is_tuple else field_type
        nested = inner if isinstance(inner, type) and is_dataclass(inner) else None
        if nested is not None or is_tuple or not nullable:
            steps.append((f.name, nullable, nested, is_tuple))
    plan = _PLANS[cls] = tuple(steps)
    return plan


def check_structure(entity: Any) -> None:
    for name, nullable, nested, is_tuple in _plan(type(entity)):
        value = getattr(entity, name)
        if value is None:
            if not nullable:
                raise MalformedRequest(f"{type(entity).__name__}.{name} is null")
            continue
        if nested is not None:
            if is_tuple:
                for item in value:
                    check_structure(item)
            else:
                check_structure(value)
