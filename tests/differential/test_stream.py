"""Stream commands: shardserver against Valkey 9, reply for reply.

Replies that carry times (delivery times, idle times, seen/active times) are
compared after the times are masked; every other byte must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS, Pair

A, B = HIGH_KEYS[0], LOW_KEYS[0]  # on different shards with two shards
NOW_MS = 10**12  # integers above this are wall-clock times


def _mask(value: Any) -> Any:
    """Replace times: absolute ms timestamps, and the values after idle/inactive."""
    if isinstance(value, dict):
        return {k: ("T" if k in (b"idle", b"inactive") and isinstance(v, int) and v >= 0 else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for i, v in enumerate(value):
            if i and value[i - 1] in (b"idle", b"inactive") and isinstance(v, int) and v >= 0:
                out.append("T")
            else:
                out.append(_mask(v))
        return out
    if isinstance(value, int) and value > NOW_MS:
        return "T"
    return value


def masked(pair: Pair, *cmd: Any) -> Any:
    a, b = pair.run(*cmd)
    assert _mask(a) == _mask(b), f"{cmd} (RESP{pair.protocol}, {pair.shards} shards)\n  shard : {a!r}\n  valkey: {b!r}"
    return a


def pending(pair: Pair, *cmd: Any) -> Any:
    """XPENDING's extended form without the idle times."""
    a, b = pair.run("xpending", *cmd)
    strip = lambda r: [[e[0], e[1], e[3]] for e in r] if isinstance(r, list) else r  # noqa: E731
    assert strip(a) == strip(b), f"XPENDING {cmd}\n  shard : {a!r}\n  valkey: {b!r}"
    return a


@pytest.fixture
def node_entries(pair: Pair) -> Iterator[None]:
    """Small stream nodes on both servers, so trimming crosses node boundaries quickly."""
    for r in (pair.s, pair.v):
        r.execute_command("config", "set", "stream-node-max-entries", "5")
    try:
        yield
    finally:
        for r in (pair.s, pair.v):
            r.execute_command("config", "set", "stream-node-max-entries", "100")


# ---------------------------------------------------------------- the command table


STREAM_NAMES = [
    "xadd", "xlen", "xrange", "xrevrange", "xdel", "xtrim", "xread", "xreadgroup", "xgroup", "xack",
    "xpending", "xclaim", "xautoclaim", "xinfo", "xsetid",
]


def test_command_info_of_stream_commands(pair: Pair) -> None:
    pair.exact_many([("command", "info", n) for n in STREAM_NAMES])
    pair.exact_many([("command", "info", n) for n in ("xgroup|create", "xgroup|help", "xinfo|stream", "xinfo|help")])
    pair.exact_many(
        [
            ("command", "getkeys", "xread", "streams", "a", "b", "0", "0"),
            ("command", "getkeys", "xread", "streams", "a", "b", "0"),
            ("command", "getkeys", "xread", "count", "5", "streams", "a", "0"),
            ("command", "getkeys", "xreadgroup", "group", "g", "c", "streams", "a", "b", "0", "0"),
            ("command", "getkeysandflags", "xreadgroup", "group", "g", "c", "streams", "a", ">"),
            ("command", "getkeys", "xadd", "s", "*", "a", "b"),
            ("command", "getkeys", "xgroup", "create", "s", "g", "0"),
            ("command", "getkeys", "xinfo", "stream", "s"),
            ("command", "getkeys", "xinfo", "help"),
        ]
    )


# ---------------------------------------------------------------- basics


