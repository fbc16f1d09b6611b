"""Keyspace commands, run by the shard that owns the key (or by every shard).

Ownership: shard-side handlers only.  Commands the front sends to every shard
(KEYS, DBSIZE, FLUSHDB, ...) answer for this shard's part; the front merges.
Internal ``__*`` commands carry cross-shard operations (RENAME, COPY, MSETNX,
LCS) and statistics; clients cannot call them.
"""

from __future__ import annotations

import os
import random
import resource
from typing import Any

import msgpack

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.glob import compile_glob
from shardserver.numbers import LLONG_MAX, parse_c_int, parse_int, parse_scan_cursor, strict_int
from shardserver.resp import OK, Simple
from shardserver.shard.keyspace import (
    STRING_TYPES,
    Database,
    RawStr,
    string_flags,
    string_from,
    type_name,
)
from shardserver.shard.registry import CONFIG_HOOKS, ShardContext, command, internal
from shardserver.shard.types import VALUE_TYPES, dump_value, load_value
from shardserver.shard.types.build import c_loaders
from shardserver.slots import NSLOTS


def _count(ctx: ShardContext, argv: list[bytes], fn: Any) -> int:
    return sum(1 for key in argv[1:] if fn(key))


@command("del", "unlink")
def cmd_del(ctx: ShardContext, argv: list[bytes]) -> Any:
    return ctx.changes(_count(ctx, argv, ctx.db.delete_live))


