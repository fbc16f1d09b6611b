"""Values of keys that live on other shards, lent to one command (cross-shard set operations).

Ownership: the front's cross-shard steps (``shardserver/front/cross_sets.py``)
fetch the dumps of keys owned by other shards and run the command on one
shard with ``__overlay``; while it runs, reads of those keys see the lent
values (a missing key is lent as None).  Writes never go to lent keys: the
command's destination is always owned by the shard running it.
"""

from __future__ import annotations

from typing import Any

from shardserver.shard.keyspace import Database
from shardserver.shard.registry import HANDLERS, ShardContext, internal

_MISSING = object()


class Foreign:
    """A lent value of a type the commands that read lent keys never accept."""

    TYPE = "foreign"

LENT: dict[bytes, Any] = {}


def read(db: Database, key: bytes) -> Any:
    """The value a command reads at ``key``: the lent one while a cross-shard step runs."""
    if LENT:
        value = LENT.get(key, _MISSING)
        if value is not _MISSING:
            return value
    return db.get(key)


@internal("__overlay", writes=True)
def cmd_overlay(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__overlay dst proto n [key type payload]*n command...: run ``command`` with those keys lent.

    ``type`` is empty for a key that does not exist; ``proto`` (2 or 3) is the
    client's protocol, which decides the shape of some replies.  ``dst`` (empty for a
    read) is the command's destination, owned by this shard: the step is
    logged as the restore (or deletion) of it, since the command itself
    names keys this shard does not have.
    """
    from shardserver.shard.types import VALUE_TYPES, dump_value, load_value

    dst = argv[1]
    ctx.resp3 = argv[2] == b"3"
    n = int(argv[3])
    lent: dict[bytes, Any] = {}
    j = 4
    for _ in range(n):
        key, kind, payload = argv[j], argv[j + 1], argv[j + 2]
        j += 3
        if not kind:
            lent[key] = None
        elif kind == b"string":
            lent[key] = payload
        elif kind not in VALUE_TYPES:
            lent[key] = Foreign()  # a type this shard cannot load: only its type matters here
        else:
            lent[key] = load_value(kind, payload)
    cmd = argv[j:]
    handler = HANDLERS[cmd[0].decode().lower()]
    LENT.clear()
    LENT.update(lent)
    try:
        ctx.rewrite = None
        reply = handler(ctx, cmd)
    finally:
        LENT.clear()
    if not dst:
        ctx.rewrite = []
    else:
        value = ctx.db.peek(dst)
        if value is None:
            ctx.rewrite = [[b"del", dst]]
        else:
            ctx.rewrite = [[b"__restore", dst, value.TYPE.encode(), dump_value(value), b"-1", b"0"]]
    return reply
