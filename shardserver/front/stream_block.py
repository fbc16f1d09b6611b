"""XREAD ... BLOCK and XREADGROUP ... BLOCK: stream reads that wait for new entries.

Ownership: the front's side of blocking stream reads; waiting, timeouts and
FIFO serving are ``shardserver.front.blocking``'s.

The front takes these commands when their options parse with BLOCK (any
parse error is left to the shard, which reports it as the non-blocking
command does).  Under a hold on the shards of the keys it runs the
non-blocking command (the same steps as ``cross_stream``); when that serves
nothing it sends ``__xwatch`` to each shard, which watches the keys and
answers their last IDs, so ``$`` becomes "newer than the last ID when the
client blocked", as in Valkey.  XADD to a watched stream signals it
(``Database.signal_ready``); each blocked reader of the key is then offered
it in blocking order (``Blocker.broadcast``: a reader served does not
consume the entries of the next one) with ``__xtry``, which reads its keys on
that shard: XREAD entries newer than its IDs; XREADGROUP ``>`` new entries
for the group, into the PEL (NOACK respected) and logged as the
non-blocking XREADGROUP logs them.  A blocked XREADGROUP whose stream is
deleted or whose group is destroyed is unblocked with the NOGROUP error, one
whose stream is overwritten by another type with WRONGTYPE, as in Valkey
(which runs the command again); a blocked XREAD keeps waiting.  The timeout
reply is a null array.

Known differences from Valkey: a client blocked on several streams is served
from the keys on the shard of the key that became ready (Valkey re-runs the
read over all its keys); ``+`` when blocking waits for entries newer than the
last one, served up to COUNT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver.errors import CommandError
from shardserver.front.blocking import Blocker
from shardserver.front.cross_stream import _first_error, _merge, _pairs
from shardserver.front.handlers import _gather, _group
from shardserver.resp import NULL_ARRAY
from shardserver.shard.stream_cmds import ReadArgs, parse_read, read_reply

if TYPE_CHECKING:
    from shardserver.commands.table import Command
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _blocking_args(argv: list[bytes], xreadgroup: bool) -> ReadArgs | None:
    """The parsed options when the command asks to block, else None (also on a parse error)."""
    try:
        r = parse_read(argv, xreadgroup)
    except CommandError:
        return None
    return r if r.block is not None else None


def take_blocking(fr: Front, conn: ClientConnection, spec: Command, argv: list[bytes]) -> bool:
    """The front's dispatch hook for XREAD/XREADGROUP: True when it took a BLOCK command."""
    xreadgroup = spec.fullname == "xreadgroup"
    r = _blocking_args(argv, xreadgroup)
    if r is None:
        return False
    fr._timed(conn, spec, argv, lambda c, sp, a: fr._reply_from(c, lambda: _start(fr, c, a, r, xreadgroup)))
    return True


def _shape(value: Any, resp3: bool) -> Any:
    return read_reply(value, resp3) if isinstance(value, list) else value


def _start(fr: Front, conn: ClientConnection, argv: list[bytes], r: ReadArgs, xreadgroup: bool) -> Any:
    a, n = r.streams_arg, r.nstreams
    keys, ids = argv[a : a + n], argv[a + n :]
    groups = _group(fr, keys)
    shards = list(groups)
    db = conn.db
    resp3 = conn.resp3
    count = b"%d" % r.count
    noack = b"1" if r.noack else b"0"
    group = r.group or b""
    consumer = r.consumer or b""
    kind = b"xreadgroup" if xreadgroup else b"xread"
    resolved = list(ids)  # '$' and '+' become the stream's last ID when the client blocks
    unique: dict[int, list[bytes]] = {}  # shard -> its distinct keys, in order
    for key in dict.fromkeys(keys):
        unique.setdefault(fr.owner_of(key), []).append(key)
    hold = fr.hold(shards)  # taken now: commands sent after this one wait for it

    def step(key: bytes) -> list[bytes]:
        return [kind, group, consumer, count, noack] + _pairs(keys, resolved, groups[fr.owner_of(key)])

    async def attempt() -> Any:
        try:
            await hold.ready
            if xreadgroup:
                checks = await _gather([hold.call(s, db, [[b"__xread_check", group] + _pairs(keys, ids, groups[s])]) for s in shards])
                _first_error(groups, shards, checks)
                head = [b"__xreadgroup", group, consumer, count, noack]
                parts = await _gather([hold.call(s, db, [head + _pairs(keys, ids, groups[s])]) for s in shards])
            else:
                values = await _gather([hold.call(s, db, [[b"__xread", count] + _pairs(keys, ids, groups[s])]) for s in shards])
                _first_error(groups, shards, [v if v[0] is not None else None for v in values])
                parts = [v[1] for v in values]
            reply = _merge(keys, groups, shards, parts, resp3)
            if reply is not NULL_ARRAY:
                return reply
            lasts = await _gather([hold.call(s, db, [[b"__xwatch"] + ks]) for s, ks in unique.items()])
            last_of: dict[bytes, bytes] = {}
            for (_, ks), ids_ in zip(unique.items(), lasts, strict=True):
                last_of.update(zip(ks, ids_, strict=True))
            for i, key in enumerate(keys):
                if ids[i] in (b"$", b"+"):
                    resolved[i] = last_of[key]
            return None
        finally:
            fr.release(hold)

    blocker = Blocker(
        keys=list(dict.fromkeys(keys)),
        argv=argv,
        timeout=r.block / 1000.0 if r.block else 0.0,
        step=step,
        try_cmd=b"__xtry",
        broadcast=True,
        shape=_shape,
        on_nokey=xreadgroup,
    )
    return fr.blocking.start_custom(conn, attempt, blocker)
