"""AddRaftVoter (80), RemoveRaftVoter (81) and UpdateRaftVoter (82): KIP-853 voter
changes on the Kafka wire, as `kafka-metadata-quorum add-controller / remove-controller`
(Admin.addRaftVoter / removeRaftVoter) send them.

The Raft core decides (raft/membership.py: leader only, one change in flight, the new
voter caught up, single-voter steps) and answers once the new VotersRecord commits;
these handlers only translate between kio types and the core's messages and wait for
that answer (`RaftDriver.call`). Brokers forward 80/81 to the active controller
(server/forwarding.py), as Kafka brokers do; a controller that is not the leader answers
NOT_LEADER_OR_FOLLOWER like Kafka's. A static quorum (`controller.quorum.voters`,
kraft.version 0) refuses changes with UNSUPPORTED_VERSION, as Kafka does.

`controller_nodes` gives the current voters' endpoints, for DescribeCluster's
controller view (`--bootstrap-controller` clients).
"""

from __future__ import annotations

import base64
import datetime
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from ..kraft.bootstrap import is_dynamic_quorum
from ..kraft.controller import RaftController
from ..kraft.driver import RaftDriver
from ..raft import messages
from ..raft.voters import ReplicaKey, Voter
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class

DEFAULT_TIMEOUT_S = 30.0


def directory_id_text(value: uuid.UUID | None) -> str:
    """Kafka's text form of a Uuid (URL-safe base64, no padding); "" for none/zero."""
    if value is None or value.int == 0:
        return ""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def uuid_of_text(text: str) -> uuid.UUID | None:
    """The inverse of `directory_id_text` (None for "")."""
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "==")) if text else None


def _driver(broker: Broker) -> RaftDriver | None:
    controller = broker.controller
    return controller.driver if isinstance(controller, RaftController) else None


def _refusal(broker: Broker, driver: RaftDriver | None) -> tuple[ErrorCode, str] | None:
    if driver is None:
        return ErrorCode.unknown_server_error, "this node runs without a KRaft quorum"
    if not is_dynamic_quorum(broker.config):
        return (
            ErrorCode.unsupported_version,
            "the controller quorum is static (controller.quorum.voters, kraft.version 0); "
            "voters can change only in a quorum started with "
            "controller.quorum.bootstrap.servers and --standalone/--initial-controllers",
        )
    return None


def _timeout_s(request: Any) -> float:
    timeout = getattr(request, "timeout", None)
    if isinstance(timeout, datetime.timedelta) and timeout.total_seconds() > 0:
        return timeout.total_seconds()
    return DEFAULT_TIMEOUT_S


def _endpoints(listeners: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(x.name).upper(), f"{x.host}:{int(x.port)}") for x in listeners)


async def _call(driver: RaftDriver, build: Any, timeout_s: float) -> tuple[ErrorCode, str | None]:
    try:
        answer = await driver.call(build, timeout_s=timeout_s)
    except TimeoutError:
        return ErrorCode.request_timed_out, "the voter change did not commit in time; retry"
    assert isinstance(answer, messages.VoterChangeResponse)
    error = ErrorCode(int(answer.error))
    return error, (answer.message or None) if error != ErrorCode.none else None


def _answer(request: Any, error: ErrorCode, message: str | None, **extra: Any) -> Any:
    return make(
        response_class(request),
        throttle_time=ZERO_THROTTLE,
        error_code=error,
        error_message=message,
        **extra,
    )


async def handle_add_raft_voter(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    driver = _driver(broker)
    refused = _refusal(broker, driver)
    if refused is not None:
        return _answer(request, *refused)
    assert driver is not None
    key = ReplicaKey(int(request.voter_id), directory_id_text(request.voter_directory_id))
    if not key.directory_id:
        return _answer(request, ErrorCode.invalid_request, "the new voter needs a directory id")
    endpoints = _endpoints(request.listeners)
    wanted = broker.config.controller_listener_names
    if wanted and not any(name in wanted for name, _ in endpoints):
        return _answer(
            request,
            ErrorCode.invalid_request,
            f"the new voter's endpoints name none of the controller listeners {wanted}",
        )
    cluster_id = request.cluster_id or driver.node.config.cluster_id
    voter = Voter(key, endpoints)
    error, message = await _call(
        driver,
        lambda rid: messages.AddRaftVoterRequest(rid, cluster_id, voter),
        _timeout_s(request),
    )
    return _answer(request, error, message)


async def handle_remove_raft_voter(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    driver = _driver(broker)
    refused = _refusal(broker, driver)
    if refused is not None:
        return _answer(request, *refused)
    assert driver is not None
    key = ReplicaKey(int(request.voter_id), directory_id_text(request.voter_directory_id))
    cluster_id = request.cluster_id or driver.node.config.cluster_id
    error, message = await _call(
        driver,
        lambda rid: messages.RemoveRaftVoterRequest(rid, cluster_id, key),
        DEFAULT_TIMEOUT_S,
    )
    return _answer(request, error, message)


async def handle_update_raft_voter(broker: Broker, ctx: RequestContext, request: Any) -> Any:
    """A voter announcing its endpoints (and supported kraft.version range)."""
    driver = _driver(broker)
    refused = _refusal(broker, driver)
    leader_cls = nested(response_class(request), "CurrentLeader")
    if refused is not None:
        return _answer(request, refused[0], None, current_leader=_leader(driver, leader_cls))
    assert driver is not None
    feature = request.k_raft_version_feature
    voter = Voter(
        ReplicaKey(int(request.voter_id), directory_id_text(request.voter_directory_id)),
        _endpoints(request.listeners),
        (int(feature.min_supported_version), int(feature.max_supported_version)),
    )
    cluster_id = request.cluster_id or driver.node.config.cluster_id
    epoch = int(request.current_leader_epoch)
    error, _ = await _call(
        driver,
        lambda rid: messages.UpdateRaftVoterRequest(rid, cluster_id, voter, epoch),
        DEFAULT_TIMEOUT_S,
    )
    return _answer(request, error, None, current_leader=_leader(driver, leader_cls))


def _leader(driver: RaftDriver | None, cls: type[Any]) -> Any:
    leader = None if driver is None else driver.node.leader_id
    address = None if leader is None or driver is None else driver.address_of(leader)
    return make(
        cls,
        leader_id=-1 if leader is None else leader,
        leader_epoch=-1 if driver is None else driver.node.epoch,
        host=address[0] if address else "",
        port=address[1] if address else -1,
    )


def controller_nodes(broker: Broker) -> list[tuple[int, str, int]]:
    """(node id, host, port) of every current voter's controller endpoint."""
    driver = _driver(broker)
    if driver is None:
        return [(i, hp.host, hp.port) for i, hp in broker.config.controller_quorum_voters.items()]
    found = []
    for node_id in sorted(driver.node.voters.ids):
        address = driver.address_of(node_id)
        if address is not None:
            found.append((node_id, address[0], address[1]))
    return found
