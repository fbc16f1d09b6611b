"""BZPOPMIN, BZPOPMAX and BZMPOP: sorted-set pops that block, on the front's blocking machinery.

Ownership: argument checks (in Valkey's order: BZMPOP's numkeys, direction
and COUNT before its timeout); the waiting, FIFO serving, timeouts and keys on
several shards are ``shardserver.front.blocking``'s, through the shard steps
``__ztry``/``__zprobe`` (shardserver/shard/zset_cmds.py), which log what they
pop as ZPOPMIN/ZPOPMAX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver.front.blocking import Blocker, parse_timeout
from shardserver.front.handlers import front
from shardserver.shard.zset_cmds import parse_zmpop

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


@front("bzpopmin", "bzpopmax")
def bzpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    timeout = parse_timeout(argv[-1])
    name = argv[0].lower()
    argv[0] = name
    blocker = Blocker(keys=argv[1:-1], argv=argv, timeout=timeout, step=lambda key: [name, key, b"0"], try_cmd=b"__ztry", probe_cmd=b"__zprobe")
    return fr.blocking.start(conn, blocker)


@front("bzmpop")
def bzmpop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys, maximum, count = parse_zmpop(argv[1:])  # argv[1:]: numkeys at index 1, as ZMPOP's
    timeout = parse_timeout(argv[1])
    argv[0] = b"bzmpop"
    where = b"max" if maximum else b"min"

    def step(key: bytes) -> list[bytes]:
        return [b"bzmpop", b"0", b"1", key, where, b"count", b"%d" % count]

    blocker = Blocker(keys=keys, argv=argv, timeout=timeout, step=step, try_cmd=b"__ztry", probe_cmd=b"__zprobe")
    return fr.blocking.start(conn, blocker)
