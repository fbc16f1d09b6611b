"""Sorted set commands, run by the shard that owns the key (see shard/types/zset.py).

Ownership: shard-side handlers only; replies are values (scores as floats,
which the encoder writes as Valkey does: bulk strings in RESP2, doubles in
RESP3), errors are raised.  Blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP) run
here one non-blocking step at a time (``__ztry``/``__zprobe``, the protocol of
``shardserver.front.blocking``), logged as ZPOPMIN/ZPOPMAX.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.numbers import LLONG_MAX
from shardserver.resp import NULL_ARRAY, double_bytes
from shardserver.shard import overlay
from shardserver.shard.keyspace import Database
from shardserver.shard.registry import CONFIG_HOOKS, ShardContext, command, internal
from shardserver.shard.set_cmds import (
    parse_long,
    parse_positive,
    parse_range,
    parse_scan_options,
    scan_cursor,
    store_result,
)
from shardserver.shard.types import zset as zsettype
from shardserver.shard.types.set import SetValue
from shardserver.shard.types.zset import SKIPLIST, ZSetValue


def _hook(name: str) -> Callable[[bytes], None]:
    def apply(value: bytes) -> None:
        zsettype.LIMITS[name] = int(value)

    return apply


for _name in zsettype.LIMITS:
    CONFIG_HOOKS[_name] = _hook(_name)

INF = math.inf

# ---- numbers ---------------------------------------------------------------

_FLOAT_RE = re.compile(rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I)


def _strtod(data: bytes) -> float | None:
    """The number Valkey's strtod reads from all of ``data`` (None when it is not one)."""
    if not _FLOAT_RE.match(data):
        return None
    return float(data)


def _underflowed(data: bytes, value: float) -> bool:
    if value != 0.0:
        return False
    mantissa = re.split(rb"[eE]", data, maxsplit=1)[0]
    return any(48 < c <= 57 for c in mantissa)


def parse_score(data: bytes, error: str = errors.NOT_FLOAT) -> float:
    """getDoubleFromObject: no spaces, no NaN, no overflow or underflow to zero."""
    if data.isdigit() and len(data) < 300:  # a plain non-negative integer, the common case
        return float(data)
    v = _strtod(data)
    if v is None or math.isnan(v):
        raise CommandError(error)
    if math.isinf(v) and b"n" not in data.lower():
        raise CommandError(error)
    if _underflowed(data, v):
        raise CommandError(error)
    return v


def _range_number(data: bytes) -> float:
    """A score range bound after its '(': overflow gives inf, '' gives 0, NaN is an error."""
    if not data:
        return 0.0
    v = _strtod(data)
    if v is None or math.isnan(v):
        raise CommandError(errors.RANGE_NOT_FLOAT)
    return v


def parse_score_range(lo: bytes, hi: bytes) -> tuple[float, bool, float, bool]:
    """zslParseRange: (min, min exclusive, max, max exclusive)."""
    out: list[Any] = []
    for raw in (lo, hi):
        if raw[:1] == b"(":
            out.extend((_range_number(raw[1:]), True))
        else:
            out.extend((_range_number(raw), False))
    return out[0], out[1], out[2], out[3]


def _lex_item(raw: bytes) -> tuple[int, bytes, bool]:
    """(-1 for '-', 1 for '+', 0 for a member), the member, exclusive."""
    c = raw[:1]
    if c == b"+" and len(raw) == 1:
        return 1, b"", False
    if c == b"-" and len(raw) == 1:
        return -1, b"", False
    if c == b"(":
        return 0, raw[1:], True
    if c == b"[":
        return 0, raw[1:], False
    raise CommandError(errors.LEX_RANGE)


def parse_lex_range(lo: bytes, hi: bytes) -> tuple[tuple[int, bytes, bool], tuple[int, bytes, bool]]:
    return _lex_item(lo), _lex_item(hi)


# ---- lookups ---------------------------------------------------------------


def read_zset(db: Database, key: bytes) -> ZSetValue | None:
    value = overlay.read(db, key)
    if value is None or type(value) is ZSetValue:
        return value
    raise CommandError(errors.WRONGTYPE)


def write_zset(db: Database, key: bytes) -> ZSetValue | None:
    value = db.get(key)
    if value is None or type(value) is ZSetValue:
        return value
    raise CommandError(errors.WRONGTYPE)


