"""Java .properties syntax, as `java.util.Properties.load` reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from millrace_broker.config import ConfigError
from millrace_broker.config.properties_file import load_properties_file, parse_properties


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", [("a", "b")]),
        ("a:b", [("a", "b")]),
        ("a b", [("a", "b")]),
        ("a = b", [("a", "b")]),
        ("a\t:\tb", [("a", "b")]),
        ("  a=b", [("a", "b")]),
        ("a=b  ", [("a", "b  ")]),  # trailing whitespace is part of the value
        ("a=", [("a", "")]),
        ("a", [("a", "")]),
        ("a==b", [("a", "=b")]),  # only one separator is consumed
        ("a = = b", [("a", "= b")]),
        ("a=b=c", [("a", "b=c")]),
        ("# comment\na=b", [("a", "b")]),
        ("! comment\na=b", [("a", "b")]),
        ("   # indented comment\na=b", [("a", "b")]),
        ("a=b # not a comment", [("a", "b # not a comment")]),
        ("\n\n  \na=b\n\n", [("a", "b")]),
        ("a=b\r\nc=d\re=f", [("a", "b"), ("c", "d"), ("e", "f")]),
        ("a=one,\\\n    two", [("a", "one,two")]),
        ("a=x\\\n  \\\n  y", [("a", "xy")]),
        ("a=x\\\\\nb=y", [("a", "x\\"), ("b", "y")]),  # even backslashes: no continuation
        ("a=x\\", [("a", "x")]),  # continuation at end of input
        ("# comment \\\na=b", [("a", "b")]),  # comments never continue
        ("a\\=b=c", [("a=b", "c")]),
        ("a\\:b:c", [("a:b", "c")]),
        ("a\\ b=c", [("a b", "c")]),
        ("a=\\t\\n\\r\\f", [("a", "\t\n\r\f")]),
        ("a=\\u0041\\u00e9", [("a", "Aé")]),
        ("a=\\q\\#", [("a", "q#")]),  # unknown escapes keep the character
        ("a=1\na=2", [("a", "1"), ("a", "2")]),  # duplicates kept in order; last wins later
        ("a=é", [("a", "é")]),
    ],
)
def test_parse(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(p.key, p.value) for p in parse_properties(text)] == expected


def test_line_numbers() -> None:
    props = parse_properties("# c\n\na=1\nb=x\\\n y\nc=3\n")
    assert [(p.key, p.line) for p in props] == [("a", 3), ("b", 4), ("c", 6)]


def test_malformed_unicode_escape() -> None:
    with pytest.raises(ConfigError, match=r"server.properties:2: malformed \\uxxxx"):
        parse_properties("a=1\nb=\\u12", source="server.properties")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_properties_file(tmp_path / "absent.properties")


def test_file(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("node.id=3\nlog.dirs=/data/a,\\\n  /data/b\n", encoding="utf-8")
    assert [(p.key, p.value) for p in load_properties_file(path)] == [
        ("node.id", "3"),
        ("log.dirs", "/data/a,/data/b"),
    ]
