"""Persistence: each shard's append-only file (issue: durability).

Ownership: persistence owns files on disk and their formats; it knows nothing
of sockets or connections.  Records are RESP-encoded commands produced by the
one encoder in ``shardserver.resp`` (``encode_command``).  Nothing is written
yet: a shard starts empty after a restart, and the server says so in its log.
"""
