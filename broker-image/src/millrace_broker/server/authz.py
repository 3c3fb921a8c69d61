"""Authorization for request handlers: which ACL operation each API needs, and helpers.

The authorizer (auth/authorizer.py) is on when `authorizer.class.name` names Kafka's
StandardAuthorizer; one per broker, made on first use from the broker's static config and
reading ACLs from the current metadata image. Everything here is a no-op when it is off.

`REQUIRED` is the table of what Kafka's KafkaApis checks per API (the resource each
request names and the operation it needs); `server/authz_gate.py` applies it around the
handlers. Errors are the resource's *_AUTHORIZATION_FAILED code.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from ..auth.acl import CLUSTER_NAME, Operation, ResourceType
from ..auth.authorizer import Authorizer, AuthorizerSettings, settings_from
from ..config import BrokerConfig
from .broker import Broker
from .context import RequestContext

T, G, C, TX = (
    ResourceType.TOPIC,
    ResourceType.GROUP,
    ResourceType.CLUSTER,
    ResourceType.TRANSACTIONAL_ID,
)

DENIED_CODE = {
    ResourceType.TOPIC: ErrorCode.topic_authorization_failed,
    ResourceType.GROUP: ErrorCode.group_authorization_failed,
    ResourceType.CLUSTER: ErrorCode.cluster_authorization_failed,
    ResourceType.TRANSACTIONAL_ID: ErrorCode.transactional_id_authorization_failed,
    ResourceType.DELEGATION_TOKEN: ErrorCode.delegation_token_authorization_failed,
}


@dataclass(frozen=True, slots=True)
class Need:
    resource_type: ResourceType
    operation: Operation


# API key -> (name as Kafka's ApiKeys prints it, what the request needs). Topics, groups
# and transactional ids are checked per name; CLUSTER needs are whole-request checks.
REQUIRED: dict[int, tuple[str, tuple[Need, ...]]] = {
    0: ("PRODUCE", (Need(TX, Operation.WRITE), Need(T, Operation.WRITE))),
    1: ("FETCH", (Need(T, Operation.READ),)),  # followers: CLUSTER_ACTION on the cluster
    2: ("LIST_OFFSETS", (Need(T, Operation.DESCRIBE),)),
    3: ("METADATA", (Need(T, Operation.DESCRIBE), Need(T, Operation.CREATE))),
    8: ("OFFSET_COMMIT", (Need(G, Operation.READ), Need(T, Operation.READ))),
    9: ("OFFSET_FETCH", (Need(G, Operation.DESCRIBE), Need(T, Operation.DESCRIBE))),
    10: ("FIND_COORDINATOR", (Need(G, Operation.DESCRIBE), Need(TX, Operation.DESCRIBE))),
    11: ("JOIN_GROUP", (Need(G, Operation.READ),)),
    12: ("HEARTBEAT", (Need(G, Operation.READ),)),
    13: ("LEAVE_GROUP", (Need(G, Operation.READ),)),
    14: ("SYNC_GROUP", (Need(G, Operation.READ),)),
    15: ("DESCRIBE_GROUPS", (Need(G, Operation.DESCRIBE),)),
    16: ("LIST_GROUPS", (Need(C, Operation.DESCRIBE), Need(G, Operation.DESCRIBE))),
    19: ("CREATE_TOPICS", (Need(C, Operation.CREATE), Need(T, Operation.CREATE))),
    20: ("DELETE_TOPICS", (Need(T, Operation.DELETE),)),
    21: ("DELETE_RECORDS", (Need(T, Operation.DELETE),)),
    22: ("INIT_PRODUCER_ID", (Need(TX, Operation.WRITE), Need(C, Operation.IDEMPOTENT_WRITE))),
    23: ("OFFSET_FOR_LEADER_EPOCH", (Need(T, Operation.DESCRIBE),)),
    24: ("ADD_PARTITIONS_TO_TXN", (Need(TX, Operation.WRITE), Need(T, Operation.WRITE))),
    25: ("ADD_OFFSETS_TO_TXN", (Need(TX, Operation.WRITE), Need(G, Operation.READ))),
    26: ("END_TXN", (Need(TX, Operation.WRITE),)),
    27: ("WRITE_TXN_MARKERS", (Need(C, Operation.CLUSTER_ACTION),)),
    28: ("TXN_OFFSET_COMMIT", (Need(TX, Operation.WRITE), Need(G, Operation.READ))),
    29: ("DESCRIBE_ACLS", (Need(C, Operation.DESCRIBE),)),
    30: ("CREATE_ACLS", (Need(C, Operation.ALTER),)),
    31: ("DELETE_ACLS", (Need(C, Operation.ALTER),)),
    32: ("DESCRIBE_CONFIGS", (Need(T, Operation.DESCRIBE_CONFIGS),)),
    33: ("ALTER_CONFIGS", (Need(T, Operation.ALTER_CONFIGS),)),
    37: ("CREATE_PARTITIONS", (Need(T, Operation.ALTER),)),
    42: ("DELETE_GROUPS", (Need(G, Operation.DELETE),)),
    43: ("ELECT_LEADERS", (Need(C, Operation.ALTER),)),
    44: ("INCREMENTAL_ALTER_CONFIGS", (Need(T, Operation.ALTER_CONFIGS),)),
    45: ("ALTER_PARTITION_REASSIGNMENTS", (Need(C, Operation.ALTER),)),
    46: ("LIST_PARTITION_REASSIGNMENTS", (Need(C, Operation.DESCRIBE),)),
    47: ("OFFSET_DELETE", (Need(G, Operation.DELETE), Need(T, Operation.READ))),
    48: ("DESCRIBE_CLIENT_QUOTAS", (Need(C, Operation.DESCRIBE_CONFIGS),)),
    49: ("ALTER_CLIENT_QUOTAS", (Need(C, Operation.ALTER_CONFIGS),)),
    50: ("DESCRIBE_USER_SCRAM_CREDENTIALS", (Need(C, Operation.DESCRIBE),)),
    51: ("ALTER_USER_SCRAM_CREDENTIALS", (Need(C, Operation.ALTER),)),
    55: ("DESCRIBE_QUORUM", (Need(C, Operation.DESCRIBE),)),
    56: ("ALTER_PARTITION", (Need(C, Operation.CLUSTER_ACTION),)),
    60: ("DESCRIBE_CLUSTER", (Need(C, Operation.DESCRIBE),)),
    62: ("BROKER_REGISTRATION", (Need(C, Operation.CLUSTER_ACTION),)),
    63: ("BROKER_HEARTBEAT", (Need(C, Operation.CLUSTER_ACTION),)),
    65: ("DESCRIBE_TRANSACTIONS", (Need(TX, Operation.DESCRIBE),)),
    66: ("LIST_TRANSACTIONS", (Need(TX, Operation.DESCRIBE),)),
    68: ("CONSUMER_GROUP_HEARTBEAT", (Need(G, Operation.READ), Need(T, Operation.DESCRIBE))),
    69: ("CONSUMER_GROUP_DESCRIBE", (Need(G, Operation.DESCRIBE),)),
    80: ("ADD_RAFT_VOTER", (Need(C, Operation.ALTER),)),
    81: ("REMOVE_RAFT_VOTER", (Need(C, Operation.ALTER),)),
    82: ("UPDATE_RAFT_VOTER", (Need(C, Operation.CLUSTER_ACTION),)),
}

_AUTHORIZERS: weakref.WeakKeyDictionary[Broker, Authorizer | None] = weakref.WeakKeyDictionary()


def authorizer_settings(config: BrokerConfig) -> AuthorizerSettings | None:
    """The authorizer's settings (None when it is off); raises AuthorizerConfigError for
    an authorizer Millrace does not provide, so start-up can fail early."""
    allow = config.get("allow.everyone.if.no.acl.found")
    return settings_from(
        config.get_str("authorizer.class.name"),
        config.get_str("super.users"),
        None if allow is None else str(allow).lower(),
    )


def authorizer_for(broker: Broker) -> Authorizer | None:
    """The broker's authorizer, or None when `authorizer.class.name` is empty."""
    try:
        return _AUTHORIZERS[broker]
    except KeyError:
        pass
    settings = authorizer_settings(broker.config)
    authorizer = None if settings is None else Authorizer(settings, lambda: broker.image.acls)
    _AUTHORIZERS[broker] = authorizer
    return authorizer


