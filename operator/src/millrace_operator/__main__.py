"""`python -m millrace_operator`: run the operator (Kopf) with settings from the environment.

Environment (set by the Helm chart): MILLRACE_WATCH_NAMESPACES (comma-separated; empty:
all), MILLRACE_PEERING (Kopf peering name; empty: standalone), MILLRACE_CLUSTER_DOMAIN,
MILLRACE_LOG_LEVEL, MILLRACE_LOG_FORMAT (json|text), MILLRACE_HTTP_PORT.
"""

from __future__ import annotations

import logging
import sys

import kopf

from millrace_operator.settings import SETTINGS


def main() -> int:
    kopf.configure(
        verbose=SETTINGS.log_level == "DEBUG",
        quiet=SETTINGS.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if SETTINGS.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(SETTINGS.log_level)
    import millrace_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        standalone=not SETTINGS.peering,
        peering_name=SETTINGS.peering or None,
        clusterwide=not SETTINGS.namespaces,
        namespaces=SETTINGS.namespaces,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
