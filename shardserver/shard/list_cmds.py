"""List commands, run by the shard that owns the key; and the shard's side of blocking pops.

Ownership: shard-side handlers only; replies are values, errors are raised.
The blocking commands (BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH) are the
front's (``shardserver/front/blocking.py``); a shard only ever runs their
non-blocking step, ``__try``, which pops or reports that nothing is there
(``None``) and, when asked, starts watching the keys (see
``shardserver.shard.keyspace`` ``Database.watched``).  A shard never waits.
"""

from __future__ import annotations

from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.numbers import LLONG_MAX, parse_int, strict_int
from shardserver.resp import NULL_ARRAY, OK
from shardserver.shard.keyspace import Database
from shardserver.shard.registry import ShardContext, command, internal
from shardserver.shard.types.list import ListValue

_LONG_RANGE = f"ERR value is out of range, value must between {-LLONG_MAX} and {LLONG_MAX}"


def get_list(db: Database, key: bytes) -> ListValue | None:
    value = db.get(key)
    if value is None or type(value) is ListValue:
        return value
    raise CommandError(errors.WRONGTYPE)


def parse_where(arg: bytes) -> bool:
    """LEFT/RIGHT -> tail? (RIGHT is the tail)."""
    low = arg.lower()
    if low == b"right":
        return True
    if low == b"left":
        return False
    raise CommandError(errors.SYNTAX)


def _ranged(arg: bytes, lo: int, hi: int, msg: str | None) -> int:
    v = strict_int(arg)
    if v is None:
        raise CommandError(msg or errors.NOT_INTEGER)
    if v < lo or v > hi:
        raise CommandError(msg or f"ERR value is out of range, value must between {lo} and {hi}")
    return v


def _removed(db: Database, key: bytes, value: ListValue) -> None:
    """listElementsRemoved: an emptied list is deleted, else it may become a listpack."""
    if not value.items:
        db.delete(key)
    else:
        value.shrunk()


# ---- push -------------------------------------------------------------------


def push(db: Database, key: bytes, values: list[bytes], tail: bool, xx: bool = False, add: int | None = None) -> int:
    """LPUSH/RPUSH (``xx``: only onto an existing list); ``add``: the bytes the conversion
    check counts for ``values`` when not their lengths (an LMOVE's, ``ListValue.moved``)."""
    value = get_list(db, key)
    if value is None:
        if xx:
            return 0
        value = ListValue()
        value.push(values, tail, add)
        db.set(key, value)  # a new key: wakes clients blocked on it
        return len(value)
    value.push(values, tail, add)
    return len(value)


@command("lpush")
def cmd_lpush(ctx: ShardContext, argv: list[bytes]) -> Any:
    return push(ctx.db, argv[1], argv[2:], tail=False)


@command("rpush")
def cmd_rpush(ctx: ShardContext, argv: list[bytes]) -> Any:
    return push(ctx.db, argv[1], argv[2:], tail=True)


@command("lpushx")
def cmd_lpushx(ctx: ShardContext, argv: list[bytes]) -> Any:
    return ctx.changes(push(ctx.db, argv[1], argv[2:], tail=False, xx=True))


@command("rpushx")
def cmd_rpushx(ctx: ShardContext, argv: list[bytes]) -> Any:
    return ctx.changes(push(ctx.db, argv[1], argv[2:], tail=True, xx=True))


# ---- pop --------------------------------------------------------------------


def _pop(ctx: ShardContext, argv: list[bytes], tail: bool) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.wrong_arity(argv[0].decode("latin-1").lower()))
    has_count = len(argv) == 3
    count = 0
    if has_count:
        count = _ranged(argv[2], 0, LLONG_MAX, "ERR value is out of range, must be positive")
    db = ctx.db
    value = get_list(db, argv[1])
    if value is None:
        ctx.rewrite = []  # nothing popped
        return NULL_ARRAY if has_count else None
    if has_count and not count:
        ctx.rewrite = []
        return []
    if not has_count:
        v = value.pop(tail)
        _removed(db, argv[1], value)
        return v
    out = value.pop_many(count, tail)
    if not value.items:
        db.delete(argv[1])
    return out