def test_xadd_ids_and_errors(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-1 a 1
        xadd s 1-1 a 1
        xadd s 1-* b 2
        xadd s 2 c 3
        xadd s 0-0 c 3
        xadd s 0-* c 3
        xadd s maxlen 2 3-1 d 4
        xlen s
        xadd s nomkstream 4-1 a b
        xadd nokey nomkstream * a b
        exists nokey
        xadd s maxlen ~ 1 minid 1 5-1 a b
        xadd s maxlen -1 5-1 a b
        xadd s maxlen x 5-1 a b
        xadd s minid x 5-1 a b
        xadd s limit 5 5-1 a b
        xadd s limit 0 5-1 a b
        xadd s limit -1 5-1 a b
        xadd s maxlen 5 limit 5 5-1 a b
        xadd s limit 10 maxlen ~ 1 5-1
        xadd s 5-1 a
        xadd s 5-1 a b c
        xadd s
        xadd s - a b
        xadd s + a b
        xadd s bad a b
        xadd s 1-2-3 a b
        xadd m3 +5 a b
        xadd m3 1--5 a b
        xadd m3 1--05 a b
        xadd m3 '007-001' a b
        xadd m3 18446744073709551616 a b
        xrange m3 - +
        xadd m 18446744073709551615-18446744073709551614 a b
        xadd m 18446744073709551615-* a b
        xadd m 18446744073709551615-* a b
        xadd m * a b
        xinfo stream m
        set str x
        xadd str * a b
        xadd str nomkstream * a b
        xadd str maxlen x * a b
        """
    )


def test_xadd_auto_ids_increase(pair: Pair) -> None:
    a, b = pair.run("xadd", "s", "*", "f", "v")
    assert a.split(b"-")[1] == b"0" and abs(int(a.split(b"-")[0]) - int(b.split(b"-")[0])) < 60_000
    ids = [pair.s.execute_command("xadd", "s", "*", "f", "v") for _ in range(20)]
    parsed = [tuple(map(int, i.split(b"-"))) for i in ids]
    assert parsed == sorted(parsed) and len(set(parsed)) == 20


def test_ranges_counts_and_exclusive_bounds(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-1 a 1
        xadd s 2-0 b 2
        xadd s 2-5 c 3 d 4
        xadd s 3-1 e 5
        xrange s - +
        xrevrange s + -
        xrange s - + count 2
        xrevrange s + - count 1
        xrange s (1-1 +
        xrange s - (3-1
        xrange s 2 2
        xrange s (2 +
        xrevrange s (3-1 (1-1
        xrange s (18446744073709551615-18446744073709551615 +
        xrange s - (0-0
        xrange s (- +
        xrange s - (+
        xrange s - + count 0
        xrange s - + count -1
        xrange s - + count x
        xrange s - + count
        xrange s - + foo
        xrange s x +
        xrange s 3 1
        xrange nokey - +
        xrange nokey - + count 0
        xrevrange nokey + -
        xlen nokey
        set str x
        xrange str - +
        xrange str x +
        xlen str
        """
    )
    pair.exact_many([("xrange", "s", "-", "+", "count", "0"), ("xrange", "nokey", "-", "+"), ("xrange", "s", "9", "+")])


def test_xdel_and_the_stream_counters(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-1 a 1
        xadd s 2-1 b 2
        xadd s 3-1 c 3
        xdel s 1-1 9-9 2-1 2-1
        xinfo stream s
        xdel s 3-1
        xinfo stream s
        xlen s
        exists s
        xadd s 4-1 d 4
        xinfo stream s
        xdel s bad
        xdel s 4-1 bad
        xdel nokey bad
        xdel s -
        xlen s
        set str x
        xdel str 1-1
        """
    )


def test_object_type_and_generic_commands(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-1 a 1
        type s
        object encoding s
        exists s
        rename s t
        xrange t - +
        copy t u
        xrange u - +
        del t u
        """
    )
    a, b = pair.run("memory", "usage", "s")
    assert a is None and b is None
    pair.s.execute_command("xadd", "s", "1-1", "a", "1")
    pair.s.execute_command("set", "str", "x")
    assert isinstance(pair.s.execute_command("memory", "usage", "s"), int)
    found: set[bytes] = set()
    cursor = b"0"
    for _ in range(20000):
        cursor, keys = pair.s.execute_command("scan", cursor, "type", "stream", "count", "1000")
        found.update(keys)
        if cursor == b"0":
            break
    assert found == {b"s"}


# ---------------------------------------------------------------- trimming


