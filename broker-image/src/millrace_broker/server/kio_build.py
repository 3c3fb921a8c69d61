"""Build kio response entities for any version from one set of keyword arguments.

Each version of a kio schema is its own dataclass with its own fields; handlers pass
every field they know and `make` keeps the ones this version has. Nested classes are
looked up by name in the module of the version being built.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import fields
from typing import Any

ZERO_THROTTLE = datetime.timedelta(0)


_FIELDS: dict[type[Any], frozenset[str]] = {}


def field_names(cls: type[Any]) -> frozenset[str]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
    return names


def make(cls: type[Any], **values: Any) -> Any:
    names = field_names(cls)
    return cls(**{k: v for k, v in values.items() if k in names})


def nested(cls: type[Any], name: str) -> type[Any]:
    """The class called `name` from the same schema version as `cls`."""
    found: type[Any] = getattr(sys.modules[cls.__module__], name)
    return found


def response_class(request: Any) -> type[Any]:
    from kio.index import load_response_schema

    return load_response_schema(request.__api_key__, request.__version__)
