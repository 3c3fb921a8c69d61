"""Topic configs: Apache Kafka 4.1.0's LogConfig ConfigDef (TopicConfig keys), as data.

Generated from the ConfigDef of the Kafka 4.1.0 jars (names, types, defaults in Kafka's
string form, validators, importance, documentation); not hand-edited. To regenerate,
dump the ConfigDef keys with a few lines of Java against the released jars and re-run the
generator described in config/__init__.py. Millrace-specific behaviour lives elsewhere.
"""

# ruff: noqa: E501, F401, RUF001, RUF100

from __future__ import annotations

from millrace_broker.config.definitions import (
    NO_DEFAULT,
    ConfigKey,
    ConfigType,
    HostPortList,
    ListOf,
    NonEmptyString,
    NonNull,
    OneOf,
    Range,
    ThrottledReplicas,
    Validator,
    _NoDefault,
)

BOOLEAN = ConfigType.BOOLEAN
STRING = ConfigType.STRING
INT = ConfigType.INT
SHORT = ConfigType.SHORT
LONG = ConfigType.LONG
DOUBLE = ConfigType.DOUBLE
LIST = ConfigType.LIST
CLASS = ConfigType.CLASS
PASSWORD = ConfigType.PASSWORD
_IMPORTANCE = {"H": "HIGH", "M": "MEDIUM", "L": "LOW"}


def _k(
    name: str,
    kind: ConfigType,
    default: str | _NoDefault | None,
    validator: Validator | None,
    importance: str,
    doc: str,
    *,
    internal: bool = False,
) -> ConfigKey:
    return ConfigKey(name, kind, default, validator, _IMPORTANCE[importance], doc, internal)


