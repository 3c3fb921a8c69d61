"""`millrace-broker`: start a broker from a server.properties file and overrides.

    millrace-broker [server.properties] [--override key=value ...]

With no file, the embedded defaults start a single-node broker on 127.0.0.1:9092 with
its data in ./millrace-data. A bad configuration stops start-up with a message naming
the key and the fix, and exit status 2.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports below must follow the hypothesis guard
import sys

# kio registers a hypothesis strategy for each of its types at import time whenever
# hypothesis is importable (seconds of CPU on a test machine). The broker never needs
# it: hide it before kio is imported.
sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]

import argparse
import asyncio
import logging
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="millrace-broker", description="Run a Kafka-compatible Millrace broker."
    )
    parser.add_argument(
        "config", nargs="?", type=Path, help="server.properties file (Kafka property names)"
    )
    parser.add_argument(
        "--config", dest="config_option", type=Path, help="same as the positional argument"
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a property, overriding the file (repeatable)",
    )
    parser.add_argument(
        "--cluster-id",
        help="format empty log directories for this cluster id (like kafka-storage format -t);"
        " every node of a KRaft cluster must use the same one",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # Imported here, after hypothesis is hidden, so that kio loads without it.
    from .config import ConfigError, load_broker_config
    from .server.storage_format import StorageFormatError
    from .server.wiring import run

    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    path = args.config_option or args.config
    try:
        config = load_broker_config(path, args.override)
    except ConfigError as exc:
        print(f"millrace-broker: configuration error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError:
        print(f"millrace-broker: configuration file {path} does not exist", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(config, cluster_id=args.cluster_id))
    except StorageFormatError as exc:
        print(f"millrace-broker: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"millrace-broker: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
