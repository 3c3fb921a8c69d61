"""Log lines for people and for log pipelines, with request context and no secrets.

`--log-format json` writes one JSON object per line (time, level, logger, message, and
the request being served when there is one: API, correlation id, client id, listener,
client host, principal). Both formats pass every line through `redact`, so a password,
a JAAS config or SCRAM material that reaches a log message by accident is masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# The request a log line was written while serving (set by the dispatcher).
request_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "millrace_request_context", default=None
)

# key=value / key: value / "key": "value" where the key names a secret. Kafka's secret
# config keys end in `.password` or `.jaas.config`; PLAIN's JAAS config lists users as
# user_<name>="<password>"; SCRAM exchanges carry salted passwords, proofs and keys.
_SECRET = re.compile(
    r"""(?ix)
    (["']?
      (?:[\w.-]*password|[\w.-]*jaas\.config|[\w.-]*secret|salted_?password|client_?proof
        |server_?key|stored_?key|ssl\.key|sasl_auth_bytes|auth_bytes|token|user_\w+)
     ["']?\s*[=:]\s*)
    ("[^"]*"|'[^']*'|\[[^\]]*\]|[^\s,;}]+)
    """
)
_JAAS_SECRET = re.compile(r'(?i)(password\s*=\s*)("[^"]*"|\S+)')


def redact(text: str) -> str:
    """Mask the values of secret-looking keys (the keys stay, so the line still reads)."""
    text = _SECRET.sub(lambda m: m.group(1) + "[redacted]", text)
    return _JAAS_SECRET.sub(lambda m: m.group(1) + "[redacted]", text)


class RedactingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        context = request_context.get()
        if context:
            entry["request"] = context
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Root logging for the broker process: text (the default) or JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
