"""A bad configuration stops start-up with a message naming the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_broker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "millrace_broker.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_unknown_key_names_the_key_and_suggests_the_fix(tmp_path: Path) -> None:
    result = run_broker("--override", "log.retention.hour=5", cwd=tmp_path)
    assert result.returncode == 2
    assert "log.retention.hour" in result.stderr and "log.retention.hours" in result.stderr


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("log.segment.bytes=abc\n")
    result = run_broker(str(props), cwd=tmp_path)
    assert result.returncode == 2
    assert "log.segment.bytes" in result.stderr


def test_missing_file_is_reported(tmp_path: Path) -> None:
    result = run_broker(str(tmp_path / "nope.properties"), cwd=tmp_path)
    assert result.returncode == 2 and "nope.properties" in result.stderr
