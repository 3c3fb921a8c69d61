"""Kafka error codes the Raft core puts in its responses.

The numeric values are Kafka's wire error codes so the driver can copy them into kio
response types unchanged. Only the codes the KRaft protocol uses are listed.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    NONE = 0
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    INVALID_REQUEST = 42
    INCONSISTENT_CLUSTER_ID = 104
    UNKNOWN_LEADER_EPOCH = 75
    FENCED_LEADER_EPOCH = 74
    POSITION_OUT_OF_RANGE = 99
    SNAPSHOT_NOT_FOUND = 98
    # Kafka's values (Errors.java); 116-119 are UNKNOWN_CONTROLLER_ID .. INVALID_REGISTRATION
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127
    UNSUPPORTED_VERSION = 35
