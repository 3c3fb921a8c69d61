"""The group and transaction APIs: API key -> handler, for `handlers.HANDLERS`.

Wiring (server/handlers.py, small_apis.py and wiring.py belong to the lead):

    # handlers.py: serve the transaction APIs too
    from .group_handlers import GROUP_HANDLERS, TRANSACTION_HANDLERS
    HANDLERS = {..., **GROUP_HANDLERS, **TRANSACTION_HANDLERS}

    # small_apis.handle_init_producer_id: a transactional.id goes to the coordinator
    if request.transactional_id is not None:
        from .transactions import handle_init_producer_id_transactional
        return await handle_init_producer_id_transactional(broker, ctx, request)
    # (or wrap: HANDLERS[22] = with_transactional_init(handle_init_producer_id))

    # wiring.py, optional (else loading happens lazily on the first group request):
    #   in start(), after build_broker():  install_group_coordinator(broker)
    #   in run(), before closing the logs: await stop_coordinators(running.broker)
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any

from kio.schema.errors import ErrorCode

from .consumer_groups import handle_consumer_group_describe, handle_consumer_group_heartbeat
from .coordinator_appends import wait_coordinator_write
from .dispatch import Handler
from .group_offsets import handle_offset_commit, handle_offset_delete, handle_offset_fetch
from .group_wiring import OFFSETS_TOPIC, coordinator_for
from .groups import (
    handle_delete_groups,
    handle_describe_groups,
    handle_find_coordinator,
    handle_heartbeat,
    handle_join_group,
    handle_leave_group,
    handle_list_groups,
    handle_sync_group,
)
from .transactions import (
    handle_add_offsets_to_txn,
    handle_add_partitions_to_txn,
    handle_describe_transactions,
    handle_end_txn,
    handle_init_producer_id_transactional,
    handle_list_transactions,
    handle_txn_offset_commit,
    handle_write_txn_markers,
)


def _group_ids(request: Any) -> list[str]:
    found = getattr(request, "group_id", None)
    return [found] if isinstance(found, str) else list(getattr(request, "groups_names", ()))


def _fail_offsets(response: Any, error: ErrorCode) -> Any:
    """An OffsetCommit/TxnOffsetCommit response with every committed partition failed."""
    return dataclasses.replace(
        response,
        topics=tuple(
            dataclasses.replace(
                t,
                partitions=tuple(
                    dataclasses.replace(p, error_code=error) if p.error_code == 0 else p
                    for p in t.partitions
                ),
            )
            for t in response.topics
        ),
    )


def replicated(handler: Handler, *, offsets: bool = False) -> Handler:
    """Answer a group write only once `__consumer_offsets` has it in its in-sync replicas
    (Kafka's coordinator appends with acks=all). A commit that does not get there fails
    (NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE: the client retries), so no client
    believes in an offset that a failover could lose; other writes (membership) are
    answered anyway, their state is rebuilt by the members' rejoin."""

    async def handle(broker: Any, ctx: Any, request: Any) -> Any:
        response = handler(broker, ctx, request)
        if inspect.isawaitable(response):
            response = await response
        coordinator = coordinator_for(broker)
        if not coordinator.loaded:
            return response
        for group_id in _group_ids(request):
            partition = coordinator.partition_of(group_id)
            if not coordinator.log.is_local(partition):
                continue
            error = await wait_coordinator_write(broker, OFFSETS_TOPIC, partition)
            if error is not ErrorCode.none and offsets:
                return _fail_offsets(response, error)
        return response

    return handle


GROUP_HANDLERS: dict[int, Handler] = {
    8: replicated(handle_offset_commit, offsets=True),
    9: handle_offset_fetch,
    10: handle_find_coordinator,
    11: replicated(handle_join_group),
    12: handle_heartbeat,
    13: replicated(handle_leave_group),
    14: replicated(handle_sync_group),
    15: handle_describe_groups,
    16: handle_list_groups,
    42: replicated(handle_delete_groups),
    47: replicated(handle_offset_delete),
    68: replicated(handle_consumer_group_heartbeat),
    69: handle_consumer_group_describe,
}

TRANSACTION_HANDLERS: dict[int, Handler] = {
    24: handle_add_partitions_to_txn,
    25: handle_add_offsets_to_txn,
    26: handle_end_txn,
    27: handle_write_txn_markers,
    28: replicated(handle_txn_offset_commit, offsets=True),
    65: handle_describe_transactions,
    66: handle_list_transactions,
}


def install_coordinators(broker: Any) -> None:
    """Start both coordinators with the broker (wiring calls this once the broker serves):
    they then load the internal partitions this broker leads as soon as it leads them,
    not at the first request, so a prepared transaction is finished and an open one times
    out even if its producer never comes back."""
    from .transactions import install_transaction_coordinator

    coordinator_for(broker)
    install_transaction_coordinator(broker)


async def stop_coordinators(broker: Any) -> None:
    """Shutdown: stop the group and transaction coordinators' timers."""
    from .group_wiring import coordinator_for
    from .transactions import stop_transaction_timer

    await coordinator_for(broker).stop()
    await stop_transaction_timer(broker)


def main_with_groups(argv: list[str] | None = None) -> int:
    """`python -m millrace_broker.server.group_handlers`: the broker with the group APIs
    merged into its handler table (for tests, until `handlers.HANDLERS` includes them)."""
    from ..main import main
    from .handlers import HANDLERS

    for key, handler in {**GROUP_HANDLERS, **TRANSACTION_HANDLERS}.items():
        HANDLERS.setdefault(key, handler)
    HANDLERS[22] = with_transactional_init(HANDLERS[22])
    return main(argv)


def with_transactional_init(plain: Handler) -> Handler:
    """InitProducerId: requests with a transactional.id go to the transaction coordinator."""
    if getattr(plain, "delegates_transactional", False):
        return plain

    def handle(broker: Any, ctx: Any, request: Any) -> Any:
        if request.transactional_id is not None:
            return handle_init_producer_id_transactional(broker, ctx, request)
        return plain(broker, ctx, request)

    handle.delegates_transactional = True  # type: ignore[attr-defined]
    return handle


if __name__ == "__main__":
    sys.exit(main_with_groups())
