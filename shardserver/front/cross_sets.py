"""Set and sorted set commands whose keys live on several shards.

Ownership: the front's orchestration only; the shards do the work.  Every
operation holds all the shards it touches until it is done, so it is atomic
as in Valkey.

- Reads and *STORE commands (SINTER, SUNIONSTORE, ZUNION, ZRANGESTORE, ...):
  the values of the keys owned by other shards are fetched (``__dump``) and
  lent to the shard that runs the command (``__overlay``): the destination's
  owner for a *STORE, the first key's owner otherwise.  That shard logs its
  write as the restore of the destination.
- SMOVE: the destination's type is read, the source's shard removes the
  member (logged as SREM), then the destination's shard adds it (SADD).
- ZMPOP: the keys are tried in order, each on its own shard, as a one-key
  ZMPOP (logged as ZPOPMIN/ZPOPMAX) until one pops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver.commands.table import TABLE
from shardserver.errors import CommandError
from shardserver.front.handlers import cross
from shardserver.resp import NULL_ARRAY, ErrorReply, SetReply

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _check(value: Any) -> Any:
    if isinstance(value, ErrorReply):
        raise CommandError(value.text)
    return value


def _lend(fr: Front, conn: ClientConnection, argv: list[bytes], dst: bytes | None, set_reply: bool) -> Any:
    """Run ``argv`` on one shard with the other shards' keys lent to it."""
    spec = TABLE[argv[0].decode("latin-1").lower()]
    keys = [argv[p] for p in spec.key_positions(argv)]
    runner = fr.owner_of(dst if dst is not None else keys[0])
    foreign: dict[int, list[bytes]] = {}
    for key in keys:
        shard = fr.owner_of(key)
        if shard != runner and key not in foreign.setdefault(shard, []):
            foreign[shard].append(key)
    hold = fr.hold([runner, *foreign])
    db = conn.db
    proto = b"3" if conn.resp3 else b"2"

    async def run() -> Any:
        try:
            await hold.ready
            calls = [(shard, names, hold.call(shard, db, [[b"__dump", k] for k in names])) for shard, names in foreign.items() if names]
            lent: list[bytes] = []
            count = 0
            for _shard, names, future in calls:
                for key, entry in zip(names, await future, strict=True):
                    _check(entry)
                    lent.extend((key, b"", b"") if entry is None else (key, entry[0], entry[1]))
                    count += 1
            cmd = [b"__overlay", dst or b"", proto, b"%d" % count, *lent, *argv]
            reply = _check((await hold.call(runner, db, [cmd]))[0])
            if set_reply and isinstance(reply, list):
                return SetReply(reply)
            return reply
        finally:
            fr.release(hold)

    return run()


@cross("sinter", "sunion", "sdiff")
def set_read(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _lend(fr, conn, argv, None, set_reply=True)


@cross("sintercard", "zunion", "zinter", "zdiff", "zintercard")
def lent_read(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _lend(fr, conn, argv, None, set_reply=False)


@cross("sinterstore", "sunionstore", "sdiffstore", "zunionstore", "zinterstore", "zdiffstore", "zrangestore")
def lent_store(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _lend(fr, conn, argv, argv[1], set_reply=False)


@cross("smove")
def smove(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    src, dst, member = argv[1], argv[2], argv[3]
    a, b = fr.owner_of(src), fr.owner_of(dst)
    hold = fr.hold([a, b])
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            kind = _check((await hold.call(b, db, [[b"type", dst]]))[0])
            kind = kind if isinstance(kind, bytes) else str(kind).encode()  # a simple string arrives as bytes
            # check, then add and remove as one write across both shards (whole after a crash: Front.tx_send)
            moved = _check((await hold.call(a, db, [[b"__smove_out", src, member, kind, b"check"]]))[0])
            if moved:
                for values in await fr.tx_send([(b, db, [[b"sadd", dst, member]]), (a, db, [[b"__smove_out", src, member, kind]])]):
                    _check(values[0])
            return moved
        finally:
            fr.release(hold)

    return run()


@cross("zmpop")
def zmpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    from shardserver.shard.zset_cmds import parse_zmpop

    keys, maximum, count = parse_zmpop(argv)
    hold = fr.hold([fr.owner_of(k) for k in keys])
    db = conn.db
    where = b"MAX" if maximum else b"MIN"

    async def run() -> Any:
        try:
            await hold.ready
            for key in keys:
                cmd = [b"zmpop", b"1", key, where, b"COUNT", b"%d" % count]
                reply = _check((await hold.call(fr.owner_of(key), db, [cmd]))[0])
                if reply is not NULL_ARRAY and reply is not None:
                    return reply
            return NULL_ARRAY
        finally:
            fr.release(hold)

    return run()