def test_trimming_exact_and_approximate(pair: Pair, node_entries: None) -> None:
    cmds = [f"xadd s {i}-{i % 3} f{i % 2} v{i}" for i in range(1, 61)]
    cmds += [
        "xinfo stream s",
        "xtrim s maxlen ~ 52",
        "xtrim s maxlen ~ 47",
        "xinfo stream s",
        "xtrim s maxlen ~ 10 limit 12",
        "xtrim s maxlen ~ 10 limit 0",
        "xinfo stream s",
        "xtrim s minid ~ 20",
        "xtrim s minid ~ 30",
        "xinfo stream s",
        "xtrim s minid 33-0",
        "xinfo stream s",
        "xtrim s maxlen = 20",
        "xtrim s maxlen 15",
        "xinfo stream s",
        "xdel s 46-1 47-2 48-0",
        "xtrim s minid 47",
        "xinfo stream s",
        "xadd s maxlen ~ 3 100-0 a b",
        "xinfo stream s",
        "xadd s minid ~ 100 101-0 a b",
        "xadd s minid 101 102-0 a b",
        "xinfo stream s",
        "xtrim s maxlen 0",
        "xinfo stream s",
        "xtrim s",
        "xtrim s foo 1",
        "xtrim s maxlen",
        "xtrim s maxlen 1 minid 1",
        "xtrim s maxlen 1 limit 1",
        "xtrim s maxlen ~ 1 limit -1",
        "xtrim s maxlen -1",
        "xtrim s minid -",
        "xtrim s minid +",
        "xtrim nokey maxlen 0",
        "xtrim nokey minid bad",
        "set str x",
        "xtrim str maxlen 0",
    ]
    pair.script("\n".join(cmds))


def test_node_byte_limit_and_big_entries(pair: Pair) -> None:
    cmds = [f"xadd big {i}-0 field{i % 5} {'y' * (i % 300)}" for i in range(1000, 1140)]
    cmds += [f"xadd ints {i}-{i} {i} {i * 1000}" for i in range(1, 250)]
    cmds += ["xinfo stream big", "xtrim big maxlen ~ 50", "xinfo stream big", "xinfo stream ints", "xtrim ints maxlen ~ 120", "xinfo stream ints"]
    pair.script("\n".join(cmds))


# ---------------------------------------------------------------- reading


def test_xread(pair: Pair) -> None:
    pair.script(
        f"""
        xadd {A} 1-0 f 1
        xadd {B} 2-0 f 2
        xadd {A} 3-0 f 3
        xread streams {A} {B} 0 0
        xread streams {B} {A} 0 0
        xread count 1 streams {A} {B} 0 0
        xread count -5 streams {A} 0
        xread count 1 count 2 streams {A} 0
        xread streams {A} {B} {A} 0 0 2
        xread streams {A} {B} + +
        xread count 5 streams {A} {A} + 0
        xread streams {A} {B} $ $
        xread streams {A} {B} 3 2
        xread streams {A} nokey 0 0
        xread streams nokey +
        xread streams {A} {B} 0 bad
        xread streams {A} {B} bad 0
        xread streams {A} {B} > 0
        xread streams {A} {B}
        xread streams {A} {B} c
        xread count x streams {A} 0
        xread noack streams {A} 0
        xread group g c streams {A} 0
        xread foo streams {A} 0
        xread count 1
        xread block x streams {A} 0
        xread block -1 streams {A} 0
        xread block 1.5 streams {A} 0
        xread block 99999999999999999999 streams {A} 0
        xread block 9223372036854775806 streams {A} 0
        xread block 9223372036854775807 streams {A} $
        xreadgroup group g c block 9223372036854775806 streams {A} >
        set str x
        xread streams {A} str 0 bad
        xread streams {B} str bad 0
        xread streams str {A} 0 0
        xdel {A} 3-0
        xread streams {A} +
        xgroup create e g $ mkstream
        xread streams e +
        xread streams e $
        """
    )
    pair.exact_many([("xread", "streams", A, B, "0", "0"), ("xread", "streams", A, A, "0", "1"), ("xread", "streams", "nokey", "0")])


