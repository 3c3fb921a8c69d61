"""The table of implemented APIs: API key -> handler.

Every handler runs behind its authorization gate (server/authz_gate.py), a no-op unless
`authorizer.class.name` is set.
"""

from __future__ import annotations

from .acls import handle_create_acls, handle_delete_acls, handle_describe_acls
from .alter_partition_rpc import handle_alter_partition
from .authz_gate import authorizing
from .client_quotas import (
    handle_alter_client_quotas,
    handle_describe_client_quotas,
    with_quotas,
)
from .configs import (
    handle_alter_configs,
    handle_describe_configs,
    handle_incremental_alter_configs,
)
from .delete_records import handle_delete_records
from .describe_quorum import handle_describe_quorum
from .dispatch import Handler
from .fetch import handle_fetch
from .group_handlers import GROUP_HANDLERS, TRANSACTION_HANDLERS
from .heartbeat import handle_broker_heartbeat
from .list_offsets import handle_list_offsets
from .metadata_api import handle_metadata
from .offset_for_leader_epoch import handle_offset_for_leader_epoch
from .produce import handle_produce
from .raft_voters import handle_add_raft_voter, handle_remove_raft_voter, handle_update_raft_voter
from .reassignment_admin import (
    handle_alter_partition_reassignments,
    handle_elect_leaders,
    handle_list_partition_reassignments,
)
from .registration import handle_broker_registration
from .sasl import handle_sasl_authenticate, handle_sasl_handshake
from .scram_credentials import (
    handle_alter_user_scram_credentials,
    handle_describe_user_scram_credentials,
)
from .small_apis import handle_describe_cluster, handle_init_producer_id
from .topics_admin import handle_create_partitions, handle_create_topics, handle_delete_topics
from .txn_verification import with_txn_verification

HANDLERS: dict[int, Handler] = authorizing(
    with_quotas(
        {
            0: with_txn_verification(handle_produce),  # KIP-890 part 1
            1: handle_fetch,
            2: handle_list_offsets,
            3: handle_metadata,
            17: handle_sasl_handshake,  # reached only off SASL listeners (network/connection.py)
            19: handle_create_topics,
            20: handle_delete_topics,
            21: handle_delete_records,
            22: handle_init_producer_id,
            23: handle_offset_for_leader_epoch,
            29: handle_describe_acls,
            30: handle_create_acls,  # 30/31 are forwarded to the active controller
            31: handle_delete_acls,
            32: handle_describe_configs,
            33: handle_alter_configs,
            36: handle_sasl_authenticate,
            37: handle_create_partitions,
            43: handle_elect_leaders,  # 43/45/46 are forwarded to the active controller
            44: handle_incremental_alter_configs,
            45: handle_alter_partition_reassignments,
            46: handle_list_partition_reassignments,
            48: handle_describe_client_quotas,
            49: handle_alter_client_quotas,  # forwarded to the active controller
            50: handle_describe_user_scram_credentials,
            51: handle_alter_user_scram_credentials,  # forwarded to the active controller
            55: handle_describe_quorum,
            60: handle_describe_cluster,
            80: handle_add_raft_voter,  # brokers forward 80/81 to the active controller
            81: handle_remove_raft_voter,
            **GROUP_HANDLERS,
            **TRANSACTION_HANDLERS,
        }
    )
)

# The controller listener also serves what only brokers send to the active controller.
CONTROLLER_HANDLERS: dict[int, Handler] = {
    **HANDLERS,
    **authorizing(
        {
            62: handle_broker_registration,
            63: handle_broker_heartbeat,
            56: handle_alter_partition,
            82: handle_update_raft_voter,
        }
    ),
}
