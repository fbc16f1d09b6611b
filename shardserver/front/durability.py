"""Persistence commands the front fans out to every shard: BGREWRITEAOF, BGSAVE, SAVE, LASTSAVE.

Ownership: the front only orchestrates; each shard rewrites or snapshots its
own files (``shardserver/shard/persist.py``).  With ``appendonly yes`` a
snapshot *is* an AOF rewrite (the new base files); with ``appendonly no``
SAVE/BGSAVE write base files alone, which the next start loads, as Valkey
loads its RDB file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.front.handlers import front
from shardserver.resp import OK, ErrorReply, Simple

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _all_shards(fr: Front, cmd: list[bytes]) -> Any:
    """Run ``cmd`` on every shard; a shard still loading is an error, as Valkey is while loading."""
    for link in fr.links:
        if not link.up:
            raise CommandError(errors.loading_shard(link.index))
    futures = [fr.call(link.index, 0, [cmd]) for link in fr.links]

    async def replies() -> list[Any]:
        return [(await f)[0] for f in futures]

    return replies()


@front("bgrewriteaof")
def bgrewriteaof(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__bgrewriteaof"])

    async def run() -> Any:
        replies = await pending
        if all(isinstance(r, ErrorReply) for r in replies):
            raise CommandError(errors.AOF_REWRITE_RUNNING)
        return Simple("Background append only file rewriting started")

    return run()


@front("bgsave")
def bgsave(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise CommandError(errors.SYNTAX)
    opt = argv[1].lower() if len(argv) == 2 else b""
    if opt not in (b"", b"schedule", b"cancel"):
        raise CommandError(errors.SYNTAX)
    if opt == b"cancel":
        pending = _all_shards(fr, [b"__bgcancel"])

        async def cancel() -> Any:
            replies = await pending
            if not any(replies):
                raise CommandError("ERR Background saving is currently not in progress or scheduled")
            if any(r == b"scheduled" for r in replies) and not any(r == b"running" for r in replies):
                return Simple("Scheduled background saving cancelled")
            return Simple("Background saving cancelled")

        return cancel()
    pending = _all_shards(fr, [b"__bgrewriteaof", b"schedule"] if opt else [b"__bgrewriteaof"])

    async def run() -> Any:
        replies = await pending
        if all(isinstance(r, ErrorReply) for r in replies):
            raise CommandError(errors.BGSAVE_AOF_RUNNING)
        if any(r == b"scheduled" for r in replies):
            return Simple("Background saving scheduled")
        return Simple("Background saving started")

    return run()


@front("save")
def save(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__save"])

    async def run() -> Any:
        for r in await pending:
            if isinstance(r, ErrorReply):
                raise CommandError(r.text)
        return OK

    return run()


@front("lastsave")
def lastsave(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__aofinfo"])

    async def run() -> Any:
        # the data is saved when every shard has saved: the oldest shard's time
        return min(int(r[b"last_save"]) for r in await pending)

    return run()
