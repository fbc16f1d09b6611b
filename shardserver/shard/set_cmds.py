"""Set commands, run by the shard that owns the key (see shard/types/set.py).

Ownership: shard-side handlers only; replies are values, errors are raised.
Multi-key commands whose keys live on several shards run here too, through
``__overlay`` (shard/overlay.py), driven by front/cross_sets.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.glob import compile_glob
from shardserver.numbers import LLONG_MAX, parse_scan_cursor, strict_int
from shardserver.resp import SetReply
from shardserver.shard import overlay
from shardserver.shard.keyspace import Database
from shardserver.shard.registry import CONFIG_HOOKS, ShardContext, command, internal
from shardserver.shard.types import set as settype
from shardserver.shard.types.set import HASHTABLE, INTSET, LISTPACK, SetValue


def _hook(name: str, limits: dict[str, int]) -> Callable[[bytes], None]:
    def apply(value: bytes) -> None:
        limits[name] = int(value)

    return apply


for _name in settype.LIMITS:
    CONFIG_HOOKS[_name] = _hook(_name, settype.LIMITS)


# ---- lookups and argument parsing shared with the sorted sets -------------


def read_set(db: Database, key: bytes) -> SetValue | None:
    """The set at ``key`` for reading (lent values included), None when missing."""
    value = overlay.read(db, key)
    if value is None or type(value) is SetValue:
        return value
    raise CommandError(errors.WRONGTYPE)


def write_set(db: Database, key: bytes) -> SetValue | None:
    value = db.get(key)
    if value is None or type(value) is SetValue:
        return value
    raise CommandError(errors.WRONGTYPE)


def parse_long(data: bytes, error: str = errors.NOT_INTEGER) -> int:
    v = strict_int(data)
    if v is None:
        raise CommandError(error)
    return v


def parse_range(data: bytes, lo: int, hi: int, msg: str | None = None) -> int:
    """getRangeLongFromObjectOrReply: ``msg`` replaces both errors when given."""
    v = strict_int(data)
    if v is None:
        raise CommandError(msg or errors.NOT_INTEGER)
    if v < lo or v > hi:
        raise CommandError(msg or errors.range_between(lo, hi))
    return v


def parse_positive(data: bytes, msg: str | None = None) -> int:
    """getPositiveLongFromObjectOrReply."""
    return parse_range(data, 0, LLONG_MAX, msg or errors.POSITIVE)


def parse_numkeys(data: bytes, argc_left: int) -> int:
    """SINTERCARD/ZINTERCARD/ZMPOP-style numkeys with Valkey's two checks."""
    n = parse_range(data, 1, LLONG_MAX, errors.NUMKEYS_POSITIVE)
    if n > argc_left:
        raise CommandError(errors.NUMKEYS_TOO_MANY)
    return n


