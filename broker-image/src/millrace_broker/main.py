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
import os
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
    quorum = parser.add_mutually_exclusive_group()
    quorum.add_argument(
        "--standalone",
        action="store_true",
        help="with --cluster-id, on empty storage: start a new dynamic quorum with this "
        "controller as its only voter (like kafka-storage format --standalone)",
    )
    quorum.add_argument(
        "--initial-controllers",
        metavar="ID@HOST:PORT:DIRECTORY_ID,...",
        help="with --cluster-id, on empty storage: the initial voters of a new dynamic quorum",
    )
    quorum.add_argument(
        "--no-initial-controllers",
        action="store_true",
        help="with --cluster-id, on empty storage: join an existing dynamic quorum as an "
        "observer, to be added with kafka-metadata-quorum add-controller",
    )
    parser.add_argument(
        "--format-file",
        type=Path,
        default=os.environ.get("MILLRACE_FORMAT_FILE"),
        help="how to format empty storage when no quorum flag is given: a properties file "
        "whose initial.controllers lists the first voters (default: $MILLRACE_FORMAT_FILE)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text lines (default) or one JSON object per line with the request context",
    )
    parser.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 0.0.0.0:9404)",
    )
    return parser.parse_args(_attach_cluster_id(sys.argv[1:] if argv is None else argv))


def _attach_cluster_id(argv: list[str]) -> list[str]:
    """`--cluster-id X` -> `--cluster-id=X`.

    Cluster ids are URL-safe base64, so one in 64 starts with '-', which argparse would
    take for an option ("expected one argument"); the attached form is always a value.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--cluster-id" and i + 1 < len(argv):
            out.append(f"--cluster-id={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    # Imported here, after hypothesis is hidden, so that kio loads without it.
    from .config import ConfigError, load_broker_config
    from .observability.exposition import parse_address
    from .observability.log_format import configure_logging
    from .server.storage_format import StorageFormatError, plan_format_file, plan_format_mode
    from .server.wiring import run

    args = parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        metrics_address = parse_address(args.metrics_address) if args.metrics_address else None
    except ValueError as exc:
        print(f"millrace-broker: --metrics-address: {exc}", file=sys.stderr)
        return 2
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
        format_mode = plan_format_mode(
            config,
            standalone=args.standalone,
            initial_controllers=args.initial_controllers,
            no_initial_controllers=args.no_initial_controllers,
        )
        if format_mode is None and args.format_file is not None:
            format_mode = plan_format_file(config, Path(args.format_file))
        asyncio.run(
            run(
                config,
                cluster_id=args.cluster_id,
                metrics_address=metrics_address,
                format_mode=format_mode,
            )
        )
    except StorageFormatError as exc:
        print(f"millrace-broker: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # found while starting listeners: TLS files, SASL settings
        print(f"millrace-broker: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"millrace-broker: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
