"""The one exception the config package raises.

`ConfigError` carries the Kafka error code the API handlers put on the wire
(INVALID_CONFIG for almost everything, INVALID_REQUEST for malformed requests) and a
message that names the offending key and, where there is one, the fix.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode


class ConfigError(ValueError):
    """A configuration is unknown, malformed, out of range or inconsistent."""

    def __init__(
        self,
        message: str,
        *,
        error_code: ErrorCode = ErrorCode.invalid_config,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.key = key

    def __repr__(self) -> str:
        return f"ConfigError({self.message!r}, error_code={self.error_code.name})"
