"""The stream data structure and its handlers, without processes or sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.shard import keys as _keys  # noqa: F401  (registers handlers)
from shardserver.shard import stream_cmds
from shardserver.shard import strings as _strings  # noqa: F401
from shardserver.shard.keyspace import Keyspace
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.shard.types import dump_value, load_value
from shardserver.shard.types.stream import (
    LIMITS,
    MAX_ID,
    SortedIds,
    Stream,
    _rax_count,
    fmt_id,
    make_id,
)


@pytest.fixture
def ctx() -> ShardContext:
    return ShardContext(Keyspace(16), 0, 1, [(0, 16383)])


@pytest.fixture
def limits() -> Iterator[dict[str, int]]:
    saved = dict(LIMITS)
    yield LIMITS
    LIMITS.update(saved)


def run(ctx: ShardContext, *argv: bytes | str) -> Any:
    args = [a.encode() if isinstance(a, str) else a for a in argv]
    name = args[0].decode().lower()
    if name in ("xgroup", "xinfo", "object"):
        name = f"{name}|{args[1].decode().lower()}"
    ctx.keyspace.clock.tick()
    ctx.rewrite = None
    return HANDLERS[name](ctx, args)


def fill(s: Stream, n: int, start: int = 1) -> None:
    for i in range(start, start + n):
        s.append(make_id(i, 0), (b"f", b"%d" % i))


# ---------------------------------------------------------------- IDs


@pytest.mark.parametrize(
    "text, expected",
    [
        (b"5", make_id(5, 0)),
        (b"5-3", make_id(5, 3)),
        (b"007-001", make_id(7, 1)),
        (b"+5", make_id(5, 0)),
        (b" 5", make_id(5, 0)),
        (b"1--05", make_id(1, 2**64 - 5)),  # strtoull negates, as Valkey's fallback does
        (b"18446744073709551615-18446744073709551615", MAX_ID),
        (b"-", 0),
        (b"+", MAX_ID),
    ],
)
def test_id_parsing_follows_string2ull(text: bytes, expected: int) -> None:
    assert stream_cmds.parse_id(text)[0] == expected


@pytest.mark.parametrize("text", [b"", b"x", b"-5", b"1--5", b"1-2-3", b"18446744073709551616", b"1-x", b"9" * 130])
def test_bad_ids_are_refused(text: bytes) -> None:
    with pytest.raises(CommandError) as exc:
        stream_cmds.parse_id(text)
    assert exc.value.text == errors.STREAM_BAD_ID


def test_strict_ids_refuse_minus_and_plus_and_seq_star_needs_permission() -> None:
    for text in (b"-", b"+"):
        with pytest.raises(CommandError):
            stream_cmds.parse_id(text, strict=True)
    assert stream_cmds.parse_id(b"5-*", strict=True, seq_star=True) == (make_id(5, 0), False)
    with pytest.raises(CommandError):
        stream_cmds.parse_id(b"5-*")


def test_exclusive_range_bounds_step_over_the_edge() -> None:
    assert stream_cmds.parse_range(b"(1-0", b"(3") == (make_id(1, 1), make_id(3, 2**64 - 2))
    assert stream_cmds.parse_range(b"(1-0", b"(3-0") == (make_id(1, 1), make_id(2, 2**64 - 1))
    with pytest.raises(CommandError, match="invalid start ID"):
        stream_cmds.parse_range(b"(18446744073709551615-18446744073709551615", b"+")
    with pytest.raises(CommandError, match="invalid end ID"):
        stream_cmds.parse_range(b"-", b"(0-0")


# ---------------------------------------------------------------- nodes


def test_nodes_split_at_max_entries_counting_deleted_entries(limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 3
    s = Stream()
    fill(s, 3)
    assert len(s.nodes) == 1
    assert s.delete(make_id(2, 0))
    fill(s, 1, start=4)  # the node held 3 entries (one deleted): a new node
    assert [n.key for n in s.nodes] == [make_id(1, 0), make_id(4, 0)]
    assert s.length == 3


def test_nodes_split_at_max_bytes(limits: dict[str, int]) -> None:
    limits["stream-node-max-bytes"] = 100
    s = Stream()
    for i in range(1, 6):
        s.append(make_id(i, 0), (b"field", b"x" * 30))
    assert len(s.nodes) > 1
    assert all(n.lp_bytes() < 100 + 40 for n in s.nodes)


def test_zero_limits_mean_unlimited_entries_and_the_listpack_cap(limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 0
    limits["stream-node-max-bytes"] = 0
    s = Stream()
    fill(s, 500)
    assert len(s.nodes) == 1


def test_a_node_goes_with_its_last_live_entry() -> None:
    s = Stream()
    fill(s, 2)
    assert s.delete(make_id(1, 0)) and s.delete(make_id(2, 0))
    assert s.nodes == [] and s.keys == [] and s.length == 0
    assert not s.delete(make_id(2, 0))
    assert s.rax_nodes() == 1


def test_lookup_and_ranges_across_nodes(limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 4
    s = Stream()
    fill(s, 20)
    assert len(s.nodes) == 5
    assert s.get(make_id(7, 0)) == (b"f", b"7")
    assert s.get(make_id(7, 1)) is None
    ids = [i >> 64 for i, _ in s.range(make_id(3, 1), make_id(11, 0))]
    assert ids == list(range(4, 12))
    rev = [i >> 64 for i, _ in s.range(make_id(3, 0), make_id(11, 0), rev=True)]
    assert rev == list(range(11, 2, -1))
    assert list(s.range(make_id(30, 0), MAX_ID)) == []
    assert list(s.range(make_id(5, 0), make_id(4, 0))) == []


def test_exact_and_approximate_trimming(limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 10
    s = Stream()
    fill(s, 35)
    assert s.trim(28, None, approx=True, limit=1000) == 0  # no whole node can go
    assert s.trim(20, None, approx=True, limit=1000) == 10
    assert s.length == 25 and s.first_id == make_id(11, 0)
    assert s.trim(None, make_id(33, 0), approx=False, limit=0) == 22
    assert [i >> 64 for i, _ in s.range(0, MAX_ID)] == [33, 34, 35]
    assert s.first_id == make_id(33, 0)
    # the tombstones stay counted in the node: 31..35 (31, 32 deleted) takes 5 more
    fill(s, 5, start=40)
    assert len(s.nodes) == 1
    fill(s, 1, start=50)
    assert len(s.nodes) == 2
    assert s.first_physical_id() == make_id(31, 0)


def test_trim_limit_stops_before_a_node_it_cannot_remove_whole(limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 10
    s = Stream()
    fill(s, 50)
    assert s.trim(0, None, approx=True, limit=25) == 20


def test_rax_node_count_of_a_compressed_trie() -> None:
    assert _rax_count([bytes(16)], 0, 1, 0) == 2  # compressed root + key node
    keys = sorted(make_id(i, 0).to_bytes(16, "big") for i in (1, 2))
    # compressed prefix (7 bytes), a branch, then per key a compressed tail and its key node
    assert _rax_count(keys, 0, 2, 0) == 6


def test_sorted_ids_chunks_stay_sorted() -> None:
    ids = SortedIds()
    values = [(i * 7919) % 5003 for i in range(5003)]
    for v in values:
        ids.add(v)
    assert list(ids) == sorted(values) and len(ids) == 5003
    for v in values[::2]:
        ids.remove(v)
    rest = sorted(values[1::2])
    assert list(ids) == rest
    assert ids.first() == rest[0] and ids.last() == rest[-1]
    assert list(ids.iter_from(2500))[:3] == [v for v in rest if v >= 2500][:3]


# ---------------------------------------------------------------- handlers


def test_xadd_rewrites_generated_ids_and_approximate_trims(ctx: ShardContext, limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 2
    reply = run(ctx, "xadd", "auto", "*", "a", "1")
    assert ctx.rewrite == [[b"xadd", b"auto", reply, b"a", b"1"]]
    run(ctx, "xadd", "s", "5-*", "a", "1")
    assert ctx.rewrite == [[b"xadd", b"s", b"5-0", b"a", b"1"]]
    run(ctx, "xadd", "s", "5-*", "a", "1")
    assert ctx.rewrite == [[b"xadd", b"s", b"5-1", b"a", b"1"]]
    for i in range(10, 16):
        run(ctx, "xadd", "s", f"{i}-1", "a", "1")
    run(ctx, "xadd", "s", "maxlen", "~", "3", "20-1", "a", "1")
    assert ctx.rewrite == [[b"xadd", b"s", b"maxlen", b"=", b"%d" % run(ctx, "xlen", "s"), b"20-1", b"a", b"1"]]
    assert run(ctx, "xtrim", "s", "minid", "~", "20") > 0
    assert ctx.rewrite == [[b"xtrim", b"s", b"minid", b"=", fmt_id(ctx.db.get(b"s").first_physical_id())]]
    assert run(ctx, "xtrim", "s", "minid", "=", "0") == 0
    assert ctx.rewrite == []  # trimmed nothing: logs nothing
    run(ctx, "xadd", "s", "30-1", "a", "1")
    assert run(ctx, "xtrim", "s", "maxlen", "=", "1") > 0
    assert ctx.rewrite is None  # exact trims are logged as received


def test_xadd_errors(ctx: ShardContext) -> None:
    run(ctx, "xadd", "s", "5-5", "a", "1")
    for args, text in [
        (("5-5",), errors.STREAM_ID_TOO_SMALL),
        (("0-0",), errors.STREAM_ID_ZERO),
        (("maxlen", "1", "minid", "1", "*"), errors.STREAM_MAXLEN_MINID),
        (("maxlen", "-1", "*"), errors.STREAM_MAXLEN_NEGATIVE),
        (("limit", "5", "*"), errors.STREAM_LIMIT_NO_STRATEGY),
        (("maxlen", "5", "limit", "5", "*"), errors.STREAM_LIMIT_NO_APPROX),
    ]:
        with pytest.raises(CommandError) as exc:
            run(ctx, "xadd", "s", *args, "a", "1")
        assert exc.value.text == text
    run(ctx, "set", "str", "x")
    with pytest.raises(CommandError, match="WRONGTYPE"):
        run(ctx, "xadd", "str", "*", "a", "1")


def test_sequence_exhaustion(ctx: ShardContext) -> None:
    run(ctx, "xadd", "s", "18446744073709551615-18446744073709551614", "a", "1")
    assert run(ctx, "xadd", "s", "18446744073709551615-*", "a", "1") == b"18446744073709551615-18446744073709551615"
    with pytest.raises(CommandError) as exc:
        run(ctx, "xadd", "s", "*", "a", "1")
    assert exc.value.text == errors.STREAM_EXHAUSTED


def test_xreadgroup_logs_xclaims_and_setid(ctx: ShardContext) -> None:
    """As Valkey's AOF has them: an XCLAIM per delivered entry, then XGROUP SETID with
    ENTRIESREAD whenever the group moved (a NOACK read: SETID alone)."""
    run(ctx, "xadd", "s", "1-1", "a", "1")
    run(ctx, "xadd", "s", "2-1", "b", "2")
    run(ctx, "xgroup", "create", "s", "g", "0")
    run(ctx, "xreadgroup", "group", "g", "c", "count", "1", "streams", "s", ">")
    now = ctx.keyspace.clock.ms
    log, setid = ctx.rewrite
    assert log[:6] == [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1"]
    assert log[6:] == [b"TIME", b"%d" % now, b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-1"]
    assert setid == [b"XGROUP", b"SETID", b"s", b"g", b"1-1", b"ENTRIESREAD", b"1"]
    run(ctx, "xreadgroup", "group", "g", "d", "noack", "streams", "s", ">")
    assert ctx.rewrite == [[b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"d"], [b"XGROUP", b"SETID", b"s", b"g", b"2-1", b"ENTRIESREAD", b"2"]]
    run(ctx, "xreadgroup", "group", "g", "c", "streams", "s", "0")
    assert ctx.rewrite == []  # reading one's history is not propagated, as in Valkey


def test_xclaim_and_xautoclaim_move_pel_entries(ctx: ShardContext) -> None:
    for i in range(1, 5):
        run(ctx, "xadd", "s", f"{i}-0", "f", str(i))
    run(ctx, "xgroup", "create", "s", "g", "0")
    run(ctx, "xreadgroup", "group", "g", "a", "streams", "s", ">")
    out = run(ctx, "xclaim", "s", "g", "b", "0", "1-0", "2-0", "TIME", "1000", "JUSTID")
    assert out == [b"1-0", b"2-0"]
    assert [r[3] for r in ctx.rewrite] == [b"b", b"b"] and ctx.rewrite[0][7] == b"1000"
    run(ctx, "xdel", "s", "3-0")
    cursor, claimed, deleted = run(ctx, "xautoclaim", "s", "g", "b", "0", "0", "COUNT", "10", "JUSTID")
    assert (cursor, claimed, deleted) == (b"0-0", [b"1-0", b"2-0", b"4-0"], [b"3-0"])
    g = run(ctx, "xinfo", "groups", "s")[0]
    assert g[b"pending"] == 3 and g[b"consumers"] == 2


def test_dump_and_load_round_trip_everything(ctx: ShardContext, limits: dict[str, int]) -> None:
    limits["stream-node-max-entries"] = 3
    for i in range(1, 11):
        run(ctx, "xadd", "s", f"{i}-1", "f", str(i), "g", "x")
    run(ctx, "xdel", "s", "4-1", "10-1")
    run(ctx, "xgroup", "create", "s", "g", "0")
    run(ctx, "xgroup", "create", "s", "h", "$", "entriesread", "3")
    run(ctx, "xreadgroup", "group", "g", "c", "count", "4", "streams", "s", ">")
    run(ctx, "xclaim", "s", "g", "d", "0", "2-1", "TIME", "12345", "RETRYCOUNT", "7")
    run(ctx, "xgroup", "createconsumer", "s", "h", "idle")
    s: Stream = ctx.db.get(b"s")
    copy = load_value(b"stream", dump_value(s))
    assert isinstance(copy, Stream)
    ctx.db.set(b"t", copy)
    for cmd in (("xinfo", "stream", "{}", "full"), ("xinfo", "groups", "{}"), ("xpending", "{}", "g"), ("xrange", "{}", "-", "+")):
        a = run(ctx, *[x.format("s") for x in cmd])
        b = run(ctx, *[x.format("t") for x in cmd])
        assert a == b, cmd
    assert copy.max_deleted == s.max_deleted == make_id(10, 1)
    assert [n.used for n in copy.nodes] == [n.used for n in s.nodes]
    assert run(ctx, "object", "encoding", "t") == "stream"
    assert copy.memory_usage() > 0
    assert fmt_id(copy.last_id) == b"10-1"


_ITEMS = [b"", b"f", b"field", b"0", b"127", b"128", b"-1", b"4096", b"-32769", b"8388608", b"2147483648", b"01", b"x" * 70, b"y" * 5000]


def test_entry_bytes_c_twin_matches_python() -> None:
    """The C sum of an entry's listpack bytes against the Python one: same and other
    fields than the master entry's, integer-looking values of every width, and deltas
    at each integer encoding's edge."""
    from shardserver.shard.types import stream as st

    if st.entry_bytes is st.py_entry_bytes:
        pytest.fail("the C helpers are not built")
    import random

    rng = random.Random(3)
    deltas = [0, 1, 127, 128, -1, 4095, 4096, -4097, 32767, 32768, 8388607, 8388608, 2**31 - 1, 2**31, -(2**63), 2**63 - 1]
    for _ in range(3000):
        nf = rng.randrange(1, 4)
        master = tuple(rng.choice(_ITEMS) for _ in range(rng.randrange(1, 4)))
        fields = master[:nf] if rng.random() < 0.5 and len(master) >= nf else tuple(rng.choice(_ITEMS) for _ in range(nf))
        fields = tuple(bytes(bytearray(f)) if rng.random() < 0.5 else f for f in fields)  # equal, not always identical
        fv = tuple(x for f in fields for x in (f, rng.choice(_ITEMS)))
        ms_d, seq_d = rng.choice(deltas), rng.choice(deltas)
        assert st.entry_bytes(master, fv, ms_d, seq_d) == st.py_entry_bytes(master, fv, ms_d, seq_d), (master, fv, ms_d, seq_d)
    # a field equal to the master's but another object still counts as the same field
    assert st.entry_bytes((b"ab",), (bytes(bytearray(b"ab")), b"1"), 0, 0) == st.py_entry_bytes((b"ab",), (b"ab", b"1"), 0, 0) == 2 + 2 + 2 + 2 + 2
