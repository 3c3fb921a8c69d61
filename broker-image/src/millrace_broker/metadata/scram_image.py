"""SCRAM credentials in the metadata image: replay of (Remove)UserScramCredentialRecord."""

from __future__ import annotations

from collections.abc import Mapping

from ..auth.scram import ScramCredential
from .records import RemoveUserScramCredentialRecord, UserScramCredentialRecord

Credentials = Mapping[str, Mapping[int, ScramCredential]]


def replay_scram(
    current: Credentials, record: UserScramCredentialRecord | RemoveUserScramCredentialRecord
) -> Credentials:
    per_user = dict(current.get(record.name, {}))
    if isinstance(record, UserScramCredentialRecord):
        per_user[record.mechanism] = ScramCredential(
            salt=bytes.fromhex(record.salt),
            stored_key=bytes.fromhex(record.stored_key),
            server_key=bytes.fromhex(record.server_key),
            iterations=record.iterations,
        )
    else:
        per_user.pop(record.mechanism, None)
    updated = {**current, record.name: per_user}
    if not per_user:
        del updated[record.name]
    return updated
