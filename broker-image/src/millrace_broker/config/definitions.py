"""Config keys, their types and validators, and Kafka's string conversions.

Kafka describes every property with a `ConfigDef.ConfigKey`: a name, a type, a default
(kept here in Kafka's string form so that describe output and parsing share one path),
a validator, an importance and a documentation string. The tables in `_broker_table` and
`_topic_table` are instances of `ConfigKey` derived from Apache Kafka 4.1.0's own
ConfigDefs; this module holds the machinery those tables use.

Parsing follows `ConfigDef.parseType`: strings are trimmed, booleans are case-insensitive
`true`/`false`, integers are decimal and range-checked to their Java width, lists split on
commas with surrounding whitespace. Formatting follows `ConfigDef.convertToString`
(Java's `Double.toString` included), because clients compare the strings we describe
against what Kafka would have said.

Each validator answers two questions: `reason(value)` in Kafka's own words (the text
that follows "Invalid value X for configuration Y: " on the wire), and `expectation`, a
short phrase for the friendlier broker-startup messages ("expected an integer >= 14").
"""

from __future__ import annotations

import decimal
import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Protocol

ConfigValue = bool | int | float | str | tuple[str, ...] | None


class ConfigType(IntEnum):
    """DescribeConfigs v3+ `ConfigType` codes (KIP-569)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class _NoDefault:
    """Marker for keys that must be supplied (Kafka's NO_DEFAULT_VALUE)."""

    _instance: _NoDefault | None = None

    def __new__(cls) -> _NoDefault:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()

_INT_BOUNDS: Final = {
    ConfigType.SHORT: (-(1 << 15), (1 << 15) - 1),
    ConfigType.INT: (-(1 << 31), (1 << 31) - 1),
    ConfigType.LONG: (-(1 << 63), (1 << 63) - 1),
}
_INTEGER_RE: Final = re.compile(r"[+-]?[0-9]+")
_DOUBLE_RE: Final = re.compile(
    r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[fFdD]?"
)
_COMMA: Final = re.compile(r"\s*,\s*")

_TYPE_PHRASE: Final = {
    ConfigType.BOOLEAN: "true or false",
    ConfigType.STRING: "a string",
    ConfigType.INT: "an integer",
    ConfigType.SHORT: "a short integer",
    ConfigType.LONG: "an integer",
    ConfigType.DOUBLE: "a number",
    ConfigType.LIST: "a comma-separated list",
    ConfigType.CLASS: "a class name",
    ConfigType.PASSWORD: "a password",
}


class Validator(Protocol):
    """A value check applied after type parsing (Kafka's `ConfigDef.Validator`)."""

    @property
    def expectation(self) -> str: ...

    def reason(self, value: ConfigValue) -> str | None: ...


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True, slots=True)
class Range:
    """Kafka's `ConfigDef.Range` (plus `also`, the extra values a lambda validator allows)."""

    lo: int | float | None
    hi: int | float | None = None
    also: tuple[int, ...] = ()

    @property
    def expectation(self) -> str:
        if self.lo is not None and self.hi is not None:
            text = f"in [{_num(self.lo)}, {_num(self.hi)}]"
        elif self.lo is not None:
            text = f">= {_num(self.lo)}"
        else:
            text = f"<= {_num(self.hi or 0)}"
        return text + "".join(f" or {v}" for v in self.also)

    def reason(self, value: ConfigValue) -> str | None:
        if value is None:
            return "Value must be non-null"
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        if value in self.also:
            return None
        too_low = self.lo is not None and value < self.lo
        too_high = self.hi is not None and value > self.hi
        if not too_low and not too_high:
            return None
        if self.also:  # Kafka's lambda validator (compression.gzip.level) words it so
            return (
                f"Value must be between {_num(self.lo or 0)} and {_num(self.hi or 0)} or "
                + " or ".join(f"equal to {v}" for v in self.also)
            )
        if too_low:
            return f"Value must be at least {_num(self.lo or 0)}"
        return f"Value must be no more than {_num(self.hi or 0)}"


