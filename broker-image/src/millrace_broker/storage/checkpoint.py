"""Tiny durable checkpoint files holding one offset (log start offset, recovery point).

Written to a temporary file, fsynced and renamed over the old one, so a crash leaves
either the old or the new value, never a torn one. An unreadable file reads as the
default (the loader then falls back to the safe choice: recover more, trust less).
"""

from __future__ import annotations

import os
from pathlib import Path

LOG_START_OFFSET_FILE = "log-start-offset"
RECOVERY_POINT_FILE = "recovery-point"
CLEAN_SHUTDOWN_FILE = "clean-shutdown"


def read_offset(path: Path, default: int) -> int:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return default
    return int(text) if text.lstrip("-").isdigit() else default


def write_offset(path: Path, value: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, f"{value}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
