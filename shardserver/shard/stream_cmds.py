"""Stream commands (X*), run by the shard that owns the key.

Ownership: shard-side handlers only; the data structure is
``shardserver.shard.types.stream``.  Parsing and error order follow Valkey's
t_stream.c so the first error Valkey reports is the one reported here.

What the AOF gets (``ctx.rewrite``): XADD with the ID it generated and an
approximate trim as its exact effect; XREADGROUP, XCLAIM and XAUTOCLAIM as
the XCLAIM ... TIME/RETRYCOUNT/FORCE/JUSTID/LASTID commands (plus XGROUP
SETID / CREATECONSUMER) that rebuild the same PEL, as Valkey propagates them.
XREAD/XREADGROUP BLOCK: the front runs them (shardserver/front/stream_block.py)
with the non-blocking command, then ``__xwatch`` (watch, and resolve ``$``)
and, when XADD signals a watched key (``Database.signal_ready``), ``__xtry``
serves a blocked client; a shard that sees BLOCK otherwise runs the command
without blocking, as Valkey does inside MULTI.
"""

from __future__ import annotations

import re
from typing import Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.numbers import LLONG_MAX, parse_int, parse_ms_timeout, strict_int
from shardserver.resp import NULL_ARRAY, OK, Raw, Simple, encode
from shardserver.shard.registry import ShardContext, command, internal
from shardserver.shard.types.stream import (
    INVALID_READ,
    LIMITS,
    MAX_ID,
    U64,
    Group,
    Nack,
    Stream,
    first_n,
    fmt_id,
    make_id,
    signed64,
)
from shardserver.slots import key_slot

# ---------------------------------------------------------------- IDs

_STRTOULL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)\Z")


def _str2ull(s: bytes) -> int | None:
    """Valkey's string2ull: string2ll first, then strtoull (sign, spaces, leading zeros)."""
    ll = strict_int(s)
    if ll is not None:
        return None if ll < 0 else ll
    m = _STRTOULL.match(s)
    if m is None:
        return None
    v = int(m.group(2))
    if v > U64:
        return None
    return (-v) & U64 if m.group(1) == b"-" else v


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False, seq_star: bool = False) -> tuple[int, bool]:
    """streamGenericParseIDOrReply: (id, seq_given); raises the invalid-ID error."""
    if len(arg) > 127:
        raise CommandError(errors.STREAM_BAD_ID)
    buf = arg.split(b"\0", 1)[0]  # parsed as a C string
    if strict and buf in (b"-", b"+"):
        raise CommandError(errors.STREAM_BAD_ID)
    if buf == b"-":
        return 0, True
    if buf == b"+":
        return MAX_ID, True
    ms_part, dash, seq_part = buf.partition(b"-")
    ms = _str2ull(ms_part)
    if ms is None:
        raise CommandError(errors.STREAM_BAD_ID)
    seq_given = True
    if dash:
        if seq_star and seq_part == b"*":
            seq = 0
            seq_given = False
        else:
            parsed = _str2ull(seq_part)
            if parsed is None:
                raise CommandError(errors.STREAM_BAD_ID)
            seq = parsed
    else:
        seq = missing_seq
    return make_id(ms, seq), seq_given


def strict_id(arg: bytes) -> int:
    return parse_id(arg, 0, strict=True)[0]


def try_strict_id(arg: bytes) -> int | None:
    try:
        return strict_id(arg)
    except CommandError:
        return None


def parse_interval(arg: bytes, missing_seq: int) -> tuple[int, bool]:
    """streamParseIntervalIDOrReply: '(' makes the bound exclusive (and strict)."""
    if len(arg) > 1 and arg[:1] == b"(":
        return parse_id(arg[1:], missing_seq, strict=True)[0], True
    return parse_id(arg, missing_seq)[0], False


