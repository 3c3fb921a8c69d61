"""DescribeUserScramCredentials (50) and AlterUserScramCredentials (51).

Alter is decided by the active controller (forwarded there like other metadata changes):
`plan_scram_changes` validates each user's deletion or upsertion as Kafka's
ScramControlManager does — a user altered twice in one request is DUPLICATE_RESOURCE,
an empty name UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
iterations outside 4096..16384 UNACCEPTABLE_CREDENTIAL, deleting a credential that does
not exist RESOURCE_NOT_FOUND — and turns the valid ones into metadata records. The client
sends salt and SaltedPassword (never the password); the controller stores StoredKey and
ServerKey derived from them. Describe answers from the local image: mechanisms and
iteration counts only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32

from ..auth.scram import BY_TYPE, MAX_ITERATIONS, MIN_ITERATIONS, credential_from_salted_password
from ..metadata.image import MetadataImage
from ..metadata.records import (
    MetadataRecord,
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
)
from .broker import Broker
from .context import RequestContext
from .kio_build import ZERO_THROTTLE, make, nested, response_class


@dataclass(frozen=True, slots=True)
class UserResult:
    user: str
    error_code: ErrorCode
    message: str | None


def _check(name: str, mechanism: int) -> UserResult | None:
    if not name:
        return UserResult(name, ErrorCode.unacceptable_credential, "Username must not be empty")
    if mechanism not in BY_TYPE:
        return UserResult(name, ErrorCode.unsupported_sasl_mechanism, "Unknown SCRAM mechanism")
    return None


def plan_scram_changes(
    image: MetadataImage, deletions: list[Any], upsertions: list[Any]
) -> tuple[list[MetadataRecord], list[UserResult]]:
    """Records for the valid changes and one result per user named in the request."""
    errors: dict[str, UserResult] = {}
    chosen: dict[str, tuple[str, Any]] = {}
    for kind, items in (("delete", deletions), ("upsert", upsertions)):
        for item in items:
            name = item.name
            if name in errors:
                continue
            if chosen.pop(name, None) is not None:
                errors[name] = UserResult(
                    name,
                    ErrorCode.duplicate_resource,
                    "A user credential cannot be altered twice in the same request",
                )
                continue
            problem = _check(name, int(item.mechanism))
            if problem is None and kind == "upsert":
                if item.iterations < MIN_ITERATIONS:
                    problem = UserResult(
                        name, ErrorCode.unacceptable_credential, "Too few iterations"
                    )
                elif item.iterations > MAX_ITERATIONS:
                    problem = UserResult(
                        name, ErrorCode.unacceptable_credential, "Too many iterations"
                    )
            known = image.scram_credentials.get(name, {})
            if problem is None and kind == "delete" and int(item.mechanism) not in known:
                problem = UserResult(
                    name,
                    ErrorCode.resource_not_found,
                    "Attempt to delete a user credential that does not exist",
                )
            if problem is not None:
                errors[name] = problem
            else:
                chosen[name] = (kind, item)
    records: list[MetadataRecord] = []
    results: list[UserResult] = []
    for name, (kind, item) in chosen.items():
        mechanism = int(item.mechanism)
        if kind == "delete":
            records.append(RemoveUserScramCredentialRecord(name, mechanism))
        else:
            credential = credential_from_salted_password(
                BY_TYPE[mechanism],
                salt=bytes(item.salt),
                salted_password=bytes(item.salted_password),
                iterations=int(item.iterations),
            )
            records.append(
                UserScramCredentialRecord(
                    name=name,
                    mechanism=mechanism,
                    salt=credential.salt.hex(),
                    stored_key=credential.stored_key.hex(),
                    server_key=credential.server_key.hex(),
                    iterations=credential.iterations,
                )
            )
        results.append(UserResult(name, ErrorCode.none, None))
    results.extend(errors.values())
    return records, results


async def handle_alter_user_scram_credentials(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    outcome: list[UserResult] = []

    def plan(image: MetadataImage) -> list[MetadataRecord]:
        records, results = plan_scram_changes(
            image, list(request.deletions), list(request.upsertions)
        )
        outcome[:] = results
        return records

    cls = response_class(request)
    result_cls = nested(cls, "AlterUserScramCredentialsResult")
    try:
        await broker.controller.submit(plan)
    except Exception as exc:  # NOT_CONTROLLER and friends: every user gets the error
        code = getattr(exc, "error_code", ErrorCode.unknown_server_error)
        names = {x.name for x in (*request.deletions, *request.upsertions)}
        outcome = [UserResult(n, code, str(exc)) for n in sorted(names)]
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        results=tuple(
            make(result_cls, user=r.user, error_code=r.error_code, error_message=r.message)
            for r in outcome
        ),
    )


def handle_describe_user_scram_credentials(
    broker: Broker, ctx: RequestContext, request: Any
) -> Any:
    cls = response_class(request)
    result_cls = nested(cls, "DescribeUserScramCredentialsResult")
    info_cls = nested(cls, "CredentialInfo")
    credentials = broker.image.scram_credentials
    wanted = [u.name for u in request.users] if request.users else sorted(credentials)
    duplicates = {name for name, count in Counter(wanted).items() if count > 1}
    results = []
    for name in dict.fromkeys(wanted):
        if name in duplicates:
            code, message = (
                ErrorCode.duplicate_resource,
                f"Cannot describe SCRAM credentials for the same user twice in a single "
                f"request: {name}",
            )
        elif name not in credentials:
            code, message = (
                ErrorCode.resource_not_found,
                f"attemptToDescribeUserThatDoesNotExist: {name}",
            )
        else:
            code, message = ErrorCode.none, None
        infos = tuple(
            make(info_cls, mechanism=i8(mechanism), iterations=i32(cred.iterations))
            for mechanism, cred in sorted(credentials.get(name, {}).items())
        )
        results.append(
            make(
                result_cls,
                user=name,
                error_code=code,
                error_message=message,
                credential_infos=infos if code == ErrorCode.none else (),
            )
        )
    return make(
        cls,
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        results=tuple(results),
    )
