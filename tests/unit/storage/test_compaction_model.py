"""Stateful property test of compaction against a key/value model.

Random puts and tombstones (one record per batch, random codecs, timestamps moving
forward), compaction steps with tiny budgets (so passes span many calls), clean and
crash reopens. Invariants: every record in the log is one that was written, at the
offset it was written at; every key's latest write is still there (a latest tombstone
may be gone only after its delete horizon); offsets stay increasing and appends continue
at the log end.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from storage_support import T0, client_batch

from millrace_broker.protocol.record_batch import iter_batches
from millrace_broker.storage import compaction
from millrace_broker.storage.log_config import LogConfig
from millrace_broker.storage.partition_log import PartitionLog
from millrace_broker.storage.records import decode_batch

CONFIG = LogConfig(
    cleanup_policy=frozenset({"compact"}),
    segment_bytes=400,
    index_interval_bytes=100,
    min_cleanable_dirty_ratio=0.01,
    delete_retention_ms=5_000,
)


class CompactionModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp())
        self.dir = self.root / "cm-0"
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=T0)
        self.written: dict[int, tuple[bytes, bytes | None]] = {}
        self.latest: dict[bytes, int] = {}
        self.now = T0

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    @rule(
        key=st.sampled_from([b"a", b"b", b"c", b"d", b"e"]),
        value=st.one_of(st.none(), st.binary(min_size=1, max_size=30)),
        codec=st.integers(0, 4),
    )
    def put(self, key: bytes, value: bytes | None, codec: int) -> None:
        self.now += 100
        r = self.log.append_as_leader(
            client_batch([(key, value, self.now)], codec=codec), leader_epoch=0, now_ms=self.now
        )
        self.written[r.base_offset] = (key, value)
        self.latest[key] = r.base_offset

    @rule(
        items=st.lists(
            st.tuples(
                st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"]),
                st.one_of(st.none(), st.binary(min_size=1, max_size=30)),
            ),
            min_size=1,
            max_size=25,
        )
    )
    def put_many(self, items: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in items:
            self.put(key, value, len(value or b"") % 5)

    @rule(budget=st.integers(1, 600), steps=st.integers(1, 5))
    def compact(self, budget: int, steps: int) -> None:
        for _ in range(steps):
            if not compaction.compact(self.log, now_ms=self.now, budget_bytes=budget):
                break

    @rule(ms=st.integers(0, 10_000))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule()
    def reopen_clean(self) -> None:
        self.log.close()
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=self.now)

    @rule()
    def reopen_after_crash(self) -> None:
        if self.log.cleaning is not None and self.log.cleaning.cleaned is not None:
            self.log.cleaning.cleaned.close()
        for segment in self.log.segments:
            segment.close()
        self.log = PartitionLog.open(self.dir, CONFIG, now_ms=self.now)

    def contents(self) -> list[tuple[int, bytes | None, bytes | None]]:
        out = []
        offset = self.log.log_start_offset
        while offset < self.log.log_end_offset:
            data = self.log.read(offset, 1 << 20).records
            last = offset
            for pos, header in iter_batches(data):
                _, records = decode_batch(memoryview(data)[pos : pos + header.total_size])
                out += [(header.base_offset + r.offset_delta, r.key, r.value) for r in records]
                last = header.last_offset
            offset = last + 1
        return out

    @invariant()
    def log_matches_model(self) -> None:
        got = self.contents()
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets))
        for offset, key, value in got:
            assert self.written[offset] == (key, value)
        present = {o for o, _, _ in got}
        if len(present) < len(self.written):
            event("records were compacted away")
        for key, offset in self.latest.items():
            if self.written[offset][1] is not None:
                assert offset in present, (key, offset)
        assert self.log.log_end_offset == (max(self.written) + 1 if self.written else 0)


CompactionModel.TestCase.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)
TestCompactionModel = CompactionModel.TestCase
