"""Automatic preferred-leader rebalancing on the active controller.

With `auto.leader.rebalance.enable` (Kafka's default: true), every
`leader.imbalance.check.interval.seconds` the active controller gives leadership back to
each partition's preferred replica (the first in its replica list) where that replica
is in the ISR and unfenced but does not lead: after a broker restarts and catches up,
its partitions return to it instead of piling up on the brokers that stayed. The
decision is `metadata.elections.plan_preferred_rebalance` (pure), as Kafka's KRaft
controller's `maybeBalancePartitionLeaders`; both settings are read on every pass, so a
dynamic cluster-wide change takes effect at the next one.
"""

from __future__ import annotations

import asyncio
import logging

from ..metadata.controller import ControllerError
from ..metadata.elections import plan_preferred_rebalance
from .broker import Broker

log = logging.getLogger(__name__)


async def leader_balance_loop(broker: Broker) -> None:
    while True:
        config = broker.effective_config()
        await asyncio.sleep(max(config.get_int("leader.imbalance.check.interval.seconds"), 1))
        controller = broker.controller
        if not controller.is_active or not config.get_bool("auto.leader.rebalance.enable"):
            continue
        n = len(plan_preferred_rebalance(controller.image))
        if not n:
            continue
        log.info("auto leader rebalance: %d partition(s) back to their preferred leader", n)
        try:
            await controller.submit(plan_preferred_rebalance)
        except ControllerError as exc:
            log.info("auto leader rebalance deferred: %s", exc.message)
        except Exception:
            log.exception("auto leader rebalance failed; will retry")
