"""BITOP, PFCOUNT and PFMERGE whose keys live on several shards.

Ownership: orchestration only; the bit and HLL arithmetic is the shards'
(``shard/bitops.py``, ``shard/hyperloglog.py``).  BITOP and PFMERGE read
then write, so they hold every shard involved for the whole operation, as
one Valkey command is atomic; the destination is written by the shard that
owns it with a logged write (``__restore`` of the result, or ``del``).
PFCOUNT over several keys only reads: the shards' registers are merged here.

Errors are Valkey's first error in argument order: each shard reports the
index of its first bad key and the front keeps the earliest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.front.handlers import _gather, _group, _raise_first_error, cross
from shardserver.resp import OK
from shardserver.shard import bitops
from shardserver.shard import hyperloglog as hll
from shardserver.shard.bitmap_cmds import bitop_op

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _earliest(first: tuple[int, str] | None, position: int, text: str) -> tuple[int, str]:
    return (position, text) if first is None or position < first[0] else first


@cross("bitop")
def bitop(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    op = bitop_op(argv)  # a bad operation is refused before any shard is held
    dest, sources = argv[2], argv[3:]
    groups = _group(fr, sources)
    target = fr.owner_of(dest)
    hold = fr.hold(list(groups) + [target])
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            reads = [(s, hold.call(s, db, [[b"__getstrs"] + [sources[i] for i in idx]])) for s, idx in groups.items()]
            values: list[bytes | None] = [None] * len(sources)
            wrong = False
            for s, future in reads:
                entry = (await future)[0]
                _raise_first_error([entry])
                bad, part = entry
                wrong = wrong or bad >= 0
                for i, value in zip(groups[s], part, strict=False):
                    values[i] = value
            if wrong:
                raise CommandError(errors.WRONGTYPE)
            result = bitops.bitop(op, values)
            if result:
                write = [b"__restore", dest, b"string", result, b"-1", b"1"]  # raw, no TTL, as Valkey's setKey
            else:
                write = [b"del", dest]
            await _gather([hold.call(target, db, [write])])
            return len(result)
        finally:
            fr.release(hold)

    return run()


def _merge_parts(groups: dict[int, list[int]], parts: list[tuple[int, Any]]) -> tuple[bytearray, bool]:
    """Max of the shards' ``__pfregs`` registers; raises the earliest key's error."""
    registers = bytearray(hll.REGISTERS)
    dense = False
    first: tuple[int, str] | None = None
    for shard, part in parts:
        _raise_first_error([part])
        regs, any_dense, bad, text = part
        if bad >= 0:
            first = _earliest(first, groups[shard][bad], text.decode())
        hll.raw_max(registers, regs)
        dense = dense or bool(any_dense)
    if first is not None:
        raise CommandError(first[1])
    return registers, dense


@cross("pfcount")
def pfcount(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys = argv[1:]
    groups = _group(fr, keys)
    shards = list(groups)

    def merge(parts: list[Any]) -> Any:
        registers, _ = _merge_parts(groups, list(zip(shards, parts, strict=True)))
        return hll.count_raw(registers)

    return fr.split(conn, [(s, [b"__pfregs"] + [keys[i] for i in groups[s]]) for s in shards], merge)


@cross("pfmerge")
def pfmerge(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys = argv[1:]  # the destination is a source too
    dest = argv[1]
    groups = _group(fr, keys)
    target = fr.owner_of(dest)
    hold = fr.hold(list(groups))
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            reads = [(s, hold.call(s, db, [[b"__pfregs"] + [keys[i] for i in idx]])) for s, idx in groups.items()]
            parts = [(s, (await future)[0]) for s, future in reads]
            registers, dense = _merge_parts(groups, parts)
            built = (await hold.call(target, db, [[b"__pfbuild", dest, bytes(registers), b"1" if dense else b"0"]]))[0]
            _raise_first_error([built])
            value, when = built
            await _gather([hold.call(target, db, [[b"__restore", dest, b"string", value, b"%d" % when, b"1"]])])
            return OK
        finally:
            fr.release(hold)

    return run()
