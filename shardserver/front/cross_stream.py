"""XREAD / XREADGROUP whose keys live on several shards, and the XGROUP/XINFO HELP replies.

Ownership: cross-shard orchestration only; the shards do the reading and the
PEL bookkeeping (``shardserver/shard/stream_cmds.py``).

- XREAD is a read: each shard checks and serves its keys in one step
  (``__xread``); the first failing key in the client's order decides the
  error, as in Valkey, otherwise the served streams are put back in order.
- XREADGROUP writes (group last IDs, PELs, consumers), and Valkey checks
  every key before serving any.  The front holds the shards involved, asks
  each for the first failing key (``__xread_check``) and only when none
  fails has each serve its keys (``__xreadgroup``); each shard's part is a
  logged write on that shard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver.errors import CommandError
from shardserver.front.handlers import _gather, _group, _raise_first_error, cross, front
from shardserver.shard.stream_cmds import (
    XGROUP_HELP,
    XINFO_HELP,
    help_reply,
    parse_read,
    read_reply,
)

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _pairs(keys: list[bytes], ids: list[bytes], idx: list[int]) -> list[bytes]:
    out: list[bytes] = []
    for i in idx:
        out.append(keys[i])
        out.append(ids[i])
    return out


def _first_error(groups: dict[int, list[int]], shards: list[int], checks: list[Any]) -> None:
    """Raise the error of the failing key that comes first in the client's order."""
    best: tuple[int, str] | None = None
    for shard, failed in zip(shards, checks, strict=True):
        if failed is None:
            continue
        index = groups[shard][failed[0]]
        text = failed[1].decode() if isinstance(failed[1], bytes) else failed[1]
        if best is None or index < best[0]:
            best = (index, text)
    if best is not None:
        raise CommandError(best[1])


def _merge(keys: list[bytes], groups: dict[int, list[int]], shards: list[int], parts: list[list[Any]], resp3: bool) -> Any:
    served: list[Any] = [None] * len(keys)
    for shard, part in zip(shards, parts, strict=True):
        for i, entries in zip(groups[shard], part, strict=True):
            served[i] = entries
    return read_reply([[keys[i], e] for i, e in enumerate(served) if e is not None], resp3)


@cross("xread")
def xread(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    r = parse_read(argv, False)
    a, n = r.streams_arg, r.nstreams
    keys, ids = argv[a : a + n], argv[a + n :]
    groups = _group(fr, keys)
    shards = list(groups)
    resp3 = conn.resp3

    def merge(values: list[Any]) -> Any:
        _first_error(groups, shards, [v if v[0] is not None else None for v in values])
        return _merge(keys, groups, shards, [v[1] for v in values], resp3)

    calls = [(s, [b"__xread", b"%d" % r.count] + _pairs(keys, ids, groups[s])) for s in shards]
    return fr.split(conn, calls, merge)


@cross("xreadgroup")
def xreadgroup(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    r = parse_read(argv, True)
    assert r.group is not None and r.consumer is not None
    a, n = r.streams_arg, r.nstreams
    keys, ids = argv[a : a + n], argv[a + n :]
    groups = _group(fr, keys)
    shards = list(groups)
    hold = fr.hold(shards)
    db = conn.db
    resp3 = conn.resp3
    group, consumer = r.group, r.consumer

    async def run() -> Any:
        try:
            await hold.ready
            checks = await _gather([hold.call(s, db, [[b"__xread_check", group] + _pairs(keys, ids, groups[s])]) for s in shards])
            _first_error(groups, shards, checks)
            head = [b"__xreadgroup", group, consumer, b"%d" % r.count, b"1" if r.noack else b"0"]
            # the reads' pending-list entries on every shard: one write across them (Front.tx_send)
            parts = [v[0] for v in await fr.tx_send([(s, db, [head + _pairs(keys, ids, groups[s])]) for s in shards])]
            _raise_first_error(parts)
            return _merge(keys, groups, shards, parts, resp3)
        finally:
            fr.release(hold)

    return run()


@front("xgroup|help")
def xgroup_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return help_reply(XGROUP_HELP)


@front("xinfo|help")
def xinfo_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return help_reply(XINFO_HELP)