def _with_scores(ctx: ShardContext, items: list[tuple[bytes, float]], withscores: bool) -> list[Any]:
    """Members, or members and scores: flat in RESP2, [member, score] pairs in RESP3."""
    if not withscores:
        return [m for m, _ in items]
    if ctx.resp3:
        return [[m, s] for m, s in items]
    out: list[Any] = []
    for m, s in items:
        out.append(m)
        out.append(s)
    return out


# ---- index ranges ----------------------------------------------------------


def score_span(z: ZSetValue, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
    """[start, stop) of the members whose score is in the range."""
    index = z.index
    n = len(index)
    if lo_ex:
        start = n if lo == INF else index.bisect_left((math.nextafter(lo, INF), b""))
    else:
        start = index.bisect_left((lo, b""))
    if hi == INF and not hi_ex:
        stop = n
    elif hi_ex:
        stop = index.bisect_left((hi, b""))
    else:
        stop = index.bisect_left((math.nextafter(hi, INF), b"")) if hi != INF else n
    return start, max(start, stop)


def _gte_min(lo: tuple[int, bytes, bool]) -> Callable[[tuple[float, bytes]], bool]:
    kind, value, exclusive = lo
    if kind == -1:
        return lambda item: True
    if kind == 1:
        return lambda item: False
    if exclusive:
        return lambda item: item[1] > value
    return lambda item: item[1] >= value


def _gt_max(hi: tuple[int, bytes, bool]) -> Callable[[tuple[float, bytes]], bool]:
    kind, value, exclusive = hi
    if kind == 1:
        return lambda item: False
    if kind == -1:
        return lambda item: True
    if exclusive:
        return lambda item: item[1] >= value
    return lambda item: item[1] > value


def lex_span(z: ZSetValue, lo: tuple[int, bytes, bool], hi: tuple[int, bytes, bool]) -> tuple[int, int]:
    """[start, stop) of the members in a lex range.

    With all scores equal the members are in lexicographic order along the
    set, and a skiplist's ends are found by binary search.  Otherwise (lex
    ranges Valkey calls unspecified) the set is walked as Valkey walks a
    listpack: its ends checked first, then from the first member in range
    while members stay in range, so nothing past the range is ever counted,
    returned or removed.  A skiplist's own search can stop elsewhere in such
    a set, depending on its random levels.
    """
    if lex_walked(z):
        walked = _lex_walk(list(z.index), lo, hi, 0, -1, False)
        return (walked[0], walked[-1] + 1) if walked else (0, 0)
    index = z.index
    start = index.first_where(_gte_min(lo))
    stop = index.first_where(_gt_max(hi))
    return start, max(start, stop)


def lex_walked(z: ZSetValue) -> bool:
    """Whether a lex range of ``z`` is walked as Valkey walks a listpack (see
    lex_span): a listpack, or a skiplist whose scores differ (its first and last
    differ), so its members need not be in lexicographic order."""
    n = len(z.index)
    return z.enc != SKIPLIST or (n > 1 and z.index[0][0] != z.index[n - 1][0])


def _lte_max(hi: tuple[int, bytes, bool]) -> Callable[[tuple[float, bytes]], bool]:
    gt = _gt_max(hi)
    return lambda item: not gt(item)


def _lex_cmp(a: tuple[int, bytes, bool], b: tuple[int, bytes, bool]) -> int:
    """sdscmplex: '-' below everything, '+' above, else the bytes."""
    if a[0] == b[0] and a[0] != 0:
        return 0
    if a[0] == -1 or b[0] == 1:
        return -1
    if a[0] == 1 or b[0] == -1:
        return 1
    return (a[1] > b[1]) - (a[1] < b[1])


def _lex_walk(
    items: list[tuple[float, bytes]], lo: tuple[int, bytes, bool], hi: tuple[int, bytes, bool], offset: int, limit: int, reverse: bool
) -> list[int]:
    """Indexes of a listpack's lex range as Valkey walks it (zzlIsInLexRange, then
    zzlFirstInLexRange or, ``reverse``, zzlLastInLexRange): from the first (last) member
    in range, ``offset`` members skipped unchecked, then members while in range, at most
    ``limit`` (< 0: all)."""
    cmp = _lex_cmp(lo, hi)
    if cmp > 0 or (cmp == 0 and (lo[2] or hi[2])) or not items or offset < 0:
        return []
    gte, lte = _gte_min(lo), _lte_max(hi)
    if not (gte(items[-1]) and lte(items[0])):
        return []
    enter, stay = (lte, gte) if reverse else (gte, lte)
    order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
    i = next((i for i in order if enter(items[i])), None)
    if i is None or not stay(items[i]):
        return []
    step = -1 if reverse else 1
    i += step * offset
    out = []
    while 0 <= i < len(items) and limit != 0 and stay(items[i]):
        out.append(i)
        i += step
        limit -= 1
    return out


def _skiplist_offset(z: ZSetValue, offset: int, found: int) -> int:
    """A LIMIT offset as Valkey 9 applies it to a range of ``found`` items: a skiplist
    counts a negative one back from the range's end; a listpack answers nothing (-1)."""
    if offset >= 0:
        return offset
    return found + offset if z.enc == SKIPLIST and found + offset >= 0 else -1


def _window(z: ZSetValue, start: int, stop: int, offset: int, limit: int, reverse: bool) -> Iterator[tuple[float, bytes]]:
    """Items of [start, stop) in order (or reversed), after ``offset``, at most ``limit`` (<0: all)."""
    offset = _skiplist_offset(z, offset, stop - start)
    if offset < 0:
        return iter(())
    count = stop - start - offset
    if count <= 0:
        return iter(())
    if 0 <= limit < count:
        count = limit
    if reverse:
        hi = stop - 1 - offset
        return z.index.iterate_back(hi, hi - count)
    lo = start + offset
    return z.index.iterate(lo, lo + count)


# ---- ZADD / ZINCRBY --------------------------------------------------------


def _zadd(ctx: ShardContext, argv: list[bytes], incr: bool) -> Any:
    key = argv[1]
    nx = xx = gt = lt = ch = False
    j = 2
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt == b"ch":
            ch = True
        elif opt == b"incr":
            incr = True
        elif opt == b"gt":
            gt = True
        elif opt == b"lt":
            lt = True
        else:
            break
        j += 1
    elements = len(argv) - j
    if elements % 2 or not elements:
        raise CommandError(errors.SYNTAX)
    elements //= 2
    if nx and xx:
        raise CommandError(errors.ZADD_NX_XX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(errors.ZADD_GT_LT_NX)
    if incr and elements > 1:
        raise CommandError(errors.ZADD_INCR_PAIRS)
    pairs = []
    maxlen = 0
    for i in range(elements):
        score = parse_score(argv[j + 2 * i])
        member = argv[j + 2 * i + 1]
        maxlen = max(maxlen, len(member))
        pairs.append((score, member))
    db = ctx.db
    z = write_zset(db, key)
    if z is None and not (xx or nx or incr or gt or lt or ch):
        small = ZSetValue.small_from(pairs, maxlen)
        if small is not None:  # a new small sorted set: no per-member steps
            db.set(key, small)
            return len(small)
    if z is None:
        if xx:
            ctx.rewrite = []
            return None if incr else 0
        z = ZSetValue.create(elements, maxlen)
        db.set(key, z)
    else:
        z.maybe_convert(elements, maxlen)
    added = updated = processed = 0
    score = 0.0
    for score, member in pairs:
        cur = z.scores.get(member)
        if cur is not None:
            if nx:
                continue
            if incr:
                score += cur
                if math.isnan(score):
                    raise CommandError(errors.NAN_SCORE)
            if (lt and score >= cur) or (gt and score <= cur):
                continue
            if score != cur:
                z.update(member, cur, score)
                updated += 1
            processed += 1
        elif not xx:
            z.insert(member, score)
            added += 1
            processed += 1
    if not added + updated:
        ctx.rewrite = []  # nothing changed
    if incr:
        return score if processed else None
    return added + updated if ch else added


@command("zadd")
def cmd_zadd(ctx: ShardContext, argv: list[bytes]) -> Any:
    # ZADD key score member into an existing set: the common case without the option loop
    # (a score starting with a digit is no option)
    if len(argv) == 4 and argv[2][:1].isdigit():
        score, member = parse_score(argv[2]), argv[3]  # before the key's type, as in _zadd
        z = write_zset(ctx.db, argv[1])
        if z is not None:
            z.maybe_convert(1, len(member))  # before the update too, as _zadd (zsetTypeMaybeConvert)
            cur = z.scores.get(member)
            if cur is None:
                z.insert(member, score)
                return 1
            if score != cur:
                z.update(member, cur, score)
            else:
                ctx.rewrite = []  # nothing changed
            return 0
    return _zadd(ctx, argv, False)


@command("zincrby")
def cmd_zincrby(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _zadd(ctx, argv, True)


# ---- reads -----------------------------------------------------------------


@command("zscore")
def cmd_zscore(ctx: ShardContext, argv: list[bytes]) -> Any:
    z = read_zset(ctx.db, argv[1])
    return None if z is None else z.score(argv[2])


@command("zmscore")
def cmd_zmscore(ctx: ShardContext, argv: list[bytes]) -> Any:
    z = read_zset(ctx.db, argv[1])
    return [None if z is None else z.score(m) for m in argv[2:]]


@command("zcard")
def cmd_zcard(ctx: ShardContext, argv: list[bytes]) -> Any:
    z = read_zset(ctx.db, argv[1])
    return 0 if z is None else len(z)


@command("zcount")
def cmd_zcount(ctx: ShardContext, argv: list[bytes]) -> Any:
    lo, lo_ex, hi, hi_ex = parse_score_range(argv[2], argv[3])
    z = read_zset(ctx.db, argv[1])
    if z is None:
        return 0
    start, stop = score_span(z, lo, lo_ex, hi, hi_ex)
    return stop - start


@command("zlexcount")
def cmd_zlexcount(ctx: ShardContext, argv: list[bytes]) -> Any:
    lo, hi = parse_lex_range(argv[2], argv[3])
    z = read_zset(ctx.db, argv[1])
    if z is None:
        return 0
    start, stop = lex_span(z, lo, hi)
    return stop - start


def _rank(ctx: ShardContext, argv: list[bytes], reverse: bool) -> Any:
    name = "zrevrank" if reverse else "zrank"
    if len(argv) > 4:
        raise CommandError(errors.wrong_arity(name))
    withscore = False
    if len(argv) == 4:
        if argv[3].lower() != b"withscore":
            raise CommandError(errors.SYNTAX)
        withscore = True
    z = read_zset(ctx.db, argv[1])
    rank = None if z is None else z.rank(argv[2])
    if z is None or rank is None:
        return NULL_ARRAY if withscore else None
    if reverse:
        rank = len(z) - 1 - rank
    if withscore:
        return [rank, z.scores[argv[2]]]
    return rank


@command("zrank")
def cmd_zrank(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _rank(ctx, argv, False)


@command("zrevrank")
def cmd_zrevrank(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _rank(ctx, argv, True)


# ---- ZRANGE and friends ----------------------------------------------------

RANK, SCORE, LEX = "rank", "score", "lex"


def zrange_generic(ctx: ShardContext, argv: list[bytes], at: int, dst: bytes | None, rangetype: str | None, reverse: bool | None) -> Any:
    """zrangeGenericCommand: argv[at] is the source key, then min, max and options."""
    store = dst is not None
    withscores = False
    offset, limit = 0, -1
    j = at + 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if not store and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = parse_long(argv[j + 1])
            limit = parse_long(argv[j + 2])
            j += 2
        elif reverse is None and opt == b"rev":
            reverse = True
        elif rangetype is None and opt == b"bylex":
            rangetype = LEX
        elif rangetype is None and opt == b"byscore":
            rangetype = SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    reverse = bool(reverse)
    rangetype = rangetype or RANK
    if limit != -1 and rangetype == RANK:
        raise CommandError(errors.LIMIT_NEEDS_BY)
    if withscores and rangetype == LEX:
        raise CommandError(errors.WITHSCORES_BYLEX)
    lo_arg, hi_arg = argv[at + 1], argv[at + 2]
    if reverse and rangetype != RANK:
        lo_arg, hi_arg = hi_arg, lo_arg
    if rangetype == RANK:
        start_rank, end_rank = parse_long(lo_arg), parse_long(hi_arg)
    elif rangetype == SCORE:
        srange = parse_score_range(lo_arg, hi_arg)
    else:
        lrange = parse_lex_range(lo_arg, hi_arg)
    z = read_zset(ctx.db, argv[at])
    if z is None:
        if store:
            assert dst is not None
            ctx.db.delete(dst)
            return 0
        return []
    items: Iterator[tuple[float, bytes]]
    hint = 0
    if rangetype == RANK:
        llen = len(z)
        if start_rank < 0:
            start_rank += llen
        if end_rank < 0:
            end_rank += llen
        start_rank = max(start_rank, 0)
        if start_rank > end_rank or start_rank >= llen:
            items = iter(())
        else:
            end_rank = min(end_rank, llen - 1)
            hint = end_rank - start_rank + 1
            if reverse:
                items = z.index.iterate_back(llen - 1 - start_rank, llen - 2 - end_rank)
            else:
                items = z.index.iterate(start_rank, end_rank + 1)
    elif rangetype == LEX and lex_walked(z):
        members = list(z.index)
        if offset < 0:  # the whole walk, then Valkey 9's offset back from its end (or nothing)
            walked = _lex_walk(members, *lrange, 0, -1, reverse)
            offset = _skiplist_offset(z, offset, len(walked))
            walked = [] if offset < 0 else walked[offset : offset + limit if limit >= 0 else None]
        else:
            walked = _lex_walk(members, *lrange, offset, limit, reverse)
        items = iter([members[i] for i in walked])
    else:
        if rangetype == SCORE:
            start, stop = score_span(z, *srange)
        else:
            start, stop = lex_span(z, *lrange)
        if offset > 0 and offset >= len(z):
            items = iter(())
        else:
            items = _window(z, start, stop, offset, limit, reverse)
    result = [(m, s) for s, m in items]
    if store:
        assert dst is not None
        out = ZSetValue.create(hint, 0)
        for m, s in result:
            out.insert(m, s)
        return store_result(ctx, dst, out)
    return _with_scores(ctx, result, withscores)


@command("zrange")
def cmd_zrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, None, None)


@command("zrangestore")
def cmd_zrangestore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 2, argv[1], None, None)


@command("zrevrange")
def cmd_zrevrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, RANK, True)


@command("zrangebyscore")
def cmd_zrangebyscore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, SCORE, False)


@command("zrevrangebyscore")
def cmd_zrevrangebyscore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, SCORE, True)


