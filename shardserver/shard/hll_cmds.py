"""HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG), run by the shard that owns the keys.

Ownership: shard-side handlers only; the representation is ``hyperloglog``'s.
An HLL is a string: any command that touches one leaves a ``RawStr`` (Valkey
unshares the value before it may edit it in place), and a string that is not
a valid HLL is refused with Valkey's HLL-specific WRONGTYPE text.  Internal
``__pf*`` commands carry cross-shard PFCOUNT / PFMERGE (front/cross_bits.py).
"""

from __future__ import annotations

from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.resp import OK, Simple
from shardserver.shard import hyperloglog as hll
from shardserver.shard.bitmap_cmds import cstr_lower
from shardserver.shard.keyspace import STRING_TYPES, Database, RawStr
from shardserver.shard.registry import ShardContext, command, internal


def check_hll(value: Any) -> bytes:
    """``value`` if it is a valid HLL string; Valkey's errors otherwise."""
    if type(value) not in STRING_TYPES:
        raise CommandError(errors.WRONGTYPE)
    if not hll.is_hll(value):
        raise CommandError(errors.HLL_WRONGTYPE)
    return value  # type: ignore[no-any-return]


def _lookup(db: Database, key: bytes) -> bytes | None:
    value = db.get(key)
    return None if value is None else check_hll(value)


def _unshare(db: Database, key: bytes, value: bytes) -> None:
    if type(value) is not RawStr:
        db.replace(key, RawStr(value))


@command("pfadd")
def cmd_pfadd(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    key = argv[1]
    old = _lookup(db, key)
    new, updated, corrupt = hll.pfadd(hll.EMPTY if old is None else old, argv[2:], ctx.hll_sparse_max_bytes)
    if old is None:
        if not updated:  # a new key counts as a change: its cached cardinality is stale
            new = new[:15] + bytes([new[15] | 0x80]) + new[16:]
        db.set(key, RawStr(new))
        return 1
    if updated or corrupt:
        db.replace(key, RawStr(new))  # on corruption the changes made before it stay, as in Valkey
    else:
        _unshare(db, key, old)
    if corrupt:
        raise CommandError(errors.HLL_CORRUPT)
    return ctx.changes(1 if updated else 0)


def gather(db: Database, keys: list[bytes]) -> tuple[bytearray, bool, int, str]:
    """Max of the registers of ``keys`` (missing ones are empty): (registers, any dense, index of
    the first bad key or -1, its error text).  Stops at the first bad key, as Valkey does."""
    registers = bytearray(hll.REGISTERS)
    dense = False
    for i, key in enumerate(keys):
        value = db.get(key)
        if value is None:
            continue
        try:
            check_hll(value)
        except CommandError as exc:
            return registers, dense, i, exc.text
        if value[4] == hll.DENSE:
            dense = True
        if not hll.merge(registers, value):
            return registers, dense, i, errors.HLL_CORRUPT
    return registers, dense, -1, ""


def _gather_or_raise(db: Database, keys: list[bytes]) -> tuple[bytearray, bool]:
    registers, dense, bad, text = gather(db, keys)
    if bad >= 0:
        raise CommandError(text)
    return registers, dense


@command("pfcount")
def cmd_pfcount(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    if len(argv) > 2:
        registers, _ = _gather_or_raise(db, argv[1:])
        return hll.count_raw(registers)
    key = argv[1]
    value = _lookup(db, key)
    if value is None:
        return 0
    card = hll.cached_card(value)
    if card is not None:
        _unshare(db, key, value)
        return card
    card = hll.count(value)
    if card < 0:
        _unshare(db, key, value)
        raise CommandError(errors.HLL_CORRUPT)
    db.replace(key, RawStr(hll.with_card(value, card)))
    # The cached cardinality changed the value: Valkey propagates this PFCOUNT.  It is
    # a read command, which the shard's loop does not log: the handler logs it itself.
    ctx.keyspace.propagate(db.id, list(argv))
    return card


def merged_value(db: Database, dest: bytes, registers: bytes, dense: bool, sparse_max: int) -> bytes:
    """PFMERGE's new value for ``dest`` (validated by the caller) given the sources' registers."""
    old = db.get(dest)
    new = hll.store(None if old is None else bytes(old), bytes(registers), dense, sparse_max)
    if new is None:
        raise CommandError(errors.HLL_CORRUPT)
    return new  # type: ignore[no-any-return]


@command("pfmerge")
def cmd_pfmerge(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    registers, dense = _gather_or_raise(db, argv[1:])  # the destination is a source too
    dest = argv[1]
    existed = db.get(dest) is not None
    new = merged_value(db, dest, registers, dense, ctx.hll_sparse_max_bytes)
    if existed:
        db.replace(dest, RawStr(new))
    else:
        db.set(dest, RawStr(new))
    return OK


@internal("__pfregs")
def cmd_pfregs(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Cross-shard PFCOUNT/PFMERGE's read: [registers, any dense 0/1, index of the first bad key or -1, error]."""
    registers, dense, bad, text = gather(ctx.db, argv[1:])
    return [bytes(registers), int(dense), bad, text.encode()]


@internal("__pfbuild")
def cmd_pfbuild(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__pfbuild dest registers dense: [new value, pexpireat or -1] for cross-shard PFMERGE (writes nothing)."""
    dest = argv[1]
    new = merged_value(ctx.db, dest, argv[2], argv[3] == b"1", ctx.hll_sparse_max_bytes)
    when = ctx.db.ttl_ms(dest)
    return [new, -1 if when is None else when]


@command("pfselftest")
def cmd_pfselftest(ctx: ShardContext, argv: list[bytes]) -> Any:
    failed = hll.selftest()
    if failed is not None:
        raise CommandError(failed)
    return OK


@command("pfdebug")
def cmd_pfdebug(ctx: ShardContext, argv: list[bytes]) -> Any:
    sub = cstr_lower(argv[1])
    if sub == b"simd":
        if cstr_lower(argv[2]) not in (b"on", b"off"):
            raise CommandError("ERR Argument must be ON or OFF")
        return Simple("disabled")  # there is no SIMD code path here
    db = ctx.db
    key = argv[2]
    value = db.get(key)
    if value is None:
        raise CommandError(errors.PFDEBUG_NO_KEY)
    check_hll(value)
    value = bytes(value)
    if sub == b"getreg":
        if value[4] == hll.SPARSE:
            dense = hll.to_dense(value)
            if dense is None:
                _unshare(db, key, value)
                raise CommandError(errors.HLL_CORRUPT)
            value = dense
        db.replace(key, RawStr(value))
        return list(hll.registers(value))
    db.replace(key, RawStr(value))
    if sub == b"decode":
        if value[4] != hll.SPARSE:
            raise CommandError(errors.PFDEBUG_NOT_SPARSE)
        return hll.decode(value)
    if sub == b"encoding":
        return Simple("sparse" if value[4] == hll.SPARSE else "dense")
    if sub == b"todense":
        if value[4] == hll.DENSE:
            return 0
        dense = hll.to_dense(value)
        if dense is None:
            raise CommandError(errors.HLL_CORRUPT)
        db.replace(key, RawStr(dense))
        return 1
    raise CommandError(errors.pfdebug_unknown(argv[1]))