@dataclass(frozen=True, slots=True)
class OneOf:
    """Kafka's `ValidString` / `CaseInsensitiveValidString`."""

    choices: tuple[str, ...]
    case_insensitive: bool = False

    @property
    def expectation(self) -> str:
        return "one of " + ", ".join(self.choices)

    def reason(self, value: ConfigValue) -> str | None:
        if not isinstance(value, str):
            return None
        if self.case_insensitive:
            if value.upper() in {c.upper() for c in self.choices}:
                return None
        elif value in self.choices:
            return None
        return (
            "String must be one of"
            + (" (case insensitive): " if self.case_insensitive else ": ")
            + ", ".join(self.choices)
        )


@dataclass(frozen=True, slots=True)
class ListOf:
    """Kafka's `ValidList`: every element must be one of `choices`."""

    choices: tuple[str, ...]

    @property
    def expectation(self) -> str:
        return "made of " + ", ".join(self.choices)

    def reason(self, value: ConfigValue) -> str | None:
        if not isinstance(value, tuple):
            return None
        for item in value:
            if item not in self.choices:
                return "String must be one of: " + ", ".join(self.choices)
        return None


@dataclass(frozen=True, slots=True)
class NonEmptyString:
    """Kafka's `NonEmptyString`: null is allowed, blank is not."""

    @property
    def expectation(self) -> str:
        return "that is not empty"

    def reason(self, value: ConfigValue) -> str | None:
        if isinstance(value, str) and not value.strip():
            return "String must be non-empty"
        return None


@dataclass(frozen=True, slots=True)
class NonNull:
    """Kafka's `NonNullValidator`."""

    @property
    def expectation(self) -> str:
        return "(may not be null)"

    def reason(self, value: ConfigValue) -> str | None:
        return "entry must be non null" if value is None else None


_HOST_PORT: Final = re.compile(r"^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):([0-9]+)$")


@dataclass(frozen=True, slots=True)
class HostPortList:
    """`controller.quorum.voters` (`id@host:port`) or `...bootstrap.servers` (`host:port`)."""

    with_ids: bool

    @property
    def expectation(self) -> str:
        return "of id@host:port entries" if self.with_ids else "of host:port entries"

    def reason(self, value: ConfigValue) -> str | None:
        if not isinstance(value, tuple):
            return None
        for entry in value:
            endpoint = entry
            if self.with_ids:
                node, sep, endpoint = entry.partition("@")
                if not sep or not _INTEGER_RE.fullmatch(node):
                    return f"Unable to parse voter entry '{entry}': expected id@host:port"
            if not _HOST_PORT.match(endpoint):
                return f"Unable to parse '{entry}': expected host:port"
        return None


@dataclass(frozen=True, slots=True)
class ThrottledReplicas:
    """Kafka's `ThrottledReplicaListValidator`: `*` or `partition:broker,...`."""

    @property
    def expectation(self) -> str:
        return "[partitionId]:[brokerId],... or *"

    def reason(self, value: ConfigValue) -> str | None:
        if not isinstance(value, tuple):
            return None
        if value == ("*",) or all(re.fullmatch(r"\s*[0-9]+\s*:\s*[0-9]+\s*", v) for v in value):
            return None
        if not value:
            return None
        return (
            "must be the literal '*' or a list of replicas in the following format: "
            "[partitionId]:[brokerId],[partitionId]:[brokerId],..."
        )


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One property: Kafka's `ConfigDef.ConfigKey`, with the default in string form."""

    name: str
    type: ConfigType
    default: str | _NoDefault | None
    validator: Validator | None
    importance: str
    doc: str
    internal: bool = False

    @property
    def has_default(self) -> bool:
        return not isinstance(self.default, _NoDefault)

    @property
    def sensitive(self) -> bool:
        """Kafka hides PASSWORD values (and values of unknown type) in DescribeConfigs."""
        return self.type in (ConfigType.PASSWORD, ConfigType.UNKNOWN)

    def default_string(self) -> str | None:
        """The default in Kafka's string form; raises for keys that have none."""
        if isinstance(self.default, _NoDefault):
            raise KeyError(self.name)
        return self.default

    def default_value(self) -> ConfigValue:
        """The parsed default; raises for keys that have none."""
        if isinstance(self.default, _NoDefault):
            raise KeyError(self.name)
        return None if self.default is None else parse_value(self, self.default)

    def expectation(self) -> str:
        if isinstance(self.validator, OneOf):  # "a string one of x, y" reads badly
            return self.validator.expectation
        phrase = _TYPE_PHRASE[self.type]
        if self.validator is not None:
            phrase += " " + self.validator.expectation
        return phrase


