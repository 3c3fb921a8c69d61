"""Per-partition segmented logs (sync file I/O, called from the event loop).

On disk, one directory per partition, ``<log dir>/<topic>-<partition>/``::

    00000000000000000000.log        record batches, back to back (segment.py)
    00000000000000000000.index      sparse offset index, Kafka's 8-byte entries (index.py)
    00000000000000000000.timeindex  sparse time index, Kafka's 12-byte entries
    00000000000000001234.snapshot   producer state as of offset 1234 (producer_state.py)
    log-start-offset                DeleteRecords / retention low watermark (checkpoint.py)
    recovery-point                  everything below was validated and fsynced
    cleaner-offset-checkpoint       end of the last completed compaction pass
    leader-epoch-checkpoint         leader epoch -> start offset (leader_epochs.py)
    clean-shutdown                  present only between close() and the next open()

Modules: ``partition_log`` (the API the server calls), ``log_loader`` (open, recovery,
interrupted swaps), ``validation`` (produce checks), ``retention``, ``compaction``,
``timestamps`` (ListOffsets), ``records``/``compression`` (the slow path that decodes
records), ``log_manager`` (all partitions of a broker), ``errors`` (StorageError).
"""
