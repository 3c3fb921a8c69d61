"""The one exception the storage layer raises at the server: a refusal with its Kafka code."""

from __future__ import annotations

from kio.schema.errors import ErrorCode


class StorageError(Exception):
    """A request the log refuses; ``error_code`` goes on the wire, ``message`` to the log."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(f"{error_code.name}: {message}")
        self.error_code = error_code
        self.message = message
