"""Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD), run by the shard that owns the key.

Ownership: shard-side handlers only; the bit arithmetic is in ``bitops``.
Bitmaps are strings: a write leaves a ``RawStr`` (Valkey unshares the value
to a raw sds before editing it, even when no bit changes), reads accept any
string.  Options are compared as C strings (``strcasecmp``), so an argument
is read up to its first NUL, as Valkey does.
"""

from __future__ import annotations

from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.numbers import parse_int, strict_int
from shardserver.shard import bitops
from shardserver.shard.keyspace import STRING_TYPES, Database, RawStr
from shardserver.shard.registry import ShardContext, command, internal
from shardserver.shard.strings import get_string, writable

_M64 = 1 << 64


def cstr_lower(arg: bytes) -> bytes:
    """An argument as ``strcasecmp`` sees it: up to the first NUL, case-folded."""
    return arg.split(b"\0", 1)[0].lower()


def parse_bit_offset(ctx: ShardContext, raw: bytes, bits: int = 0) -> int:
    """A bit offset (``#n`` means n * bits for BITFIELD), below proto-max-bulk-len bytes."""
    use_hash = bits > 0 and raw[:1] == b"#"
    value = strict_int(raw[1:] if use_hash else raw)
    if value is None:
        raise CommandError(errors.BIT_OFFSET)
    if use_hash:
        value = (value * bits + (1 << 63)) % _M64 - (1 << 63)  # C's wrap-around
    if value < 0 or (value >> 3) >= ctx.proto_max_bulk_len:
        raise CommandError(errors.BIT_OFFSET)
    return value


@command("setbit")
def cmd_setbit(ctx: ShardContext, argv: list[bytes]) -> Any:
    offset = parse_bit_offset(ctx, argv[2])
    on = strict_int(argv[3])
    if on is None or on & ~1:
        raise CommandError(errors.BIT_VALUE)
    db = ctx.db
    key = argv[1]
    byte = offset >> 3
    shift = 7 - (offset & 7)
    old = get_string(db, key)
    grown = old is None or len(old) <= byte  # created or lengthened: a change even if the bit stays
    buf = writable(db, key, old, byte + 1)
    current = buf[byte] >> shift & 1
    if current != on:
        buf[byte] ^= 1 << shift
    elif not grown:
        ctx.rewrite = []  # as Valkey: a bit already so is no change, so nothing is logged
    return current


@command("getbit")
def cmd_getbit(ctx: ShardContext, argv: list[bytes]) -> Any:
    offset = parse_bit_offset(ctx, argv[2])
    value = get_string(ctx.db, argv[1])
    if value is None:
        return 0
    byte = offset >> 3
    if byte >= len(value):
        return 0
    return value[byte] >> (7 - (offset & 7)) & 1


def _unit(arg: bytes) -> bool:
    """BIT (True) or BYTE (False)."""
    unit = cstr_lower(arg)
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(errors.SYNTAX)


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    if end >= total:
        end = total - 1
    return start, end


@command("bitcount")
def cmd_bitcount(ctx: ShardContext, argv: list[bytes]) -> Any:
    n = len(argv)
    if n > 5:
        raise CommandError(errors.SYNTAX)
    is_bit = False
    start = end = 0
    if n >= 3:
        start = parse_int(argv[2])
        if n == 5:
            is_bit = _unit(argv[4])
        if n >= 4:
            end = parse_int(argv[3])
    value = get_string(ctx.db, argv[1])
    data = value or b""
    total = len(data)
    if n >= 3:
        if n < 4:
            end = total - 1
        if start < 0 and end < 0 and start > end:
            return 0
        if is_bit:
            total <<= 3
        start, end = _clamp(start, end, total)
    else:
        start, end = 0, total - 1
    if value is None or start > end:
        return 0
    if is_bit:
        return bitops.count_bits(data, start, end)
    return bitops.count_bits(data, start * 8, end * 8 + 7)


