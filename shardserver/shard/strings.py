"""String commands, run by the shard that owns the key.

Ownership: shard-side handlers only; replies are values, errors are raised.
"""

from __future__ import annotations

from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.numbers import LLONG_MAX, LLONG_MIN, incr_by_float, parse_int
from shardserver.resp import OK
from shardserver.shard.keyspace import STRING_TYPES, Database, EmbStr, RawStr, frozen
from shardserver.shard.registry import ShardContext, command

try:
    from shardserver._speedups import lcs_table
except ImportError:  # built without the C helpers: py_lcs_table below
    lcs_table = None

_EXPIRE_UNITS = {b"ex": 1000, b"px": 1, b"exat": -1000, b"pxat": -1}


def get_string(db: Database, key: bytes) -> bytes | RawStr | None:
    """The string at ``key`` (the stored object: ``frozen`` it before it leaves), None or WRONGTYPE."""
    value = db.get(key)
    if value is None or type(value) in STRING_TYPES:
        return value
    raise CommandError(errors.WRONGTYPE)


def writable(db: Database, key: bytes, old: bytes | RawStr | None, size: int) -> RawStr:
    """The stored ``RawStr`` at ``key`` to edit in place, zero-padded to at least ``size`` bytes.

    ``old`` is what ``get_string`` returned.  A plain string is unshared to a
    ``RawStr`` first, as Valkey turns a value into a raw sds before any edit
    (even one that changes nothing); a missing key is created."""
    if type(old) is RawStr:
        buf = old
        db.touched(key)
    elif old is None:
        buf = RawStr(size)  # zeroed in one pass
        db.set(key, buf)
    else:
        buf = RawStr(old)
        db.replace(key, buf)
    if len(buf) < size:
        buf += bytes(size - len(buf))
    return buf


def expire_at_ms(ctx: ShardContext, unit: int, raw: bytes, command_name: str) -> int:
    """Absolute expiry (ms) from an EX/PX/EXAT/PXAT argument, with Valkey's checks."""
    amount = parse_int(raw)
    if amount <= 0:
        raise CommandError(errors.invalid_expire(command_name))
    scale = abs(unit)
    if amount > LLONG_MAX // scale:
        raise CommandError(errors.invalid_expire(command_name))
    ms = amount * scale
    if unit > 0:
        ms += ctx.keyspace.clock.ms
        if ms > LLONG_MAX:
            raise CommandError(errors.invalid_expire(command_name))
    return ms


def _store_with_expiry(ctx: ShardContext, key: bytes, value: bytes, when: int | None, keep_ttl: bool) -> None:
    db = ctx.db
    if when is not None and when <= ctx.keyspace.clock.ms:
        # An absolute time in the past: the key is written and expires at once.
        db.delete(key)
        ctx.rewrite = [[b"DEL", key]]
        return
    db.set(key, value, keep_ttl=keep_ttl)
    if when is not None:
        db.set_expire(key, when)
        ctx.rewrite = [[b"SET", key, value, b"PXAT", b"%d" % when]]
    else:
        ctx.rewrite = [[b"SET", key, value, b"KEEPTTL"] if keep_ttl else [b"SET", key, value]]


@command("get")
def cmd_get(ctx: ShardContext, argv: list[bytes]) -> Any:
    # get_string and Database.get inlined: this is the hottest handler
    db = ctx.db
    key = argv[1]
    value = db.data.get(key)
    if value is None:
        return None
    if db.expires:
        when = db.expires.get(key)
        if when is not None and when <= db.clock.ms:
            db.get(key)  # expires it and counts it, as any lookup does
            return None
    if db.clock.touch:
        db.atime[key] = db.clock.sec
    if type(value) is bytes:
        return value
    if type(value) in STRING_TYPES:
        return frozen(value)
    raise CommandError(errors.WRONGTYPE)