def request_name(api_key: int) -> str:
    return REQUIRED.get(api_key, (f"API_{api_key}", ()))[0]


def allowed(
    authorizer: Authorizer,
    ctx: RequestContext,
    operation: Operation,
    resource_type: ResourceType,
    name: str = CLUSTER_NAME,
    *,
    explicit: bool = True,
) -> bool:
    return authorizer.authorize(
        principal=ctx.principal,
        host=ctx.client_host,
        operation=operation,
        resource_type=resource_type,
        name=name,
        request=request_name(ctx.api_key),
        explicit=explicit,
    )


def denied_names(
    authorizer: Authorizer,
    ctx: RequestContext,
    operation: Operation,
    resource_type: ResourceType,
    names: Iterable[str | None],
) -> set[str]:
    """The names (each decided once) the principal may not use for `operation`."""
    return {
        n
        for n in {n for n in names if n is not None}
        if not allowed(authorizer, ctx, operation, resource_type, n)
    }


# ---- kio entities for refusals -------------------------------------------------------


def blank(cls: type[Any], **values: Any) -> Any:
    """An entity of `cls` with the given fields and neutral values elsewhere (nulls, -1
    ids and offsets, empty lists), as Kafka's getErrorResponse fills a refusal."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        out[f.name] = values[f.name] if f.name in values else _neutral(f)
    return cls(**out)


def _neutral(f: dataclasses.Field[Any]) -> Any:
    kind = f.metadata.get("kafka_type")
    args = typing.get_args(f.type)
    if type(None) in args:
        return None
    if typing.get_origin(f.type) is tuple:  # arrays (of entities or of primitives)
        return ()
    if kind == "error_code":
        return ErrorCode.none
    if kind in ("timedelta_i32", "timedelta_i64"):
        return datetime.timedelta(0)
    if kind in ("int8", "int16", "int32", "int64"):
        return -1
    if kind == "uint16":
        return 0
    if kind == "float64":
        return 0.0
    if kind == "string":
        return ""
    if kind == "bool":
        return False
    if kind in ("bytes", "records"):
        return b""
    if kind == "uuid":
        return uuid.UUID(int=0)
    if kind == "datetime_i64":
        return datetime.datetime.fromtimestamp(0, datetime.UTC)
    if args and typing.get_origin(f.type) is tuple:
        return ()
    if dataclasses.is_dataclass(f.type) and isinstance(f.type, type):
        return blank(f.type)
    raise TypeError(f"no neutral value for {f.name}: {f.type}")


def has_field(cls: type[Any], name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cls))
