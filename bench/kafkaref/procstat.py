"""Memory of a process from /proc/<pid>/status: VmRSS (now) and VmHWM (peak RSS).

`RssSampler` polls a pid on a background thread so a benchmark can report the peak and
the last RSS observed during a load phase, independently of the kernel's lifetime VmHWM.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class MemoryStats:
    """Resident memory of one process, in KiB, as the kernel reports it."""

    rss_kib: int
    hwm_kib: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024

    @property
    def hwm_mib(self) -> float:
        return self.hwm_kib / 1024


def read_memory(pid: int) -> MemoryStats | None:
    """VmRSS and VmHWM of `pid`, or None when the process is gone."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in values:  # a zombie has no memory lines
        return None
    return MemoryStats(rss_kib=values["VmRSS"], hwm_kib=values.get("VmHWM", values["VmRSS"]))


class RssSampler:
    """Samples a process's RSS every `interval` seconds while in a `with` block."""

    def __init__(self, pid: int, *, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_kib = 0
        self.last: MemoryStats | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _sample(self) -> None:
        stats = read_memory(self.pid)
        if stats is not None:
            self.last = stats
            self.peak_rss_kib = max(self.peak_rss_kib, stats.rss_kib)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024