class InvalidValue(ValueError):
    """A value failed its type or validator; `reason` is in Kafka's words."""

    def __init__(self, key: ConfigKey, raw: object, reason: str, *, shown: object = None) -> None:
        # `shown` is what Kafka's message quotes when it is not the raw text (the bad
        # element of a list, for instance).
        shown = raw if shown is None else shown
        super().__init__(f"Invalid value {shown} for configuration {key.name}: {reason}")
        self.key = key
        self.raw = raw
        self.reason = reason

    def friendly(self) -> str:
        """The startup-error wording: `name=value: expected ...`."""
        return f"{self.key.name}={self.raw}: expected {self.key.expectation()}"


def parse_value(key: ConfigKey, raw: str | None) -> ConfigValue:
    """Parse and validate `raw` as Kafka's ConfigDef would; raises `InvalidValue`."""
    value = None if raw is None else _parse_type(key, raw)
    validator = key.validator
    if validator is not None:
        reason = validator.reason(value)
        if reason is not None:
            shown: object = raw
            if isinstance(validator, ListOf) and isinstance(value, tuple):
                # Kafka names the offending element, not the whole list
                shown = next(v for v in value if v not in validator.choices)
            elif isinstance(validator, ThrottledReplicas) and isinstance(value, tuple):
                shown, reason = "[" + ", ".join(value) + "]", f"{key.name} {reason}"
            raise InvalidValue(key, raw, reason, shown=shown)
    return value


def _parse_type(key: ConfigKey, raw: str) -> ConfigValue:
    text = raw.strip()
    kind = key.type
    if kind is ConfigType.BOOLEAN:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise InvalidValue(key, raw, "Expected value to be either true or false")
    if kind in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[kind]
        if not _INTEGER_RE.fullmatch(text) or not lo <= int(text) <= hi:
            raise InvalidValue(key, raw, f"Not a number of type {kind.name}")
        return int(text)
    if kind is ConfigType.DOUBLE:
        if not _DOUBLE_RE.fullmatch(text):
            raise InvalidValue(key, raw, "Not a number of type DOUBLE")
        return float(text.rstrip("fFdD"))
    if kind is ConfigType.LIST:
        return tuple(_COMMA.split(text)) if text else ()
    if kind is ConfigType.PASSWORD:
        return raw
    return text


def format_value(key: ConfigKey, value: ConfigValue) -> str | None:
    """Kafka's `ConfigDef.convertToString` for a parsed value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_double(x: float) -> str:
    """`Double.toString`: fixed notation in [1e-3, 1e7), otherwise `d.dddE[-]n`."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if "." in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(repr(x)).as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    mantissa = shown[0] + "." + (shown[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"


def key_table(keys: Sequence[ConfigKey]) -> dict[str, ConfigKey]:
    """Index a table by name, refusing duplicates (a table bug, not a user error)."""
    table: dict[str, ConfigKey] = {}
    for key in keys:
        if key.name in table:
            raise AssertionError(f"duplicate config key {key.name}")
        table[key.name] = key
    return table


def suggest(name: str, known: Sequence[str]) -> str:
    """A ` (did you mean 'x'?)` suffix for a misspelt key, or ``""``."""
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