def test_block_errors_and_immediate_replies(pair: Pair) -> None:
    """XREAD/XREADGROUP BLOCK: option errors, replies that need no wait, and short timeouts."""
    cmds: list[tuple[object, ...]] = [("xadd", A, "1-1", "a", "1"), ("xadd", A, "1-2", "b", "2"), ("xgroup", "create", A, "g", "0")]
    for t in ("x", "-1", "1.5", "", "99999999999999999999", "0x10"):
        cmds += [("xread", "block", t, "streams", A, "0"), ("xreadgroup", "group", "g", "c", "block", t, "streams", A, ">")]
    cmds += [
        ("xread", "block", "0", "streams", A, B, "0", "0"),
        ("xread", "count", "1", "block", "0", "streams", A, B, "0-1", "0"),
        ("xread", "block", "10", "streams", A, "+"),
        ("xread", "block", "0", "block", "5", "streams", A, "0"),
        ("xread", "block", "0", "streams", A, B, "$"),
        ("xread", "block", "0", "streams", A, "bad"),
        ("xread", "block", "0", "streams", A, ">"),
        ("xread", "block", "0", "group", "g", "c", "streams", A, ">"),
        ("xreadgroup", "group", "g", "c", "block", "0", "streams", A, ">"),
        ("xreadgroup", "group", "g", "c", "count", "1", "block", "0", "streams", A, "0"),
        ("xreadgroup", "group", "g", "c2", "block", "0", "streams", A, "0"),
        ("xreadgroup", "group", "g", "c", "block", "0", "streams", A, "$"),
        ("xreadgroup", "group", "g", "c", "block", "0", "streams", A, B, ">", ">"),
        ("xreadgroup", "group", "nog", "c", "block", "0", "streams", A, ">"),
        ("xreadgroup", "block", "0", "streams", A, ">"),
        ("xpending", A, "g"),
        ("set", "str", "x"),
        ("xread", "block", "0", "streams", "str", "$"),
        ("xread", "block", "0", "streams", A, "str", "$", "$"),
        ("xreadgroup", "group", "g", "c", "block", "0", "streams", "str", ">"),
        ("xread", "block", "10", "streams", A, B, "$", "$"),
        ("xread", "block", "10", "streams", "nokey", "$"),
        ("xreadgroup", "group", "g", "c", "block", "10", "streams", A, ">"),
        ("xreadgroup", "group", "g", "c", "noack", "block", "10", "streams", A, ">"),
    ]
    pair.exact_many(cmds)