@command("exists", "touch")
def cmd_exists(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _count(ctx, argv, ctx.db.exists)


@command("type")
def cmd_type(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = ctx.db.get(argv[1])
    return Simple("none" if value is None else type_name(value))


# ---- expiry -------------------------------------------------------------


def _expire(ctx: ShardContext, argv: list[bytes], scale: int, absolute: bool, name: str) -> int:
    nx = xx = gt = lt = False
    for opt in argv[3:]:
        o = opt.lower()
        if o == b"nx":
            nx = True
        elif o == b"xx":
            xx = True
        elif o == b"gt":
            gt = True
        elif o == b"lt":
            lt = True
        else:
            raise CommandError(f"ERR Unsupported option {opt.decode('utf-8', 'surrogateescape')}")
    if nx and (xx or gt or lt):
        raise CommandError(errors.EXPIRE_OPTIONS)
    if gt and lt:
        raise CommandError(errors.EXPIRE_GT_LT)
    amount = parse_int(argv[2])
    now = ctx.keyspace.clock.ms
    # Valkey only rejects what would overflow: LLONG_MIN / 1000 truncates toward
    # zero in C, and milliseconds are never scaled (PEXPIRE accepts LLONG_MIN).
    if amount > LLONG_MAX // scale or amount < -((LLONG_MAX + 1) // scale):
        raise CommandError(errors.invalid_expire(name))
    when = amount * scale
    if not absolute:
        if when > LLONG_MAX - now:
            raise CommandError(errors.invalid_expire(name))
        when += now
    db = ctx.db
    key = argv[1]
    ctx.rewrite = []  # nothing changed unless set below
    if db.get(key) is None:
        return 0
    current = db.ttl_ms(key)
    if nx and current is not None:
        return 0
    if xx and current is None:
        return 0
    if gt and (current is None or when <= current):
        return 0
    if lt and current is not None and when >= current:
        return 0
    if when <= now:
        db.delete(key)
        ctx.rewrite = [[b"DEL", key]]
        return 1
    db.set_expire(key, when)
    ctx.rewrite = [[b"PEXPIREAT", key, b"%d" % when]]
    return 1


@command("expire")
def cmd_expire(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _expire(ctx, argv, 1000, False, "expire")


@command("pexpire")
def cmd_pexpire(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _expire(ctx, argv, 1, False, "pexpire")


@command("expireat")
def cmd_expireat(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _expire(ctx, argv, 1000, True, "expireat")


@command("pexpireat")
def cmd_pexpireat(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _expire(ctx, argv, 1, True, "pexpireat")


def _ttl(ctx: ShardContext, key: bytes) -> int | None:
    """Remaining ms; -2 missing, -1 persistent (returned as negatives)."""
    if ctx.db.get(key) is None:
        return -2
    when = ctx.db.ttl_ms(key)
    if when is None:
        return -1
    return max(when - ctx.keyspace.clock.ms, 0)


@command("ttl")
def cmd_ttl(ctx: ShardContext, argv: list[bytes]) -> Any:
    ms = _ttl(ctx, argv[1])
    assert ms is not None
    return ms if ms < 0 else (ms + 500) // 1000


@command("pttl")
def cmd_pttl(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _ttl(ctx, argv[1])


@command("expiretime")
def cmd_expiretime(ctx: ShardContext, argv: list[bytes]) -> Any:
    if ctx.db.get(argv[1]) is None:
        return -2
    when = ctx.db.ttl_ms(argv[1])
    return -1 if when is None else (when + 500) // 1000


@command("pexpiretime")
def cmd_pexpiretime(ctx: ShardContext, argv: list[bytes]) -> Any:
    if ctx.db.get(argv[1]) is None:
        return -2
    when = ctx.db.ttl_ms(argv[1])
    return -1 if when is None else when


@command("persist")
def cmd_persist(ctx: ShardContext, argv: list[bytes]) -> Any:
    return ctx.changes(1 if ctx.db.get(argv[1]) is not None and ctx.db.persist(argv[1]) else 0)


# ---- rename / copy / move within one shard ------------------------------


def copy_value(value: Any) -> Any:
    if type(value) is RawStr:
        return RawStr(value)  # mutable: the copy must not share later edits
    if isinstance(value, bytes):
        return value  # immutable
    return value.copy()


@command("rename")
def cmd_rename(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _rename(ctx, argv[1], argv[2], nx=False)


@command("renamenx")
def cmd_renamenx(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _rename(ctx, argv[1], argv[2], nx=True)


def _rename(ctx: ShardContext, src: bytes, dst: bytes, nx: bool) -> Any:
    db = ctx.db
    value = db.get(src)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst or (nx and db.get(dst) is not None):
        ctx.rewrite = []  # nothing changed
        return 0 if nx else OK
    when = db.ttl_ms(src)
    db.delete(dst)
    db.delete(src)
    db.set(dst, value)
    if when is not None:
        db.set_expire(dst, when)
    return 1 if nx else OK


def parse_copy_args(argv: list[bytes], current_db: int, databases: int) -> tuple[int, bool]:
    """COPY's options: (destination db, replace); the front uses it for COPY across shards."""
    dest = current_db
    replace = False
    j = 3
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < len(argv):
            dest = parse_c_int(argv[j + 1])
            if dest < 0 or dest >= databases:
                raise CommandError(errors.DB_RANGE)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return dest, replace


@command("copy")
def cmd_copy(ctx: ShardContext, argv: list[bytes]) -> Any:
    dest_id, replace = parse_copy_args(argv, ctx.db.id, len(ctx.keyspace.dbs))
    src, dst = argv[1], argv[2]
    if src == dst and dest_id == ctx.db.id:
        raise CommandError(errors.SAME_OBJECT)
    value = ctx.db.get(src)
    target = ctx.db_at(dest_id)
    if value is None or (target.get(dst) is not None and not replace):
        return ctx.changes(0)
    target.delete(dst)
    when = ctx.db.ttl_ms(src)
    target.set(dst, copy_value(value))
    if when is not None:
        target.set_expire(dst, when)
    return 1


@command("move")
def cmd_move(ctx: ShardContext, argv: list[bytes]) -> Any:
    key = argv[1]
    dest_id = parse_c_int(argv[2])
    if dest_id < 0 or dest_id >= len(ctx.keyspace.dbs):
        raise CommandError(errors.DB_RANGE)
    if dest_id == ctx.db.id:
        raise CommandError(errors.SAME_OBJECT)
    value = ctx.db.get(key)
    target = ctx.db_at(dest_id)
    if value is None or target.get(key) is not None:
        return ctx.changes(0)
    when = ctx.db.ttl_ms(key)
    ctx.db.delete(key)
    target.set(key, value)
    if when is not None:
        target.set_expire(key, when)
    return 1


# ---- whole-keyspace commands (every shard answers for itself) ------------


@command("keys")
def cmd_keys(ctx: ShardContext, argv: list[bytes]) -> Any:
    match = compile_glob(argv[1])
    return [k for k in ctx.db.live_keys() if match(k)]


@command("dbsize")
def cmd_dbsize(ctx: ShardContext, argv: list[bytes]) -> Any:
    return len(ctx.db.data)


def check_flush_args(argv: list[bytes]) -> None:
    """FLUSHDB/FLUSHALL take nothing, ASYNC or SYNC."""
    if len(argv) > 2:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2 and argv[1].lower() not in (b"async", b"sync"):
        raise CommandError(errors.SYNTAX)


@command("flushdb")
def cmd_flushdb(ctx: ShardContext, argv: list[bytes]) -> Any:
    check_flush_args(argv)
    _flush(ctx, ctx.db)
    return OK


def _scoped_keys(db: Database, scope: list[tuple[int, int]]) -> list[bytes]:
    """The keys of ``db`` whose slots lie in the ranges ``scope``."""
    index = db.by_slot
    return [k for slot in index.slots() if any(lo <= slot <= hi for lo, hi in scope) for k in index.keys(slot)]


def _flush(ctx: ShardContext, db: Database) -> None:
    """Empty ``db``, or only its keys in ``ctx.replay_scope`` while an old shard's files replay."""
    if ctx.replay_scope is None:
        db.clear()
        return
    for key in _scoped_keys(db, ctx.replay_scope):
        db.delete(key)


def _scoped_swap(a: Database, b: Database, scope: list[tuple[int, int]]) -> None:
    """SWAPDB of the keys in ``scope`` only (values, TTLs and their member expiry)."""
    moving = [(src, dst, [(k, src.data[k], src.ttl_ms(k)) for k in _scoped_keys(src, scope)]) for src, dst in ((a, b), (b, a))]
    for src, _, items in moving:
        for key, _, _ in items:
            src.delete(key)
    for _, dst, items in moving:
        for key, value, when in items:
            dst.set(key, value)
            if when is not None:
                dst.set_expire(key, when)
            indexed = getattr(value, "indexed", None)
            if indexed is not None:
                dst.watch_member_expiry(key, indexed)


@command("flushall")
def cmd_flushall(ctx: ShardContext, argv: list[bytes]) -> Any:
    check_flush_args(argv)
    for db in ctx.keyspace.dbs:
        _flush(ctx, db)
    return OK


def parse_swapdb(argv: list[bytes], databases: int) -> tuple[int, int]:
    a = parse_c_int(argv[1], errors.UNSUPPORTED_SWAPDB)
    b = parse_c_int(argv[2], errors.INVALID_SECOND_DB)
    if not (0 <= a < databases) or not (0 <= b < databases):
        raise CommandError(errors.DB_RANGE)
    return a, b


@command("swapdb")
def cmd_swapdb(ctx: ShardContext, argv: list[bytes]) -> Any:
    a, b = parse_swapdb(argv, len(ctx.keyspace.dbs))
    if a != b:
        if ctx.replay_scope is not None:
            _scoped_swap(ctx.db_at(a), ctx.db_at(b), ctx.replay_scope)
        else:
            ctx.db_at(a).swap(ctx.db_at(b))
    return OK


@command("randomkey")
def cmd_randomkey(ctx: ShardContext, argv: list[bytes]) -> Any:
    """This shard's pick and its key count: [key or None, count] (the front weighs shards)."""
    db = ctx.db
    for _ in range(100):
        if not db.data:
            return [None, 0]
        # Random slot first, then a random key in it: O(1)-ish without a key list.
        index = db.by_slot
        if index.nonempty < 64:
            keys = index.keys(random.choice(index.slots()))
        else:
            keys = index.keys(random.randrange(NSLOTS)) or index.keys(index.slots()[0])
        key = random.choice(keys)
        if db.peek(key) is not None:
            return [key, len(db.data)]
    return [None, len(db.data)]


# ---- SCAN: the cursor is the next slot to visit -------------------------


SCAN_TYPES = (b"string", b"list", b"set", b"zset", b"hash", b"stream")


def parse_scan(argv: list[bytes]) -> tuple[int, bytes | None, int, bytes | None]:
    """SCAN's cursor and options, checked in order as Valkey does."""
    cursor = parse_scan_cursor(argv[1])
    if cursor is None:
        raise CommandError(errors.INVALID_CURSOR)
    match: bytes | None = None
    count = 10
    kind: bytes | None = None
    j = 2
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        has_value = j + 1 < n
        if opt == b"count" and has_value:
            count = parse_int(argv[j + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif opt == b"match" and has_value:
            match = argv[j + 1]
        elif opt == b"type" and has_value:
            kind = argv[j + 1].lower()
            if kind not in SCAN_TYPES:
                raise CommandError(f"ERR unknown type name '{argv[j + 1].decode('utf-8', 'surrogateescape')}'")
        elif opt == b"novalues":
            raise CommandError(errors.NOVALUES_HSCAN)
        elif opt == b"noscores":
            raise CommandError(errors.NOSCORES_ZSCAN)
        else:
            raise CommandError(errors.SYNTAX)
        j += 2
    return cursor, match, count, kind


@command("scan")
def cmd_scan(ctx: ShardContext, argv: list[bytes]) -> Any:
    cursor, match, count, kind = parse_scan(argv)
    db = ctx.db
    matcher = compile_glob(match) if match is not None and match != b"*" else None
    out: list[bytes] = []
    slot = cursor
    visited = 0
    budget = count * 10  # like Valkey: bound the empty buckets visited per call
    while slot < NSLOTS and ctx.owns_slot(slot):
        keys = db.by_slot.keys(slot)
        slot += 1
        visited += 1
        if keys:
            for key in keys:
                value = db.peek(key)
                if value is None:
                    continue
                if matcher is not None and not matcher(key):
                    continue
                if kind is not None and type_name(value).encode() != kind:
                    continue
                out.append(key)
        if len(out) >= count or visited >= budget:
            break
    next_cursor = 0 if slot >= NSLOTS else slot
    return [b"%d" % next_cursor, out]


# ---- OBJECT ---------------------------------------------------------------


def _embstr_fits(key_len: int, value_len: int) -> bool:
    """Whether Valkey 9 embeds a string value in the object that also embeds its key.

    The object (16 bytes), the key as an sds with a one-byte prefix and the
    value as an sds type 8 must fit in 136 bytes, so long keys leave less room
    for the value (and keys of 112 bytes or more leave none).
    """
    key_hdr = 1 if key_len < 32 else 3 if key_len < 256 else 5 if key_len < 65536 else 9
    return 16 + (1 + key_hdr + key_len + 1) + (3 + value_len + 1) <= 136


def encoding_of(value: Any, key: bytes = b"") -> str:
    if isinstance(value, STRING_TYPES):
        if type(value) is bytes and len(value) <= 20 and strict_int(value) is not None:
            return "int"
        if type(value) is RawStr or not _embstr_fits(len(key), len(value)):
            return "raw"
        return "embstr"
    return value.encoding()  # type: ignore[no-any-return]


@command("object|encoding")
def cmd_object_encoding(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = ctx.db.peek(argv[2])
    return None if value is None else encoding_of(value, argv[2])


@command("object|idletime")
def cmd_object_idletime(ctx: ShardContext, argv: list[bytes]) -> Any:
    if ctx.db.peek(argv[2]) is None:
        return None
    last = ctx.db.last_access(argv[2])
    return max(ctx.keyspace.clock.sec - last, 0)


@command("object|freq")
def cmd_object_freq(ctx: ShardContext, argv: list[bytes]) -> Any:
    if ctx.db.peek(argv[2]) is None:
        return None
    raise CommandError(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
        "Please note that when switching between policies at runtime LRU and LFU data "
        "will take some time to adjust."
    )


@command("object|refcount")
def cmd_object_refcount(ctx: ShardContext, argv: list[bytes]) -> Any:
    return None if ctx.db.peek(argv[2]) is None else 1


# ---- internal: cross-shard steps and statistics --------------------------


def dump_entry(db: Database, key: bytes) -> list[Any] | None:
    value = db.get(key)
    if value is None:
        return None
    when = db.ttl_ms(key)
    if isinstance(value, STRING_TYPES):
        return [b"string", bytes(value), -1 if when is None else when, string_flags(value)]
    return [value.TYPE.encode(), dump_value(value), -1 if when is None else when, 0]


def build_value(kind: bytes, payload: bytes, raw: int) -> Any:
    """A value from its dump: ``kind`` is b"string" (``raw``: 1 raw, 2 embstr) or a type's name."""
    if kind == b"string":
        return string_from(payload, raw)
    return load_value(kind, payload)


class _Loaders(dict[bytes, Any]):
    """kind -> ``from_state`` (its C twin where built) for ``Database.load_values``;
    an unknown kind is a bad payload."""

    def __missing__(self, kind: bytes) -> Any:
        cls = VALUE_TYPES.get(kind)
        if cls is None:
            raise CommandError(errors.AOF_BAD_BULK)
        loader = self[kind] = _C_LOADERS.get(kind, cls.from_state)
        return loader


_C_LOADERS = c_loaders()


_LOADERS = _Loaders()


def load_entry(db: Database, key: bytes, entry: list[Any]) -> None:
    kind, payload, when, raw = entry
    value = build_value(kind, payload, raw)
    db.delete(key)
    db.set(key, value)
    if when != -1:
        db.set_expire(key, when)


@internal("__dump")
def cmd_dump(ctx: ShardContext, argv: list[bytes]) -> Any:
    """[type, payload, pexpireat or -1, raw flag] of a key, or None."""
    return dump_entry(ctx.db, argv[1])


@internal("__getstr")
def cmd_getstr(ctx: ShardContext, argv: list[bytes]) -> Any:
    """The string at a key ('' when missing) for a cross-shard LCS; other types are an error."""
    from shardserver.shard.strings import lcs_string

    return lcs_string(ctx.db, argv[1])


@internal("__restore", writes=True)
def cmd_restore(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__restore key type payload pexpireat raw: write a dumped value (replacing)."""
    when = int(argv[4])
    if when != -1 and when <= ctx.keyspace.clock.ms:
        ctx.db.delete(argv[1])
        return OK
    load_entry(ctx.db, argv[1], [argv[2], argv[3], when, int(argv[5])])
    return OK


@internal("__strings", writes=True)
def cmd_strings(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__strings payload: plain strings, payload a msgpack array [key, value, ...] (base files)."""
    ctx.db.load_strings(_bulk(argv, 2))
    return OK


@internal("__values", writes=True)
def cmd_values(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__values payload: msgpack array [key, type, state, pexpireat or -1, raw flag, ...] (base files);
    a string's state is its bytes, another type's its ``state()``."""
    try:
        ctx.db.load_values(_bulk(argv, 5), _LOADERS)
    except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException):
        raise CommandError(errors.AOF_BAD_BULK) from None  # a dump that does not load
    return OK


def _bulk(argv: list[bytes], width: int) -> list[Any]:
    if len(argv) != 2:
        raise CommandError(errors.wrong_arity(argv[0].decode("latin-1").lower()))
    try:
        items = msgpack.unpackb(argv[1], raw=True, use_list=True)
    except Exception:
        raise CommandError(errors.AOF_BAD_BULK) from None
    if type(items) is not list or len(items) % width:
        raise CommandError(errors.AOF_BAD_BULK)
    return items


@internal("__count_existing")
def cmd_count_existing(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sum(1 for key in argv[1:] if ctx.db.get(key) is not None)


def anon_rss() -> int:
    """This process's anonymous resident memory in bytes (RssAnon), 0 where /proc has none.

    Anonymous memory is the Python heap; RSS would also count the shared-memory
    rings and library pages the shard happens to touch, which are not data.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# The baseline of ``dataset``: anonymous RSS right after the fork that started this
# process (the shard), before any key.  Taken in every forked child; only shards report it.
_start_anon_rss = 0


def _mark_start() -> None:
    global _start_anon_rss
    _start_anon_rss = anon_rss()


os.register_at_fork(after_in_child=_mark_start)


@internal("__info")
def cmd_info(ctx: ShardContext, argv: list[bytes]) -> Any:
    """This shard's statistics; the front renders them in INFO (see front/info.py)."""
    ks = ctx.keyspace
    keyspace = []
    now = ks.clock.ms
    for db in ks.dbs:
        if db.data:
            # avg_ttl is sampled like Valkey's estimate: a few volatile keys, not all.
            ttl_sum = ttl_n = 0
            for _, when in zip(range(64), db.expires.values(), strict=False):
                if when > now:
                    ttl_sum += when - now
                    ttl_n += 1
            keyspace.append([db.id, len(db.data), len(db.expires), ttl_sum, ttl_n])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    anon = anon_rss()
    return {
        b"pid": os.getpid(),
        b"keys": ks.key_count(),
        b"expires": sum(len(db.expires) for db in ks.dbs),
        b"ops": ctx.stats["ops"],
        b"batches": ctx.stats["batches"],
        b"runs": ctx.stats["runs"],
        b"sleeps": ctx.stats["sleeps"],
        b"expired_keys": ks.expired_keys,
        b"expired_fields": ks.expired_fields,
        b"volatile_items": [[db.id, db.values_with_member_expiry()] for db in ks.dbs if db.member_expiry],
        # A real 0: there is no maxmemory, so nothing is ever evicted.
        b"evicted_keys": 0,
        b"cpu_user_us": int(usage.ru_utime * 1e6),
        b"cpu_sys_us": int(usage.ru_stime * 1e6),
        b"maxrss_kb": usage.ru_maxrss,
        b"anon_rss": anon,
        # Heap growth since the shard started: its data plus allocator slack
        # (Python rarely gives freed memory back, so it does not shrink at once).
        b"dataset": max(anon - _start_anon_rss, 0) if anon else 0,
        b"keyspace": keyspace,
        b"slots": [list(r) for r in ctx.ranges],
        b"aof": ctx.worker.persist.info(),
    }


@internal("__slotcounts")
def cmd_slotcounts(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Keys per non-empty slot of every database: [[db, [slot, count, slot, count, ...]], ...].

    Counts include keys whose TTL has passed but that were not reclaimed yet,
    like DBSIZE and CLUSTER COUNTKEYSINSLOT.
    """
    out = []
    for db in ctx.keyspace.dbs:
        if db.by_slot.nonempty:
            flat: list[int] = []
            for slot in db.by_slot.slots():
                flat.append(slot)
                flat.append(db.by_slot.count(slot))
            out.append([db.id, flat])
    return out


@internal("__ping")
def cmd_internal_ping(ctx: ShardContext, argv: list[bytes]) -> Any:
    """The front's health check (systemd watchdog): answering proves the loop turns."""
    return OK


@internal("__resetstat")
def cmd_resetstat(ctx: ShardContext, argv: list[bytes]) -> Any:
    for k in ctx.stats:
        ctx.stats[k] = 0
    ctx.keyspace.expired_keys = 0
    ctx.keyspace.expired_fields = 0
    if ctx.worker is not None:
        ctx.worker.stats.reset()
        ctx.worker.names.clear()
    return OK


@internal("__cmdstats")
def cmd_cmdstats(ctx: ShardContext, argv: list[bytes]) -> Any:
    """This shard's per-command statistics (see shardserver.cmdstats)."""
    return ctx.worker.stats.snapshot()


@internal("__slowlog")
def cmd_slowlog(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__slowlog get|len|reset: this shard's slow log (newest first for get)."""
    log = ctx.worker.slowlog
    sub = argv[1]
    if sub == b"get":
        return list(reversed(log.entries))
    if sub == b"len":
        return len(log.entries)
    log.entries.clear()
    return OK


@internal("__config")
def cmd_config(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__config name value: directives the shards act on."""
    name = argv[1].decode()
    if name == "proto-max-bulk-len":
        ctx.proto_max_bulk_len = int(argv[2])
    elif name == "slowlog-log-slower-than":
        ctx.worker.slowlog.configure(slower_than=int(argv[2]))
    elif name == "slowlog-max-len":
        ctx.worker.slowlog.configure(max_len=int(argv[2]))
    elif name == "latency-monitor-threshold":
        ctx.worker.latency_threshold_ms = int(argv[2])
    elif name == "hz":
        ctx.worker.hz = int(argv[2])
    elif name.startswith(("append", "aof-", "auto-aof-")) or name == "save":
        ctx.worker.persist.configure(name, argv[2].decode())
    elif name in ("stream-node-max-bytes", "stream-node-max-entries"):
        from shardserver.shard.types.stream import LIMITS

        LIMITS[name] = int(argv[2])
    elif name == "hll-sparse-max-bytes":
        ctx.hll_sparse_max_bytes = int(argv[2])
    elif name == "list-max-listpack-size":
        from shardserver.shard.types.list import FILL

        FILL[0] = int(argv[2])
    elif name == "loglevel":  # CONFIG SET / SIGHUP reload: shards log too
        from shardserver import log

        log.set_level(argv[2].decode())
    elif name in CONFIG_HOOKS:
        CONFIG_HOOKS[name](argv[2])
    return OK


@internal("__bgrewriteaof")
def cmd_bgrewriteaof(ctx: ShardContext, argv: list[bytes]) -> Any:
    """BGREWRITEAOF on this shard: b"started", or b"scheduled" while a BGSAVE runs."""
    return ctx.worker.persist.bgrewriteaof()


@internal("__bgsave")
def cmd_bgsave(ctx: ShardContext, argv: list[bytes]) -> Any:
    """BGSAVE on this shard: b"started"; ``schedule``: b"scheduled" after a running rewrite instead of an error."""
    return ctx.worker.persist.bgsave(len(argv) > 1 and argv[1] == b"schedule")


@internal("__bgcancel")
def cmd_bgcancel(ctx: ShardContext, argv: list[bytes]) -> Any:
    """BGSAVE CANCEL: b"running" (a BGSAVE was stopped), b"scheduled" (a scheduled one dropped) or None."""
    return ctx.worker.persist.cancel_save()


@internal("__save")
def cmd_save(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.worker.persist.save()
    return OK


@internal("__exitsave")
def cmd_exitsave(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__exitsave 0|1: whether this shard saves a snapshot when SIGTERM ends it (save points
    set, AOF off); SHUTDOWN, which saved already or was told NOSAVE, says 0."""
    ctx.worker.persist.save_on_exit = argv[1] == b"1"
    return OK


@internal("__aofinfo")
def cmd_aofinfo(ctx: ShardContext, argv: list[bytes]) -> Any:
    return ctx.worker.persist.info()


@internal("__waitaof")
def cmd_waitaof(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__waitaof numlocal: 1 when every record this shard has taken so far is fsynced, else 0.

    The front sends it after the client's earlier commands, so those records are
    among them.  numlocal 1 fsyncs them now unless ``appendfsync no`` (which never
    fsyncs, as in Valkey, so the client waits out its timeout); numlocal 0 only
    reports, as Valkey answers from its fsynced offset without waiting."""
    w = ctx.worker.persist.writer
    if w is None:
        return 0
    if w.synced >= w.written + w.pending():
        return 1
    if argv[1] != b"1" or w.policy == "no":
        return 0
    return 1 if w.write() and w.sync_now() else 0


@internal("__txmark")
def cmd_txmark(ctx: ShardContext, argv: list[bytes]) -> Any:
    """In this shard's files only: the part of cross-shard write ``argv[1]`` is here
    (persistence/intents.py); logged by the worker with the part, never sent."""
    txid = int(argv[1])
    if txid > ctx.keyspace.last_tx:
        ctx.keyspace.last_tx = txid
    return OK


@internal("__txsync")
def cmd_txsync(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Write and fsync this shard's AOF whatever the policy: the front then deletes intent
    files whose parts are all answered.  1 when done (or with the AOF off), else 0."""
    w = ctx.worker.persist.writer
    if w is None:
        return 1
    return 1 if w.write() and w.sync_now() else 0


@internal("__latencyreset")
def cmd_latencyreset(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.worker.stats.reset_latency(argv[1:])
    return OK


def value_size(key: bytes, value: Any) -> int:
    """Bytes a key costs in this shard: key, value and its share of the dicts (estimated)."""
    import sys

    size = sys.getsizeof(key) + 2 * 48  # data and atime dict entries (hash, key, value pointers + spare)
    if isinstance(value, STRING_TYPES):
        return size + sys.getsizeof(value)
    return size + value.memory_usage()  # type: ignore[no-any-return]


@command("memory|usage")
def cmd_memory_usage(ctx: ShardContext, argv: list[bytes]) -> Any:
    j = 3
    while j < len(argv):
        if argv[j].lower() == b"samples" and j + 1 < len(argv):
            if parse_int(argv[j + 1]) < 0:  # 0 means all, as in Valkey; negative is refused
                raise CommandError(errors.SYNTAX)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    value = ctx.db.peek(argv[2])
    if value is None:
        return None
    return value_size(argv[2], value)


@internal("__debugobject")
def cmd_debugobject(ctx: ShardContext, argv: list[bytes]) -> Any:
    """DEBUG OBJECT's line for a key, or the error Valkey gives for a missing one."""
    value = ctx.db.peek(argv[1])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    idle = max(ctx.keyspace.clock.sec - ctx.db.last_access(argv[1]), 0)
    serialized = len(value) if isinstance(value, STRING_TYPES) else value_size(argv[1], value)
    return (
        f"Value at:0x{id(value):x} refcount:1 encoding:{encoding_of(value, argv[1])} "
        f"serializedlength:{serialized} lru:{ctx.db.last_access(argv[1]) & 0xFFFFFF} lru_seconds_idle:{idle}"
    ).encode()