@command("set")
def cmd_set(ctx: ShardContext, argv: list[bytes]) -> Any:
    key, value = argv[1], argv[2]
    db = ctx.db
    n = len(argv)
    if n == 3:
        db.set(key, value)
        return OK
    nx = xx = get = keep_ttl = False
    ifeq: bytes | None = None
    unit = 0
    raw_expire = b""
    j = 3
    while j < n:
        opt = argv[j].lower()
        has_next = j + 1 < n
        if opt == b"nx" and not xx and ifeq is None:
            nx = True
        elif opt == b"xx" and not nx and ifeq is None:
            xx = True
        elif opt == b"ifeq" and has_next and not nx and not xx and ifeq is None:
            ifeq = argv[j + 1]
            j += 1
        elif opt == b"get":
            get = True
        elif opt == b"keepttl" and not unit:
            keep_ttl = True
        elif opt in _EXPIRE_UNITS and has_next and unit in (0, _EXPIRE_UNITS[opt]) and not keep_ttl:
            # Valkey accepts the same unit again (the last one wins), not another unit.
            unit = _EXPIRE_UNITS[opt]
            raw_expire = argv[j + 1]
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    when = expire_at_ms(ctx, unit, raw_expire, "set") if unit else None
    old = db.get(key)
    if old is not None and type(old) not in STRING_TYPES and (get or ifeq is not None):
        raise CommandError(errors.WRONGTYPE)
    if (nx and old is not None) or (xx and old is None) or (ifeq is not None and (old is None or old != ifeq)):
        ctx.rewrite = []
        return frozen(old) if get else None
    _store_with_expiry(ctx, key, value, when, keep_ttl)
    return frozen(old) if get else OK


@command("setnx")
def cmd_setnx(ctx: ShardContext, argv: list[bytes]) -> Any:
    if ctx.db.get(argv[1]) is not None:
        return ctx.changes(0)
    ctx.db.set(argv[1], argv[2])
    return 1


def _setex(ctx: ShardContext, argv: list[bytes], unit: int, name: str) -> Any:
    when = expire_at_ms(ctx, unit, argv[2], name)
    _store_with_expiry(ctx, argv[1], argv[3], when, False)
    return OK


