"""UpdateRaftVoter (KIP-853) from the voter's side: a controller tells the leader its
current controller endpoints when the voter set in the log says otherwise.

That happens when a voter comes back on another host or port (a rescheduled pod, a
changed listener): the others would keep calling the old address. As in Kafka, the
voter itself notices -- once it follows a leader and has fetched the voter set -- and
sends UpdateRaftVoter to the leader over the Kafka wire (key 82, the controller
listener); the leader appends a VotersRecord with the new endpoints. A leader whose own
entry is stale (it moved and won the election) updates it directly in its core. The check is
cheap and level-based, so it simply runs every second (`announce_loop`);
`plan_announcement` is the pure decision.
"""

from __future__ import annotations

import asyncio
import logging

from kio.schema.errors import ErrorCode
from kio.schema.update_raft_voter.v0.request import (
    KRaftVersionFeature,
    Listener,
    UpdateRaftVoterRequest,
)
from kio.schema.update_raft_voter.v0.response import UpdateRaftVoterResponse
from kio.serial import entity_reader
from kio.static.primitive import i16, i32, u16

from ..config import BrokerConfig
from ..kraft.bootstrap import is_dialable
from ..kraft.controller import RaftController
from ..protocol.codec import encode_request
from ..raft import messages
from ..raft.core import RaftNode
from ..raft.state import Follower, Leader
from ..raft.voters import Voter
from .broker import Broker
from .raft_voters import uuid_of_text

log = logging.getLogger(__name__)
KRAFT_VERSIONS = (0, 1)  # the kraft.version range this controller supports


def own_endpoints(config: BrokerConfig) -> tuple[tuple[str, str], ...]:
    """This controller's endpoints as a voter record carries them (advertised first)."""
    listeners = config.advertised_controller_listeners or config.controller_listeners
    # a wildcard bind address is no endpoint to publish: announce nothing then
    return tuple((x.name, f"{x.host}:{x.port}") for x in listeners if is_dialable(x.host))


def plan_announcement(node: RaftNode, endpoints: tuple[tuple[str, str], ...]) -> Voter | None:
    """The voter entry to send, or None when the log already has it right (or we are not
    a voter following a leader that we have fetched from)."""
    st = node.state
    following = isinstance(st, Follower) and st.has_fetched
    if not (following or isinstance(st, Leader)) or not endpoints:
        return None
    current = node.voters.get(node.key.id)
    if current is None or not current.key.matches(node.key):
        return None
    if dict(current.endpoints) == dict(endpoints):
        return None
    return Voter(node.key, endpoints, KRAFT_VERSIONS)


def _request(node: RaftNode, voter: Voter) -> UpdateRaftVoterRequest:
    listeners = []
    for name, address in voter.endpoints:
        host, _, port = address.rpartition(":")
        listeners.append(Listener(name=name, host=host, port=u16(int(port))))
    return UpdateRaftVoterRequest(
        cluster_id=node.config.cluster_id,
        current_leader_epoch=i32(node.epoch),
        voter_id=i32(voter.key.id),
        voter_directory_id=uuid_of_text(voter.key.directory_id),
        listeners=tuple(listeners),
        k_raft_version_feature=KRaftVersionFeature(
            min_supported_version=i16(KRAFT_VERSIONS[0]),
            max_supported_version=i16(KRAFT_VERSIONS[1]),
        ),
    )


async def announce_once(broker: Broker, endpoints: tuple[tuple[str, str], ...]) -> bool:
    """Send UpdateRaftVoter if needed; True if the leader accepted a change."""
    controller = broker.controller
    if not isinstance(controller, RaftController) or controller.driver is None:
        return False
    node = controller.driver.node
    voter = plan_announcement(node, endpoints)
    leader = node.leader_id
    if voter is None or leader is None or broker.forwarder is None:
        return False
    if leader == node.key.id:  # a leader that moved updates its own entry (as Kafka's)
        answer = await controller.driver.call(
            lambda rid: messages.UpdateRaftVoterRequest(rid, node.config.cluster_id, voter, -1),
            timeout_s=30,
        )
        assert isinstance(answer, messages.VoterChangeResponse)
        if answer.error:
            log.info("own voter entry not updated yet: %s; will retry", answer.message)
            return False
        log.info("updated own controller endpoints in the voter set to %s", endpoints)
        return True
    raw = await broker.forwarder.forward(leader, encode_request(_request(node, voter)))
    response, _ = entity_reader(UpdateRaftVoterResponse)(raw, 4 + 5)  # size, corr id, tags
    if response.error_code != ErrorCode.none:
        log.info("UpdateRaftVoter refused by %s: %s; will retry", leader, response.error_code)
        return False
    log.info("announced controller endpoints %s to the quorum leader %s", endpoints, leader)
    return True


async def announce_loop(broker: Broker, *, interval_s: float = 1.0) -> None:
    endpoints = own_endpoints(broker.config)
    while True:
        await asyncio.sleep(interval_s)
        try:
            await announce_once(broker, endpoints)
        except Exception as exc:  # the leader may be moving; the next pass retries
            log.info("UpdateRaftVoter not delivered: %s", exc)
