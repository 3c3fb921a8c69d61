"""Group and transaction coordinators: pure state machines over internal topics.

- `group.py`, `membership.py`: classic groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
  generations, fencing, static membership, timers);
- `consumer_group.py`: KIP-848 consumer groups (ConsumerGroupHeartbeat, server-side
  assignment reconciled member by member);
- `offsets.py`: committed offsets (OffsetCommit/Fetch/Delete, TxnOffsetCommit, retention);
- `manager.py`: the state they share, its persistence and replay; `records.py`: the
  `__consumer_offsets` key/value formats;
- `runtime.py`: the asyncio driver (parked requests, timers, loading, leadership);
- `transaction.py`, `txn_runtime.py`: the transaction coordinator over
  `__transaction_state`.

Nothing here touches sockets or the metadata image: the server layer passes time, logs
and topic lookups in.
"""
