"""Hash commands (Valkey 9, field expiration included), run by the shard that owns the key.

Ownership: shard-side handlers only; the data structure is
``shardserver.shard.types.hash``.  Replies are values, errors are raised.

AOF (see registry.py): relative field TTLs are logged as HPEXPIREAT / HSETEX
PXAT; a TTL in the past is logged as the HDEL it caused; HINCRBYFLOAT (and
HINCRBY / HSETNX on a hash with volatile fields, as Valkey) as the HSET or
HSETEX PXAT of the result; HGETEX as the HDEL / HPEXPIREAT / HPERSIST it did;
a command that changed nothing is not logged.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.glob import compile_glob
from shardserver.numbers import (
    _LD_OVERFLOW,
    LLONG_MAX,
    LLONG_MIN,
    _round_ld,
    format_long_double,
    parse_int,
    parse_long_double,
    parse_scan_cursor,
    strict_int,
)
from shardserver.resp import OK
from shardserver.shard.keyspace import Database
from shardserver.shard.registry import CONFIG_HOOKS, ShardContext, command
from shardserver.shard.types.hash import LIMITS, Hash

_NO_FLAGS: frozenset[str] = frozenset()
_UNITS = {b"ex": 1000, b"px": 1, b"exat": -1000, b"pxat": -1}


def get_hash(db: Database, key: bytes) -> Hash | None:
    value = db.get(key)
    if value is None or type(value) is Hash:
        return value
    raise CommandError(errors.WRONGTYPE)


def _now(ctx: ShardContext) -> int:
    return ctx.keyspace.clock.ms


def _ms(ctx: ShardContext, raw: bytes, unit: int, name: str) -> int:
    """Valkey's convertExpireArgumentToUnixTime: ``unit`` is the scale, negative for absolute."""
    amount = parse_int(raw)
    if amount < 0:
        raise CommandError(errors.invalid_expire(name))
    scale = abs(unit)
    if amount > LLONG_MAX // scale:
        raise CommandError(errors.invalid_expire(name))
    when = amount * scale
    if unit > 0:
        now = _now(ctx)
        if when > LLONG_MAX - now:
            raise CommandError(errors.invalid_expire(name))
        when += now
    return when


def _drop_if_empty(db: Database, key: bytes, h: Hash) -> None:
    if len(h) == 0:
        db.delete(key)


# ---- plain hash commands ----------------------------------------------------