@command("lpop")
def cmd_lpop(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _pop(ctx, argv, tail=False)


@command("rpop")
def cmd_rpop(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _pop(ctx, argv, tail=True)


def pop_range_with_key(ctx: ShardContext, key: bytes, value: ListValue, tail: bool, count: int) -> list[Any]:
    """listPopRangeAndReplyWithKey: [key, [elements]]; logged as LPOP/RPOP key n."""
    n = min(count, len(value))
    out = value.pop_many(n, tail)
    if not value.items:
        ctx.db.delete(key)
    ctx.rewrite = [[b"rpop" if tail else b"lpop", key, b"%d" % n]]
    return [key, out]


def parse_mpop(argv: list[bytes], numkeys_idx: int) -> tuple[list[bytes], bool, int]:
    """LMPOP/BLMPOP arguments: (keys, tail, count)."""
    numkeys = _ranged(argv[numkeys_idx], 1, LLONG_MAX, "ERR numkeys should be greater than 0")
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise CommandError(errors.SYNTAX)
    tail = parse_where(argv[where_idx])
    count = -1
    j = where_idx + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _ranged(argv[j + 1], 1, LLONG_MAX, "ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[numkeys_idx + 1 : where_idx], tail, 1 if count == -1 else count


@internal("__lmpop", writes=True)
def cmd_lmpop(ctx: ShardContext, argv: list[bytes]) -> Any:
    """LMPOP's step on the shard of its keys (the front checked the arguments); logged as LPOP/RPOP key n."""
    ctx.rewrite = []
    keys, tail, count = parse_mpop(argv, 1)
    for key in keys:
        value = get_list(ctx.db, key)
        if value:
            return pop_range_with_key(ctx, key, value, tail, count)
    return NULL_ARRAY


# ---- read -------------------------------------------------------------------


@command("llen")
def cmd_llen(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_list(ctx.db, argv[1])
    return 0 if value is None else len(value)


def norm_range(start: int, end: int, n: int) -> tuple[int, int] | None:
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    return start, min(end, n - 1)


@command("lrange")
def cmd_lrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    value = get_list(ctx.db, argv[1])
    if value is None:
        return []
    span = norm_range(start, end, len(value))
    return [] if span is None else value.range(*span)


@command("lindex")
def cmd_lindex(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_list(ctx.db, argv[1])
    if value is None:
        return None
    return value.index(parse_int(argv[2]))


@command("lset")
def cmd_lset(ctx: ShardContext, argv: list[bytes]) -> Any:
    value = get_list(ctx.db, argv[1])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    # Valkey hands the index on as a C int, so a 64-bit one wraps to 32 bits
    # (4294967295 is -1, the last element); LINDEX does not wrap.
    index = (parse_int(argv[2]) + (1 << 31)) % (1 << 32) - (1 << 31)
    n = len(value)
    if index < 0:
        index += n
    value.grow_for([argv[3]])
    if index < 0 or index >= n:
        raise CommandError(errors.LIST_INDEX_RANGE)
    value.set(index, argv[3])
    return OK


@command("linsert")
def cmd_linsert(ctx: ShardContext, argv: list[bytes]) -> Any:
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        raise CommandError(errors.SYNTAX)
    value = get_list(ctx.db, argv[1])
    if value is None:
        return ctx.changes(0)
    value.grow_for([argv[4]])  # as Valkey: the conversion happens even when the pivot is missing
    pivot = argv[3]
    for i, v in enumerate(value.items):
        if v == pivot:
            value.linsert(i, argv[4], after=where == b"after")
            return len(value)
    ctx.rewrite = []  # no pivot: nothing inserted
    return -1


@command("lrem")
def cmd_lrem(ctx: ShardContext, argv: list[bytes]) -> Any:
    count = _ranged(argv[2], -LLONG_MAX, LLONG_MAX, None)
    db = ctx.db
    value = get_list(db, argv[1])
    if value is None:
        return ctx.changes(0)
    removed = value.remove_matching(argv[3], count)
    if removed:
        _removed(db, argv[1], value)
    return ctx.changes(removed)


@command("ltrim")
def cmd_ltrim(ctx: ShardContext, argv: list[bytes]) -> Any:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    db = ctx.db
    value = get_list(db, argv[1])
    if value is None:
        ctx.rewrite = []
        return OK
    span = norm_range(start, end, len(value))
    if span is None:
        db.delete(argv[1])
        return OK
    before = len(value)
    value.trim(*span)
    if not value.items:
        db.delete(argv[1])
    elif len(value) == before:
        ctx.rewrite = []  # nothing trimmed
    return OK


@command("lpos")
def cmd_lpos(ctx: ShardContext, argv: list[bytes]) -> Any:
    rank, count, maxlen = 1, -1, 0
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"rank" and more:
            rank = _ranged(argv[j + 1], -LLONG_MAX, LLONG_MAX, None)
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif opt == b"count" and more:
            count = _ranged(argv[j + 1], 0, LLONG_MAX, "ERR COUNT can't be negative")
        elif opt == b"maxlen" and more:
            maxlen = _ranged(argv[j + 1], 0, LLONG_MAX, "ERR MAXLEN can't be negative")
        else:
            raise CommandError(errors.SYNTAX)
        j += 2
    value = get_list(ctx.db, argv[1])
    if value is None:
        return [] if count != -1 else None
    ele = argv[2]
    items = value.items
    llen = len(items)
    backwards = rank < 0
    rank = abs(rank)
    it = reversed(items) if backwards else iter(items)
    matches = 0
    out: list[int] = []
    for index, v in enumerate(it):
        if maxlen and index >= maxlen:
            break
        if v == ele:
            matches += 1
            if matches >= rank:
                pos = llen - index - 1 if backwards else index
                if count == -1:
                    return pos
                out.append(pos)
                if count and matches - rank + 1 >= count:
                    break
    return out if count != -1 else None


# ---- move -------------------------------------------------------------------


def lmove(ctx: ShardContext, src: bytes, dst: bytes, src_tail: bool, dst_tail: bool) -> Any:
    db = ctx.db
    value = get_list(db, src)
    if value is None:
        ctx.rewrite = []  # nothing moved
        return None
    get_list(db, dst)  # WRONGTYPE before anything is popped
    v = value.pop(src_tail)
    push(db, dst, [v], dst_tail, add=value.moved(v))  # src == dst: a rotation of the same list
    _removed(db, src, value)
    return v


@command("lmove")
def cmd_lmove(ctx: ShardContext, argv: list[bytes]) -> Any:
    src_tail = parse_where(argv[3])
    dst_tail = parse_where(argv[4])
    return lmove(ctx, argv[1], argv[2], src_tail, dst_tail)


@command("rpoplpush")
def cmd_rpoplpush(ctx: ShardContext, argv: list[bytes]) -> Any:
    return lmove(ctx, argv[1], argv[2], True, False)


# ---- internal: cross-shard steps and blocking attempts -------------------------


@internal("__lprobe")
def cmd_lprobe(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Per key: 0 missing, 1 a list, 2 another type, 3 a list blocked clients are about to get (read-only)."""
    return ctx.db.probe(argv[1:], ListValue)


@internal("__lpeekmove")
def cmd_lpeekmove(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__lpeekmove key left|right: [the end element, the bytes Valkey's conversion check
    counts for it once moved (``ListValue.moved``)], or None: the read of a cross-shard LMOVE."""
    value = get_list(ctx.db, argv[1])
    if value is None:
        return None
    v = value.index(-1 if parse_where(argv[2]) else 0)
    return None if v is None else [v, value.moved(v)]


@internal("__lpushval", writes=True)
def cmd_lpushval(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__lpushval key left|right value [counted bytes]: the destination half of a cross-shard LMOVE."""
    tail = parse_where(argv[2])
    key, v = argv[1], argv[3]
    push(ctx.db, key, [v], tail, add=int(argv[4]) if len(argv) > 4 else None)
    ctx.rewrite = [[b"rpush" if tail else b"lpush", key, v]]
    return v


@internal("__lpopone", writes=True)
def cmd_lpopone(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__lpopone key left|right: the source half of a cross-shard LMOVE (None when empty)."""
    tail = parse_where(argv[2])
    db = ctx.db
    value = get_list(db, argv[1])
    if value is None:
        ctx.rewrite = []
        return None
    v = value.pop(tail)
    _removed(db, argv[1], value)
    ctx.rewrite = [[b"rpop" if tail else b"lpop", argv[1]]]
    return v


def watch(db: Database, keys: list[bytes]) -> None:
    watched = db.watched
    for key in keys:
        watched[key] = watched.get(key, 0) + 1


@internal("__watch")
def cmd_watch(ctx: ShardContext, argv: list[bytes]) -> Any:
    """A client blocks on these keys: report them when a write creates them."""
    ctx.rewrite = []
    watch(ctx.db, argv[1:])
    return OK


@internal("__unwatch")
def cmd_unwatch(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.rewrite = []
    watched = ctx.db.watched
    for key in argv[1:]:
        n = watched.get(key, 0) - 1
        if n > 0:
            watched[key] = n
        else:
            watched.pop(key, None)
            ctx.db.ready_pending.discard(key)
    return OK


@internal("__unpend")
def cmd_unpend(ctx: ShardContext, argv: list[bytes]) -> Any:
    """A serving round found nothing at these keys (a held cross-shard move): they leave ready_pending."""
    ctx.rewrite = []
    for key in argv[1:]:
        ctx.db.ready_pending.discard(key)
    return OK


@internal("__try", writes=True)
def cmd_try(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__try <mode> <blocking command argv...>: the non-blocking step of a blocking command.

    Tries the keys of a BLPOP/BRPOP/BLMPOP/BLMOVE/BRPOPLPUSH in order and pops
    like LPOP/RPOP/LMPOP/LMOVE, logged as that command (``ctx.rewrite``).

    - mode ``1`` (a client's attempt): a key in ``ready_pending`` counts as
      empty (clients blocked before it get it first).  Nothing to pop: the
      keys are watched and the reply is None, or 1 when a key was skipped.
    - mode ``0`` (the front already checked the keys under a hold): pop only.
    - mode ``s`` (serving a blocked client from its first key): a key of
      another type counts as empty; None (nothing there) ends the key's
      serving round, so it leaves ``ready_pending``.
    """
    mode = argv[1]
    cmd = argv[2:]
    name = cmd[0].lower()
    db = ctx.db
    ctx.rewrite = []
    pending = db.ready_pending if mode == b"1" else ()
    if mode == b"s":
        first = cmd[3] if name == b"blmpop" else cmd[1]
        if type(db.peek(first)) is not ListValue:
            db.ready_pending.discard(first)
            return None
    if name in (b"blmove", b"brpoplpush"):
        src, dst = cmd[1], cmd[2]
        if name == b"blmove":
            src_tail, dst_tail = parse_where(cmd[3]), parse_where(cmd[4])
        else:
            src_tail, dst_tail = True, False
        value = get_list(db, src)
        if value is None or src in pending:
            if mode == b"1":
                watch(db, [src])
                return 1 if value is not None else None
            db.ready_pending.discard(src)
            return None
        v = lmove(ctx, src, dst, src_tail, dst_tail)
        if name == b"brpoplpush":
            ctx.rewrite = [[b"rpoplpush", src, dst]]
        else:
            ctx.rewrite = [[b"lmove", src, dst, b"right" if src_tail else b"left", b"right" if dst_tail else b"left"]]
        return v
    if name == b"blmpop":
        keys, tail, count = parse_mpop(cmd, 2)
    else:
        keys, tail, count = cmd[1:-1], name == b"brpop", -1
    skipped = False
    for key in keys:
        value = get_list(db, key)
        if not value:
            continue
        if key in pending:
            skipped = True
            continue
        if count != -1:
            return pop_range_with_key(ctx, key, value, tail, count)
        v = value.pop(tail)
        _removed(db, key, value)
        ctx.rewrite = [[b"rpop" if tail else b"lpop", key]]
        return [key, v]
    if mode == b"1":
        watch(db, keys)
        return 1 if skipped else None
    for key in keys:
        db.ready_pending.discard(key)
    return None