TOPIC_KEYS: tuple[ConfigKey, ...] = (
    _k(
        "segment.bytes",
        INT,
        "1073741824",
        Range(1048576),
        "M",
        "This configuration controls the segment file size for the log. Retention and cleaning is always done a file at a time so a larger segment size means fewer files but less granular control over retention.",
    ),
    _k(
        "segment.ms",
        LONG,
        "604800000",
        Range(1),
        "M",
        "This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data.",
    ),
    _k(
        "segment.jitter.ms",
        LONG,
        "0",
        Range(0),
        "M",
        "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling",
    ),
    _k(
        "segment.index.bytes",
        INT,
        "10485760",
        Range(4),
        "M",
        "This configuration controls the size of the index that maps offsets to file positions. We preallocate this index file and shrink it only after log rolls. You generally should not need to change this setting.",
    ),
    _k(
        "flush.messages",
        LONG,
        "9223372036854775807",
        Range(1),
        "M",
        'This setting allows specifying an interval at which we will force an fsync of data written to the log. For example if this was set to 1 we would fsync after every message; if it were 5 we would fsync after every five messages. In general we recommend you not set this and use replication for durability and allow the operating system\'s background flush capabilities as it is more efficient. This setting can be overridden on a per-topic basis (see <a href="#topicconfigs">the per-topic configuration section</a>).',
    ),
    _k(
        "flush.ms",
        LONG,
        "9223372036854775807",
        Range(0),
        "M",
        "This setting allows specifying a time interval at which we will force an fsync of data written to the log. For example if this was set to 1000 we would fsync after 1000 ms had passed. Note that this setting depends on the broker-level configuration <code>log.flush.scheduler.interval.ms</code>, which controls how frequently the flush check occurs. In general we recommend you not set this and use replication for durability and allow the operating system's background flush capabilities as it is more efficient.",
    ),
    _k(
        "retention.bytes",
        LONG,
        "-1",
        None,
        "M",
        'This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the "delete" retention policy. By default there is no size limit only a time limit. Since this limit is enforced at the partition level, multiply it by the number of partitions to compute the topic retention in bytes. Additionally, retention.bytes configuration operates independently of "segment.ms" and "segment.bytes" configurations. Moreover, it triggers the rolling of new segment if the retention.bytes is configured to zero.',
    ),
    _k(
        "retention.ms",
        LONG,
        "604800000",
        Range(-1),
        "M",
        'This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the "delete" retention policy. This represents an SLA on how soon consumers must read their data. If set to -1, no time limit is applied. Additionally, retention.ms configuration operates independently of "segment.ms" and "segment.bytes" configurations. Moreover, it triggers the rolling of new segment if the retention.ms condition is satisfied.',
    ),
    _k(
        "max.message.bytes",
        INT,
        "1048588",
        Range(0),
        "M",
        "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
    ),
    _k(
        "index.interval.bytes",
        INT,
        "4096",
        Range(0),
        "M",
        "This setting controls how frequently Kafka adds entries to its offset index and, conditionally, to its time index. The default setting ensures that we index a message roughly every 4096 bytes. More frequent indexing allows reads to jump closer to the exact position in the log but results in larger index files. You probably don't need to change this.<p> Note: the time index will be inserted only when the timestamp is greater than the last indexed timestamp.</p>",
    ),
    _k(
        "delete.retention.ms",
        LONG,
        "86400000",
        Range(0),
        "M",
        'The amount of time to retain delete tombstone markers for <a href="#compaction">log compacted</a> topics. This setting also gives a bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get a valid snapshot of the final stage (otherwise delete tombstones may be collected before they complete their scan).',
    ),
    _k(
        "min.compaction.lag.ms",
        LONG,
        "0",
        Range(0),
        "M",
        "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.",
    ),
    _k(
        "max.compaction.lag.ms",
        LONG,
        "9223372036854775807",
        Range(1),
        "M",
        "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.",
    ),
    _k(
        "file.delete.delay.ms",
        LONG,
        "60000",
        Range(0),
        "M",
        "The time to wait before deleting a file from the filesystem",
    ),
    _k(
        "min.cleanable.dirty.ratio",
        DOUBLE,
        "0.5",
        Range(0, 1),
        "M",
        'This configuration controls how frequently the log compactor will attempt to clean the log (assuming <a href="#compaction">log compaction</a> is enabled). By default we will avoid cleaning a log where more than 50% of the log has been compacted. This ratio bounds the maximum space wasted in the log by duplicates (at 50% at most 50% of the log could be duplicates). A higher ratio will mean fewer, more efficient cleanings but will mean more wasted space in the log. If the max.compaction.lag.ms or the min.compaction.lag.ms configurations are also specified, then the log compactor considers the log to be eligible for compaction as soon as either: (i) the dirty ratio threshold has been met and the log has had dirty (uncompacted) records for at least the min.compaction.lag.ms duration, or (ii) if the log has had dirty (uncompacted) records for at most the max.compaction.lag.ms period.',
    ),
    _k(
        "cleanup.policy",
        LIST,
        "delete",
        ListOf(("compact", "delete")),
        "M",
        'This config designates the retention policy to use on log segments. The "delete" policy (which is the default) will discard old segments when their retention time or size limit has been reached. The "compact" policy will enable <a href="#compaction">log compaction</a>, which retains the latest value for each key. It is also possible to specify both policies in a comma-separated list (e.g. "delete,compact"). In this case, old segments will be discarded per the retention time and size configuration, while retained segments will be compacted.',
    ),
    _k(
        "unclean.leader.election.enable",
        BOOLEAN,
        "false",
        None,
        "M",
        "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.<p>Note: In KRaft mode, when enabling this config dynamically, it needs to wait for the unclean leader electionthread to trigger election periodically (default is 5 minutes). Please run `kafka-leader-election.sh` with `unclean` option to trigger the unclean leader election immediately if needed.</p>",
    ),
    _k(
        "min.insync.replicas",
        INT,
        "1",
        Range(1),
        "M",
        'Specifies the <i>minimum</i> number of in-sync replicas (including the leader) required for a write to succeed when a producer sets <code>acks</code> to "all" (or "-1"). In the <code>acks=all</code> case, every in-sync replica must acknowledge a write for it to be considered successful. E.g., if a topic has <code>replication.factor</code> of 3 and the ISR set includes all three replicas, then all three replicas must acknowledge an <code>acks=all</code> write for it to succeed, even if <code>min.insync.replicas</code> happens to be less than 3. If <code>acks=all</code> and the current ISR set contains fewer than <code>min.insync.replicas</code> members, then the producer will raise an exception (either <code>NotEnoughReplicas</code> or <code>NotEnoughReplicasAfterAppend</code>).<br> Regardless of the <code>acks</code> setting, the messages will not be visible to the consumers until they are replicated to all in-sync replicas and the <code>min.insync.replicas</code> condition is met.<br> When used together, <code>min.insync.replicas</code> and <code>acks</code> allow you to enforce greater durability guarantees. A typical scenario would be to create a topic with a replication factor of 3, set <code>min.insync.replicas</code> to 2, and produce with <code>acks</code> of "all". This ensures that a majority of replicas must persist a write before it\'s considered successful by the producer and it\'s visible to consumers.<p>Note that when the Eligible Leader Replicas feature is enabled, the semantics of this config changes. Please refer to <a href="#eligible_leader_replicas">the ELR section</a> for more info.</p>',
    ),
    _k(
        "compression.type",
        STRING,
        "producer",
        OneOf(("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")),
        "M",
        "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer.",
    ),
    _k(
        "compression.gzip.level",
        INT,
        "-1",
        Range(1, 9, also=(-1,)),
        "M",
        "The compression level to use if compression.type is set to <code>gzip</code>.",
    ),
    _k(
        "compression.lz4.level",
        INT,
        "9",
        Range(1, 17),
        "M",
        "The compression level to use if compression.type is set to <code>lz4</code>.",
    ),
    _k(
        "compression.zstd.level",
        INT,
        "3",
        Range(-131072, 22),
        "M",
        "The compression level to use if compression.type is set to <code>zstd</code>.",
    ),
    _k(
        "preallocate",
        BOOLEAN,
        "false",
        None,
        "M",
        "True if we should preallocate the file on disk when creating a new log segment.",
    ),
    _k(
        "message.timestamp.type",
        STRING,
        "CreateTime",
        OneOf(("CreateTime", "LogAppendTime")),
        "M",
        "Define whether the timestamp in the message is message create time or log append time.",
    ),
    _k(
        "message.timestamp.before.max.ms",
        LONG,
        "9223372036854775807",
        Range(0),
        "M",
        "This configuration sets the allowable timestamp difference between the broker's timestamp and the message timestamp. The message timestamp can be earlier than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if message.timestamp.type=LogAppendTime.",
    ),
    _k(
        "message.timestamp.after.max.ms",
        LONG,
        "3600000",
        Range(0),
        "M",
        "This configuration sets the allowable timestamp difference between the message timestamp and the broker's timestamp. The message timestamp can be later than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if message.timestamp.type=LogAppendTime.",
    ),
    _k(
        "leader.replication.throttled.replicas",
        LIST,
        "",
        ThrottledReplicas(),
        "M",
        "A list of replicas for which log replication should be throttled on the leader side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.",
    ),
    _k(
        "follower.replication.throttled.replicas",
        LIST,
        "",
        ThrottledReplicas(),
        "M",
        "A list of replicas for which log replication should be throttled on the follower side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.",
    ),
    _k(
        "remote.storage.enable",
        BOOLEAN,
        "false",
        None,
        "M",
        "To enable tiered storage for a topic, set this configuration to true. To disable tiered storage for a topic that has it enabled, set this configuration to false. When disabling, you must also set <code>remote.log.delete.on.disable</code> to true.",
    ),
    _k(
        "local.retention.ms",
        LONG,
        "-2",
        Range(-2),
        "M",
        "The number of milliseconds to keep the local log segment before it gets deleted. Default value is -2, it represents `retention.ms` value is to be used. The effective value should always be less than or equal to `retention.ms` value.",
    ),
    _k(
        "local.retention.bytes",
        LONG,
        "-2",
        Range(-2),
        "M",
        "The maximum size of local log segments that can grow for a partition before it deletes the old segments. Default value is -2, it represents `retention.bytes` value to be used. The effective value should always be less than or equal to `retention.bytes` value.",
    ),
    _k(
        "remote.log.copy.disable",
        BOOLEAN,
        "false",
        None,
        "M",
        "Determines whether tiered data for a topic should become read only, and no more data uploading on a topic. Once this config is set to true, the local retention configuration (i.e. local.retention.ms/bytes) becomes irrelevant, and all data expiration follows the topic-wide retention configuration(i.e. retention.ms/bytes).",
    ),
    _k(
        "remote.log.delete.on.disable",
        BOOLEAN,
        "false",
        None,
        "M",
        "Determines whether tiered data for a topic should be deleted after tiered storage is disabled on a topic. This configuration should be enabled when trying to set `remote.storage.enable` from true to false",
    ),
    _k(
        "internal.segment.bytes",
        INT,
        None,
        None,
        "M",
        "The maximum size of a single log file. This should be used for testing only.",
        internal=True,
    ),
)

# ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS: broker synonyms in precedence order,
# each with the factor that converts its unit to the topic config's (hours -> ms...).
TOPIC_SYNONYMS: dict[str, tuple[tuple[str, int], ...]] = {
    "segment.bytes": (("log.segment.bytes", 1),),
    "segment.ms": (
        ("log.roll.ms", 1),
        ("log.roll.hours", 3600000),
    ),
    "segment.jitter.ms": (
        ("log.roll.jitter.ms", 1),
        ("log.roll.jitter.hours", 3600000),
    ),
    "segment.index.bytes": (("log.index.size.max.bytes", 1),),
    "flush.messages": (("log.flush.interval.messages", 1),),
    "flush.ms": (
        ("log.flush.interval.ms", 1),
        ("log.flush.scheduler.interval.ms", 1),
    ),
    "retention.bytes": (("log.retention.bytes", 1),),
    "retention.ms": (
        ("log.retention.ms", 1),
        ("log.retention.minutes", 60000),
        ("log.retention.hours", 3600000),
    ),
    "max.message.bytes": (("message.max.bytes", 1),),
    "index.interval.bytes": (("log.index.interval.bytes", 1),),
    "delete.retention.ms": (("log.cleaner.delete.retention.ms", 1),),
    "min.compaction.lag.ms": (("log.cleaner.min.compaction.lag.ms", 1),),
    "max.compaction.lag.ms": (("log.cleaner.max.compaction.lag.ms", 1),),
    "file.delete.delay.ms": (("log.segment.delete.delay.ms", 1),),
    "min.cleanable.dirty.ratio": (("log.cleaner.min.cleanable.ratio", 1),),
    "cleanup.policy": (("log.cleanup.policy", 1),),
    "unclean.leader.election.enable": (("unclean.leader.election.enable", 1),),
    "min.insync.replicas": (("min.insync.replicas", 1),),
    "compression.type": (("compression.type", 1),),
    "compression.gzip.level": (("compression.gzip.level", 1),),
    "compression.lz4.level": (("compression.lz4.level", 1),),
    "compression.zstd.level": (("compression.zstd.level", 1),),
    "preallocate": (("log.preallocate", 1),),
    "message.timestamp.type": (("log.message.timestamp.type", 1),),
    "message.timestamp.before.max.ms": (("log.message.timestamp.before.max.ms", 1),),
    "message.timestamp.after.max.ms": (("log.message.timestamp.after.max.ms", 1),),
    "local.retention.ms": (("log.local.retention.ms", 1),),
    "local.retention.bytes": (("log.local.retention.bytes", 1),),
}
