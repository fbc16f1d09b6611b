"""The shard's handler registry and the context a handler runs in.

Ownership: data commands register here by name (``container|sub`` for
subcommands); the shard worker dispatches from ``HANDLERS``.  Handlers return
a reply value (see ``shardserver.resp``) or raise ``CommandError``; they never
encode and never touch a socket.

What a write leaves in the AOF (the propagation contract):

- By default a command flagged ``write`` in the command table that returns a
  non-error reply is logged as received.
- A handler whose argv would not replay to the same state sets
  ``ctx.rewrite`` to the list of argv lists to log instead (an empty list
  logs nothing): relative times become absolute (``PXAT``, ``PEXPIREAT``,
  ``HPEXPIREAT``), random choices become their effect (SPOP -> SREM),
  auto-generated IDs become explicit, blocking pops their non-blocking form,
  float increments a plain SET/HSET of the result.  It must be set before
  the handler returns or raises.
- A write that changed nothing (DEL of a missing key, SADD of a member already
  there, ZADD of the same score) logs nothing, as Valkey propagates a
  command only when it made the data dirty: ``ctx.changes(n)`` for a reply
  that counts changes, ``ctx.rewrite = []`` otherwise.
- Changes no command asked for (a key or a hash field expiring) are logged
  with ``ctx.keyspace.propagate(db_id, argv)`` at the moment they happen, so
  they land in order with the commands around them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shardserver.shard.keyspace import Database, Keyspace


class ShardContext:
    """What a handler may use: the keyspace, the selected database, shard facts."""

    def __init__(self, keyspace: Keyspace, index: int, nshards: int, ranges: list[tuple[int, int]]) -> None:
        self.keyspace = keyspace
        self.db: Database = keyspace.dbs[0]
        self.index = index
        self.nshards = nshards
        self.ranges = ranges
        self.proto_max_bulk_len = 512 * 1024 * 1024
        self.hll_sparse_max_bytes = 3000  # hll-sparse-max-bytes: a longer sparse HLL turns dense
        self.resp3 = False
        self.stats: dict[str, int] = {"ops": 0, "batches": 0, "runs": 0, "sleeps": 0}
        self.worker: Any = None  # the ShardWorker, for internal commands about stats
        self.rewrite: list[list[bytes]] | None = None  # what to log instead of argv (see above)
        self.loading = False  # replaying the AOF: records are obeyed as Valkey obeys its AOF client
        # replaying one old shard's files after a change of the shard count: its slot
        # ranges, the only keys its FLUSHALL, FLUSHDB and SWAPDB records may touch
        self.replay_scope: list[tuple[int, int]] | None = None

    def changes(self, count: int) -> int:
        """A write's count of changes as its reply: 0 changed nothing, so nothing is logged."""
        if not count:
            self.rewrite = []
        return count

    def db_at(self, index: int) -> Database:
        return self.keyspace.dbs[index]

    def owns_slot(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.ranges)


Handler = Callable[[ShardContext, list[bytes]], Any]
HANDLERS: dict[str, Handler] = {}
INTERNAL_WRITES: set[str] = set()  # internal commands that change data: logged like writes

# Directives a value type acts on (encoding thresholds): name -> setter of the new value.
# The worker applies them at start from its settings, ``__config`` on CONFIG SET.
CONFIG_HOOKS: dict[str, Callable[[bytes], None]] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            if name in HANDLERS:
                raise RuntimeError(f"duplicate shard handler {name}")
            HANDLERS[name] = fn
        return fn

    return register


def internal(name: str, writes: bool = False) -> Callable[[Handler], Handler]:
    """Front-to-shard commands used by cross-shard operations; never sent by clients.

    ``writes``: the command changes data, so the AOF logs it (as received,
    unless it sets ``ctx.rewrite``); it must then be self-contained.
    """
    if writes:
        INTERNAL_WRITES.add(name)
    return command(name)
