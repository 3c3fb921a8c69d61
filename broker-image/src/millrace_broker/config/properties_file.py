"""A reader for Java `.properties` text, as `java.util.Properties.load` reads it.

The rules (from the `Properties.load(Reader)` contract):

- Natural lines end with `\\n`, `\\r` or `\\r\\n`. A line whose last character is an
  unescaped backslash (an odd run of backslashes) continues on the next natural line; the
  continuation's leading whitespace is dropped.
- Blank lines and lines whose first non-blank character is `#` or `!` are comments.
  A comment line never continues, even if it ends with a backslash.
- The key runs from the first non-blank character to the first unescaped `=`, `:` or
  whitespace. Whitespace, then at most one `=` or `:`, then whitespace separate it from
  the value, which is the rest of the logical line (trailing whitespace kept).
- Escapes in keys and values: `\\t \\n \\r \\f`, `\\uXXXX`, and `\\x` for any other `x`
  meaning `x` itself (so `\\=`, `\\:`, `\\#`, `\\ ` and `\\\\`).

Whitespace is space, tab and form feed. Java reads an InputStream as ISO-8859-1; we read
files as UTF-8 (a superset for every ASCII file, and what people actually write), and
`\\uXXXX` escapes work either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from millrace_broker.config.errors import ConfigError

_BLANK = " \t\f"
_NATURAL_LINE = re.compile(r"\r\n|\r|\n")
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


@dataclass(frozen=True, slots=True)
class Property:
    """One `key=value` entry and the (1-based) line it starts on, for error messages."""

    key: str
    value: str
    line: int


def parse_properties(text: str, *, source: str = "<string>") -> list[Property]:
    """Parse properties text into entries in file order (duplicates kept; last wins later)."""
    entries: list[Property] = []
    lines = _NATURAL_LINE.split(text)
    index = 0
    while index < len(lines):
        start = index
        line = lines[index].lstrip(_BLANK)
        index += 1
        if not line or line[0] in "#!":
            continue
        logical = line
        while _continues(logical) and index <= len(lines):
            logical = logical[:-1]
            if index == len(lines):
                break
            logical += lines[index].lstrip(_BLANK)
            index += 1
        key, value = _split(logical)
        try:
            entries.append(Property(_unescape(key), _unescape(value), start + 1))
        except ValueError as exc:
            raise ConfigError(f"{source}:{start + 1}: {exc}") from None
    return entries


def load_properties_file(path: Path) -> list[Property]:
    """Read and parse a properties file; a missing or unreadable file is a `ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason}") from None
    return parse_properties(text, source=str(path))


def _continues(line: str) -> bool:
    run = len(line) - len(line.rstrip("\\"))
    return run % 2 == 1


def _split(line: str) -> tuple[str, str]:
    """Split a logical line at the first unescaped separator."""
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char in "=:" or char in _BLANK:
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(_BLANK)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_BLANK)
    return key, rest


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        escaped = text[i + 1]
        if escaped == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"malformed \\uxxxx encoding in {text!r}")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_SIMPLE_ESCAPES.get(escaped, escaped))
        i += 2
    return "".join(out)
