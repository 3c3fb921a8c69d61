"""Apache Kafka's jars on this machine, and its CLI tools run the way bin/*.sh runs them.

`kafka_home()` returns ~/.cache/millrace/kafka-<version> (running bench/fetch-kafka.sh when
the jars are missing). `kafka_cli("kafka-topics", ...)` runs the Java main class behind
bin/kafka-topics.sh with the same classpath (every jar in libs/) that
bin/kafka-run-class.sh builds, a small heap, and log4j2 logging at WARN to stderr, so the
tool's own output on stdout is clean.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = BENCH_DIR / "fetch-kafka.sh"
# The pinned version, shared with fetch-kafka.sh (`fetch-kafka.sh --latest` finds newer).
DEFAULT_KAFKA_VERSION = (BENCH_DIR / "KAFKA_VERSION").read_text(encoding="ascii").strip()

# bin/<tool>.sh -> main class, as in Apache Kafka 4.1's bin/ scripts.
TOOLS: dict[str, str] = {
    "kafka-acls": "org.apache.kafka.tools.AclCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-client-metrics": "org.apache.kafka.tools.ClientMetricsCommand",
    "kafka-cluster": "org.apache.kafka.tools.ClusterTool",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-delegation-tokens": "org.apache.kafka.tools.DelegationTokenCommand",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-dump-log": "kafka.tools.DumpLogSegments",
    "kafka-e2e-latency": "org.apache.kafka.tools.EndToEndLatency",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-groups": "org.apache.kafka.tools.GroupsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-replica-verification": "org.apache.kafka.tools.ReplicaVerificationTool",
    "kafka-share-groups": "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
    "kafka-storage": "kafka.tools.StorageTool",
    "kafka-streams-groups": "org.apache.kafka.tools.streams.StreamsGroupCommand",
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-verifiable-consumer": "org.apache.kafka.tools.VerifiableConsumer",
    "kafka-verifiable-producer": "org.apache.kafka.tools.VerifiableProducer",
    "kafka-server": "kafka.Kafka",
}

# Short-lived tools start faster with C1 only; load generators need the optimizing JIT.
_LOAD_TOOLS = frozenset(
    {
        "kafka-producer-perf-test",
        "kafka-consumer-perf-test",
        "kafka-e2e-latency",
        "kafka-verifiable-producer",
        "kafka-verifiable-consumer",
        "kafka-server",
    }
)
TOOL_HEAP_OPTS: tuple[str, ...] = ("-Xmx256m",)
TOOL_JVM_OPTS: tuple[str, ...] = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)
LOAD_TOOL_JVM_OPTS: tuple[str, ...] = ("-XX:+UseSerialGC", "-Djava.awt.headless=true")

TOOLS_LOG4J2 = """\
# Written by bench/kafkaref: CLI tools log at WARN to stderr (stdout stays the tool's).
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
"""

SERVER_LOG4J2 = """\
# Written by bench/kafkaref: the broker logs at INFO to stdout (redirected to a file).
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.target = SYSTEM_OUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
"""


def kafka_version() -> str:
    """The Apache Kafka version to use: $MILLRACE_KAFKA_VERSION or DEFAULT_KAFKA_VERSION."""
    return os.environ.get("MILLRACE_KAFKA_VERSION", DEFAULT_KAFKA_VERSION)


def _cache_dir() -> Path:
    env = os.environ.get("MILLRACE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "millrace"


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def kafka_home(version: str | None = None, *, fetch: bool = True) -> Path:
    """Kafka's home (libs/ and config/), fetching the jars with Maven on first use.

    Raises RuntimeError naming the fix when the jars are absent and cannot be fetched.
    """
    version = version or kafka_version()
    home = _cache_dir() / f"kafka-{version}"
    if not (home / "libs" / ".complete").exists():
        if not fetch:
            raise RuntimeError(f"Apache Kafka {version} is not in {home}; run {FETCH_SCRIPT}")
        proc = subprocess.run(
            ["bash", str(FETCH_SCRIPT), version],
            stdout=subprocess.PIPE,
            text=True,
            timeout=1800,
            check=False,
        )
        if proc.returncode != 0 or not (home / "libs" / ".complete").exists():
            raise RuntimeError(
                f"fetching Apache Kafka {version} failed (exit {proc.returncode}); "
                f"run {FETCH_SCRIPT} {version} by hand to see why (needs java and mvn)"
            )
    _write_if_changed(home / "config" / "tools-log4j2.properties", TOOLS_LOG4J2)
    _write_if_changed(home / "config" / "server-log4j2.properties", SERVER_LOG4J2)
    return home


def java_command(
    main_class: str,
    *args: str,
    home: Path | None = None,
    heap_opts: Sequence[str] = TOOL_HEAP_OPTS,
    jvm_opts: Sequence[str] = TOOL_JVM_OPTS,
    log4j_config: str = "tools-log4j2.properties",
    log_dir: Path | None = None,
) -> list[str]:
    """The `java ...` argv bin/kafka-run-class.sh would exec for `main_class` and `args`."""
    home = home or kafka_home()
    java = (
        str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if "JAVA_HOME" in os.environ else "java"
    )
    return [
        java,
        *heap_opts,
        *jvm_opts,
        f"-Dlog4j2.configurationFile={home / 'config' / log4j_config}",
        f"-Dkafka.logs.dir={log_dir or home / 'logs'}",
        "-cp",
        str(home / "libs" / "*"),
        main_class,
        *args,
    ]


def _tool_command(tool: str, args: Sequence[str], jvm_opts: Sequence[str] | None) -> list[str]:
    name = tool.removesuffix(".sh")
    if name not in TOOLS:
        known = ", ".join(sorted(TOOLS))
        raise ValueError(f"unknown Kafka tool {tool!r}; known: {known}")
    if jvm_opts is None:
        jvm_opts = LOAD_TOOL_JVM_OPTS if name in _LOAD_TOOLS else TOOL_JVM_OPTS
    return java_command(TOOLS[name], *args, jvm_opts=jvm_opts)


def kafka_cli(
    tool: str,
    *args: str,
    timeout: float = 120.0,
    input: str | None = None,
    check: bool = False,
    env: Mapping[str, str] | None = None,
    jvm_opts: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run Apache Kafka's `tool` (e.g. "kafka-topics") with `args`; capture text output.

    `input` is fed to stdin (console producer); stdin is /dev/null otherwise. With
    `check=True` a non-zero exit raises CalledProcessError carrying stdout and stderr.
    A tool still running after `timeout` seconds is killed (subprocess.TimeoutExpired).
    """
    cmd = _tool_command(tool, args, jvm_opts)
    proc = subprocess.run(
        cmd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
        check=False,
    )
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    return proc


def kafka_cli_popen(
    tool: str,
    *args: str,
    jvm_opts: Sequence[str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start `tool` without waiting (e.g. a console consumer); the caller must reap it."""
    return subprocess.Popen(
        _tool_command(tool, args, jvm_opts),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )
