"""ApiVersions (key 18): the version ranges of Kafka 4.1 for every implemented API."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from kio.schema.errors import ErrorCode

from ..protocol.api_versions import advertised_ranges
from ..protocol.framing import frame_response
from .kio_build import ZERO_THROTTLE, make, nested, response_class

# Feature levels a Kafka 4.1 cluster finalizes by default (metadata.version 4.1-IV1).
FINALIZED_FEATURES = (("metadata.version", 27, 27), ("kraft.version", 1, 1))
SUPPORTED_FEATURES = (("metadata.version", 7, 27), ("kraft.version", 0, 1))


def handle_api_versions(request: Any, implemented: Iterable[int]) -> Any:
    cls = response_class(request)
    api_version = nested(cls, "ApiVersion")
    keys = tuple(
        make(api_version, api_key=key, min_version=low, max_version=high)
        for key, (low, high) in advertised_ranges(implemented).items()
    )
    supported = nested_or_none(cls, "SupportedFeatureKey")
    finalized = nested_or_none(cls, "FinalizedFeatureKey")
    return make(
        cls,
        error_code=ErrorCode.none,
        api_keys=keys,
        throttle_time=ZERO_THROTTLE,
        supported_features=tuple(
            make(supported, name=n, min_version=lo, max_version=hi)
            for n, lo, hi in SUPPORTED_FEATURES
        )
        if supported
        else (),
        finalized_features_epoch=0,
        finalized_features=tuple(
            make(finalized, name=n, min_version_level=lo, max_version_level=hi)
            for n, lo, hi in FINALIZED_FEATURES
        )
        if finalized
        else (),
    )


def nested_or_none(cls: type[Any], name: str) -> type[Any] | None:
    try:
        return nested(cls, name)
    except AttributeError:
        return None


def unsupported_version_response(correlation_id: int, implemented: Iterable[int]) -> bytes:
    """An ApiVersions v0 body with UNSUPPORTED_VERSION and our ranges.

    Sent when a client asks with a newer ApiVersions than we know, so it can retry
    with the highest version we list (KIP-511).
    """
    ranges = advertised_ranges(implemented)
    body = struct.pack(">hi", ErrorCode.unsupported_version, len(ranges))
    body += b"".join(struct.pack(">hhh", k, lo, hi) for k, (lo, hi) in ranges.items())
    return frame_response(correlation_id, body, header_v1=False)