def parse_scan_options(argv: list[bytes], start: int, zset: bool) -> tuple[Callable[[bytes], bool] | None, int, bool]:
    """SSCAN/ZSCAN options after the key was found: (matcher, count, noscores)."""
    matcher = None
    count = 10
    noscores = False
    i, n = start, len(argv)
    while i < n:
        opt = argv[i].lower()
        left = n - i
        if opt == b"count" and left >= 2:
            count = parse_long(argv[i + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
            i += 2
        elif opt == b"match" and left >= 2:
            pat = argv[i + 1]
            matcher = None if pat == b"*" else compile_glob(pat)
            i += 2
        elif opt == b"novalues":
            raise CommandError(errors.NOVALUES_HSCAN)
        elif opt == b"noscores":
            if not zset:
                raise CommandError(errors.NOSCORES_ZSCAN)
            noscores = True
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
    return matcher, count, noscores


def scan_cursor(data: bytes) -> int:
    cursor = parse_scan_cursor(data)
    if cursor is None:
        raise CommandError(errors.INVALID_CURSOR)
    return cursor


def store_result(ctx: ShardContext, dst: bytes, value: Any) -> int:
    """Write a *STORE result (replacing, no TTL) or delete ``dst`` when empty; the reply."""
    db = ctx.db
    if len(value):
        db.delete(dst)
        db.set(dst, value)
        return len(value)
    db.delete(dst)
    return 0


# ---- single-key commands ---------------------------------------------------


@command("sadd")
def cmd_sadd(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    key = argv[1]
    s = write_set(db, key)
    if s is None:
        small = SetValue.small_from(argv[2:])
        if small is not None:  # a new small set: no per-member steps
            db.set(key, small)
            return len(small)
        s = SetValue.create(argv[2], len(argv) - 2)
        db.set(key, s)
    else:
        s.maybe_convert(len(argv) - 2)
    added = 0
    for m in argv[2:]:
        if s.add(m):
            added += 1
    return ctx.changes(added)


@command("srem")
def cmd_srem(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    s = write_set(db, argv[1])
    if s is None:
        return ctx.changes(0)
    deleted = 0
    for m in argv[2:]:
        if s.remove(m):
            deleted += 1
            if not len(s):
                db.delete(argv[1])
                break
    return ctx.changes(deleted)


@command("smembers")
def cmd_smembers(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = read_set(ctx.db, argv[1])
    return SetReply([] if s is None else s.members())


@command("sismember")
def cmd_sismember(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = read_set(ctx.db, argv[1])
    return 1 if s is not None and s.contains(argv[2]) else 0


@command("smismember")
def cmd_smismember(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = read_set(ctx.db, argv[1])
    return [1 if s is not None and s.contains(m) else 0 for m in argv[2:]]


@command("scard")
def cmd_scard(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = read_set(ctx.db, argv[1])
    return 0 if s is None else len(s)


def _srem_batches(key: bytes, members: list[bytes]) -> list[list[bytes]]:
    return [[b"srem", key, *members[i : i + 1024]] for i in range(0, len(members), 1024)]


@command("spop")
def cmd_spop(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    key = argv[1]
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        s = write_set(db, key)
        if s is None:
            ctx.rewrite = []
            return None
        member = s.pop_random()
        ctx.rewrite = [[b"srem", key, member]]
        if not len(s):
            db.delete(key)
        return member
    count = parse_positive(argv[2])
    s = write_set(db, key)
    if s is None or count == 0:
        ctx.rewrite = []
        return SetReply()
    if count >= len(s):
        members = s.members()
        db.delete(key)
        ctx.rewrite = [[b"del", key]]
        return SetReply(members)
    remaining = len(s) - count
    if remaining * 5 > count:
        popped = s.sample(count)
        for m in popped:
            s.remove(m)
    else:
        # Valkey keeps the few remaining members in a new set (a listpack, or an
        # intset for an intset) and returns the rest
        kept = s.sample(remaining)
        fresh = SetValue(INTSET if s.enc == INTSET else LISTPACK)
        keep = set(kept)
        if s.enc != HASHTABLE:  # picked from a listpack, they keep its order (lpRandomPairsUnique)
            kept = [m for m in s if m in keep]
        for m in kept:
            fresh.add(m)
        popped = [m for m in s if m not in keep]
        db.replace(key, fresh)
    ctx.rewrite = _srem_batches(key, popped)
    return SetReply(popped)


@command("srandmember")
def cmd_srandmember(ctx: ShardContext, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        s = read_set(ctx.db, argv[1])
        return None if s is None else s.random()
    n = parse_range(argv[2], -LLONG_MAX, LLONG_MAX)
    s = read_set(ctx.db, argv[1])
    if s is None or n == 0:
        return []
    if n < 0:
        return [s.random() for _ in range(-n)]
    if n >= len(s):
        return s.members()
    return s.sample(n)


@command("smove")
def cmd_smove(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    src, dst, member = argv[1], argv[2], argv[3]
    srcset = db.get(src)
    dstset = db.get(dst)
    if srcset is None:
        return ctx.changes(0)
    if type(srcset) is not SetValue or (dstset is not None and type(dstset) is not SetValue):
        raise CommandError(errors.WRONGTYPE)
    if srcset is dstset:
        ctx.rewrite = []  # nothing moves
        return 1 if srcset.contains(member) else 0
    if not srcset.remove(member):
        return ctx.changes(0)
    if not len(srcset):
        db.delete(src)
    if dstset is None:
        dstset = SetValue.create(member, 1)
        db.set(dst, dstset)
    dstset.add(member)
    return 1


@internal("__smove_out", writes=True)
def cmd_smove_out(ctx: ShardContext, argv: list[bytes]) -> Any:
    """SMOVE's source half when the destination lives elsewhere: [name, src, member, dst type, "check"?].

    With ``check`` it only answers whether the member would move (1/0, or the type error).
    """
    db = ctx.db
    src, member, dst_type = argv[1], argv[2], argv[3]
    ctx.rewrite = []
    srcset = db.get(src)
    if srcset is None:
        return 0
    if type(srcset) is not SetValue or dst_type not in (b"none", b"set"):
        raise CommandError(errors.WRONGTYPE)
    if len(argv) > 4:
        return 1 if srcset.contains(member) else 0
    if not srcset.remove(member):
        return 0
    ctx.rewrite = [[b"srem", src, member]]
    if not len(srcset):
        db.delete(src)
    return 1


# ---- multi-key operations ---------------------------------------------------


def _read_sets(db: Database, keys: list[bytes]) -> list[SetValue | None]:
    return [read_set(db, k) for k in keys]


def sinter(ctx: ShardContext, keys: list[bytes], dst: bytes | None, card_only: bool = False, limit: int = 0) -> Any:
    sets = _read_sets(ctx.db, keys)
    if any(s is None for s in sets):
        if dst is not None:
            ctx.db.delete(dst)
            return 0
        return 0 if card_only else SetReply()
    present: list[SetValue] = sorted(sets, key=len)  # type: ignore[arg-type]
    first, rest = present[0], [s for s in present[1:] if s is not present[0]]
    out: list[bytes] = []
    card = 0
    for m in first:
        if all(s.contains(m) for s in rest):
            card += 1
            if card_only:
                if limit and card >= limit:
                    break
                continue
            out.append(m)
    if card_only:
        return card
    if dst is None:
        return SetReply(out)
    result = SetValue(INTSET if first.enc == INTSET else LISTPACK)
    only_ints = True
    for m in out:
        if only_ints and strict_int(m) is None:
            only_ints = False
        result.add(m)
    if only_ints:
        result.to_intset()
    return store_result(ctx, dst, result)


def sunion_diff(ctx: ShardContext, keys: list[bytes], dst: bytes | None, diff: bool) -> Any:
    sets = _read_sets(ctx.db, keys)
    if not diff:
        members: list[bytes] = [m for s in sets if s is not None for m in s]
    else:
        first = sets[0]
        if first is None or any(s is first for s in sets[1:]):
            members = []
        else:
            others = [s for s in sets[1:] if s is not None]
            members = [m for m in first if not any(s.contains(m) for s in others)]
    result = SetValue.from_members(members)
    if dst is None:
        return SetReply(result.members())
    return store_result(ctx, dst, result)


@command("sinter")
def cmd_sinter(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sinter(ctx, argv[1:], None)


@command("sinterstore")
def cmd_sinterstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sinter(ctx, argv[2:], argv[1])


@command("sintercard")
def cmd_sintercard(ctx: ShardContext, argv: list[bytes]) -> Any:
    numkeys = parse_numkeys(argv[1], len(argv) - 2)
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].lower() == b"limit" and j + 1 < len(argv):
            limit = parse_positive(argv[j + 1], errors.LIMIT_NEGATIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return sinter(ctx, argv[2 : 2 + numkeys], None, card_only=True, limit=limit)


@command("sunion")
def cmd_sunion(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sunion_diff(ctx, argv[1:], None, diff=False)


@command("sunionstore")
def cmd_sunionstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sunion_diff(ctx, argv[2:], argv[1], diff=False)


@command("sdiff")
def cmd_sdiff(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sunion_diff(ctx, argv[1:], None, diff=True)


@command("sdiffstore")
def cmd_sdiffstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return sunion_diff(ctx, argv[2:], argv[1], diff=True)


@command("sscan")
def cmd_sscan(ctx: ShardContext, argv: list[bytes]) -> Any:
    cursor = scan_cursor(argv[2])
    s = read_set(ctx.db, argv[1])
    if s is None:
        return [b"0", []]
    matcher, count, _ = parse_scan_options(argv, 3, zset=False)
    nxt, members = s.scan(cursor, count)
    if matcher is not None:
        members = [m for m in members if matcher(m)]
    return [b"%d" % nxt, members]
