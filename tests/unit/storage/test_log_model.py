"""Stateful property test: PartitionLog against a list-of-batches model.

Random appends (sizes, codecs, idempotent or not), reads at random offsets with random
byte limits and high watermarks, clean reopen, crash reopen, DeleteRecords, size
retention and follower-style truncation. After every step the log must agree with the
model on its offsets and return exactly the model's batches.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from storage_support import T0, simple_batch

from millrace_broker.protocol.record_batch import iter_batches
from millrace_broker.storage.errors import StorageError
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog

CONFIG = LogConfig(segment_bytes=700, index_interval_bytes=150, retention_ms=-1)


class LogModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp())
        self.dir = self.root / "m-0"
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=T0)
        self.batches: list[tuple[int, int, int]] = []  # (base, last, size)
        self.seq_after: dict[int, int] = {}  # base offset -> producer sequence after it
        self.start = 0
        self.seq = 0

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def end(self) -> int:
        return self.batches[-1][1] + 1 if self.batches else self.start

    @rule(
        n=st.integers(1, 6),
        size=st.integers(0, 120),
        codec=st.integers(0, 4),
        idempotent=st.booleans(),
    )
    def append(self, n: int, size: int, codec: int, idempotent: bool) -> None:
        kw = (
            {"producer_id": 1, "producer_epoch": 0, "base_sequence": self.seq} if idempotent else {}
        )
        raw = simple_batch(n, size=size, codec=codec, **kw)  # type: ignore[arg-type]
        result = self.log.append_as_leader(raw, leader_epoch=0, now_ms=T0)
        assert not result.duplicate
        assert result.base_offset == self.end
        self.seq_after.pop(result.base_offset, None)  # offsets are reused after truncation
        if idempotent:
            self.seq += n
            self.seq_after[result.base_offset] = self.seq
            dup = self.log.append_as_leader(raw, leader_epoch=0, now_ms=T0)
            assert dup.duplicate and dup.base_offset == result.base_offset
        self.batches.append((result.base_offset, result.last_offset, len(raw)))

    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        max_bytes = data.draw(st.integers(1, 2000))
        hw = data.draw(st.one_of(st.none(), st.integers(offset, self.end)))
        got = self.log.read(offset, max_bytes, max_offset=hw).records
        got_offsets = [(h.base_offset, h.last_offset) for _, h in iter_batches(got)]
        assert sum(h.total_size for _, h in iter_batches(got)) == len(got)
        limit = self.end if hw is None else hw
        eligible = [b for b in self.batches if b[1] >= offset and b[1] < limit]
        if not eligible or offset >= limit:
            assert got_offsets == []
            return
        assert got_offsets, (offset, max_bytes, hw)
        assert got_offsets[0] == eligible[0][:2]
        assert got_offsets == [b[:2] for b in eligible[: len(got_offsets)]]
        if len(got_offsets) > 1:
            assert len(got) <= max_bytes

    @rule()
    def reopen_clean(self) -> None:
        self.log.close()
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=T0)

    @rule()
    def reopen_after_crash(self) -> None:
        for segment in self.log.segments:
            segment.close()
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=T0)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        assert self.log.delete_records_before(offset) == max(offset, self.start)
        self.start = max(offset, self.start)
        self.batches = [b for b in self.batches if b[1] >= self.start]

    @rule()
    def delete_beyond_end_is_refused(self) -> None:
        try:
            self.log.delete_records_before(self.end + 1)
        except StorageError:
            return
        raise AssertionError("deleting beyond the log end must fail")

    @precondition(lambda self: self.batches)
    @rule(limit=st.integers(0, 3000))
    def size_retention(self, limit: int) -> None:
        self.log.update_config(
            LogConfig(
                segment_bytes=700, index_interval_bytes=150, retention_ms=-1, retention_bytes=limit
            )
        )
        self.log.run_retention(T0)
        self.log.update_config(CONFIG)
        self.start = self.log.log_start_offset
        self.batches = [b for b in self.batches if b[0] >= self.start or b[1] >= self.start]
        assert self.log.size_bytes <= max(limit, 0) + 700 + 1000 or not self.batches

    @precondition(lambda self: len(self.batches) > 1)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(1, len(self.batches) - 1))
        base = self.batches[i][0]
        if base <= self.start:
            return
        self.log.truncate_to(base)
        self.batches = self.batches[:i]
        # Producer state is rebuilt from what remains: its sequence is the last surviving
        # idempotent batch's (or unknown, and then any sequence is accepted).
        survivors = [self.seq_after[b[0]] for b in self.batches if b[0] in self.seq_after]
        self.seq = survivors[-1] if survivors else 0

    @invariant()
    def offsets_agree(self) -> None:
        assert self.log.log_end_offset == self.end
        assert self.log.log_start_offset == self.start


LogModel.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestLogModel = LogModel.TestCase