def test_consumer_groups_and_xreadgroup(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-0 a 1
        xadd s 2-0 b 2
        xadd s 3-0 c 3
        xreadgroup group g c streams s >
        xgroup create s g 0
        xgroup create s g 0
        xgroup create nokey g 0
        xgroup create nokey g $ mkstream
        xgroup create s g2 $ entriesread 5
        xgroup create s g3 0 entriesread -2
        xgroup create s g3 0 entriesread x
        xgroup create s g3 0 foo
        xgroup create s g3 0 mkstream entriesread 3 mkstream
        xgroup create s g4 0 entriesread 1 entriesread 2 entriesread 3
        xgroup create s g5 +
        xgroup create s g5 -
        xgroup create s g5 bad
        xinfo groups s
        xreadgroup group g c1 count 1 streams s >
        xreadgroup group g c2 streams s >
        xreadgroup group g c1 streams s 0
        xreadgroup group g c2 count 1 streams s 0
        xreadgroup group g c2 streams s 2-0
        xreadgroup group g c2 streams s >
        xreadgroup group g c2 streams s +
        xreadgroup group g c2 streams s $
        xreadgroup group g c2 streams s bad
        xreadgroup group nog c2 streams s >
        xreadgroup group g c2 streams nokey >
        xreadgroup group g c streams s s >
        xreadgroup streams s 0 group g c
        xreadgroup noack streams s 0
        xreadgroup count 1 streams s 0 0
        xreadgroup group g c streams s
        xpending s g
        xinfo groups s
        xack s g 1-0 1-0 9-0
        xack s g bad
        xack s g 2-0 bad
        xack s nog 2-0
        xack nokey g bad
        xpending s g
        xgroup delconsumer s g c2
        xgroup delconsumer s g nobody
        xgroup createconsumer s g c3
        xgroup createconsumer s g c3
        xgroup createconsumer s nog c3
        xpending s g
        xgroup setid s g 0
        xgroup setid s g 1 entriesread 1
        xinfo groups s
        xgroup setid s g $
        xgroup setid s g +
        xgroup setid s g 2-0 entriesread 1 entriesread 2
        xgroup setid s g 2-0 entriesread
        xgroup setid s g 2-0 mkstream
        xgroup setid s nog 0
        xgroup setid nokey g 0
        xgroup destroy s g2
        xgroup destroy s g2
        xgroup destroy nokey g
        xinfo groups s
        xgroup help
        xinfo help
        xgroup foo
        xgroup
        xinfo foo s
        xgroup help extra
        set str x
        xgroup create str g 0
        xgroup create str g 0 mkstream
        xreadgroup group g c streams str >
        xinfo groups str
        """
    )


def test_noack_lag_and_entries_read(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-0 a 1
        xadd s 2-0 b 2
        xadd s 3-0 c 3
        xadd s 4-0 d 4
        xgroup create s g 0
        xreadgroup group g c noack count 2 streams s >
        xinfo groups s
        xpending s g
        xdel s 3-0
        xinfo groups s
        xreadgroup group g c noack streams s >
        xinfo groups s
        xgroup create s h 0
        xinfo groups s
        xreadgroup group h c streams s >
        xinfo groups s
        xadd s 5-0 e 5
        xinfo groups s
        xgroup setid s h 2-0 entriesread 1
        xinfo groups s
        xsetid s 9-0 entriesadded 20 maxdeletedid 8-0
        xinfo groups s
        xinfo stream s
        """
    )


