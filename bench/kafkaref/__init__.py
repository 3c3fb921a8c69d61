"""Apache Kafka as a reference: its real jars, its CLI tools, real brokers on loopback.

Used by integration tests (Apache Kafka's own CLI tools against Millrace or Kafka) and by
the benchmarks in bench/ (a real Kafka broker started in the same run as Millrace).

    from kafkaref import KafkaBroker, kafka_cli
    with KafkaBroker() as kafka:
        kafka_cli("kafka-topics", "--bootstrap-server", kafka.bootstrap,
                  "--create", "--topic", "t", check=True)

The jars come from `bench/fetch-kafka.sh` (Maven) into ~/.cache/millrace/kafka-<version>/;
`kafka_home()` runs it on first use. Importable with `bench/` on sys.path.
"""

from kafkaref.broker import (
    KafkaBroker,
    KafkaCluster,
    die_with_parent,
    free_port,
    kafka_uuid,
    wait_for_brokers,
)
from kafkaref.dist import (
    DEFAULT_KAFKA_VERSION,
    TOOLS,
    java_command,
    kafka_cli,
    kafka_cli_popen,
    kafka_home,
    kafka_version,
)
from kafkaref.procstat import MemoryStats, RssSampler, read_memory

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "TOOLS",
    "KafkaBroker",
    "KafkaCluster",
    "MemoryStats",
    "RssSampler",
    "die_with_parent",
    "free_port",
    "java_command",
    "kafka_cli",
    "kafka_cli_popen",
    "kafka_home",
    "kafka_uuid",
    "kafka_version",
    "read_memory",
    "wait_for_brokers",
]