def parse_range(start_arg: bytes, end_arg: bytes) -> tuple[int, int]:
    start, ex = parse_interval(start_arg, 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(errors.STREAM_BAD_START)
        start += 1
    end, ex = parse_interval(end_arg, U64)
    if ex:
        if end == 0:
            raise CommandError(errors.STREAM_BAD_END)
        end -= 1
    return start, end


def entry_reply(id_: int, fv: tuple[bytes, ...]) -> list[Any]:
    return [fmt_id(id_), list(fv)]


# ---------------------------------------------------------------- lookups


def _stream_or_none(ctx: ShardContext, key: bytes) -> Stream | None:
    value = ctx.db.get(key)
    if value is None:
        return None
    if not isinstance(value, Stream):
        raise CommandError(errors.WRONGTYPE)
    return value


def _ll(arg: bytes, error: str = errors.NOT_INTEGER) -> int:
    return parse_int(arg, error)


# ---------------------------------------------------------------- XADD / XTRIM


class TrimArgs:
    __slots__ = ("strategy", "arg_idx", "approx", "limit", "maxlen", "minid", "id", "id_given", "seq_given", "no_mkstream")

    def __init__(self) -> None:
        self.strategy = ""  # "", "maxlen" or "minid"
        self.arg_idx = 0
        self.approx = False
        self.limit = 0
        self.maxlen = 0
        self.minid = 0
        self.id = 0
        self.id_given = False
        self.seq_given = True
        self.no_mkstream = False


def parse_add_trim(argv: list[bytes], xadd: bool, obey: bool = False) -> tuple[TrimArgs, int]:
    """streamParseAddOrTrimArgsOrReply: the options and the position of the ID (XADD).

    ``obey``: an AOF record (Valkey's mustObeyClient).  Its approximate trim was
    logged as the exact one it made, LIMIT kept: no limit applies, and LIMIT
    without ``~`` is no error there."""
    a = TrimArgs()
    argc = len(argv)
    i = 2
    limit_given = False
    while i < argc:
        more = argc - 1 - i
        opt = argv[i]
        low = opt.lower()
        if xadd and opt == b"*":
            break
        if low in (b"maxlen", b"minid") and more:
            if a.strategy:
                raise CommandError(errors.STREAM_MAXLEN_MINID)
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            if low == b"maxlen":
                a.maxlen = _ll(argv[i + 1])
                if a.maxlen < 0:
                    raise CommandError(errors.STREAM_MAXLEN_NEGATIVE)
            else:
                a.minid = parse_id(argv[i + 1], 0, strict=True)[0]
            i += 1
            a.strategy = low.decode()
            a.arg_idx = i
        elif low == b"limit" and more:
            a.limit = _ll(argv[i + 1])
            if a.limit < 0:
                raise CommandError(errors.STREAM_LIMIT_NEGATIVE)
            limit_given = True
            i += 1
        elif xadd and low == b"nomkstream":
            a.no_mkstream = True
        elif xadd:
            a.id, a.seq_given = parse_id(opt, 0, strict=True, seq_star=True)
            a.id_given = True
            break
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if a.limit and not a.strategy:
        raise CommandError(errors.STREAM_LIMIT_NO_STRATEGY)
    if not xadd and not a.strategy:
        raise CommandError(errors.STREAM_XTRIM_NO_STRATEGY)
    if obey:
        a.limit = 0
    elif limit_given:
        if not a.approx:
            raise CommandError(errors.STREAM_LIMIT_NO_APPROX)
    elif a.approx:
        limit = 100 * LIMITS["stream-node-max-entries"]
        if limit <= 0:
            limit = 10000
        a.limit = min(limit, 1000000)
    else:
        a.limit = 0
    return a, i


def _trim(s: Stream, a: TrimArgs) -> int:
    if a.strategy == "maxlen":
        return s.trim(a.maxlen, None, a.approx, a.limit)
    return s.trim(None, a.minid, a.approx, a.limit)


def _rewrite_trim(s: Stream, a: TrimArgs, argv: list[bytes]) -> None:
    """An approximate trim is logged as the exact one that has the same effect."""
    argv[a.arg_idx - 1] = b"="
    if a.strategy == "maxlen":
        argv[a.arg_idx] = b"%d" % s.length
    else:
        argv[a.arg_idx] = fmt_id(s.first_physical_id() if s.nodes else MAX_ID)


_NO_OPTIONS = TrimArgs()  # what parse_add_trim makes of XADD key * ... (read only)


@command("xadd")
def cmd_xadd(ctx: ShardContext, argv: list[bytes]) -> Any:
    if argv[2] == b"*":  # the usual XADD: no options to parse
        a, idpos = _NO_OPTIONS, 2
    else:
        a, idpos = parse_add_trim(argv, True, ctx.loading)
    field_pos = idpos + 1
    nfields = len(argv) - field_pos
    if nfields < 2 or nfields % 2:
        raise CommandError(errors.wrong_arity("xadd"))
    if a.id_given and a.seq_given and a.id == 0:
        raise CommandError(errors.STREAM_ID_ZERO)
    key = argv[1]
    s = _stream_or_none(ctx, key)
    created = s is None
    if s is None:
        if a.no_mkstream:
            ctx.rewrite = []
            return None
        s = Stream()
        ctx.db.set(key, s)  # signals a watched key it creates
    if s.last_id == MAX_ID:
        raise CommandError(errors.STREAM_EXHAUSTED)
    if a.id_given:
        if a.seq_given:
            new_id: int | None = a.id
        elif (s.last_id >> 64) == (a.id >> 64):
            new_id = None if (s.last_id & U64) == U64 else s.last_id + 1
        else:
            new_id = a.id
    else:
        new_id = s.next_auto_id(ctx.keyspace.clock.wall)
    if new_id is None or new_id <= s.last_id:
        raise CommandError(errors.STREAM_ID_TOO_SMALL)
    fv = tuple(argv[field_pos:])
    nbytes = sum(map(len, fv))
    if nbytes > (1 << 30):
        raise CommandError(errors.STREAM_TOO_LARGE)
    s.append(new_id, fv, nbytes)
    if not created:
        ctx.db.signal_ready(key)  # blocked XREAD/XREADGROUP clients of the key
    reply = fmt_id(new_id)
    logged = list(argv)
    if a.strategy:
        _trim(s, a)
        if a.approx:
            _rewrite_trim(s, a, logged)
    if not a.id_given or not a.seq_given:
        logged[idpos] = reply
    ctx.rewrite = [logged]
    return reply


@command("xtrim")
def cmd_xtrim(ctx: ShardContext, argv: list[bytes]) -> Any:
    a, _ = parse_add_trim(argv, False, ctx.loading)
    s = _stream_or_none(ctx, argv[1])
    if s is None:
        return ctx.changes(0)
    deleted = _trim(s, a)
    if deleted and a.approx:
        logged = list(argv)
        _rewrite_trim(s, a, logged)
        ctx.rewrite = [logged]
    return ctx.changes(deleted)


# ---------------------------------------------------------------- reads


@command("xlen")
def cmd_xlen(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = _stream_or_none(ctx, argv[1])
    return 0 if s is None else s.length


def _xrange(ctx: ShardContext, argv: list[bytes], rev: bool) -> Any:
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start, end = parse_range(start_arg, end_arg)
    count = -1
    j = 4
    while j < len(argv):
        if argv[j].lower() == b"count" and j + 1 < len(argv):
            count = max(_ll(argv[j + 1]), 0)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    s = _stream_or_none(ctx, argv[1])
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    it = s.range(start, end, rev)
    items = first_n(it, count) if count > 0 else list(it)
    return [entry_reply(i, fv) for i, fv in items]


@command("xrange")
def cmd_xrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _xrange(ctx, argv, False)


@command("xrevrange")
def cmd_xrevrange(ctx: ShardContext, argv: list[bytes]) -> Any:
    return _xrange(ctx, argv, True)


@command("xdel")
def cmd_xdel(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = _stream_or_none(ctx, argv[1])
    if s is None:
        return ctx.changes(0)
    ids = [strict_id(a) for a in argv[2:]]
    deleted = 0
    first_entry = False
    for id_ in ids:
        if s.delete(id_):
            if id_ == s.first_id:
                first_entry = True
            if id_ > s.max_deleted:
                s.max_deleted = id_
            deleted += 1
    if deleted:
        if s.length == 0:
            s.first_id = 0
        elif first_entry:
            s.first_id = s.first_valid_id()
    return ctx.changes(deleted)


# ---------------------------------------------------------------- XREAD / XREADGROUP


class ReadArgs:
    __slots__ = ("count", "streams_arg", "nstreams", "noack", "group", "consumer", "block")

    def __init__(self) -> None:
        self.block: int | None = None  # BLOCK milliseconds (0 = forever)
        self.count = 0
        self.streams_arg = 0
        self.nstreams = 0
        self.noack = False
        self.group: bytes | None = None
        self.consumer: bytes | None = None


def parse_read(argv: list[bytes], xreadgroup: bool) -> ReadArgs:
    """XREAD/XREADGROUP options, checked in Valkey's order (the keys and IDs come later)."""
    r = ReadArgs()
    argc = len(argv)
    name = "xreadgroup" if xreadgroup else "xread"
    i = 1
    while i < argc:
        more = argc - i - 1
        o = argv[i].lower()
        if o == b"block" and more:
            i += 1
            r.block = parse_ms_timeout(argv[i])
        elif o == b"count" and more:
            i += 1
            r.count = max(_ll(argv[i]), 0)
        elif o == b"streams" and more:
            r.streams_arg = i + 1
            n = argc - r.streams_arg
            if n % 2:
                raise CommandError(errors.stream_unbalanced(name, ">" if xreadgroup else "$"))
            r.nstreams = n // 2
            break
        elif o == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError(errors.STREAM_GROUP_XREAD)
            r.group = argv[i + 1]
            r.consumer = argv[i + 2]
            i += 2
        elif o == b"noack":
            if not xreadgroup:
                raise CommandError(errors.STREAM_NOACK_XREAD)
            r.noack = True
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if r.streams_arg == 0:
        raise CommandError(errors.SYNTAX)
    if xreadgroup and r.group is None:
        raise CommandError(errors.STREAM_MISSING_GROUP)
    return r


# An ID slot: ("id", int), ("$", None), ("+", None) or (">", None)
IdSpec = tuple[str, int]


def check_read_keys(ctx: ShardContext, keys: list[bytes], ids: list[bytes], group: bytes | None) -> list[tuple[int, int]]:
    """Type, group and ID checks per key, in order; returns (gt, count override) per key.

    ``gt`` is the ID read entries must be greater than (MAX_ID marks '>'),
    ``count override`` is 1 for XREAD's '+' and 0 otherwise.
    """
    out: list[tuple[int, int]] = []
    for key, arg in zip(keys, ids, strict=True):
        s = _stream_or_none(ctx, key)
        if group is not None:
            if s is None or s.groups is None or group not in s.groups:
                raise CommandError(errors.stream_nogroup_read(key, group))
        if arg == b"$":
            if group is not None:
                raise CommandError(errors.STREAM_DOLLAR_GROUP)
            out.append((s.last_id if s is not None else 0, 0))
            continue
        if arg == b"+":
            if group is not None:
                raise CommandError(errors.STREAM_PLUS_GROUP)
            out.append((s.last_id - 1 if s is not None and s.last_id else 0, 1))
            continue
        if arg == b">":
            if group is None:
                raise CommandError(errors.STREAM_GT_XREAD)
            out.append((MAX_ID, 0))
            continue
        out.append((strict_id(arg), 0))
    return out


def xread_serve(ctx: ShardContext, keys: list[bytes], specs: list[tuple[int, int]], count: int) -> list[list[Any]]:
    """XREAD without groups: [key, entries] for each stream with entries past its ID."""
    out: list[list[Any]] = []
    for key, (gt, override) in zip(keys, specs, strict=True):
        s = ctx.db.get(key)
        if s is None or not s.length:
            continue
        if s.last_valid_id() <= gt:
            continue
        n = override or count
        it = s.range((gt + 1) & MAX_ID, MAX_ID)
        items = first_n(it, n) if n else list(it)
        out.append([key, [entry_reply(i, fv) for i, fv in items]])
    return out


def xreadgroup_serve(ctx: ShardContext, keys: list[bytes], specs: list[tuple[int, int]], r: ReadArgs, log: list[list[bytes]]) -> list[list[Any]]:
    """XREADGROUP: serve each stream, updating the group, its PEL and the consumer."""
    assert r.group is not None and r.consumer is not None
    now = ctx.keyspace.clock.wall
    gname, cname = r.group, r.consumer
    out: list[list[Any]] = []
    for key, (gt, _) in zip(keys, specs, strict=True):
        s: Stream = ctx.db.get(key)
        assert s.groups is not None
        g = s.groups[gname]
        serve = history = False
        if gt != MAX_ID:
            serve = history = True
        elif s.length:
            if s.last_valid_id() > g.last_id:
                serve = True
                gt = g.last_id
        consumer = g.consumers.get(cname)
        if consumer is None:
            consumer = g.create_consumer(cname, now)
            assert consumer is not None
            if r.noack:
                log.append([b"XGROUP", b"CREATECONSUMER", key, gname, cname])
        consumer.seen_time = now
        if not serve:
            continue
        start = (gt + 1) & MAX_ID
        entries: list[Any] = []
        if history:
            ids = consumer.pel.iter_from(start)
            for id_ in first_n(ids, r.count) if r.count else list(ids):
                fv = s.get(id_)
                if fv is None:
                    entries.append([fmt_id(id_), NULL_ARRAY])
                else:
                    entries.append(entry_reply(id_, fv))
                    nack = g.pel[id_]
                    nack.delivery_time = now
                    nack.delivery_count += 1
        else:
            moved = False
            it = s.range(start, MAX_ID)
            for id_, fv in first_n(it, r.count) if r.count else list(it):
                if id_ > g.last_id:
                    s.advance_group(g, id_)
                    moved = True  # logged as XGROUP SETID ... ENTRIESREAD, as Valkey propagates it
                entries.append(entry_reply(id_, fv))
                if not r.noack:
                    nack = g.pel.get(id_)
                    if nack is None:
                        nack = Nack(consumer, now)
                        g.add_nack(id_, nack)
                        consumer.pel.add(id_)
                    else:
                        if nack.consumer is not None:
                            nack.consumer.pel.remove(id_)
                        nack.consumer = consumer
                        nack.delivery_time = now
                        nack.delivery_count = 1
                        consumer.pel.add(id_)
                    consumer.active_time = now
                    log.append(_xclaim_log(key, gname, g, id_, nack))
            if moved:
                log.append(_setid_log(key, gname, g))
        out.append([key, entries])
    return out


def _xclaim_log(key: bytes, gname: bytes, g: Group, id_: int, nack: Nack) -> list[bytes]:
    owner = nack.consumer.name if nack.consumer is not None else b""
    return [
        b"XCLAIM", key, gname, owner, b"0", fmt_id(id_), b"TIME", b"%d" % nack.delivery_time,
        b"RETRYCOUNT", b"%d" % nack.delivery_count, b"FORCE", b"JUSTID", b"LASTID", fmt_id(g.last_id),
    ]


def _setid_log(key: bytes, gname: bytes, g: Group) -> list[bytes]:
    return [b"XGROUP", b"SETID", key, gname, fmt_id(g.last_id), b"ENTRIESREAD", b"%d" % g.entries_read]


def read_reply(pairs: list[list[Any]], resp3: bool) -> Any:
    """XREAD's reply: null when nothing was served, else key/entries pairs (a RESP3 map)."""
    if not pairs:
        return NULL_ARRAY
    if resp3:  # a map may repeat a key (STREAMS s s ...): encode it by hand
        return Raw(b"%%%d\r\n" % len(pairs) + b"".join(encode(k, True) + encode(v, True) for k, v in pairs))
    return pairs


def _split_streams(argv: list[bytes], r: ReadArgs) -> tuple[list[bytes], list[bytes]]:
    a = r.streams_arg
    n = r.nstreams
    return argv[a : a + n], argv[a + n :]


def _check_owned(ctx: ShardContext, keys: list[bytes]) -> None:
    """The front routes by the key spec (the first STREAMS word); when an option value
    is also spelled STREAMS the parsed keys may differ: never touch another shard's keys."""
    if ctx.nshards > 1 and not all(ctx.owns_slot(key_slot(k)) for k in keys):
        raise CommandError(errors.STREAM_KEYS_MISROUTED)


@command("xread")
def cmd_xread(ctx: ShardContext, argv: list[bytes]) -> Any:
    r = parse_read(argv, False)
    keys, ids = _split_streams(argv, r)
    _check_owned(ctx, keys)
    specs = check_read_keys(ctx, keys, ids, None)
    return read_reply(xread_serve(ctx, keys, specs, r.count), ctx.resp3)


@command("xreadgroup")
def cmd_xreadgroup(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.rewrite = []
    r = parse_read(argv, True)
    keys, ids = _split_streams(argv, r)
    _check_owned(ctx, keys)
    specs = check_read_keys(ctx, keys, ids, r.group)
    log: list[list[bytes]] = []
    pairs = xreadgroup_serve(ctx, keys, specs, r, log)
    ctx.rewrite = log
    return read_reply(pairs, ctx.resp3)


# Internal steps of XREAD/XREADGROUP whose keys span shards (front/cross_stream.py).
# The front sends the whole command with the positions of this shard's keys.


def _check_pairs(ctx: ShardContext, pairs: list[bytes], group: bytes | None) -> list[Any] | None:
    """[local index, error text] of the first key/ID pair that fails its checks, or None."""
    for n in range(0, len(pairs), 2):
        try:
            check_read_keys(ctx, [pairs[n]], [pairs[n + 1]], group)
        except CommandError as exc:
            return [n // 2, exc.text]
    return None


@internal("__xread_check")
def cmd_xread_check(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__xread_check group key id [key id ...]: the first failing pair (see _check_pairs), or None."""
    return _check_pairs(ctx, argv[2:], argv[1])


@internal("__xread")
def cmd_xread_part(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__xread count key id [key id ...]: [None, pairs served] or [index, error] of the first failing pair."""
    count = int(argv[1])
    pairs = argv[2:]
    failed = _check_pairs(ctx, pairs, None)
    if failed is not None:
        return failed
    keys, ids = pairs[0::2], pairs[1::2]
    specs = check_read_keys(ctx, keys, ids, None)
    return [None, [_one(xread_serve(ctx, [k], [spec], count)) for k, spec in zip(keys, specs, strict=True)]]


def _one(pairs: list[list[Any]]) -> Any:
    """The entries of a one-key serve, or None when the key was not served."""
    return pairs[0][1] if pairs else None


@internal("__xreadgroup", writes=True)
def cmd_xreadgroup_part(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__xreadgroup group consumer count noack key id [key id ...]: entries or None per key, PEL updated."""
    ctx.rewrite = []
    r = ReadArgs()
    r.group, r.consumer, r.count, r.noack = argv[1], argv[2], int(argv[3]), argv[4] == b"1"
    pairs = argv[5:]
    keys, ids = pairs[0::2], pairs[1::2]
    specs = check_read_keys(ctx, keys, ids, r.group)
    log: list[list[bytes]] = []
    out = [_one(xreadgroup_serve(ctx, [k], [spec], r, log)) for k, spec in zip(keys, specs, strict=True)]
    ctx.rewrite = log
    return out


# Blocking XREAD / XREADGROUP (front/stream_block.py, on shardserver/front/blocking.py).


@internal("__xwatch")
def cmd_xwatch(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__xwatch key...: a client blocks on these streams; replies each one's last ID ('$' then)."""
    from shardserver.shard.list_cmds import watch

    ctx.rewrite = []
    keys = argv[1:]
    watch(ctx.db, keys)
    out = []
    for key in keys:
        s = ctx.db.peek(key)
        out.append(fmt_id(s.last_id) if isinstance(s, Stream) else b"0-0")
    return out


@internal("__xtry", writes=True)
def cmd_xtry(ctx: ShardContext, argv: list[bytes]) -> Any:
    """__xtry s xread|xreadgroup group consumer count noack key id [key id ...]: serve a blocked reader.

    The pairs are the client's keys on this shard, with ``$`` already resolved
    (``__xwatch``).  XREAD: entries newer than each ID (a missing key or
    another type is skipped).  XREADGROUP ``>``: new entries for the group,
    into the PEL and logged as XREADGROUP logs them; a key that is gone or a
    destroyed group answers NOGROUP, a key that now holds another type
    WRONGTYPE (Valkey runs the command again, which answers that).  None: nothing for this client.
    """
    ctx.rewrite = []
    kind, group, consumer, count, noack = argv[2], argv[3], argv[4], int(argv[5]), argv[6] == b"1"
    pairs = argv[7:]
    keys, ids = pairs[0::2], pairs[1::2]
    db = ctx.db
    if kind == b"xread":
        out: list[list[Any]] = []
        for key, arg in zip(keys, ids, strict=True):
            if not isinstance(db.peek(key), Stream):
                continue
            out.extend(xread_serve(ctx, [key], [(strict_id(arg), 0)], count))
        return out or None
    r = ReadArgs()
    r.group, r.consumer, r.count, r.noack = group, consumer, count, noack
    # the checks of XREADGROUP run again now, as Valkey does: WRONGTYPE, NOGROUP
    specs = check_read_keys(ctx, keys, ids, group)
    log: list[list[bytes]] = []
    served = xreadgroup_serve(ctx, keys, specs, r, log)
    ctx.rewrite = log
    return served or None


# ---------------------------------------------------------------- XGROUP


def _xgroup_common(ctx: ShardContext, argv: list[bytes], sub: bytes) -> tuple[Stream | None, Group | None, bool, int]:
    """Option parsing and key/group checks shared by the XGROUP subcommands.

    The AOF record is the command as clients send it (``XGROUP CREATE ...``), not
    the shard's handler name ``xgroup|create`` that ``argv[0]`` holds here."""
    ctx.rewrite = [[b"XGROUP", *argv[1:]]]
    mkstream = False
    entries_read = INVALID_READ
    create = sub == b"create"
    setid = sub == b"setid"
    i = 5
    while i < len(argv):
        o = argv[i].lower()
        if create and o == b"mkstream":
            mkstream = True
            i += 1
        elif (create or setid) and o == b"entriesread" and i + 1 < len(argv):
            entries_read = _ll(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_READ:
                raise CommandError(errors.STREAM_ENTRIESREAD)
            i += 2
        else:
            raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    s = _stream_or_none(ctx, argv[2])
    g = None
    if not mkstream:
        if s is None:
            raise CommandError(errors.STREAM_XGROUP_NO_KEY)
        g = s.groups.get(argv[3]) if s.groups else None
        if g is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            raise CommandError(errors.stream_nogroup_for_key(argv[3], argv[2]))
    return s, g, mkstream, entries_read


@command("xgroup|create")
def cmd_xgroup_create(ctx: ShardContext, argv: list[bytes]) -> Any:
    s, _, _, entries_read = _xgroup_common(ctx, argv, b"create")
    if len(argv) > 8:
        raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    if argv[4] == b"$":
        id_ = s.last_id if s is not None else 0
    else:
        id_ = strict_id(argv[4])
    if s is None:
        s = Stream()
        ctx.db.set(argv[2], s)
    if s.groups is None:
        s.groups = {}
    if argv[3] in s.groups:
        raise CommandError(errors.STREAM_BUSYGROUP)
    s.groups[argv[3]] = Group(id_, entries_read)
    return OK


@command("xgroup|setid")
def cmd_xgroup_setid(ctx: ShardContext, argv: list[bytes]) -> Any:
    s, g, _, entries_read = _xgroup_common(ctx, argv, b"setid")
    if len(argv) not in (5, 7):
        raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    assert s is not None and g is not None
    id_ = s.last_id if argv[4] == b"$" else parse_id(argv[4], 0)[0]
    g.last_id = id_
    g.entries_read = entries_read
    return OK


@command("xgroup|destroy")
def cmd_xgroup_destroy(ctx: ShardContext, argv: list[bytes]) -> Any:
    s, g, _, _ = _xgroup_common(ctx, argv, b"destroy")
    if g is None:
        return 0
    assert s is not None and s.groups is not None
    del s.groups[argv[3]]
    ctx.db.signal_ready(argv[2])  # its blocked XREADGROUP clients get NOGROUP
    return 1


@command("xgroup|createconsumer")
def cmd_xgroup_createconsumer(ctx: ShardContext, argv: list[bytes]) -> Any:
    _, g, _, _ = _xgroup_common(ctx, argv, b"createconsumer")
    assert g is not None
    return 1 if g.create_consumer(argv[4], ctx.keyspace.clock.wall) is not None else 0


@command("xgroup|delconsumer")
def cmd_xgroup_delconsumer(ctx: ShardContext, argv: list[bytes]) -> Any:
    _, g, _, _ = _xgroup_common(ctx, argv, b"delconsumer")
    assert g is not None
    c = g.consumers.get(argv[4])
    if c is None:
        return 0
    return g.delete_consumer(c)


# ---------------------------------------------------------------- XSETID / XACK


@command("xsetid")
def cmd_xsetid(ctx: ShardContext, argv: list[bytes]) -> Any:
    id_ = strict_id(argv[2])
    max_xdel = 0
    entries_added = -1
    i = 3
    while i < len(argv):
        more = len(argv) - 1 - i
        o = argv[i].lower()
        if o == b"entriesadded" and more:
            entries_added = _ll(argv[i + 1])
            if entries_added < 0:
                raise CommandError(errors.STREAM_ENTRIES_ADDED_NEGATIVE)
            i += 2
        elif o == b"maxdeletedid" and more:
            max_xdel = strict_id(argv[i + 1])
            if id_ < max_xdel:
                raise CommandError(errors.STREAM_SETID_MAXDEL_ARG)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    s = _stream_or_none(ctx, argv[1])
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if id_ < s.max_deleted:
        raise CommandError(errors.STREAM_SETID_MAXDEL)
    if s.length > 0:
        if id_ < s.last_valid_id():
            raise CommandError(errors.STREAM_SETID_TOP)
        if entries_added != -1 and s.length > entries_added:
            raise CommandError(errors.STREAM_SETID_LENGTH)
    s.last_id = id_
    if entries_added != -1:
        s.entries_added = entries_added
    if max_xdel:
        s.max_deleted = max_xdel
    return OK


def _group_or_none(ctx: ShardContext, key: bytes, gname: bytes) -> tuple[Stream | None, Group | None]:
    s = _stream_or_none(ctx, key)
    if s is None or not s.groups:
        return s, None
    return s, s.groups.get(gname)


@command("xack")
def cmd_xack(ctx: ShardContext, argv: list[bytes]) -> Any:
    _, g = _group_or_none(ctx, argv[1], argv[2])
    if g is None:
        return ctx.changes(0)
    ids = [strict_id(a) for a in argv[3:]]
    acked = 0
    for id_ in ids:
        if id_ in g.pel:
            g.drop_nack(id_)
            acked += 1
    return ctx.changes(acked)


# ---------------------------------------------------------------- XPENDING


@command("xpending")
def cmd_xpending(ctx: ShardContext, argv: list[bytes]) -> Any:
    argc = len(argv)
    justinfo = argc == 3
    if argc != 3 and (argc < 6 or argc > 9):
        raise CommandError(errors.SYNTAX)
    minidle = count = 0
    start = end = 0
    consumer_name: bytes | None = None
    if argc >= 6:
        startidx = 3
        if argv[3].lower() == b"idle":
            minidle = _ll(argv[4])
            if argc < 8:
                raise CommandError(errors.SYNTAX)
            startidx += 2
        count = max(_ll(argv[startidx + 2]), 0)
        start, end = parse_range(argv[startidx], argv[startidx + 1])
        if startidx + 3 < argc:
            consumer_name = argv[startidx + 3]
    s, g = _group_or_none(ctx, argv[1], argv[2])
    if g is None:
        raise CommandError(errors.stream_nogroup(argv[1], argv[2]))
    if justinfo:
        if not g.pel:
            return [0, None, None, NULL_ARRAY]
        consumers = [[c.name, b"%d" % len(c.pel)] for c in g.sorted_consumers() if len(c.pel)]
        return [len(g.pel), fmt_id(g.pel_ids.first()), fmt_id(g.pel_ids.last()), consumers]
    pel_ids = g.pel_ids
    if consumer_name is not None:
        c = g.consumers.get(consumer_name)
        if c is None:
            return []
        pel_ids = c.pel
    now = ctx.keyspace.clock.wall
    out: list[Any] = []
    if not count:
        return out
    for id_ in pel_ids.iter_from(start):
        if id_ > end:
            break
        nack = g.pel[id_]
        if minidle and now - nack.delivery_time < minidle:
            continue
        owner = nack.consumer.name if nack.consumer is not None else b""
        out.append([fmt_id(id_), owner, max(now - nack.delivery_time, 0), nack.delivery_count])
        count -= 1
        if not count:
            break
    return out


# ---------------------------------------------------------------- XCLAIM / XAUTOCLAIM


@command("xclaim")
def cmd_xclaim(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.rewrite = []
    key, gname = argv[1], argv[2]
    s, g = _group_or_none(ctx, key, gname)
    if s is None or g is None:
        raise CommandError(errors.stream_nogroup(key, gname))
    minidle = max(_ll(argv[4], errors.STREAM_XCLAIM_MINIDLE), 0)
    ids: list[int] = []
    j = 5
    while j < len(argv):
        id_ = try_strict_id(argv[j])
        if id_ is None:
            break
        ids.append(id_)
        j += 1
    now = ctx.keyspace.clock.wall
    retrycount = -1
    deliverytime = -1
    force = justid = False
    last_id = 0
    while j < len(argv):
        more = len(argv) - 1 - j
        o = argv[j].lower()
        if o == b"force":
            force = True
        elif o == b"justid":
            justid = True
        elif o == b"idle" and more:
            j += 1
            deliverytime = now - _ll(argv[j], errors.STREAM_XCLAIM_IDLE)
        elif o == b"time" and more:
            j += 1
            deliverytime = _ll(argv[j], errors.STREAM_XCLAIM_TIME)
        elif o == b"retrycount" and more:
            j += 1
            retrycount = _ll(argv[j], errors.STREAM_XCLAIM_RETRYCOUNT)
        elif o == b"lastid" and more:
            j += 1
            last_id = strict_id(argv[j])
        else:
            raise CommandError(errors.stream_xclaim_option(argv[j]))
        j += 1
    log: list[list[bytes]] = []
    propagate_last_id = False
    if last_id > g.last_id:
        g.last_id = last_id
        propagate_last_id = True
    if deliverytime != -1:
        if deliverytime < 0 or deliverytime > now:
            deliverytime = now
    else:
        deliverytime = now
    consumer = g.consumers.get(argv[3])
    if consumer is None:
        consumer = g.create_consumer(argv[3], now)
        assert consumer is not None
    consumer.seen_time = now
    out: list[Any] = []
    for id_ in ids:
        nack = g.pel.get(id_)
        fv = s.get(id_)
        if fv is None:
            if nack is not None:
                log.append(_xclaim_log(key, gname, g, id_, nack))
                propagate_last_id = False
                g.drop_nack(id_)
            continue
        if force and nack is None:
            nack = Nack(None, now)
            g.add_nack(id_, nack)
        if nack is None:
            continue
        if nack.consumer is not None and minidle and now - nack.delivery_time < minidle:
            continue
        if nack.consumer is not consumer:
            if nack.consumer is not None:
                nack.consumer.pel.remove(id_)
        nack.delivery_time = deliverytime
        if retrycount >= 0:
            nack.delivery_count = retrycount
        elif not justid:
            nack.delivery_count += 1
        if nack.consumer is not consumer:
            consumer.pel.add(id_)
            nack.consumer = consumer
        out.append(fmt_id(id_) if justid else entry_reply(id_, fv))
        consumer.active_time = now
        log.append(_xclaim_log(key, gname, g, id_, nack))
        propagate_last_id = False
    if propagate_last_id:
        log.append(_setid_log(key, gname, g))
    ctx.rewrite = log
    return out


_AUTOCLAIM_MAX_COUNT = LLONG_MAX // 16


def allocation_fails(nbytes: int) -> bool:
    """Would the kernel refuse one allocation of ``nbytes`` (its overcommit policy), as
    Valkey's ztrymalloc of XAUTOCLAIM's COUNT IDs finds out on this machine?"""
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            mode = int(f.read())
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f if ":" in line)}
    except (OSError, ValueError):
        return False
    if mode == 1:  # always overcommit
        return False
    if mode == 2:  # strict: what the commit limit leaves
        return nbytes > info.get("CommitLimit", 0) - info.get("Committed_AS", 0)
    return nbytes > info.get("MemTotal", 0) + info.get("SwapTotal", 0)  # the heuristic refuses more than RAM + swap


@command("xautoclaim")
def cmd_xautoclaim(ctx: ShardContext, argv: list[bytes]) -> Any:
    ctx.rewrite = []
    key, gname = argv[1], argv[2]
    minidle = max(_ll(argv[4], errors.STREAM_XAUTOCLAIM_MINIDLE), 0)
    start, ex = parse_interval(argv[5], 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(errors.STREAM_BAD_START)
        start += 1
    count = 100
    justid = False
    j = 6
    while j < len(argv):
        more = len(argv) - 1 - j
        o = argv[j].lower()
        if o == b"count" and more:
            v = strict_int(argv[j + 1])
            if v is None or v < 1 or v > _AUTOCLAIM_MAX_COUNT:
                raise CommandError(errors.STREAM_XAUTOCLAIM_COUNT)
            count = v
            j += 1
        elif o == b"justid":
            justid = True
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    s, g = _group_or_none(ctx, key, gname)
    if s is None or g is None:
        raise CommandError(errors.stream_nogroup(key, gname))
    if count > 1 << 26 and allocation_fails(count * 16):
        raise CommandError(errors.STREAM_XAUTOCLAIM_NOMEM)  # Valkey allocates COUNT stream IDs first
    now = ctx.keyspace.clock.wall
    consumer = g.consumers.get(argv[3])
    if consumer is None:
        consumer = g.create_consumer(argv[3], now)
        assert consumer is not None
    consumer.seen_time = now
    attempts = count * 10
    candidates = first_n(g.pel_ids.iter_from(start), attempts + 1)
    pos = 0
    claimed: list[Any] = []
    deleted: list[bytes] = []
    log: list[list[bytes]] = []
    while attempts and count:
        attempts -= 1
        if pos >= len(candidates):
            break
        id_ = candidates[pos]
        pos += 1
        nack = g.pel[id_]
        fv = s.get(id_)
        if fv is None:
            log.append(_xclaim_log(key, gname, g, id_, nack))
            g.drop_nack(id_)
            deleted.append(fmt_id(id_))
            count -= 1
            continue
        if minidle and now - nack.delivery_time < minidle:
            continue
        if nack.consumer is not consumer:
            if nack.consumer is not None:
                nack.consumer.pel.remove(id_)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        if nack.consumer is not consumer:
            consumer.pel.add(id_)
            nack.consumer = consumer
        claimed.append(fmt_id(id_) if justid else entry_reply(id_, fv))
        count -= 1
        consumer.active_time = now
        log.append(_xclaim_log(key, gname, g, id_, nack))
    cursor = fmt_id(candidates[pos]) if pos < len(candidates) else b"0-0"
    ctx.rewrite = log
    return [cursor, claimed, deleted]


# ---------------------------------------------------------------- XINFO


def _info_stream(ctx: ShardContext, s: Stream, argv: list[bytes]) -> Any:
    opts = argv[3:]
    full = bool(opts)
    count = 10
    if opts:
        if len(opts) not in (1, 3) or opts[0].lower() != b"full":
            raise CommandError(errors.subcommand_syntax(argv[1], "xinfo"))
        if len(opts) == 3:
            if opts[1].lower() != b"count":
                raise CommandError(errors.subcommand_syntax(argv[1], "xinfo"))
            count = _ll(opts[2])
            if count < 0:
                count = 10
    info: dict[bytes, Any] = {
        b"length": s.length,
        b"radix-tree-keys": len(s.nodes),
        b"radix-tree-nodes": s.rax_nodes(),
        b"last-generated-id": fmt_id(s.last_id),
        b"max-deleted-entry-id": fmt_id(s.max_deleted),
        b"entries-added": signed64(s.entries_added),  # Valkey's uint64 replied as a long long
        b"recorded-first-entry-id": fmt_id(s.first_id),
    }
    if not full:
        info[b"groups"] = len(s.groups) if s.groups else 0
        first = first_n(s.range(0, MAX_ID), 1)
        last = first_n(s.range(0, MAX_ID, rev=True), 1)
        info[b"first-entry"] = entry_reply(*first[0]) if first else None
        info[b"last-entry"] = entry_reply(*last[0]) if last else None
        return info
    it = s.range(0, MAX_ID)
    info[b"entries"] = [entry_reply(i, fv) for i, fv in (first_n(it, count) if count else it)]
    groups: list[Any] = []
    for name in sorted(s.groups or {}):
        assert s.groups is not None
        g = s.groups[name]
        pending = []
        for id_ in first_n(iter(g.pel_ids), count) if count else g.pel_ids:
            nack = g.pel[id_]
            owner = nack.consumer.name if nack.consumer is not None else b""
            pending.append([fmt_id(id_), owner, nack.delivery_time, nack.delivery_count])
        consumers = []
        for c in g.sorted_consumers():
            cpending = []
            for id_ in first_n(iter(c.pel), count) if count else c.pel:
                nack = g.pel[id_]
                cpending.append([fmt_id(id_), nack.delivery_time, nack.delivery_count])
            consumers.append(
                {
                    b"name": c.name,
                    b"seen-time": c.seen_time,
                    b"active-time": c.active_time,
                    b"pel-count": len(c.pel),
                    b"pending": cpending,
                }
            )
        groups.append(
            {
                b"name": name,
                b"last-delivered-id": fmt_id(g.last_id),
                b"entries-read": g.entries_read if g.entries_read != INVALID_READ else None,
                b"lag": s.group_lag(g),
                b"pel-count": len(g.pel),
                b"pending": pending,
                b"consumers": consumers,
            }
        )
    info[b"groups"] = groups
    return info


def _info_stream_value(ctx: ShardContext, key: bytes) -> Stream:
    s = _stream_or_none(ctx, key)
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    return s


@command("xinfo|stream")
def cmd_xinfo_stream(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = _info_stream_value(ctx, argv[2])
    return _info_stream(ctx, s, argv)


@command("xinfo|groups")
def cmd_xinfo_groups(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = _info_stream_value(ctx, argv[2])
    out = []
    for name in sorted(s.groups or {}):
        assert s.groups is not None
        g = s.groups[name]
        out.append(
            {
                b"name": name,
                b"consumers": len(g.consumers),
                b"pending": len(g.pel),
                b"last-delivered-id": fmt_id(g.last_id),
                b"entries-read": g.entries_read if g.entries_read != INVALID_READ else None,
                b"lag": s.group_lag(g),
            }
        )
    return out


@command("xinfo|consumers")
def cmd_xinfo_consumers(ctx: ShardContext, argv: list[bytes]) -> Any:
    s = _info_stream_value(ctx, argv[2])
    g = s.groups.get(argv[3]) if s.groups else None
    if g is None:
        raise CommandError(errors.stream_nogroup_for_key(argv[3], argv[2]))
    now = ctx.keyspace.clock.wall
    out = []
    for c in g.sorted_consumers():
        inactive = now - c.active_time if c.active_time != -1 else -1
        out.append({b"name": c.name, b"pending": len(c.pel), b"idle": max(now - c.seen_time, 0), b"inactive": inactive})
    return out


XGROUP_HELP = [
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Print this help.",
]

XINFO_HELP = [
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Print this help.",
]


def help_reply(lines: list[str]) -> list[Simple]:
    return [Simple(line) for line in lines]
