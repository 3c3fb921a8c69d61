"""Which whole segments time- and size-based retention may delete (Kafka's rules).

Segments are considered oldest first and deletion stops at the first one that must stay,
so the log remains a contiguous suffix:

- retention.ms (>= 0): a segment goes when ``now - largest timestamp > retention.ms``
  (largest record timestamp, or the file's mtime if it has none);
- retention.bytes (>= 0): while the log exceeds it by at least a whole segment, the
  oldest segment goes;
- a segment is only deletable once all of its offsets are below the high watermark
  (consumers may still need unreplicated data), and an empty active segment never is.
  A non-empty active segment can be deleted; the caller rolls a fresh one first.
"""

from __future__ import annotations

from collections.abc import Sequence

from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.segment import LogSegment


def deletable_segments(
    segments: Sequence[LogSegment],
    config: LogConfig,
    *,
    now_ms: int,
    high_watermark: int,
    log_end_offset: int,
) -> list[LogSegment]:
    victims: list[LogSegment] = []
    excess = sum(s.size for s in segments) - config.retention_bytes
    for i, segment in enumerate(segments):
        is_last = i == len(segments) - 1
        upper = log_end_offset if is_last else segments[i + 1].base_offset
        if (is_last and segment.size == 0) or upper > high_watermark:
            break
        by_time = config.retention_ms >= 0 and now_ms - segment.largest_timestamp() > (
            config.retention_ms
        )
        by_size = config.retention_bytes >= 0 and excess - segment.size >= 0
        if not (by_time or by_size):
            break
        excess -= segment.size
        victims.append(segment)
    return victims