def test_xclaim_xautoclaim_and_pending(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-0 a 1
        xadd s 2-0 b 2
        xadd s 3-0 c 3
        xadd s 4-0 d 4
        xgroup create s g 0
        xreadgroup group g c1 streams s >
        xclaim s g c2 0 1-0 2-0 TIME 1000 RETRYCOUNT 5
        xclaim s g c2 0 3-0 JUSTID TIME 2000
        xclaim s g c2 0 9-0 FORCE TIME 3000
        xclaim s g c2 0 4-0 FORCE TIME 3000 LASTID 10-0
        xclaim s g c2 3600000 1-0 JUSTID
        xinfo groups s
        xclaim s g c2 0 1-0 foo
        xclaim s g c2 x 1-0
        xclaim s g c2 0 1-0 IDLE x
        xclaim s g c2 0 1-0 TIME x
        xclaim s g c2 0 1-0 RETRYCOUNT x
        xclaim s g c2 0 1-0 LASTID x
        xclaim s g c2 0 1-0 LASTID
        xclaim s nog c2 0 1-0
        xclaim nokey g c2 0 1-0
        xpending s g
        xpending s g - + 10 nobody
        xpending s g - + 0
        xpending s g - + -1
        xpending s g IDLE
        xpending s g - +
        xpending s g - + x
        xpending s g IDLE x - + 1
        xpending s g x + 1
        xpending s g - x 1
        xpending s g (18446744073709551615-18446744073709551615 + 1
        xpending s g - + 1 c 1 2 3
        xpending s nog
        xpending nokey g
        xdel s 2-0
        xautoclaim s g c3 0 0 COUNT 1
        xautoclaim s g c3 0 0 COUNT 2 JUSTID
        xautoclaim s g c3 0 0
        xautoclaim s g c3 3600000 0
        xautoclaim s g c3 0 (0-0 count 0
        xautoclaim s g c3 0 0 count x
        xautoclaim s g c3 0 0 count -1
        xautoclaim s g c3 0 0 count 922337203685477581
        xautoclaim s g c3 x 0
        xautoclaim s g c3 0 x
        xautoclaim s g c3 0 0 foo
        xautoclaim s g c3 0 0 count
        xautoclaim s nog c3 0 0
        xautoclaim nokey g c3 0 0
        xautoclaim s g c3 0 (18446744073709551615-18446744073709551615
        xpending s g
        xinfo groups s
        set str x
        xclaim str g c 0 1-0
        xautoclaim str g c 0 0
        xpending str g
        xack str g 1-0
        """
    )
    for cmd in (("s", "g", "-", "+", "10"), ("s", "g", "IDLE", "0", "-", "+", "10"), ("s", "g", "-", "+", "10", "c3"), ("s", "g", "(1-0", "(4-0", "10")):
        pending(pair, *cmd)
    masked(pair, "xinfo", "stream", "s", "full")
    masked(pair, "xinfo", "consumers", "s", "g")


def test_xautoclaim_cursor_over_many_entries(pair: Pair) -> None:
    cmds = [f"xadd s {i}-0 f {i}" for i in range(1, 40)]
    cmds += ["xgroup create s g 0", "xreadgroup group g c streams s >", "xdel s 5-0 6-0 7-0 30-0"]
    cmds += ["xautoclaim s g d 0 0 count 3 justid", "xautoclaim s g d 0 8 count 2", "xautoclaim s g d 0 25 count 10 justid", "xautoclaim s g d 0 0 count 1000 justid"]
    pair.script("\n".join(cmds))


def test_xinfo(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-0 a 1
        xadd s 2-0 b 2
        xgroup create s g 0
        xgroup create s a 0
        xreadgroup group g zz streams s >
        xgroup createconsumer s g aa
        xinfo stream s
        xinfo stream s full foo 3
        xinfo stream s full count x
        xinfo stream s foo
        xinfo stream s full count 1 2
        xinfo stream nokey
        xinfo groups nokey
        xinfo consumers s nog
        xinfo consumers nokey g
        xinfo consumers s
        xinfo groups s extra
        set str x
        xinfo stream str
        xinfo groups str
        xinfo consumers str g
        """
    )
    for opts in ((), ("full",), ("full", "count", "0"), ("full", "count", "1"), ("full", "count", "-3")):
        masked(pair, "xinfo", "stream", "s", *opts)
    masked(pair, "xinfo", "consumers", "s", "g")


def test_xsetid(pair: Pair) -> None:
    pair.script(
        """
        xadd s 1-1 a 1
        xadd s 5-1 a 1
        xdel s 5-1
        xsetid s 1-0
        xsetid s 5-0
        xsetid s 6-0 entriesadded 1
        xsetid s 6-0 entriesadded -1
        xsetid s 6-0 entriesadded x
        xsetid s 6-0 maxdeletedid 7-0
        xsetid s 6-0 maxdeletedid bad
        xsetid s 6-0 foo
        xsetid s 6-0 entriesadded
        xsetid s bad
        xsetid s -
        xsetid s 100-0 entriesadded 10 maxdeletedid 50-0
        xinfo stream s
        xadd s 100-0 a b
        xadd s 100-1 a b
        xsetid nokey 1-1
        xsetid nokey bad
        set str x
        xsetid str 1-1
        """
    )


# ---------------------------------------------------------------- across shards


def test_xreadgroup_across_shards_checks_every_key_first(pair: Pair) -> None:
    pair.script(
        f"""
        xadd {A} 1-0 f 1
        xadd {B} 2-0 f 2
        xgroup create {A} g 0
        xreadgroup group g c streams {A} {B} > >
        xpending {A} g
        xgroup create {B} g 0
        xreadgroup group g c streams {A} {B} > >
        xreadgroup group g c streams {A} {B} 0 0
        xreadgroup group g c count 1 streams {B} {A} 0 0
        xreadgroup group g c streams {A} {B} > $
        xreadgroup group g c streams {A} {B} bad >
        set str x
        xreadgroup group g c streams str {B} > >
        xreadgroup group g c streams {A} str > >
        xadd {B} 5-0 f 5
        xreadgroup group g c2 noack streams {A} {B} 0-0 >
        xreadgroup group g c2 noack streams {A} {B} > >
        xinfo groups {A}
        xinfo groups {B}
        xpending {A} g
        xpending {B} g
        """
    )
    pair.exact("xreadgroup", "group", "g", "c", "streams", A, B, "0", "0")


def test_rename_and_copy_carry_groups_across_shards(pair: Pair) -> None:
    pair.script(
        f"""
        xadd {A} 1-0 f 1
        xadd {A} 2-0 f 2
        xdel {A} 2-0
        xgroup create {A} g 0
        xreadgroup group g c count 1 streams {A} >
        xclaim {A} g d 0 1-0 TIME 5000 RETRYCOUNT 3
        rename {A} {B}
        xinfo stream {B}
        xinfo groups {B}
        xpending {B} g
        copy {B} {A}
        xinfo stream {A}
        xinfo groups {A}
        xreadgroup group g c streams {A} 0
        xreadgroup group g d streams {A} 0
        xack {A} g 1-0
        xpending {A} g
        xpending {B} g
        """
    )
    masked(pair, "xinfo", "stream", B, "full")


# ---------------------------------------------------------------- random sequences


def _commands() -> st.SearchStrategy[list[str]]:
    key = st.sampled_from(["s", "t"])
    ms = st.integers(1, 12)
    any_id = st.one_of(ms.map(str), st.tuples(ms, st.integers(0, 2)).map(lambda t: f"{t[0]}-{t[1]}"), st.sampled_from(["-", "+", "0", "bad"]))
    group = st.sampled_from(["g", "h"])
    consumer = st.sampled_from(["c", "d"])
    cmd = st.one_of(
        st.builds(lambda k, i, f: f"xadd {k} {i} f {f}", key, st.one_of(any_id, ms.map(lambda m: f"{m}-*")), st.integers(0, 9)),
        st.builds(lambda k, n, a: f"xadd {k} maxlen {a} {n} 99-* f v", key, st.integers(0, 6), st.sampled_from(["=", "~", ""])),
        st.builds(lambda k, i: f"xdel {k} {i}", key, any_id),
        st.builds(lambda k, n, a: f"xtrim {k} maxlen {a} {n}", key, st.integers(0, 6), st.sampled_from(["=", "~", ""])),
        st.builds(lambda k, i, a: f"xtrim {k} minid {a} {i}", key, any_id, st.sampled_from(["=", "~", ""])),
        st.builds(lambda k, a, b, n: f"xrange {k} {a} {b} count {n}", key, any_id, any_id, st.integers(-1, 3)),
        st.builds(lambda k, a, b: f"xrevrange {k} {a} {b}", key, any_id, any_id),
        st.builds(lambda a, b, n: f"xread count {n} streams s t {a} {b}", any_id, any_id, st.integers(0, 3)),
        st.builds(lambda k, g, i, m: f"xgroup create {k} {g} {i}{m}", key, group, any_id, st.sampled_from(["", " mkstream"])),
        st.builds(lambda k, g, i: f"xgroup setid {k} {g} {i}", key, group, any_id),
        st.builds(lambda k, g, c, i, n, na: f"xreadgroup group {g} {c} count {n}{na} streams {k} {i}", key, group, consumer, st.sampled_from([">", "0", "3"]), st.integers(0, 3), st.sampled_from(["", " noack"])),
        st.builds(lambda k, g, i: f"xack {k} {g} {i}", key, group, any_id),
        st.builds(lambda k, g: f"xpending {k} {g}", key, group),
        st.builds(lambda k, g, c, i: f"xclaim {k} {g} {c} 0 {i} TIME 1000 JUSTID", key, group, consumer, any_id),
        st.builds(lambda k, g, c, i, n: f"xautoclaim {k} {g} {c} 0 {i} count {n} justid", key, group, consumer, any_id, st.integers(1, 3)),
        st.builds(lambda k, g, c: f"xgroup delconsumer {k} {g} {c}", key, group, consumer),
        st.builds(lambda k: f"xinfo stream {k}", key),
        st.builds(lambda k: f"xinfo groups {k}", key),
        st.builds(lambda k: f"xlen {k}", key),
        st.builds(lambda k, i: f"xsetid {k} {i}", key, any_id),
    )
    return st.lists(cmd, min_size=1, max_size=30)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmds=_commands())
def test_random_command_sequences(pair: Pair, cmds: list[str]) -> None:
    pair.flushall()
    pair.script("\n".join(cmds))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmds=_commands())
def test_random_command_sequences_with_small_nodes(pair: Pair, node_entries: None, cmds: list[str]) -> None:
    pair.flushall()
    pair.script("\n".join(cmds))


def test_an_option_value_spelled_streams_never_touches_another_shards_keys(pair: Pair) -> None:
    if pair.shards == 1:
        pair.script(f"xgroup create {A} g 0 mkstream\nxreadgroup count 1 group g streams streams {A} >")
        return
    # the key spec finds the consumer name 'streams' first, so the front routes by the word 'streams'
    pair.s.execute_command("xgroup", "create", A, "g", "0", "mkstream")
    reply = pair.run("xreadgroup", "count", "1", "group", "g", "streams", "streams", A, ">")[0]
    assert reply is None or "hides the stream keys" in str(reply)


def test_stream_node_directives(pair: Pair) -> None:
    try:
        pair.script(
            """
            config get stream-node-max-*
            config set stream-node-max-bytes 4kb
            config get stream-node-max-bytes
            config set stream-node-max-bytes -1
            config set stream-node-max-entries -1
            config set stream-node-max-entries x
            config set stream-node-max-entries 2
            xadd s 1-0 a 1
            xadd s 2-0 a 1
            xadd s 3-0 a 1
            xinfo stream s
            config set stream-node-max-bytes 20
            xadd s 4-0 a 123456789012345678901234567890
            xadd s 5-0 a 1
            xinfo stream s
            """
        )
    finally:
        for r in (pair.s, pair.v):
            r.execute_command("config", "set", "stream-node-max-bytes", "4096", "stream-node-max-entries", "100")


def test_reply_types_byte_for_byte(pair: Pair) -> None:
    pair.exact_many(
        [
            ("xadd", "s", "1-1", "a", "1"),
            ("xadd", "s", "2-1", "b", "2"),
            ("xgroup", "create", "s", "g", "$"),
            ("xpending", "s", "g"),
            ("xinfo", "stream", "s"),
            ("xinfo", "groups", "s"),
            ("xgroup", "setid", "s", "g", "0"),
            ("xreadgroup", "group", "g", "c", "streams", "s", ">"),
            ("xpending", "s", "g"),
            ("xclaim", "s", "g", "d", "0", "1-1", "TIME", "1000", "JUSTID"),
            ("xdel", "s", "1-1"),
            ("xreadgroup", "group", "g", "d", "streams", "s", "0"),
            ("xautoclaim", "s", "g", "c", "0", "0", "JUSTID"),
            ("xautoclaim", "s", "g", "c", "0", "0"),
            ("xgroup", "help"),
            ("xinfo", "help"),
            ("xadd", "nokey", "nomkstream", "*", "a", "b"),
            ("xread", "streams", "s", "+"),
            ("xrange", "s", "-", "+", "count", "0"),
        ]
    )


def test_entries_added_past_2_63_and_autoclaim_counts_too_large_to_allocate(pair: Pair) -> None:
    """entries-added is a uint64 Valkey replies as a long long (it wraps negative), and an
    XAUTOCLAIM COUNT whose IDs cannot be allocated (2^40 * 16 bytes) is refused before
    the consumer is created."""
    pair.exact_many(
        [
            ("xadd", "s", "1-0", "f", "v"),
            ("xsetid", "s", "1-0", "entriesadded", "9223372036854775807"),
            ("xadd", "s", "2-0", "f", "v"),
            ("xinfo", "stream", "s"),
            ("xgroup", "create", "s", "g", "0"),
            ("xautoclaim", "s", "g", "c", "0", "0", "count", str(1 << 40)),
            ("xautoclaim", "nokey", "g", "c", "0", "0", "count", str(1 << 40)),
            ("xinfo", "groups", "s"),
            ("xautoclaim", "s", "g", "c", "0", "0", "count", "1000"),
            ("xinfo", "groups", "s"),
        ]
    )