def _hset_pairs(ctx: ShardContext, argv: list[bytes], name: str) -> int:
    if len(argv) % 2:
        raise CommandError(errors.wrong_arity(name))
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    new = h is None
    if h is None:
        small = Hash.small_from(argv[2:])
        if small is not None:  # a new small hash (most HSETs that create a key): no per-field steps
            db.set(key, small)
            return len(small.d)
        h = Hash()
    h.prepare((len(argv) - 2) // 2, argv[2:])
    now = _now(ctx)
    created = expired = 0
    for i in range(2, len(argv), 2):
        c, e = h.set(argv[i], argv[i + 1], now)
        created += c
        expired += e
    ctx.keyspace.expired_fields += expired
    if new:
        db.set(key, h)
    return created


@command("hset")
def cmd_hset(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _hset_pairs(ctx, argv, "hset")


@command("hmset")
def cmd_hmset(ctx: ShardContext, argv: list[bytes]) -> Any:
    _hset_pairs(ctx, argv, "hmset")
    return OK


@command("hsetnx")
def cmd_hsetnx(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    key, field, value = argv[1], argv[2], argv[3]
    h = get_hash(db, key)
    now = _now(ctx)
    if h is not None and h.get(field, now) is not None:
        ctx.rewrite = []
        return 0
    new = h is None
    if h is None:
        h = Hash()
    volatile = bool(h.ttl)
    h.prepare(1, [field, value])
    ctx.keyspace.expired_fields += h.set(field, value, now)[1]
    if new:
        db.set(key, h)
    if volatile:  # the field may still exist (expired) when the log is replayed
        ctx.rewrite = [[b"HSET", key, field, value]]
    return 1


@command("hget")
def cmd_hget(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return None if h is None else h.get(argv[2], _now(ctx))


@command("hmget")
def cmd_hmget(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    now = _now(ctx)
    return [h.get(f, now) for f in argv[2:]]


@command("hgetall")
def cmd_hgetall(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return {} if h is None else dict(h.items(_now(ctx)))


@command("hkeys")
def cmd_hkeys(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return [] if h is None else [f for f, _ in h.items(_now(ctx))]


@command("hvals")
def cmd_hvals(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return [] if h is None else [v for _, v in h.items(_now(ctx))]


@command("hdel")
def cmd_hdel(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    if h is None:
        return ctx.changes(0)
    now = _now(ctx)
    deleted = 0
    for f in argv[2:]:
        if h.delete(f, now):
            deleted += 1
            if len(h) == 0:
                db.delete(key)
                break
    if not deleted:
        ctx.rewrite = []
    return deleted


@command("hlen")
def cmd_hlen(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen")
def cmd_hstrlen(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    if h is None:
        return 0
    value = h.get(argv[2], _now(ctx))
    return 0 if value is None else len(value)


@command("hexists")
def cmd_hexists(ctx: ShardContext, argv: list[bytes]) -> Any:
    h = get_hash(ctx.db, argv[1])
    return 0 if h is None or h.get(argv[2], _now(ctx)) is None else 1


def _store_result(ctx: ShardContext, key: bytes, field: bytes, h: Hash, new: bool, result: bytes, always_rewrite: bool) -> None:
    """Write an increment's result keeping the field's TTL; log it as HSET / HSETEX PXAT when asked."""
    now = _now(ctx)
    when = h.expiry(field, now)
    keep = when if when is not None and when >= 0 else None
    volatile = bool(h.ttl)
    ctx.keyspace.expired_fields += h.set(field, result, now, keep)[1]
    if new:
        ctx.db.set(key, h)
    if always_rewrite or volatile:
        if keep is None:
            ctx.rewrite = [[b"HSET", key, field, result]]
        else:
            ctx.rewrite = [[b"HSETEX", key, b"PXAT", b"%d" % keep, b"FIELDS", b"1", field, result]]


@command("hincrby")
def cmd_hincrby(ctx: ShardContext, argv: list[bytes]) -> Any:
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h = get_hash(ctx.db, key)
    new = h is None
    if h is None:
        h = Hash()
    raw = h.get(field, _now(ctx))
    if raw is None:
        current = 0
    else:
        parsed = strict_int(raw)
        if parsed is None:
            raise CommandError(errors.HASH_NOT_INTEGER)
        current = parsed
    result = current + incr
    if result > LLONG_MAX or result < LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    _store_result(ctx, key, field, h, new, b"%d" % result, False)
    return result


@command("hincrbyfloat")
def cmd_hincrbyfloat(ctx: ShardContext, argv: list[bytes]) -> Any:
    incr = parse_long_double(argv[3])
    if isinstance(incr, float):
        raise CommandError(errors.HASH_FLOAT_NAN_INF)
    key, field = argv[1], argv[2]
    h = get_hash(ctx.db, key)
    new = h is None
    if h is None:
        h = Hash()
    raw = h.get(field, _now(ctx))
    base: Fraction | float = Fraction(0)
    if raw is not None:
        try:
            base = parse_long_double(raw)
        except CommandError:
            raise CommandError(errors.HASH_NOT_FLOAT) from None
    if isinstance(base, float):
        raise CommandError(errors.NAN_OR_INF)  # an "inf" stored value plus anything finite
    value = _round_ld(base + incr)
    if abs(value) >= _LD_OVERFLOW:
        raise CommandError(errors.NAN_OR_INF)
    result = format_long_double(value)
    _store_result(ctx, key, field, h, new, result, True)
    return result


# ---- HRANDFIELD -------------------------------------------------------------


@command("hrandfield")
def cmd_hrandfield(ctx: ShardContext, argv: list[bytes]) -> Any:
    import random

    if len(argv) >= 3:
        count = parse_int(argv[2])
        if count < -LLONG_MAX:
            raise CommandError(errors.HRANDFIELD_RANGE)
        withvalues = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
            raise CommandError(errors.SYNTAX)
        if len(argv) == 4:
            withvalues = True
            if count < -(LLONG_MAX // 2) or count > LLONG_MAX // 2:
                raise CommandError(errors.VALUE_OUT_OF_RANGE)
        h = get_hash(ctx.db, argv[1])
        if h is None or count == 0:
            return []
        now = _now(ctx)
        picks: list[bytes]
        if count < 0 or count == 1:
            n = -count if count < 0 else 1
            if h.buckets is None:
                fields = list(h.d)
                picks = [random.choice(fields) for _ in range(n)]
            else:
                picks = []
                for _ in range(n):
                    f = h.random_field(now)
                    if f is None:
                        break
                    picks.append(f)
        elif count >= len(h):
            picks = [f for f, _ in h.items(now)]
        elif h.buckets is None or count * 3 > len(h):
            live = [f for f, _ in h.items(now)]
            if count >= len(live):
                picks = live
            else:
                chosen = set(random.sample(range(len(live)), count))
                picks = [f for i, f in enumerate(live) if i in chosen]  # listpack order, as Valkey
        else:
            seen: set[bytes] = set()
            picks = []
            tries = count * 10
            while len(picks) < count and tries > 0:
                tries -= 1
                f = h.random_field(now)
                if f is None:
                    break
                if f not in seen:
                    seen.add(f)
                    picks.append(f)
        if not withvalues:
            return picks
        d = h.d
        if ctx.resp3:
            return [[f, d[f]] for f in picks]
        flat: list[bytes] = []
        for f in picks:
            flat.append(f)
            flat.append(d[f])
        return flat
    h = get_hash(ctx.db, argv[1])
    if h is None:
        return None
    return h.random_field(_now(ctx))


# ---- HSCAN --------------------------------------------------------------------


@command("hscan")
def cmd_hscan(ctx: ShardContext, argv: list[bytes]) -> Any:
    cursor = parse_scan_cursor(argv[2])
    if cursor is None:
        raise CommandError(errors.INVALID_CURSOR)
    h = get_hash(ctx.db, argv[1])
    if h is None:
        return [b"0", []]
    count = 10
    match: bytes | None = None
    novalues = False
    j, n = 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j
        if opt == b"count" and left >= 2:
            count = parse_int(argv[j + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
            j += 2
        elif opt == b"match" and left >= 2:
            match = argv[j + 1]
            j += 2
        elif opt == b"novalues":
            novalues = True
            j += 1
        elif opt == b"noscores":
            raise CommandError(errors.NOSCORES_ZSCAN)
        else:
            raise CommandError(errors.SYNTAX)
    now = _now(ctx)
    nxt, fields = h.scan(cursor, count, now)
    if match is not None and match != b"*":
        matcher = compile_glob(match)
        fields = [f for f in fields if matcher(f)]
    out: list[bytes] = []
    d = h.d
    for f in fields:
        out.append(f)
        if not novalues:
            out.append(d[f])
    return [b"%d" % nxt, out]


# ---- field expiration -----------------------------------------------------------


def _expire_flags(opts: list[bytes]) -> frozenset[str]:
    flags: set[str] = set()
    for opt in opts:
        o = opt.lower()
        if o in (b"nx", b"xx", b"gt", b"lt"):
            flags.add(o.decode())
        else:
            raise CommandError(f"ERR Unsupported option {opt.decode('utf-8', 'surrogateescape')}")
    if "nx" in flags and len(flags) > 1:
        raise CommandError(errors.EXPIRE_OPTIONS)
    if "gt" in flags and "lt" in flags:
        raise CommandError(errors.EXPIRE_GT_LT)
    return frozenset(flags)


def _hexpire(ctx: ShardContext, argv: list[bytes], unit: int, name: str) -> Any:
    n = len(argv)
    fields_at = 3
    num = 0
    flags: frozenset[str] = frozenset()
    while fields_at < n - 1:
        if argv[fields_at].lower() == b"fields":
            flags = _expire_flags(argv[3:fields_at])
            num = parse_int(argv[fields_at + 1])
            fields_at += 2
            break
        fields_at += 1
    if not num or num != n - fields_at:
        raise CommandError(errors.NUMFIELDS)
    when = _ms(ctx, argv[2], unit, name)
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    fields = argv[fields_at:]
    if h is None:
        ctx.rewrite = []
        return [-2] * num
    now = _now(ctx)
    codes = []
    for f in fields:
        codes.append(h.set_expire(f, when, flags, now))
    deleted = [f for f, c in zip(fields, codes, strict=True) if c == 2]
    ctx.keyspace.expired_fields += len(deleted)
    if deleted:
        ctx.rewrite = [[b"HDEL", key, *deleted]]
    elif 1 in codes:
        ctx.rewrite = [[b"HPEXPIREAT", key, b"%d" % when, *argv[3:]]]
        h.track(db, key)
    else:
        ctx.rewrite = []
    _drop_if_empty(db, key, h)
    return codes


@command("hexpire")
def cmd_hexpire(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _hexpire(ctx, argv, 1000, "hexpire")


@command("hpexpire")
def cmd_hpexpire(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _hexpire(ctx, argv, 1, "hpexpire")


@command("hexpireat")
def cmd_hexpireat(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _hexpire(ctx, argv, -1000, "hexpireat")


@command("hpexpireat")
def cmd_hpexpireat(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _hexpire(ctx, argv, -1, "hpexpireat")


def _fields_arg(argv: list[bytes], mismatch: str) -> list[bytes]:
    """``FIELDS numfields field ...`` at argv[2] (HTTL family, HPERSIST)."""
    if argv[2].lower() != b"fields":
        raise CommandError(errors.SYNTAX)
    num = parse_int(argv[3])
    if not num or num != len(argv) - 4:
        raise CommandError(mismatch)
    return argv[4:]


def _httl(ctx: ShardContext, argv: list[bytes], relative: bool, seconds: bool) -> Any:
    fields = _fields_arg(argv, errors.SYNTAX)
    h = get_hash(ctx.db, argv[1])
    if h is None:
        return [-2] * len(fields)
    now = _now(ctx)
    out = []
    for f in fields:
        when = h.expiry(f, now)
        if when is None:
            out.append(-2)
        elif when == -1:
            out.append(-1)
        else:
            left = max(when - now, 0) if relative else when
            out.append((left + 500) // 1000 if seconds else left)
    return out


@command("httl")
def cmd_httl(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _httl(ctx, argv, True, True)


@command("hpttl")
def cmd_hpttl(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _httl(ctx, argv, True, False)


@command("hexpiretime")
def cmd_hexpiretime(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _httl(ctx, argv, False, True)


@command("hpexpiretime")
def cmd_hpexpiretime(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _httl(ctx, argv, False, False)


@command("hpersist")
def cmd_hpersist(ctx: ShardContext, argv: list[bytes]) -> Any:
    fields = _fields_arg(argv, errors.NUMFIELDS)
    h = get_hash(ctx.db, argv[1])
    if h is None:
        ctx.rewrite = []
        return [-2] * len(fields)
    now = _now(ctx)
    codes = [h.persist(f, now) for f in fields]
    if 1 not in codes:
        ctx.rewrite = []
    return codes


@command("hgetdel")
def cmd_hgetdel(ctx: ShardContext, argv: list[bytes]) -> Any:
    fields = _fields_arg(argv, errors.NUMFIELDS)
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    ctx.rewrite = []
    if h is None:
        return [None] * len(fields)
    now = _now(ctx)
    out = []
    deleted: list[bytes] = []
    for f in fields:
        value = h.get(f, now)
        out.append(value)
        if value is not None:
            h.delete(f, now)
            deleted.append(f)
    if deleted:
        ctx.rewrite = [[b"HDEL", key, *deleted]]
        _drop_if_empty(db, key, h)
    return out


# ---- HGETEX / HSETEX ------------------------------------------------------------


class _ExtArgs:
    __slots__ = ("nx", "xx", "fnx", "fxx", "keepttl", "persist", "unit", "raw", "fields_at", "num")

    def __init__(self) -> None:
        self.nx = self.xx = self.fnx = self.fxx = self.keepttl = self.persist = False
        self.unit = 0
        self.raw = b""
        self.fields_at = 0
        self.num = 0


def _parse_ext(argv: list[bytes], hset: bool) -> _ExtArgs:
    """Options before ``FIELDS numfields`` (Valkey looks for FIELDS from argv[0] on)."""
    a = _ExtArgs()
    n = len(argv)
    at = 0
    while at < n - 1:
        if argv[at].lower() == b"fields":
            j = 2
            while j < at:
                opt = argv[j].lower()
                has_next = j + 1 < at
                if hset and opt == b"nx" and not a.xx:
                    a.nx = True
                elif hset and opt == b"xx" and not a.nx:
                    a.xx = True
                elif hset and opt == b"fnx" and not a.fxx:
                    a.fnx = True
                elif hset and opt == b"fxx" and not a.fnx:
                    a.fxx = True
                elif hset and opt == b"keepttl" and not a.unit:
                    a.keepttl = True
                elif not hset and opt == b"persist" and not a.unit:
                    a.persist = True
                elif opt in _UNITS and has_next and a.unit in (0, _UNITS[opt]) and not a.keepttl and not a.persist:
                    a.unit = _UNITS[opt]
                    a.raw = argv[j + 1]
                    j += 1
                else:
                    raise CommandError(errors.SYNTAX)
                j += 1
            a.num = parse_int(argv[at + 1])
            a.fields_at = at + 2
            break
        at += 1
    if a.fields_at == 0:
        a.fields_at = n
    return a


@command("hgetex")
def cmd_hgetex(ctx: ShardContext, argv: list[bytes]) -> Any:
    a = _parse_ext(argv, False)
    num = a.num
    if not num or num != len(argv) - a.fields_at:
        raise CommandError(errors.NUMFIELDS)
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    when = _ms(ctx, a.raw, a.unit, "hgetex") if a.unit else None
    fields = argv[a.fields_at :]
    ctx.rewrite = []
    if h is None:
        return [None] * num
    now = _now(ctx)
    out = []
    changed: list[bytes] = []
    for f in fields:
        out.append(h.get(f, now))
        if when is not None and when <= now:
            if h.delete(f, now):
                changed.append(f)
        elif when is not None:
            if h.set_expire(f, when, _NO_FLAGS, now) == 1:
                changed.append(f)
        elif a.persist:
            if h.persist(f, now) == 1:
                changed.append(f)
    if changed:
        if when is not None and when <= now:
            ctx.keyspace.expired_fields += len(changed)
            ctx.rewrite = [[b"HDEL", key, *changed]]
        elif when is not None:
            ctx.rewrite = [[b"HPEXPIREAT", key, b"%d" % when, b"FIELDS", b"%d" % len(changed), *changed]]
            h.track(db, key)
        else:
            ctx.rewrite = [[b"HPERSIST", key, b"FIELDS", b"%d" % len(changed), *changed]]
        _drop_if_empty(db, key, h)
    return out


@command("hsetex")
def cmd_hsetex(ctx: ShardContext, argv: list[bytes]) -> Any:
    a = _parse_ext(argv, True)
    num = a.num
    if not num or num > LLONG_MAX // 2 or num * 2 != len(argv) - a.fields_at:
        raise CommandError(errors.NUMFIELDS)
    db = ctx.db
    key = argv[1]
    h = get_hash(db, key)
    ctx.rewrite = []
    if (a.nx and h is not None) or (a.xx and h is None):
        return 0
    when = _ms(ctx, a.raw, a.unit, "hsetex") if a.unit else None
    now = _now(ctx)
    pairs = [(argv[i], argv[i + 1]) for i in range(a.fields_at, len(argv), 2)]
    if a.fnx or a.fxx:
        if h is not None:
            for f, _ in pairs:
                exists = h.get(f, now) is not None
                if (a.fnx and exists) or (a.fxx and not exists):
                    return 0
        elif a.fxx:
            return 0
    new = h is None
    if h is None:
        h = Hash()
    if when is not None and when <= now:
        deleted = [f for f, _ in pairs if h.delete(f, now, even_expired=True)]
        ctx.keyspace.expired_fields += len(pairs)  # as Valkey: every field named counts
        if deleted:
            ctx.rewrite = [[b"HDEL", key, *deleted]]
        if not new:
            _drop_if_empty(db, key, h)
        return 1
    overwritten: list[bytes] = []
    for f, v in pairs:
        _, was_expired = h.set(f, v, now, when, a.keepttl)
        ctx.keyspace.expired_fields += was_expired
        if was_expired and a.keepttl:
            overwritten.append(f)
    if new:
        db.set(key, h)
    elif when is not None:
        h.track(db, key)
    logged: list[list[bytes]] = []
    if overwritten:
        logged.append([b"HDEL", key, *overwritten])
    if a.fnx or a.fxx or a.unit in (1000, 1, -1000):
        # FNX/FXX checks already passed; a relative or seconds time becomes PXAT
        cmd = [argv[0], key]
        j = 2
        while j < a.fields_at - 2:
            opt = argv[j].lower()
            if opt in _UNITS:
                j += 1
            elif opt not in (b"fnx", b"fxx"):
                cmd.append(argv[j])
            j += 1
        if when is not None:
            cmd += [b"PXAT", b"%d" % when]
        cmd += argv[a.fields_at - 2 :]
        logged.append(cmd)
    else:
        logged.append(list(argv))
    ctx.rewrite = logged
    return 1


# ---- configuration -----------------------------------------------------------------


def _set_limit(which: str) -> Any:
    def apply(value: bytes) -> None:
        LIMITS[which] = int(value)

    return apply


CONFIG_HOOKS["hash-max-listpack-entries"] = _set_limit("entries")
CONFIG_HOOKS["hash-max-listpack-value"] = _set_limit("value")