@command("zrangebylex")
def cmd_zrangebylex(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, LEX, False)


@command("zrevrangebylex")
def cmd_zrevrangebylex(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zrange_generic(ctx, argv, 1, None, LEX, True)


# ---- removals --------------------------------------------------------------


@command("zrem")
def cmd_zrem(ctx: ShardContext, argv: list[bytes]) -> Any:
    db = ctx.db
    z = write_zset(db, argv[1])
    if z is None:
        return ctx.changes(0)
    deleted = 0
    for m in argv[2:]:
        if z.delete(m):
            deleted += 1
        if not len(z):
            db.delete(argv[1])
            break
    return ctx.changes(deleted)


def _remove_span(ctx: ShardContext, key: bytes, z: ZSetValue, start: int, stop: int) -> int:
    doomed = list(z.index.iterate(start, stop))
    for _, m in doomed:
        z.delete(m)
    if not len(z):
        ctx.db.delete(key)
    return ctx.changes(len(doomed))


@command("zremrangebyrank")
def cmd_zremrangebyrank(ctx: ShardContext, argv: list[bytes]) -> Any:
    start, end = parse_long(argv[2]), parse_long(argv[3])
    z = write_zset(ctx.db, argv[1])
    if z is None:
        return ctx.changes(0)
    llen = len(z)
    if start < 0:
        start += llen
    if end < 0:
        end += llen
    start = max(start, 0)
    if start > end or start >= llen:
        return ctx.changes(0)
    end = min(end, llen - 1)
    return _remove_span(ctx, argv[1], z, start, end + 1)


@command("zremrangebyscore")
def cmd_zremrangebyscore(ctx: ShardContext, argv: list[bytes]) -> Any:
    srange = parse_score_range(argv[2], argv[3])
    z = write_zset(ctx.db, argv[1])
    if z is None:
        return ctx.changes(0)
    return _remove_span(ctx, argv[1], z, *score_span(z, *srange))


@command("zremrangebylex")
def cmd_zremrangebylex(ctx: ShardContext, argv: list[bytes]) -> Any:
    lrange = parse_lex_range(argv[2], argv[3])
    z = write_zset(ctx.db, argv[1])
    if z is None:
        return ctx.changes(0)
    return _remove_span(ctx, argv[1], z, *lex_span(z, *lrange))


# ---- pops ------------------------------------------------------------------


def _pop(ctx: ShardContext, key: bytes, z: ZSetValue, count: int, maximum: bool) -> list[tuple[bytes, float]]:
    items = z.pop_ends(count, maximum)
    if not len(z):
        ctx.db.delete(key)
    return [(m, s) for s, m in items]


def _zpop(ctx: ShardContext, argv: list[bytes], maximum: bool) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = parse_positive(argv[2]) if len(argv) == 3 else -1
    z = write_zset(ctx.db, argv[1])
    if z is None or count == 0:
        ctx.rewrite = []  # nothing popped
        return []
    if count == -1:  # one item, flat in RESP2 and RESP3 alike
        score, member = z.pop_one(maximum)
        if not len(z):
            ctx.db.delete(argv[1])
        return [member, score]
    items = _pop(ctx, argv[1], z, count, maximum)
    if ctx.resp3:
        return [[m, s] for m, s in items]
    return [x for m, s in items for x in (m, s)]


@command("zpopmin")
def cmd_zpopmin(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _zpop(ctx, argv, False)


@command("zpopmax")
def cmd_zpopmax(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _zpop(ctx, argv, True)


def parse_zmpop(argv: list[bytes]) -> tuple[list[bytes], bool, int]:
    """ZMPOP numkeys key... MIN|MAX [COUNT n]: (keys, max?, count)."""
    numkeys = parse_range(argv[1], 1, LLONG_MAX, errors.NUMKEYS_POSITIVE)
    where_at = 1 + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(errors.SYNTAX)
    where = argv[where_at].lower()
    if where not in (b"min", b"max"):
        raise CommandError(errors.SYNTAX)
    count = -1
    j = where_at + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = parse_range(argv[j + 1], 1, LLONG_MAX, errors.COUNT_POSITIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[2 : 2 + numkeys], where == b"max", 1 if count == -1 else count


@command("zmpop")
def cmd_zmpop(ctx: ShardContext, argv: list[bytes]) -> Any:
    keys, maximum, count = parse_zmpop(argv)
    for key in keys:
        z = write_zset(ctx.db, key)
        if z is None:
            continue
        items = _pop(ctx, key, z, count, maximum)
        ctx.rewrite = [[b"zpopmax" if maximum else b"zpopmin", key, b"%d" % len(items)]]
        return [key, [[m, s] for m, s in items]]
    ctx.rewrite = []
    return NULL_ARRAY


# ---- blocking pops: the shard's steps (see shardserver/front/blocking.py) ------


def _bz_args(cmd: list[bytes]) -> tuple[list[bytes], bool, int]:
    """(keys, max?, count) of a BZPOPMIN/BZPOPMAX/BZMPOP argv; count -1 = one, BZPOP's reply."""
    name = cmd[0].lower()
    if name == b"bzmpop":
        return parse_zmpop(cmd[1:])  # [timeout, numkeys, ...]: numkeys at index 1
    return cmd[1:-1], name == b"bzpopmax", -1


def _bz_pop(ctx: ShardContext, key: bytes, z: ZSetValue, maximum: bool, count: int) -> Any:
    items = _pop(ctx, key, z, 1 if count == -1 else count, maximum)
    name = b"zpopmax" if maximum else b"zpopmin"
    if count == -1:
        ctx.rewrite = [[name, key]]
        m, sc = items[0]
        return [key, m, sc]
    ctx.rewrite = [[name, key, b"%d" % len(items)]]
    return [key, [[m, sc] for m, sc in items]]


@internal("__zprobe")
def cmd_zprobe(ctx: ShardContext, argv: list[bytes]) -> Any:
    """Per key: 0 missing, 1 a sorted set, 2 another type, 3 a sorted set blocked clients are about to get."""
    return ctx.db.probe(argv[1:], ZSetValue)


@internal("__ztry", writes=True)
def cmd_ztry(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__ztry <mode> <BZPOPMIN|BZPOPMAX|BZMPOP argv...>: pop like ZPOPMIN/ZPOPMAX/ZMPOP, or watch.

    Modes as ``__try`` of list_cmds: ``1`` a client's attempt (keys in
    ``ready_pending`` count as empty; nothing to pop: watch the keys, reply
    None, or 1 when a key was skipped), ``0`` pop only, ``s`` serve a blocked
    client from the first key (another type counts as empty; None ends the
    key's serving round).
    """
    from shardserver.shard.list_cmds import watch

    mode = argv[1]
    keys, maximum, count = _bz_args(argv[2:])
    db = ctx.db
    ctx.rewrite = []
    if mode == b"s":
        first = keys[0]
        z = db.get(first)
        if type(z) is not ZSetValue or not len(z):
            db.ready_pending.discard(first)
            return None
        return _bz_pop(ctx, first, z, maximum, count)
    pending = db.ready_pending if mode == b"1" else ()
    skipped = False
    for key in keys:
        z = write_zset(db, key)
        if z is None or not len(z):
            continue
        if key in pending:
            skipped = True
            continue
        return _bz_pop(ctx, key, z, maximum, count)
    if mode == b"1":
        watch(db, keys)
        return 1 if skipped else None
    for key in keys:
        db.ready_pending.discard(key)
    return None


# ---- ZRANDMEMBER -----------------------------------------------------------


@command("zrandmember")
def cmd_zrandmember(ctx: ShardContext, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        z = read_zset(ctx.db, argv[1])
        return None if z is None else z.random_member()
    n = parse_range(argv[2], -LLONG_MAX, LLONG_MAX)
    withscores = False
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(errors.SYNTAX)
    if len(argv) == 4:
        withscores = True
        if n < -LLONG_MAX // 2 or n > LLONG_MAX // 2:
            raise CommandError(errors.OUT_OF_RANGE)
    z = read_zset(ctx.db, argv[1])
    if z is None or n == 0:
        return []
    if n < 0:
        picks = [z.random_member() for _ in range(-n)]
    elif n >= len(z):
        picks = [m for _, m in z.index.iterate_back(len(z) - 1, -1)]
    else:
        pool = z.scores
        if n * 3 <= len(z):
            chosen: dict[bytes, None] = {}
            while len(chosen) < n:
                chosen[z.random_member()] = None
            picks = list(chosen)
        else:
            picks = random.sample(list(pool), n)
    return _with_scores(ctx, [(m, z.scores[m]) for m in picks], withscores)


# ---- ZUNION / ZINTER / ZDIFF -------------------------------------------------


def _source(db: Database, key: bytes) -> Any:
    value = overlay.read(db, key)
    if value is None or type(value) in (ZSetValue, SetValue):
        return value
    raise CommandError(errors.WRONGTYPE)


def _entries(src: Any) -> Iterator[tuple[bytes, float]]:
    """A source's members and scores in Valkey's iteration order (sorted sets from the top)."""
    if type(src) is SetValue:
        return ((m, 1.0) for m in src)
    return ((m, s) for s, m in src.index.iterate_back(len(src) - 1, -1))


def _find(src: Any, member: bytes) -> float | None:
    if type(src) is SetValue:
        return 1.0 if src.contains(member) else None
    return src.scores.get(member)  # type: ignore[no-any-return]


def _aggregate(target: float, value: float, how: bytes) -> float:
    if how == b"sum":
        total = target + value
        return 0.0 if math.isnan(total) else total
    if how == b"min":
        return value if value < target else target
    return value if value > target else target


def _src_len(src: Any) -> int:
    return 0 if src is None else len(src)


def zsetop(ctx: ShardContext, argv: list[bytes], dst: bytes | None, at: int, op: str, card_only: bool = False) -> Any:
    """zunionInterDiffGenericCommand: argv[at] is numkeys."""
    name = argv[0].decode("latin-1").lower()
    setnum = parse_long(argv[at])
    if setnum < 1:
        raise CommandError(errors.input_key_needed(name))
    if setnum > len(argv) - (at + 1):
        raise CommandError(errors.SYNTAX)
    db = ctx.db
    srcs = [_source(db, argv[at + 1 + i]) for i in range(setnum)]
    weights = [1.0] * setnum
    how = b"sum"
    withscores = False
    limit = 0
    j = at + 1 + setnum
    n = len(argv)
    while j < n:
        remaining = n - j
        opt = argv[j].lower()
        if op != "diff" and not card_only and remaining >= setnum + 1 and opt == b"weights":
            for i in range(setnum):
                weights[i] = parse_score(argv[j + 1 + i], errors.WEIGHT_NOT_FLOAT)
            j += 1 + setnum
        elif op != "diff" and not card_only and remaining >= 2 and opt == b"aggregate":
            how = argv[j + 1].lower()
            if how not in (b"sum", b"min", b"max"):
                raise CommandError(errors.SYNTAX)
            j += 2
        elif remaining >= 1 and dst is None and not card_only and opt == b"withscores":
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            limit = parse_positive(argv[j + 1], errors.LIMIT_NEGATIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    order = list(range(setnum))
    if op != "diff":
        order.sort(key=lambda i: _src_len(srcs[i]))
    result: dict[bytes, float] = {}
    card = 0
    if op == "inter":
        first = order[0]
        if _src_len(srcs[first]):
            others = order[1:]
            for member, raw in _entries(srcs[first]):
                score = weights[first] * raw
                if math.isnan(score):
                    score = 0.0
                for i in others:
                    if srcs[i] is srcs[first]:
                        value: float | None = raw * weights[i]
                    else:
                        value = _find(srcs[i], member)
                        if value is None:
                            break
                        value *= weights[i]
                    score = _aggregate(score, value, how)
                else:
                    if card_only:
                        card += 1
                        if limit and card >= limit:
                            break
                    else:
                        result[member] = score
    elif op == "union":
        for i in order:
            src = srcs[i]
            if not _src_len(src):
                continue
            for member, raw in _entries(src):
                score = weights[i] * raw
                if math.isnan(score):
                    score = 0.0
                old = result.get(member)
                result[member] = score if old is None else _aggregate(old, score, how)
    else:
        first_src = srcs[0]
        if _src_len(first_src) and not any(s is first_src for s in srcs[1:]):
            others_src = [s for s in srcs[1:] if s is not None]
            for member, raw in _entries(first_src):
                if not any(_find(s, member) is not None for s in others_src):
                    result[member] = raw
    if card_only:
        return card
    if dst is not None:
        out = ZSetValue(SKIPLIST)
        for member, score in result.items():
            out.insert(member, score)
        out.maybe_to_listpack()
        return store_result(ctx, dst, out)
    ranked = sorted((s, m) for m, s in result.items())
    return _with_scores(ctx, [(m, s) for s, m in ranked], withscores)


@command("zunion")
def cmd_zunion(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, None, 1, "union")


@command("zinter")
def cmd_zinter(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, None, 1, "inter")


@command("zdiff")
def cmd_zdiff(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, None, 1, "diff")


@command("zintercard")
def cmd_zintercard(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, None, 1, "inter", card_only=True)


@command("zunionstore")
def cmd_zunionstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, argv[1], 2, "union")


@command("zinterstore")
def cmd_zinterstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, argv[1], 2, "inter")


@command("zdiffstore")
def cmd_zdiffstore(ctx: ShardContext, argv: list[bytes]) -> Any:
    return zsetop(ctx, argv, argv[1], 2, "diff")


# ---- ZSCAN -------------------------------------------------------------------


@command("zscan")
def cmd_zscan(ctx: ShardContext, argv: list[bytes]) -> Any:
    cursor = scan_cursor(argv[2])
    z = read_zset(ctx.db, argv[1])
    if z is None:
        return [b"0", []]
    matcher, count, noscores = parse_scan_options(argv, 3, zset=True)
    nxt, members = z.scan(cursor, count)
    # Valkey prints a listpack's scores as stored (its d2string text) and a
    # skiplist's with %.17g: 0.1 comes back as 0.10000000000000001 there
    fmt = _g17 if z.enc == SKIPLIST else double_bytes
    out: list[bytes] = []
    for m in members:
        if matcher is not None and not matcher(m):
            continue
        out.append(m)
        if not noscores:
            out.append(fmt(z.scores[m]))
    return [b"%d" % nxt, out]


def _g17(score: float) -> bytes:
    return b"%.17g" % score

