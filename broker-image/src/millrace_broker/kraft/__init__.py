"""KRaft I/O around the sans-IO Raft core: the on-disk metadata log, the transport
between controllers, the asyncio driver, and the quorum controller built on them."""