@command("setex")
def cmd_setex(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _setex(ctx, argv, 1000, "setex")


@command("psetex")
def cmd_psetex(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _setex(ctx, argv, 1, "psetex")


@command("getex")
def cmd_getex(ctx: ShardContext, argv: list[bytes]) -> Any:
    key = argv[1]
    unit = 0
    raw = b""
    persist = False
    j, n = 2, len(argv)
    while j < n:
        opt = argv[j].lower()
        if opt == b"persist" and not unit:
            persist = True
        elif opt in _EXPIRE_UNITS and j + 1 < n and unit in (0, _EXPIRE_UNITS[opt]) and not persist:
            unit = _EXPIRE_UNITS[opt]
            raw = argv[j + 1]
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    when = expire_at_ms(ctx, unit, raw, "getex") if unit else None
    db = ctx.db
    value = get_string(db, key)
    ctx.rewrite = []
    if value is None:
        return None
    if when is not None:
        if when <= ctx.keyspace.clock.ms:
            db.delete(key)
            ctx.rewrite = [[b"DEL", key]]
        else:
            db.set_expire(key, when)
            ctx.rewrite = [[b"PEXPIREAT", key, b"%d" % when]]
    elif persist and db.persist(key):
        ctx.rewrite = [[b"PERSIST", key]]
    return frozen(value)


@command("getdel")
def cmd_getdel(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_string(ctx.db, argv[1])
    if value is not None:
        ctx.db.delete(argv[1])
    ctx.rewrite = [[b"DEL", argv[1]]] if value is not None else []
    return frozen(value)


@command("getset")
def cmd_getset(ctx: ShardContext, argv: list[bytes]) -> Any:
    old = get_string(ctx.db, argv[1])
    ctx.db.set(argv[1], argv[2])
    ctx.rewrite = [[b"SET", argv[1], argv[2]]]
    return frozen(old)


@command("mget")
def cmd_mget(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    out = []
    for key in argv[1:]:
        v = db.get(key)
        out.append(frozen(v) if type(v) in STRING_TYPES else None)
    return out


def _pairs(argv: list[bytes], name: str) -> range:
    """Indexes of the keys of a key/value list (MSET, MSETNX), after Valkey's arity check."""
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(name))
    return range(1, len(argv), 2)


@command("mset")
def cmd_mset(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    for i in _pairs(argv, "mset"):
        db.set(argv[i], argv[i + 1])
    return OK


@command("msetnx")
def cmd_msetnx(ctx: ShardContext, argv: list[bytes]) -> Any:
    keys = _pairs(argv, "msetnx")
    db = ctx.db
    if any(db.get(argv[i]) is not None for i in keys):
        return ctx.changes(0)
    for i in keys:
        db.set(argv[i], argv[i + 1])
    return 1


def _incr(ctx: ShardContext, key: bytes, delta: int) -> int:
    db = ctx.db
    old = get_string(db, key)
    if old is None:
        current = 0
    else:
        # int() is lenient (spaces, '+', '_', leading zeros); printing it back
        # and comparing keeps Valkey's strict rule at C speed.
        try:
            current = int(old)
        except ValueError:
            raise CommandError(errors.NOT_INTEGER) from None
        if b"%d" % current != old or current > LLONG_MAX or current < LLONG_MIN:
            raise CommandError(errors.NOT_INTEGER)
    new = current + delta
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    data = b"%d" % new
    if old is None:
        db.set(key, data)
    else:
        db.replace(key, data)
    return new


@command("incr")
def cmd_incr(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _incr(ctx, argv[1], 1)


@command("decr")
def cmd_decr(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _incr(ctx, argv[1], -1)


@command("incrby")
def cmd_incrby(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _incr(ctx, argv[1], parse_int(argv[2]))


@command("decrby")
def cmd_decrby(ctx: ShardContext, argv: list[bytes]) -> Any:
    delta = parse_int(argv[2])
    if delta == LLONG_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(ctx, argv[1], -delta)


@command("incrbyfloat")
def cmd_incrbyfloat(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    old = get_string(db, argv[1])
    new = EmbStr(incr_by_float(old, argv[2]))
    if old is None:
        db.set(argv[1], new)
    else:
        db.replace(argv[1], new)
    # the float arithmetic is not replayed: the result is (Valkey does the same)
    ctx.rewrite = [[b"SET", argv[1], bytes(new), b"KEEPTTL"]]
    return new


def _check_size(ctx: ShardContext, size: int) -> None:
    if size > ctx.proto_max_bulk_len:
        raise CommandError(errors.STRING_TOO_BIG)


@command("append")
def cmd_append(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    old = get_string(db, argv[1])
    if old is None:
        db.set(argv[1], argv[2])
        return len(argv[2])
    _check_size(ctx, len(old) + len(argv[2]))
    buf = writable(db, argv[1], old, 0)
    buf += argv[2]  # in place: amortised O(len(argv[2])), as Valkey's sdscatlen
    return len(buf)


@command("strlen")
def cmd_strlen(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_string(ctx.db, argv[1])
    return 0 if value is None else len(value)


@command("getrange", "substr")
def cmd_getrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = get_string(ctx.db, argv[1])
    if value is None:
        return b""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(value[start : end + 1])


@command("setrange")
def cmd_setrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    key, patch = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:  # before the key's type, as Valkey checks it
        raise CommandError(errors.OFFSET_RANGE)
    db = ctx.db
    old = get_string(db, key)
    if not patch:
        ctx.rewrite = []  # nothing changed
        return 0 if old is None else len(old)
    _check_size(ctx, offset + len(patch))
    buf = writable(db, key, old, offset)
    buf[offset : offset + len(patch)] = patch
    return len(buf)


@command("delifeq")
def cmd_delifeq(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_string(ctx.db, argv[1])
    if value is None or value != argv[2]:
        return ctx.changes(0)
    ctx.db.delete(argv[1])
    return 1


# ---- LCS ----------------------------------------------------------------


def lcs_reply(a: bytes, b: bytes, opts: list[bytes], ctx_limit: int = 512 * 1024 * 1024) -> Any:
    """LCS over two strings with Valkey's options and reply shapes."""
    get_len = get_idx = with_len = False
    min_len = 0
    j = 0
    while j < len(opts):
        opt = opts[j].lower()
        if opt == b"idx":
            get_idx = True
        elif opt == b"len":
            get_len = True
        elif opt == b"withmatchlen":
            with_len = True
        elif opt == b"minmatchlen" and j + 1 < len(opts):
            min_len = parse_int(opts[j + 1])
            min_len = max(min_len, 0)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if get_len and get_idx:
        raise CommandError(errors.LCS_LEN_IDX)
    n, m = len(a), len(b)
    if (n + 1) * (m + 1) * 4 > ctx_limit:
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    dp = _lcs_table(a, b)  # dp[i * (m + 1) + j] = LCS length of a[:i], b[:j]
    w = m + 1
    total = dp[n * w + m]
    if get_len:
        return total
    # Walk back from the end as Valkey does, emitting ranges from last to first.
    out = bytearray(total)
    idx = total
    i, jj = n, m
    matches: list[Any] = []
    a_start, a_end, b_start, b_end = n, 0, 0, 0
    while i > 0 and jj > 0:
        emit = False
        if a[i - 1] == b[jj - 1]:
            out[idx - 1] = a[i - 1]
            if a_start == n:
                a_start = a_end = i - 1
                b_start = b_end = jj - 1
            elif a_start == i and b_start == jj:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            jj -= 1
        else:
            if dp[(i - 1) * w + jj] > dp[i * w + jj - 1]:
                i -= 1
            else:
                jj -= 1
            if a_start != n:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if get_idx and (min_len == 0 or match_len >= min_len):
                item: list[Any] = [[a_start, a_end], [b_start, b_end]]
                if with_len:
                    item.append(match_len)
                matches.append(item)
            a_start = n
    if get_idx:
        return {b"matches": matches, b"len": total}
    return bytes(out)


def py_lcs_table(a: bytes, b: bytes) -> list[int]:
    """The twin of ``_speedups.lcs_table``: the LCS table, row by row."""
    n, m = len(a), len(b)
    w = m + 1
    dp = [0] * ((n + 1) * w)
    for i in range(1, n + 1):
        ai = a[i - 1]
        base, prev = i * w, (i - 1) * w
        for jj in range(1, w):
            if ai == b[jj - 1]:
                dp[base + jj] = dp[prev + jj - 1] + 1
            else:
                left, up = dp[base + jj - 1], dp[prev + jj]
                dp[base + jj] = left if left > up else up
    return dp


def _lcs_table(a: bytes, b: bytes) -> Any:
    if lcs_table is None:
        return py_lcs_table(a, b)
    return memoryview(lcs_table(a, b)).cast("I")


LCS_TYPES = "ERR The specified keys must contain string values"


def lcs_string(db: Database, key: bytes) -> bytes:
    value = db.get(key)
    if value is None:
        return b""
    if type(value) not in STRING_TYPES:
        raise CommandError(LCS_TYPES)
    return frozen(value)


@command("lcs")
def cmd_lcs(ctx: ShardContext, argv: list[bytes]) -> Any:
    a = lcs_string(ctx.db, argv[1])
    b = lcs_string(ctx.db, argv[2])
    return lcs_reply(a, b, argv[3:], ctx.proto_max_bulk_len)


@command("__lcs_with")
def cmd_lcs_with(ctx: ShardContext, argv: list[bytes]) -> Any:
    """LCS where the second string was fetched from another shard: argv = [name, key1, value2, opts...]."""
    return lcs_reply(lcs_string(ctx.db, argv[1]), argv[2], argv[3:], ctx.proto_max_bulk_len)