@command("bitpos")
def cmd_bitpos(ctx: ShardContext, argv: list[bytes]) -> Any:
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError(errors.BITPOS_BIT)
    n = len(argv)
    if n > 6:
        raise CommandError(errors.SYNTAX)
    is_bit = end_given = False
    start = end = 0
    if n >= 4:
        start = parse_int(argv[3])
        if n == 6:
            is_bit = _unit(argv[5])
        if n >= 5:
            end = parse_int(argv[4])
            end_given = True
    value = get_string(ctx.db, argv[1])
    data = value or b""
    total = len(data)
    if n >= 4:
        if n < 5:
            end = total - 1
        if is_bit:
            total <<= 3
        start, end = _clamp(start, end, total)
    else:
        start, end = 0, total - 1
    if value is None:
        # a missing key is an endless run of zeros
        return -1 if bit else 0
    if start > end:
        return -1
    first, last = (start, end) if is_bit else (start * 8, end * 8 + 7)
    pos = bitops.find_bit(data, bit, first, last)
    if pos >= 0:
        return pos
    if bit == 1 or end_given:
        return -1
    return last + 1  # no clear bit: the first one past the string, which is zero-padded


def bitop_op(argv: list[bytes]) -> bytes:
    """BITOP's operation after Valkey's checks (name, then NOT's single source)."""
    op = cstr_lower(argv[1])
    if op not in bitops.BITOPS:
        raise CommandError(errors.SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError(errors.BITOP_NOT_ONE_KEY)
    return op


def store_bitop(db: Database, dest: bytes, result: bytes) -> None:
    """BITOP's write: a new raw string without TTL, or the destination deleted for an empty result."""
    if result:
        db.set(dest, RawStr(result))
    else:
        db.delete(dest)


@command("bitop")
def cmd_bitop(ctx: ShardContext, argv: list[bytes]) -> Any:
    op = bitop_op(argv)
    db = ctx.db
    values = []
    for key in argv[3:]:
        value = db.get(key)
        if value is not None and type(value) not in STRING_TYPES:
            raise CommandError(errors.WRONGTYPE)
        values.append(value)
    result = bitops.bitop(op, values)
    store_bitop(db, argv[2], result)
    return len(result)


@internal("__getstrs")
def cmd_getstrs(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Cross-shard BITOP's read: [index of the first non-string key or -1, values (None when missing)]."""
    db = ctx.db
    values: list[Any] = []
    for i, key in enumerate(argv[1:]):
        value = db.get(key)
        if value is not None and type(value) not in STRING_TYPES:
            return [i, values]
        values.append(None if value is None else bytes(value))
    return [-1, values]


# ---- BITFIELD ----------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2
_OVERFLOW = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}


def _field_type(raw: bytes) -> tuple[bool, int]:
    """(signed, bits) of an ``i<bits>`` / ``u<bits>`` type: i1..i64, u1..u63 (read at its
    full length, as Valkey 9 does: a NUL inside makes it invalid)."""
    kind = raw[:1]
    if kind not in (b"i", b"u"):
        raise CommandError(errors.BITFIELD_TYPE)
    signed = kind == b"i"
    bits = strict_int(raw[1:])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(errors.BITFIELD_TYPE)
    return signed, bits


def _i64(v: int) -> int:
    """C's int64_t wrap-around."""
    return (v + (1 << 63)) % _M64 - (1 << 63)


def _fit(current: int, incr: int, signed: bool, bits: int, policy: int) -> tuple[int, bool]:
    """Valkey's overflow check of ``current + incr`` in the field: (value to store, overflowed).

    The signed check is done in 64-bit C arithmetic, whose wrap-around makes
    some SATs land on the other bound (``SET i1 0 -9223372036854775808`` with
    SAT stores 0): that is reproduced, not corrected.
    """
    if signed:
        hi = (1 << 63) - 1 if bits == 64 else (1 << (bits - 1)) - 1
        lo = -hi - 1
        max_incr = _i64(hi - current)
        min_incr = _i64(lo - current)
        if current > hi or (bits != 64 and incr > max_incr) or (current >= 0 and incr > 0 and incr > max_incr):
            over = 1
        elif current < lo or (bits != 64 and incr < min_incr) or (current < 0 and incr < 0 and incr < min_incr):
            over = -1
        else:
            return current + incr, False
        if policy == _SAT:
            return (hi if over > 0 else lo), True
        wrapped = (current + incr) % (1 << bits)
        if wrapped > hi:
            wrapped -= 1 << bits
        return wrapped, True
    # unsigned: a negative SET value is a huge unsigned 64-bit number, as in C
    current %= _M64
    hi = (1 << bits) - 1
    total = current + incr
    if current > hi or total > hi:
        over = 1
    elif total < 0:
        over = -1
    else:
        return total, False
    if policy == _SAT:
        return (hi if over > 0 else 0), True
    return total % (1 << bits), True


def _bitfield(ctx: ShardContext, argv: list[bytes], read_only: bool) -> Any:
    ops: list[tuple[int, bool, int, int, int, int]] = []  # (op, signed, bits, offset, value, overflow)
    overflow = _WRAP
    writes = False
    highest = 0
    j, n = 2, len(argv)
    while j < n:
        left = n - j - 1
        sub = cstr_lower(argv[j])
        if sub == b"get" and left >= 2:
            op = _GET
        elif sub == b"set" and left >= 3:
            op = _SET
        elif sub == b"incrby" and left >= 3:
            op = _INCRBY
        elif sub == b"overflow" and left >= 1:
            kind = _OVERFLOW.get(cstr_lower(argv[j + 1]))
            if kind is None:
                raise CommandError(errors.BITFIELD_OVERFLOW)
            overflow = kind
            j += 2
            continue
        else:
            raise CommandError(errors.SYNTAX)
        signed, bits = _field_type(argv[j + 1])
        offset = parse_bit_offset(ctx, argv[j + 2], bits)
        value = 0
        if op != _GET:
            writes = True
            highest = max(highest, offset + bits - 1)
            value = parse_int(argv[j + 3])
        ops.append((op, signed, bits, offset, value, overflow))
        j += 3 if op == _GET else 4
    db = ctx.db
    key = argv[1]
    if not writes:
        data = get_string(db, key) or b""
        ctx.rewrite = []  # GETs alone change nothing: not logged (Valkey does not propagate them)
        return [bitops.get_field(data, offset, bits, signed) for _, signed, bits, offset, _, _ in ops]
    if read_only:
        raise CommandError(errors.BITFIELD_RO_GET)
    old = get_string(db, key)
    grown = old is None or len(old) <= highest >> 3
    buf = writable(db, key, old, (highest >> 3) + 1)
    out: list[Any] = []
    changes = 0  # as Valkey: a write counts when the string grew or the field's value changed
    for op, signed, bits, offset, value, policy in ops:
        if op == _GET:
            out.append(bitops.get_field(buf, offset, bits, signed))
            continue
        current = bitops.get_field(buf, offset, bits, signed)
        if op == _INCRBY:
            new, overflowed = _fit(current, value, signed, bits, policy)
        else:
            new, overflowed = _fit(value, 0, signed, bits, policy)
        if overflowed and policy == _FAIL:
            out.append(None)
            continue
        bitops.set_field(buf, offset, bits, new)
        out.append(new if op == _INCRBY else current)
        if grown or new != current:
            changes += 1
    if not changes:
        ctx.rewrite = []  # nothing to log (a key this created stays out of the AOF, as Valkey's)
    return out


@command("bitfield")
def cmd_bitfield(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _bitfield(ctx, argv, read_only=False)


@command("bitfield_ro")
def cmd_bitfield_ro(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _bitfield(ctx, argv, read_only=True)
