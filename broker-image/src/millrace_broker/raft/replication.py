"""Pull replication (KIP-595): Fetch and FetchSnapshot, both sides.

Followers and observers pull.  A fetch names ``(fetch_offset, last_fetched_epoch)``, the
fetcher's log end and last epoch.  The leader validates that pair against its own log:

- ``fetch_offset`` below the leader's log start -> answer with the latest snapshot id;
  the fetcher downloads it with FetchSnapshot, installs it, and resumes fetching.
- the leader's end offset for ``last_fetched_epoch`` is a different epoch, or ends
  before ``fetch_offset`` -> answer with ``diverging_epoch`` = that (end, epoch); the
  fetcher truncates to the smaller of that end and its own end for that epoch, then
  fetches again.  Repeating this converges on the longest common prefix.
- otherwise the fetcher's log is a prefix of the leader's up to ``fetch_offset`` (two
  logs with the same epoch at an offset agree on everything before it), so the leader
  records ``fetch_offset`` as that replica's end offset, recomputes the high watermark
  from the voters' end offsets, and returns the records that follow.

Followers take the high watermark from every successful response, capped at their own
log end, and never move it backwards.  Only the current fetch (matched by correlation
id) is acted on, so duplicated or late responses cannot truncate or append twice.

Replicas with no leader (unattached, including observers started with
``--no-initial-controllers``) send discovery fetches to a random bootstrap server; any
answer naming a leader attaches them to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millrace_broker.raft import membership
from millrace_broker.raft.errors import ErrorCode
from millrace_broker.raft.messages import (
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Outbound,
)
from millrace_broker.raft.records import Entry, OffsetAndEpoch, VotersRecord
from millrace_broker.raft.snapshot import SnapshotDownload, encode_snapshot, read_chunk
from millrace_broker.raft.state import Follower, Leader, Pending, Unattached

if TYPE_CHECKING:
    from millrace_broker.raft.core import RaftNode


# ---------------------------------------------------------------- fetcher side
def _fetch_request(node: RaftNode, epoch: int, corr: int) -> FetchRequest:
    return FetchRequest(
        corr,
        node.config.cluster_id,
        node.key,
        epoch,
        node.log.end_offset,
        node.log.last_epoch,
        node.config.fetch_max_records,
    )


def maybe_send_fetch(node: RaftNode, st: Follower, now_ms: int, out: list[Outbound]) -> None:
    if st.inflight is not None and now_ms < st.inflight.sent_ms + node.config.request_timeout_ms:
        return
    if st.inflight is None and now_ms < st.next_fetch_ms:
        return
    corr = node.next_correlation_id()
    st.inflight = Pending(corr, now_ms)
    if st.download is not None:
        out.append(
            Outbound(
                st.leader_id,
                FetchSnapshotRequest(
                    corr,
                    node.config.cluster_id,
                    node.key,
                    st.epoch,
                    st.download.snapshot_id,
                    st.download.position,
                    node.config.snapshot_chunk_bytes,
                ),
            )
        )
    else:
        out.append(Outbound(st.leader_id, _fetch_request(node, st.epoch, corr)))


def send_discovery_fetch(node: RaftNode, now_ms: int, out: list[Outbound]) -> None:
    st = node.state
    assert isinstance(st, Unattached)
    if st.discovery is not None and now_ms < st.discovery.sent_ms + node.config.request_timeout_ms:
        return
    targets = [n for n in node.config.bootstrap_servers if n != node.key.id]
    if not targets:
        return
    target = node.rng.choice(targets)
    corr = node.next_correlation_id()
    st.discovery = Pending(corr, now_ms)
    st.discovery_target = target
    out.append(Outbound(target, _fetch_request(node, st.epoch, corr)))


def handle_fetch_response(
    node: RaftNode, src: int, resp: FetchResponse, now_ms: int, out: list[Outbound]
) -> None:
    st = node.state
    if isinstance(st, Unattached):
        if st.discovery is not None and st.discovery.correlation_id == resp.correlation_id:
            # wait a request timeout before asking another bootstrap server
            st.discovery = Pending(-1, now_ms)
            node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out)
        return
    if (
        not isinstance(st, Follower)
        or src != st.leader_id
        or st.inflight is None
        or st.inflight.correlation_id != resp.correlation_id
    ):
        if resp.leader_epoch > node.epoch:
            node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out)
        return
    st.inflight = None
    if resp.error != ErrorCode.NONE or resp.leader_epoch != st.epoch:
        if not node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out):
            st.next_fetch_ms = now_ms + node.config.retry_backoff_ms
        return
    st.has_fetched = True
    st.fetch_deadline = now_ms + node.config.fetch_timeout_ms
    log = node.log
    if resp.diverging_epoch is not None:
        div = resp.diverging_epoch
        local = log.end_offset_for_epoch(div.epoch)
        target = min(div.offset, local.offset if local is not None else log.start_offset)
        target = max(target, log.start_offset)
        log.truncate_to(target)
        node.on_truncate(target)
        st.next_fetch_ms = now_ms
    elif resp.snapshot_id is not None:
        st.download = SnapshotDownload(resp.snapshot_id)
        st.next_fetch_ms = now_ms
    else:
        records = resp.records
        if records and records[0].offset == log.end_offset:
            log.append(records)
            for entry in records:
                if isinstance(entry.record, VotersRecord):
                    node.voter_history.add(entry.offset, entry.record.voters)
        new_hw = min(resp.high_watermark, log.end_offset)
        node.high_watermark = max(node.high_watermark, new_hw)
        st.next_fetch_ms = now_ms if records else now_ms + node.config.fetch_interval_ms
    maybe_send_fetch(node, st, now_ms, out)


def handle_fetch_snapshot_response(
    node: RaftNode, src: int, resp: FetchSnapshotResponse, now_ms: int, out: list[Outbound]
) -> None:
    st = node.state
    if (
        not isinstance(st, Follower)
        or src != st.leader_id
        or st.inflight is None
        or st.inflight.correlation_id != resp.correlation_id
        or st.download is None
    ):
        if resp.leader_epoch > node.epoch:
            node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out)
        return
    st.inflight = None
    if resp.error != ErrorCode.NONE or resp.leader_epoch != st.epoch:
        if not node.observe_epoch(resp.leader_epoch, resp.leader_id, now_ms, out):
            # e.g. SNAPSHOT_NOT_FOUND: the leader has a newer snapshot; fetch again
            st.download = None
            st.next_fetch_ms = now_ms + node.config.retry_backoff_ms
        return
    st.has_fetched = True
    st.fetch_deadline = now_ms + node.config.fetch_timeout_ms
    download = st.download
    if resp.snapshot_id == download.snapshot_id:
        download.accept(resp.position, resp.size, resp.chunk)
    if download.complete:
        snapshot = download.result()
        node.log.install_snapshot(snapshot)
        node.rebuild_voter_history()
        node.high_watermark = max(node.high_watermark, snapshot.snapshot_id.offset)
        st.download = None
    st.next_fetch_ms = now_ms
    maybe_send_fetch(node, st, now_ms, out)


# ---------------------------------------------------------------- leader side
def update_leader_high_watermark(node: RaftNode, st: Leader) -> None:
    hw = st.compute_high_watermark(node.voters, node.log.end_offset)
    if hw is not None and hw > node.high_watermark:
        node.high_watermark = hw
        membership.on_high_watermark(node, st)
        if not node.is_voter and hw > node.voter_history.latest_offset:
            # we lead a voter set we are not in (removed, or elected to finish a removal):
            # once that set is committed our job is done
            st.resign_after_commit = True


def _refuse(node: RaftNode, req: FetchRequest | FetchSnapshotRequest) -> ErrorCode | None:
    st = node.state
    if req.cluster_id != node.config.cluster_id:
        return ErrorCode.INCONSISTENT_CLUSTER_ID
    if not isinstance(st, Leader):
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    if req.current_leader_epoch < st.epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    if req.current_leader_epoch > st.epoch:
        return ErrorCode.UNKNOWN_LEADER_EPOCH
    if req.replica.id == node.key.id:
        return ErrorCode.INVALID_REQUEST
    return None


def handle_fetch_request(
    node: RaftNode, src: int, req: FetchRequest, now_ms: int, out: list[Outbound]
) -> None:
    error = _refuse(node, req)
    st = node.state
    if error is not None or not isinstance(st, Leader):
        out.append(
            Outbound(
                src,
                FetchResponse(
                    req.correlation_id,
                    error or ErrorCode.NOT_LEADER_OR_FOLLOWER,
                    node.epoch,
                    node.leader_id,
                    -1,
                    node.log.start_offset,
                ),
            )
        )
        return
    log = node.log
    st.record_voter_fetch(req.replica, node.voters, now_ms)
    diverging: OffsetAndEpoch | None = None
    snapshot_id: OffsetAndEpoch | None = None
    records: tuple[Entry, ...] = ()
    snapshot = log.latest_snapshot()
    known = log.end_offset_for_epoch(req.last_fetched_epoch)
    if req.fetch_offset < log.start_offset or known is None:
        assert snapshot is not None, "log start above 0 implies a snapshot"
        snapshot_id = snapshot.snapshot_id
    elif known.epoch != req.last_fetched_epoch or req.fetch_offset > known.offset:
        diverging = known
    else:
        st.progress(req.replica).record_fetch(req.fetch_offset, log.end_offset, now_ms)
        update_leader_high_watermark(node, st)
        records = tuple(log.read(req.fetch_offset, req.max_records))
    out.append(
        Outbound(
            src,
            FetchResponse(
                req.correlation_id,
                ErrorCode.NONE,
                st.epoch,
                node.key.id,
                node.high_watermark,
                log.start_offset,
                records,
                diverging,
                snapshot_id,
            ),
        )
    )


def handle_fetch_snapshot_request(
    node: RaftNode, src: int, req: FetchSnapshotRequest, now_ms: int, out: list[Outbound]
) -> None:
    def reply(error: ErrorCode, size: int = -1, chunk: bytes = b"") -> None:
        out.append(
            Outbound(
                src,
                FetchSnapshotResponse(
                    req.correlation_id,
                    error,
                    node.epoch,
                    node.leader_id,
                    req.snapshot_id,
                    size,
                    req.position,
                    chunk,
                ),
            )
        )

    error = _refuse(node, req)
    st = node.state
    if error is not None or not isinstance(st, Leader):
        return reply(error or ErrorCode.NOT_LEADER_OR_FOLLOWER)
    st.record_voter_fetch(req.replica, node.voters, now_ms)
    snapshot = node.log.latest_snapshot()
    if snapshot is None or snapshot.snapshot_id != req.snapshot_id:
        return reply(ErrorCode.SNAPSHOT_NOT_FOUND)
    if node.encoded_snapshot is None or node.encoded_snapshot[0] != snapshot.snapshot_id:
        node.encoded_snapshot = (snapshot.snapshot_id, encode_snapshot(snapshot))
    encoded = node.encoded_snapshot[1]
    if not 0 <= req.position <= len(encoded):
        return reply(ErrorCode.POSITION_OUT_OF_RANGE)
    reply(ErrorCode.NONE, len(encoded), read_chunk(encoded, req.position, req.max_bytes))
