"""Sans-IO KRaft consensus core for ``__cluster_metadata`` (KIP-595/630/853/996).

No asyncio, sockets or clock in this package: time arrives as ``now_ms`` and randomness
from an injected ``random.Random``.  A driver owns I/O and timers and does::

    node = RaftNode(config, log=..., store=..., rng=random.Random(), now_ms=now,
                    bootstrap_voters=read_bootstrap_voters(metadata_dir))
    send(node.step(Inbound(source_id, message), now))   # each message received
    send(node.tick(now))                                 # whenever now >= node.next_deadline()
    node.propose([payload, ...])                         # on the leader
    for item in node.poll_committed(): apply(item)       # Entry or Snapshot to load
    node.create_snapshot(end_offset, state_bytes)        # when the state machine wants

Modules: ``messages`` (typed RPCs, ``Inbound``/``Outbound``), ``records``, ``voters``,
``state``, ``core`` (RaftNode), ``elections``, ``replication``, ``membership``, ``log``
(``RaftLog`` protocol + ``MemoryLog``), ``snapshot``, ``quorum_store``, ``config``,
``format`` (``kafka-storage format`` equivalent), ``errors``.
"""
