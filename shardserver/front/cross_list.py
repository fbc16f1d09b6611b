"""List commands the front runs: the blocking ones, LMPOP, cross-shard LMOVE/RPOPLPUSH, CLIENT UNBLOCK.

Ownership: argument checks (in Valkey's order, before anything runs) and the
choice of shard steps; the waiting itself is ``shardserver.front.blocking``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.front.blocking import Blocker, move_across, parse_timeout
from shardserver.front.handlers import cross, front
from shardserver.numbers import strict_int
from shardserver.resp import NULL_ARRAY, ErrorReply
from shardserver.shard.list_cmds import parse_mpop, parse_where

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _name(argv: list[bytes]) -> bytes:
    return argv[0].lower()


@front("blpop", "brpop")
def blpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    timeout = parse_timeout(argv[-1])
    name = _name(argv)
    argv[0] = name
    return fr.blocking.start(conn, Blocker(keys=argv[1:-1], argv=argv, timeout=timeout, step=lambda key: [name, key, b"0"]))


@front("blmpop")
def blmpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys, tail, count = parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    argv[0] = b"blmpop"
    where = b"right" if tail else b"left"
    return fr.blocking.start(conn, Blocker(keys=keys, argv=argv, timeout=timeout, step=lambda key: [b"blmpop", b"0", b"1", key, where, b"count", b"%d" % count]))


def _blmove(fr: Front, conn: ClientConnection, argv: list[bytes], wherefrom: bytes, whereto: bytes, timeout: float) -> Any:
    src, dst = argv[1], argv[2]
    step_argv = [b"blmove", src, dst, wherefrom, whereto, b"0"]
    blocker = Blocker(keys=[src], argv=step_argv, timeout=timeout, step=lambda key: step_argv, dst=dst, move=(wherefrom, whereto))
    if fr.nshards > 1 and fr.owner_of(src) != fr.owner_of(dst):
        return fr.blocking.start_move(conn, blocker)
    return fr.blocking.start(conn, blocker)


@front("blmove")
def blmove(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    wherefrom = b"right" if parse_where(argv[3]) else b"left"
    whereto = b"right" if parse_where(argv[4]) else b"left"
    return _blmove(fr, conn, argv, wherefrom, whereto, parse_timeout(argv[5]))


@front("brpoplpush")
def brpoplpush(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _blmove(fr, conn, argv, b"right", b"left", parse_timeout(argv[3]))


@front("lmpop")
def lmpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys, tail, count = parse_mpop(argv, 1)
    argv[0] = b"__lmpop"
    db = conn.db
    shards = sorted({fr.owner_of(k) for k in keys}) if fr.nshards > 1 else [0]
    if len(shards) == 1:
        future = fr.call(shards[0], db, [argv])

        async def one() -> Any:
            return (await future)[0]

        return one()
    where = b"right" if tail else b"left"
    hold = fr.hold(shards)

    async def run() -> Any:
        try:
            await hold.ready
            by_shard: dict[int, list[int]] = {}
            for i, key in enumerate(keys):
                by_shard.setdefault(fr.owner_of(key), []).append(i)
            futures = {s: hold.call(s, db, [[b"__lprobe"] + [keys[i] for i in idx]]) for s, idx in by_shard.items()}
            state = [0] * len(keys)
            for s, idx in by_shard.items():
                reply = (await futures[s])[0]
                if isinstance(reply, ErrorReply):
                    return reply
                for i, st in zip(idx, reply, strict=True):
                    state[i] = st
            for i, key in enumerate(keys):
                if state[i] == 2:
                    raise CommandError(errors.WRONGTYPE)
                if state[i] == 1:
                    cmd = [b"__lmpop", b"1", key, where, b"count", b"%d" % count]
                    return (await hold.call(fr.owner_of(key), db, [cmd]))[0]
            return NULL_ARRAY
        finally:
            fr.release(hold)

    return run()


@cross("lmove")
def lmove(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    wherefrom = b"right" if parse_where(argv[3]) else b"left"
    whereto = b"right" if parse_where(argv[4]) else b"left"
    return move_across(fr, conn.db, argv[1], argv[2], wherefrom, whereto)


@cross("rpoplpush")
def rpoplpush(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return move_across(fr, conn.db, argv[1], argv[2], b"right", b"left")


@front("client|unblock")
def client_unblock(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    error = False
    if len(argv) >= 4:  # the reason first, then the id, as Valkey checks them; more is ignored
        mode = argv[3].lower()
        if mode == b"error":
            error = True
        elif mode != b"timeout":
            raise CommandError(errors.UNBLOCK_REASON)
    client_id = strict_int(argv[2])
    if client_id is None:
        raise CommandError(errors.NOT_INTEGER)
    return 1 if fr.blocking.unblock(client_id, error) else 0

