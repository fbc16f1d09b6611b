"""String and keyspace commands: shardserver against Valkey 9, reply for reply."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import redis
from redis.crc import key_slot

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS, Pair


def test_cross_shard_keys_really_are_on_different_shards() -> None:
    assert all(key_slot(k) < 8192 for k in LOW_KEYS)
    assert all(key_slot(k) >= 8192 for k in HIGH_KEYS)


# ---------------------------------------------------------------- SET


SET_TOKENS = [
    ("nx",), ("xx",), ("get",), ("keepttl",), ("ex", "100"), ("px", "100000"),
    ("exat", "{exat}"), ("pxat", "{pxat}"), ("ifeq", "v"), ("persist",), ("ex",),
]


def _set_matrix_cmds(tokens_seq: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    exat = int(time.time()) + 1000
    cmds: list[tuple[str, ...]] = []
    for combo in tokens_seq:
        args = [a.format(exat=exat, pxat=exat * 1000) for t in combo for a in t]
        for state in ("missing", "v", "w", "v-persistent"):
            cmds.append(("del", "k"))
            if state == "v-persistent":
                cmds.append(("set", "k", "v"))
            elif state != "missing":
                cmds.append(("set", "k", state, "px", "500000"))
            cmds.append(("set", "k", "n", *args))
            cmds.append(("get", "k"))
            cmds.append(("pttl", "k"))
    return cmds


def _compare_with_pttl_tolerance(pair: Pair, cmds: list[tuple[str, ...]]) -> None:
    rs, rv = pair.raw
    a, b = rs.pipeline(cmds), rv.pipeline(cmds)
    for cmd, x, y in zip(cmds, a, b, strict=True):
        if cmd[0] == "pttl" and x.startswith(b":") and y.startswith(b":"):
            ix, iy = int(x[1:]), int(y[1:])
            assert abs(ix - iy) <= 2000 and (ix < 0) == (iy < 0), f"{cmd}: {ix} vs {iy}"
        else:
            assert x == y, f"{cmd}: shard {x!r}, valkey {y!r}"


def test_set_option_matrix_up_to_two_options(pair: Pair) -> None:
    seqs = [c for n in range(3) for c in itertools.product(SET_TOKENS, repeat=n)]
    _compare_with_pttl_tolerance(pair, _set_matrix_cmds(seqs))


def test_set_option_matrix_three_options(pair: Pair) -> None:
    # The full cube is large; every third combination still mixes every option.
    seqs = list(itertools.product(SET_TOKENS, repeat=3))[:: 3 if pair.shards == 2 and pair.protocol == 2 else 11]
    _compare_with_pttl_tolerance(pair, _set_matrix_cmds(seqs))


def test_set_repeated_expire_option_last_wins(pair: Pair) -> None:
    pair.script(
        """
        set a 1 ex 100 ex 200
        set a 1 ex foo ex 200
        set a 1 ex 200 ex foo
        set a 1 ex 200 ex 0
        set a 1 px 100 px 100000
        set a 1 exat 100 ex 100
        set a 1 keepttl keepttl get get nx nx
        """
    )
    pair.close_ints("ttl", "a", tolerance=1)


def test_set_expire_values(pair: Pair) -> None:
    pair.script(
        """
        set a 2 ex 0
        set a 2 ex -1
        set a 2 px 0
        set a 2 px -100
        set a 2 exat 0
        set a 2 pxat -1
        set a 2 ex 1.5
        set a 2 ex " 10"
        set a 2 ex 10abc
        set a 2 ex 9223372036854775807
        set a 2 ex 9223372036854775808
        set a 2 ex 9223372036854775
        set a 2 ex 9223372036854776
        set a 2 px 9223372036854775807
        set a 2 px 9223372036854775800
        set a 2 exat 99999999999999999
        set a 2 exat 9223372036854775
        exists a
        set a 2 pxat 9223372036854775807
        exists a
        set a 1
        set a 2 exat 1
        exists a
        set a 3 pxat 1 get
        exists a
        set a 3 ex 100
        set a 4 exat 1 get
        exists a
        set b 3 px 1
        """
    )


def test_set_nx_xx_get_ifeq(pair: Pair) -> None:
    pair.script(
        """
        set a 1 nx
        set a 2 nx
        get a
        set a 3 xx
        set b 3 xx
        exists b
        set a 4 nx get
        set a 5 xx get
        set b 5 xx get
        set b 6 nx get
        get b
        set a x ifeq 5
        set a y ifeq 5
        get a
        set a z ifeq x get
        set a w ifeq nomatch get
        get a
        set nosuch v ifeq x
        set nosuch v ifeq x get
        exists nosuch
        set a 1 ifeq z nx
        set a 1 ifeq z xx
        set a 1 xx ifeq z
        set a 1 ifeq
        set a 1 ifeq z ifeq z
        set a 1 nx xx
        set a 1 xx nx
        set a 1 foo
        set a 1 ex
        set a 1 keepttl ex 10
        set a 1 ex 10 keepttl
        set a 1 px 10 ex 10
        set a 1 persist
        set a
        set
        """
    )


def test_set_keepttl_and_ttl_reset(pair: Pair) -> None:
    pair.script(
        """
        set a 1 ex 100
        set a 2 keepttl
        set b 1 ex 100
        set b 2
        ttl b
        set c 1 px 100000
        set c 2 get keepttl
        """
    )
    pair.close_ints("ttl", "a", tolerance=1)
    pair.close_ints("pttl", "c", tolerance=1000)


# ---------------------------------------------------------------- GET family


def test_get_getdel_getset_setnx_setex(pair: Pair) -> None:
    pair.script(
        """
        get nosuch
        set a hello
        get a
        getdel a
        getdel a
        exists a
        getset a 1
        getset a 2
        get a
        setnx a 3
        setnx b 3
        get b
        setex c 10 v
        setex c 0 v
        setex c -5 v
        setex c x v
        setex c 1.5 v
        setex c 9223372036854775807 v
        setex c 9223372036854775 v
        setex c 9223372036854 v
        psetex c 0 v
        psetex c -1 v
        psetex c 100000 v
        psetex c 9223372036854775807 v
        psetex c 1.5 v
        get c
        setex c 10
        psetex c 10 v w
        getdel
        getset a
        setnx a
        """
    )
    pair.close_ints("pttl", "c", tolerance=1000)
    pair.script(
        """
        set t 1 ex 100
        getset t 2
        ttl t
        set t 1 ex 100
        setnx t 2
        """
    )
    pair.close_ints("ttl", "t", tolerance=1)


GETEX_TOKENS = [("persist",), ("ex", "100"), ("px", "100000"), ("exat", "{exat}"), ("pxat", "{pxat}"), ("ex",), ("foo",), ("ex", "0")]


def test_getex_option_matrix(pair: Pair) -> None:
    exat = int(time.time()) + 1000
    cmds: list[tuple[str, ...]] = []
    for n in range(3):
        for combo in itertools.product(GETEX_TOKENS, repeat=n):
            args = [a.format(exat=exat, pxat=exat * 1000) for t in combo for a in t]
            for state in ("missing", "volatile", "persistent"):
                cmds.append(("del", "k"))
                if state == "volatile":
                    cmds.append(("set", "k", "v", "px", "500000"))
                elif state == "persistent":
                    cmds.append(("set", "k", "v"))
                cmds.append(("getex", "k", *args))
                cmds.append(("get", "k"))
                cmds.append(("pttl", "k"))
    _compare_with_pttl_tolerance(pair, cmds)


def test_getex_values(pair: Pair) -> None:
    pair.script(
        """
        getex nosuch
        getex nosuch ex 0
        getex nosuch ex x
        getex nosuch foo
        set a 1
        getex a ex -1
        getex a px 1.5
        getex a px 9223372036854775807
        getex a ex 9223372036854775
        getex a ex 100 ex 300
        getex a persist persist
        ttl a
        getex a pxat 9223372036854775807
        pexpiretime a
        getex a exat 1
        exists a
        set a 1
        getex a pxat 1
        exists a
        getex
        """
    )


# ---------------------------------------------------------------- MGET / MSET / MSETNX


def test_mget_mset_msetnx(pair: Pair) -> None:
    pair.script(
        """
        mget
        mget a
        mset
        mset a
        mset a 1 b
        mset a 1 b 2
        mget a b nosuch
        msetnx
        msetnx a
        msetnx a 1 b
        msetnx x 1 y 2
        msetnx x 1 z 2
        mget x y z
        mset a 1 a 2
        get a
        msetnx n1 1 n1 2
        get n1
        mset {t}a 1 {t}b 2 {t}c 3
        mget {t}a {t}b {t}c {t}d
        msetnx {t}a 9 {t}e 9
        msetnx {t}e 9 {t}f 9
        mget {t}e {t}f
        """
    )


def test_multi_key_commands_across_shards(pair: Pair) -> None:
    lo, hi = LOW_KEYS, HIGH_KEYS
    pair.both("mset", lo[0], "1", hi[0], "2", lo[1], "3", hi[1], "4")
    pair.both("mget", hi[1], lo[0], "nosuch", hi[0], lo[1], lo[0])
    pair.both("msetnx", lo[2], "5", hi[0], "6")  # one exists: nothing written
    pair.both("mget", lo[2], hi[0])
    pair.both("msetnx", lo[2], "5", hi[2], "6")
    pair.both("mget", lo[2], hi[2])
    pair.both("exists", lo[0], hi[0], lo[0], "nosuch", hi[2])
    pair.both("touch", lo[0], hi[0], "nosuch")
    pair.both("del", lo[0], hi[0], lo[0], "nosuch")
    pair.both("unlink", lo[1], hi[1], hi[1])
    pair.both("exists", *lo, *hi)
    pair.both("mset", lo[0], "1", hi[0])


# ---------------------------------------------------------------- counters


def test_incr_decr_family(pair: Pair) -> None:
    pair.script(
        """
        incr n
        incrby n 9223372036854775806
        incr n
        incrby n 1
        decr n
        set m -9223372036854775808
        decr m
        decrby m 1
        decrby m -9223372036854775808
        incrby m -9223372036854775808
        set m 0
        decrby m -9223372036854775808
        decrby m 9223372036854775807
        decr m
        decr m
        incrby m 9223372036854775808
        incrby m -9223372036854775809
        incrby m ""
        incrby m 1.5
        incrby m " 1"
        incrby m 01
        incrby m +1
        incrby m -0
        decrby m 1e3
        set s " 1"
        incr s
        set s "1 "
        incr s
        set s 01
        incr s
        set s +1
        incr s
        set s -0
        incr s
        set s 1.0
        incr s
        set s ""
        incr s
        set s abc
        decr s
        set big 99999999999999999999
        incr big
        set big 9223372036854775807
        incr big
        get big
        set neg -5
        incrby neg 10
        decrby neg 20
        incr
        incr a b
        incrby n
        decrby n
        """
    )
    pair.script("set t 5 ex 100\nincr t")
    pair.close_ints("ttl", "t", tolerance=1)


INCRBYFLOAT_CASES = [
    "0.1", "0.2", "1e3", "1E-3", "-1000.301", "10.5", "-10.5", "5.0e3", "1.23456789012345678901234",
    "3.0e3", "1.5e-10", ".5", "5.", "+5", "-.5", "-5.", "00.5", "0005", "1.e1", "1.1e+2", "1.1e-2",
    "0x10", "0x1p3", "0X1.8p1", "-0x.8", "0x1p-2", "0x0p99999",
    "inf", "-inf", "+inf", "infinity", "INF", "-Infinity", "nan", "-nan", "nan(123)", "infinit",
    "1e400", "1e4000", "1e5000", "1e-5000", "1e-4950", "1e-4951", "4e-4951",
    " 1", "1 ", "", "abc", "1_000", "1e", "1e+", "e5", "+.e1", ".e1", "0x", "0x1p", "0xg", "1.5\n",
    "123456789012345678", "17976931348623157e292", "1e308",
]


def test_incrbyfloat_increments(pair: Pair) -> None:
    cmds: list[tuple[str, ...]] = []
    for i, incr in enumerate(INCRBYFLOAT_CASES):
        cmds.append(("incrbyfloat", "acc", incr))  # accumulates across cases
        cmds.append(("incrbyfloat", f"fresh{i}", incr))
        cmds.append(("set", "base", "1.5"))
        cmds.append(("incrbyfloat", "base", incr))
    pair.exact_many(cmds)


def test_incrbyfloat_stored_values_and_limits(pair: Pair) -> None:
    pair.script(
        """
        set k 1e3
        incrbyfloat k 1
        set k " 1"
        incrbyfloat k 1
        set k inf
        incrbyfloat k 1
        incrbyfloat k abc
        set k 1.5
        incrbyfloat k -1.5
        set k 0x10
        incrbyfloat k 1
        set k 1e-4940
        incrbyfloat k 0
        incrbyfloat r 1e4931
        incrbyfloat r 1.18973149535723176502e+4932
        incrbyfloat s 0x1p16383
        incrbyfloat s 0x1p16384
        incrbyfloat s 0x1.fffffffffffffffep16383
        incrbyfloat s2 0x1.ffffffffffffffffp16383
        incrbyfloat s3 0x1p-16445
        incrbyfloat s3 0x1p-16446
        incrbyfloat j 1e308
        incrbyfloat j 1e308
        incrbyfloat m 1e-20
        incrbyfloat m -1e-20
        incrbyfloat n -0.0
        incrbyfloat
        incrbyfloat k
        """
    )
    # Valkey's MAX_LONG_DOUBLE_CHARS: 5119 characters parse, 5120 do not.
    for n in (5118, 5119):
        pair.both("set", "q", "0" * n + "1")
        pair.both("incrbyfloat", "q", "1")
        pair.both("incrbyfloat", f"q{n}", "0" * n + "1")
    pair.script("set t 1.5 ex 100\nincrbyfloat t 1")
    pair.close_ints("ttl", "t", tolerance=1)


# ---------------------------------------------------------------- APPEND / STRLEN / ranges


def test_append_strlen(pair: Pair) -> None:
    pair.script(
        """
        append a hello
        append a " world"
        get a
        strlen a
        strlen nosuch
        append b ""
        exists b
        append c 123
        append c ""
        strlen c
        set i 12345
        append i 6
        get i
        incr i
        append
        append a
        strlen
        strlen a b
        """
    )


def test_getrange_substr(pair: Pair) -> None:
    cases = [
        (0, -1), (0, 4), (-5, -1), (-1, -5), (5, 3), (100, 200), (-100, 100), (0, 0), (-100, -50),
        (3, -100), (10, 10), (11, 11), (-1, -1), (-11, -11), (-12, -12),
        ("9223372036854775807", "9223372036854775807"), ("-9223372036854775808", "-9223372036854775808"),
        ("0", "9223372036854775808"), ("x", "1"), ("1", "1.5"), (" 1", "2"),
    ]
    pair.both("set", "a", "hello world")
    pair.both("set", "e", "")
    pair.both("set", "n", "12345")
    for key in ("a", "e", "n", "nosuch"):
        for start, end in cases:
            pair.both("getrange", key, start, end)
            pair.both("substr", key, start, end)
    pair.script("getrange a 0\nsubstr a 0 1 2")


def test_setrange(pair: Pair) -> None:
    pair.script(
        """
        setrange s 0 hello
        setrange s 10 x
        get s
        setrange s 2 XY
        get s
        setrange s -1 x
        setrange s 0 ""
        setrange nosuch 0 ""
        setrange nosuch2 5 ""
        exists nosuch nosuch2
        setrange s x y
        setrange s 1.5 y
        setrange s 4294967296 x
        setrange s 9223372036854775807 x
        setrange s 9223372036854775808 x
        set n 1234
        setrange n 1 x
        get n
        setrange n 0 ""
        setrange
        setrange s 0
        """
    )
    pair.script("set t abc ex 100\nsetrange t 1 X\nget t")
    pair.close_ints("ttl", "t", tolerance=1)
    # the offset is checked before the key's type, its size after
    pair.script(
        """
        rpush l x
        setrange l -1 x
        setrange l x x
        setrange l 0 ""
        setrange l 536870912 x
        """
    )


def test_string_size_limit(pair: Pair) -> None:
    """proto-max-bulk-len bounds SETRANGE and APPEND (1mb is Valkey's minimum)."""
    pair.both("config", "set", "proto-max-bulk-len", "1048576")
    try:
        pair.script(
            """
            config get proto-max-bulk-len
            setrange s 1048575 x
            strlen s
            setrange s 1048576 x
            setrange s2 1048576 x
            setrange s2 1048576 ""
            exists s2
            set a aaaaaaaaaa
            setrange a 1048570 aaaaaaaaaa
            strlen a
            """
        )
        pair.both("set", "big", "x" * 1048000)
        pair.both("append", "big", "y" * 576)
        pair.both("append", "big", "z")
        pair.both("strlen", "big")
    finally:
        pair.both("config", "set", "proto-max-bulk-len", "536870912")


# ---------------------------------------------------------------- LCS / DELIFEQ


def test_lcs(pair: Pair) -> None:
    pair.script(
        """
        set l1 ohmytext
        set l2 mynewtext
        lcs l1 l2
        lcs l2 l1
        lcs l1 l2 len
        lcs l1 l2 LEN
        lcs l1 l2 idx
        lcs l1 l2 idx withmatchlen
        lcs l1 l2 idx minmatchlen 4 withmatchlen
        lcs l1 l2 idx minmatchlen 4 minmatchlen 0
        lcs l1 l2 minmatchlen -5 idx
        lcs l1 l2 withmatchlen
        lcs l1 l2 idx len
        lcs l1 l2 len idx
        lcs l1 l2 foo
        lcs l1 l2 minmatchlen
        lcs l1 l2 minmatchlen x
        lcs l1 l2 minmatchlen 1.5 idx
        lcs l1 nosuch
        lcs nosuch l2 idx
        lcs nosuch nosuch2 len
        lcs l1 l1 idx
        set e ""
        lcs e l1 idx withmatchlen
        lcs l1
        lcs
        """
    )


def test_lcs_across_shards(pair: Pair) -> None:
    lo, hi = LOW_KEYS[0], HIGH_KEYS[0]
    pair.both("set", lo, "ohmytext")
    pair.both("set", hi, "mynewtext")
    for opts in ([], ["len"], ["idx"], ["idx", "withmatchlen"], ["idx", "minmatchlen", "3"], ["idx", "len"], ["foo"], ["minmatchlen", "x"]):
        pair.both("lcs", lo, hi, *opts)
        pair.both("lcs", hi, lo, *opts)
    pair.both("lcs", lo, HIGH_KEYS[1], "idx")


def test_lcs_random_strings(pair: Pair) -> None:
    rnd = random.Random(7)
    cmds: list[tuple[str, ...]] = []
    for _ in range(120):
        x = "".join(rnd.choice("abc") for _ in range(rnd.randint(0, 12)))
        y = "".join(rnd.choice("abc") for _ in range(rnd.randint(0, 12)))
        a, b = rnd.choice([(LOW_KEYS[0], HIGH_KEYS[0]), (b"{t}1", b"{t}2")])
        cmds.append(("mset", a, x, b, y))
        for opts in ((), ("idx", "withmatchlen"), ("idx", "minmatchlen", "2"), ("len",)):
            cmds.append(("lcs", a, b, *opts))
    pair.exact_many(cmds)


def test_delifeq(pair: Pair) -> None:
    pair.script(
        """
        delifeq nosuch v
        set a v
        delifeq a w
        exists a
        delifeq a v
        exists a
        set n 123
        delifeq n 123
        set n 123
        delifeq n 0123
        delifeq a
        delifeq a b c
        """
    )


# ---------------------------------------------------------------- keyspace


def test_del_exists_touch_unlink_type(pair: Pair) -> None:
    pair.script(
        """
        mset a 1 b 2 c 3
        del a a b nosuch
        exists c c c nosuch
        unlink c c
        touch x y
        set t 1
        touch t t
        type t
        type nosuch
        del
        unlink
        exists
        touch
        type
        type a b
        """
    )


EXPIRE_OPTS = [(), ("nx",), ("xx",), ("gt",), ("lt",), ("nx", "xx"), ("gt", "lt"), ("nx", "gt"), ("xx", "gt"), ("xx", "lt"), ("nx", "nx"), ("gt", "gt"), ("foo",), ("NX",)]


def test_expire_option_matrix(pair: Pair) -> None:
    cmds: list[tuple[str, ...]] = []
    for cmd, amounts in (("expire", ("50", "500", "-1")), ("pexpire", ("50000", "500000", "-1"))):
        for opts in EXPIRE_OPTS:
            for amount in amounts:
                for state in ("missing", "persistent", "volatile"):
                    cmds.append(("del", "k"))
                    if state == "persistent":
                        cmds.append(("set", "k", "v"))
                    elif state == "volatile":
                        cmds.append(("set", "k", "v", "ex", "100"))
                    cmds.append((cmd, "k", amount, *opts))
                    cmds.append(("exists", "k"))
                    cmds.append(("pttl", "k"))
    _compare_with_pttl_tolerance(pair, cmds)


def test_expire_values(pair: Pair) -> None:
    pair.script(
        """
        set p 1
        expire p x
        expire p 1.5
        expire p ""
        expire nosuch x
        expire nosuch 10
        expire nosuch 10 foo
        expire p 10 foo
        expire p 9223372036854775807
        expire p 9223372036854775
        expire p 9223372036854774
        expire p -9223372036854775808
        expire p -9223372036854775
        exists p
        set p 1
        pexpire p -9223372036854775808
        exists p
        set p 1
        pexpire p 9223372036854775807
        pexpire p 9223372036854000000
        set p 1
        expireat p 9223372036854775807
        expireat p 9223372036854775
        expireat p 9223372036854774
        expiretime p
        pexpiretime p
        pexpireat p 9223372036854775807
        pexpiretime p
        expiretime p
        expireat p -9223372036854775808
        expireat p -9223372036854775
        exists p
        set p 1
        expireat p 1
        exists p
        set p 1
        pexpireat p 1
        exists p
        set p 1
        expireat p 0
        exists p
        set p 1
        pexpireat p -1
        exists p
        set p 1
        expire p 0
        exists p
        expire
        expire p
        pexpireat p
        """
    )


def test_ttl_family_and_persist(pair: Pair) -> None:
    pair.script(
        """
        ttl nosuch
        pttl nosuch
        expiretime nosuch
        pexpiretime nosuch
        set q 1
        ttl q
        pttl q
        expiretime q
        pexpiretime q
        persist q
        persist nosuch
        set v 1 pxat 4102444800123
        expiretime v
        pexpiretime v
        persist v
        persist v
        ttl v
        set w 1 exat 4102444800
        pexpiretime w
        ttl
        pttl a b
        persist
        """
    )
    pair.both("set", "t", "1", "ex", "100")
    pair.close_ints("ttl", "t", tolerance=1)
    pair.close_ints("pttl", "t", tolerance=1000)
    pair.both("set", "h", "1", "px", "1500")  # rounds to the nearest second
    pair.close_ints("ttl", "h", tolerance=1)


def test_expired_key_is_gone(pair: Pair) -> None:
    pair.both("set", "a", "1", "px", "30")
    pair.both("mset", "b", "1", "c", "2")
    pair.both("pexpire", "b", "30")
    time.sleep(0.1)
    pair.script(
        """
        get a
        exists a b c
        ttl a
        dbsize
        keys *
        set a 2 xx
        incr b
        """
    )


def test_rename_renamenx(pair: Pair) -> None:
    pair.script(
        """
        mset a 1 b 2
        rename a a
        rename nosuch x
        rename nosuch nosuch
        renamenx a a
        renamenx nosuch x
        renamenx a b
        set a 1 ex 100
        rename a c
        renamenx c d
        get d
        rename d b
        get b
        exists a c d
        rename
        rename a
        renamenx a b c
        """
    )
    pair.close_ints("ttl", "b", tolerance=1)


def test_rename_across_shards(pair: Pair) -> None:
    lo, hi = LOW_KEYS, HIGH_KEYS
    pair.both("set", lo[0], "v", "ex", "100")
    pair.both("rename", lo[0], hi[0])
    pair.both("exists", lo[0], hi[0])
    pair.close_ints("ttl", hi[0], tolerance=1)
    pair.both("set", lo[1], "w")
    pair.both("renamenx", hi[0], lo[1])
    pair.both("renamenx", hi[0], lo[2])
    pair.both("mget", hi[0], lo[2])
    pair.close_ints("ttl", lo[2], tolerance=1)
    pair.both("rename", hi[1], lo[0])
    pair.both("renamenx", hi[1], lo[0])
    pair.both("set", hi[1], "12345")
    pair.both("rename", hi[1], lo[0])
    pair.both("object", "encoding", lo[0])
    pair.both("append", lo[0], "x")
    pair.both("rename", lo[0], hi[1])
    pair.both("object", "encoding", hi[1])


def test_errors_of_commands_across_shards_are_failed_calls(pair: Pair) -> None:
    """An error a command across shards ends with counts as a failed call and in
    errorstats, as Valkey counts it (the reply comes after the call is counted)."""
    lo, hi = LOW_KEYS, HIGH_KEYS
    pair.both("config", "resetstat")
    pair.both("set", lo[0], "a string")
    pair.both("rename", hi[2], lo[1])  # no such key
    pair.both("renamenx", hi[2], lo[1])
    pair.both("smove", lo[0], hi[1], "m")  # WRONGTYPE
    pair.both("copy", hi[2], lo[1])  # no such key: 0, not an error

    def counts(port: int) -> Any:
        with redis.Redis(port=port) as r:
            stats = r.info("commandstats")
            cmds = {k: (v["calls"], v["failed_calls"], v["rejected_calls"]) for k, v in stats.items() if k.split("_", 1)[1] in ("rename", "renamenx", "smove", "copy")}
            return cmds, r.info("errorstats")

    ours, theirs = counts(pair.shard_port), counts(pair.valkey_port)
    assert ours == theirs
    assert theirs[0]["cmdstat_rename"] == (1, 1, 0) and "errorstat_WRONGTYPE" in theirs[1]


def test_ping_is_counted_in_commandstats(pair: Pair) -> None:
    """PING answered by the front (in its C path, or its Python twin) is a call in
    commandstats and latencystats, as in Valkey; CONFIG RESETSTAT clears it."""
    pair.both("ping")
    pair.both("config", "resetstat")
    for args in (("ping",), ("ping", "hi"), ("PING",), ("echo", "x")):
        pair.both(*args)

    def calls(port: int) -> Any:
        with redis.Redis(port=port) as r:
            stats = r.info("commandstats")
            latency = sorted(k for k in r.info("latencystats") if "ping" in k)
            return {k: v["calls"] for k, v in stats.items() if k in ("cmdstat_ping", "cmdstat_echo")}, latency

    ours, theirs = calls(pair.shard_port), calls(pair.valkey_port)
    assert ours == theirs
    assert theirs[0] == {"cmdstat_ping": 3, "cmdstat_echo": 1}


def test_copy(pair: Pair) -> None:
    pair.script(
        """
        set b 1 ex 100
        copy b b
        copy b b db 1
        copy nosuch x
        copy b e
        copy b e
        copy b e replace
        copy b e db 16
        copy b e db -1
        copy b e db x
        copy b e db 2147483648
        copy b e db 9223372036854775808
        copy b e foo
        copy b e db
        copy b e replace replace db 1 db 2
        copy b e db 0 db 1
        select 2
        get e
        select 1
        copy b e db 0
        copy e e db 0
        select 0
        copy
        copy b
        """
    )
    pair.close_ints("ttl", "e", tolerance=1)


def test_copy_across_shards(pair: Pair) -> None:
    lo, hi = LOW_KEYS, HIGH_KEYS
    pair.both("set", lo[0], "v", "ex", "100")
    pair.both("copy", lo[0], hi[0])
    pair.both("copy", lo[0], hi[0])
    pair.both("copy", lo[0], hi[0], "replace")
    pair.both("copy", lo[0], hi[0], "db", "3")
    pair.both("copy", hi[1], lo[1])
    pair.both("mget", lo[0], hi[0])
    pair.close_ints("ttl", hi[0], tolerance=1)
    pair.both("select", "3")
    pair.both("get", hi[0])
    pair.close_ints("ttl", hi[0], tolerance=1)


def test_move(pair: Pair) -> None:
    pair.script(
        """
        set b 1
        move b 0
        move b 1
        move b 1
        move nosuch 1
        move b 16
        move b -1
        move b x
        move b 2147483648
        move b -2147483649
        move b 2147483647
        move b 9223372036854775808
        set m 1 ex 100
        set c 1
        move m 3
        select 3
        set c 2
        select 0
        move c 3
        get c
        select 3
        get m
        get c
        move
        move m
        """
    )
    pair.close_ints("ttl", "m", tolerance=1)


def test_keys_patterns(pair: Pair) -> None:
    names = ["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h[a]llo", "a\\b", "-", "]", "^", "[", "?", "\\"]
    pair.both("mset", *[x for n in names for x in (n, "1")])
    for pattern in ["*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo", "h\\*llo", "[", "h[", "*[",
                    "\\", "", "[--]", "[b-]", "[a-]", "[]", "[^]", "[\\]]", "h[a-]llo", "*\\", "**", "?", "[?-]", "[^-]"]:
        a, b = pair.run("keys", pattern)
        assert not isinstance(a, str) and sorted(a) == sorted(b), (pattern, a, b)
    pair.both("keys")
    pair.both("keys", "a", "b")


def test_keys_random_globs(pair: Pair) -> None:
    rnd = random.Random(11)
    names = {bytes(rnd.choice(b"ab-^]\\[*?c") for _ in range(rnd.randint(1, 4))) for _ in range(120)}
    pair.both("mset", *[x for n in sorted(names) for x in (n, b"1")])
    for _ in range(250 if pair.shards == 2 and pair.protocol == 2 else 60):
        pattern = bytes(rnd.choice(b"ab-^]\\[*?") for _ in range(rnd.randint(1, 7)))
        a, b = pair.run("keys", pattern)
        assert sorted(a) == sorted(b), (pattern, a, b)


def test_globs_over_empty_and_high_byte_names(pair: Pair) -> None:
    """An empty key, field or member matches only the empty pattern (``*`` aside), and set
    ranges compare bytes as C chars (0x80 and up sort below 0): stringmatchlen's rules,
    in KEYS and the MATCH of SCAN, HSCAN, SSCAN and ZSCAN."""
    rnd = random.Random(7)
    names = [b"", b"a", b"A", b"ab", b"\x80", b"\xff", b"a\xff", b"[", b"]", b"*", b"?", b"\\", b"-", b"^"]
    pair.both("mset", *[x for n in names for x in (n, b"1")])
    for pattern in [b"**", b"***", b"", b"?*", b"*?", b"[a-\xff]", b"[\x80-a]", b"[^a-\xff]", b"*\xff", b"[\\a]*", b"[A-a]"]:
        a, b = pair.run("keys", pattern)
        assert sorted(a) == sorted(b), (pattern, a, b)
    for _ in range(150 if pair.shards == 2 and pair.protocol == 2 else 40):
        pattern = bytes(rnd.choice(b"ab*?[]^-\\\x80\xffA") for _ in range(rnd.randint(0, 6)))
        a, b = pair.run("keys", pattern)
        assert sorted(a) == sorted(b), (pattern, a, b)
        a, b = _scan_all(pair.s, "match", pattern, "count", "1000"), _scan_all(pair.v, "match", pattern, "count", "1000")
        assert sorted(a) == sorted(b), (pattern, a, b)
    pair.both("hset", "h", "", "v", "x", "w")
    pair.both("sadd", "s", "", "x")
    pair.both("zadd", "z", "1", "", "2", "x")
    pair.exact_many([("hscan", "h", "0", "match", "**"), ("sscan", "s", "0", "match", "**"), ("zscan", "z", "0", "match", "**"),
                     ("hscan", "h", "0", "match", "*"), ("sscan", "s", "0", "match", "*"), ("zscan", "z", "0", "match", "*"),
                     ("hscan", "h", "0", "match", ""), ("hscan", "h", "0\x00"), ("sscan", "s", "0\x00x"), ("zscan", "z", "0\x00")])  # fmt: skip


def test_globs_with_many_stars_answer_at_once(pair: Pair) -> None:
    """a*a*...a*b against a long run of a: a backtracking matcher takes exponential time
    (seconds to hours, with the shard blocked); stringmatchlen and ours are polynomial.
    The clients' 20 s timeout is the guard."""
    key = "a" * 60
    pair.both("set", key, "1")
    pair.both("hset", "h", key, "v")
    for pattern in ("a*" * 12 + "b", "*a" * 12 + "b*", "a*" * 12 + "a"):
        pair.exact_many([("keys", pattern), ("hscan", "h", "0", "match", pattern)])
        assert sorted(_scan_all(pair.s, "match", pattern)) == sorted(_scan_all(pair.v, "match", pattern))


def _scan_all(r: object, *opts: object) -> list[bytes]:
    from tests.differential.conftest import call

    cursor: bytes | int = 0
    out: list[bytes] = []
    for _ in range(20000):
        reply = call(r, "scan", cursor, *opts)  # type: ignore[arg-type]
        assert not isinstance(reply, str), reply
        cursor, keys = reply
        out.extend(keys)
        if int(cursor) == 0:
            return out
    raise AssertionError("SCAN did not finish")


def test_scan_full_iteration(pair: Pair) -> None:
    keys = [f"key:{i}" for i in range(300)] + [f"other:{i}" for i in range(40)] + ["{t}1", "{t}2"]
    pair.both("mset", *[x for k in keys for x in (k, "v")])
    for opts in ([], ["count", "1000"], ["match", "key:1*"], ["match", "key:1*", "count", "3"], ["type", "string"],
                 ["type", "STRING", "count", "500"], ["type", "list"], ["match", "nomatch*"], ["match", "*", "match", "other:*"]):
        a, b = _scan_all(pair.s, *opts), _scan_all(pair.v, *opts)
        assert set(a) == set(b), opts
        assert len(set(a)) == len(a)  # no key twice while nothing changes


def test_scan_errors(pair: Pair) -> None:
    pair.script(
        """
        scan
        scan x
        scan -1
        scan 1.5
        scan "1 "
        scan 18446744073709551616
        scan 0 count 0
        scan 0 count -1
        scan 0 count x
        scan 0 count 9223372036854775808
        scan 0 match
        scan 0 count
        scan 0 foo bar
        scan 0 type
        scan 0 type foo
        scan 0 type none
        scan 0 type foo count x
        scan 0 count x type foo
        scan 0 novalues
        scan 0 novalues count x
        scan 0 count 0 novalues
        scan 0 match a novalues
        scan 4000000000000 type f1
        scan 4000000000000 count x
        scan 4000000000000 foo
        scan 4000000000000 count 0
        scan 9223372036854775808 novalues
        scan 16384 type foo
        scan 0 noscores
        scan 0 NOSCORES
        scan 0 count 10 noscores
        scan 0 noscores foo
        scan 0 count x noscores
        """
    )
    a, b = pair.run("scan", "0", "count", "100000")
    assert not isinstance(a, str) and not isinstance(b, str), (a, b)


def test_scan_cursor_forms_that_strtoull_accepts(pair: Pair) -> None:
    # Valkey reads the cursor as a C string: a NUL byte ends it
    pair.both("scan", "\x000")  # nothing before the NUL: invalid
    for cursor in ("+0", "00", " 0", "-0", "18446744073709551615", "-18446744073709551615", "0\x00", "0\x00x"):
        a, b = pair.run("scan", cursor, "count", "100000")
        assert not isinstance(a, str) and not isinstance(b, str), (cursor, a, b)


def test_randomkey_dbsize_flush(pair: Pair) -> None:
    pair.script(
        """
        randomkey
        dbsize
        set a 1
        randomkey
        dbsize
        mset b 1 c 1 d 1
        dbsize
        randomkey x
        dbsize x
        flushdb foo
        flushdb async sync
        flushall foo
        flushall sync async
        flushdb async
        dbsize
        set a 1
        flushdb SYNC
        dbsize
        set a 1
        select 1
        set a 1
        flushall ASYNC
        dbsize
        select 0
        dbsize
        set a 1
        flushall sync
        randomkey
        """
    )
    pair.both("mset", *LOW_KEYS[:1], "1", *HIGH_KEYS[:1], "1")
    a, b = pair.run("randomkey")
    assert a in (LOW_KEYS[0], HIGH_KEYS[0]) and b in (LOW_KEYS[0], HIGH_KEYS[0])


def test_swapdb(pair: Pair) -> None:
    pair.script(
        """
        set b 1
        swapdb 0 2147483648
        swapdb 2147483648 0
        swapdb 0 16
        swapdb 16 0
        swapdb x 0
        swapdb 0 x
        swapdb x y
        swapdb -1 0
        swapdb 0 9223372036854775808
        swapdb 0 0
        get b
        swapdb 0 1
        get b
        select 1
        get b
        swapdb 1 0
        get b
        swapdb 0
        swapdb 0 1 2
        """
    )


def test_object(pair: Pair) -> None:
    pair.script(
        """
        set i 12345
        object encoding i
        append i 6
        object encoding i
        incr i
        object encoding i
        set i -1
        object encoding i
        set i 9223372036854775807
        object encoding i
        set i 9223372036854775808
        object encoding i
        set i 01
        object encoding i
        set e hello
        object encoding e
        set e ""
        object encoding e
        append e x
        object encoding e
        set e hello
        setrange e 0 H
        object encoding e
        set e hello
        setrange e 0 ""
        object encoding e
        mset m1 abc m2 123
        object encoding m1
        object encoding m2
        getset m1 456
        object encoding m1
        setnx m3 789
        object encoding m3
        setex m4 100 xyz
        object encoding m4
        object encoding nosuch
        object refcount e
        object refcount i
        object refcount nosuch
        object freq e
        object freq nosuch
        object idletime e
        object idletime nosuch
        object
        object foo
        object foo bar
        object encoding
        object encoding a b
        object help
        object HELP
        object help x
        object ENCODING e
        """
    )


def test_object_encoding_embstr_boundary(pair: Pair) -> None:
    """Valkey 9 embeds key and value in one allocation: the embstr limit depends on the key length."""
    cmds: list[tuple[str, ...]] = []
    # Keys of 108..111 bytes differ once a TTL is set (Valkey then re-allocates the
    # object as raw even for a 0..3 byte value); not modelled, not compared with TTLs.
    for key_len in (1, 10, 31, 32, 60, 100, 107):
        key = "k" * key_len
        for value_len in (0, 1, 20, 44, 45, 50, 51, 60, 80, 103, 110, 111, 112, 113, 120):
            cmds.append(("set", key, "a" * value_len))
            cmds.append(("object", "encoding", key))
            cmds.append(("del", key))
            cmds.append(("set", key, "a" * value_len, "ex", "100"))
            cmds.append(("object", "encoding", key))
            cmds.append(("expire", key, "200"))
            cmds.append(("object", "encoding", key))
            cmds.append(("del", key))
    for key_len in (110, 111, 112):  # without a TTL the long keys match too
        for value_len in (0, 1, 2, 3):
            cmds.append(("set", "k" * key_len, "a" * value_len))
            cmds.append(("object", "encoding", "k" * key_len))
    pair.exact_many(cmds)


# ---------------------------------------------------------------- arity and unknown commands


ARITY_CASES = [
    ("get",), ("get", "a", "b"), ("set", "a"), ("getex",), ("getdel",), ("getdel", "a", "b"), ("getset", "a"),
    ("setnx", "a"), ("setex", "a", "1"), ("psetex", "a", "1"), ("mget",), ("mset", "a"), ("msetnx", "a"),
    ("incr",), ("decr", "a", "b"), ("incrby", "a"), ("decrby", "a"), ("incrbyfloat", "a"), ("append", "a"),
    ("strlen",), ("getrange", "a", "0"), ("substr", "a"), ("setrange", "a", "0"), ("lcs", "a"), ("delifeq", "a"),
    ("del",), ("unlink",), ("exists",), ("touch",), ("type",), ("expire", "a"), ("pexpire", "a"), ("expireat", "a"),
    ("pexpireat", "a"), ("ttl",), ("pttl", "a", "b"), ("expiretime",), ("pexpiretime", "a", "b"), ("persist",),
    ("rename", "a"), ("renamenx", "a"), ("copy", "a"), ("move", "a"), ("keys",), ("scan",), ("randomkey", "a"),
    ("dbsize", "a"), ("swapdb", "0"), ("object",), ("object", "encoding"), ("object", "freq", "a", "b"),
    ("object", "idletime"), ("object", "refcount"), ("object", "help", "x"),
    ("GET",), ("Set", "a"), ("OBJECT", "ENCODING"),
]


def test_wrong_arity(pair: Pair) -> None:
    pair.exact_many(ARITY_CASES)


def test_unknown_commands(pair: Pair) -> None:
    pair.exact_many(
        [
            ("foo",),
            ("foo", "a", "b"),
            ("FOO", "bar"),
            ("foo", "x" * 200),
            ("", "a"),
            ("foo", "a b", "c"),
            ("foo", *[str(i) for i in range(30)]),
        ]
    )
    pair.both("object", "nosuch")
    pair.both("object", "nosuch", "key")


def test_values_modified_in_place_reply_like_any_string(pair: Pair) -> None:
    """APPEND / SETRANGE leave a raw string; every command that returns it must still answer."""
    lo, hi = LOW_KEYS[0], HIGH_KEYS[0]
    pair.both("append", lo, "hello")
    pair.both("append", lo, " world")
    pair.both("setrange", hi, "3", "xyz")
    pair.exact_many(
        [
            ("get", lo), ("getrange", lo, "0", "-1"), ("mget", lo, hi, "nosuch"), ("strlen", lo),
            ("lcs", lo, hi), ("lcs", lo, hi, "idx"), ("getex", lo), ("getex", lo, "persist"),
            ("set", lo, "new", "get"), ("append", lo, "!"), ("getset", lo, "other"), ("append", lo, "?"),
            ("getdel", lo), ("get", hi), ("copy", hi, "{c}copy"), ("get", "{c}copy"), ("object", "encoding", "{c}copy"),
            ("rename", hi, lo), ("get", lo), ("object", "encoding", lo), ("incrbyfloat", lo, "1"),
        ]
    )


def test_in_place_edits_interleaved_with_reads_and_copies(pair: Pair) -> None:
    """Raw strings are edited in place: a pipeline's earlier replies, copies in the same shard and
    in the other one, and renamed or moved keys must each keep the value they had."""
    lo, lo2, hi = LOW_KEYS[0], LOW_KEYS[1], HIGH_KEYS[0]
    cmds: list[tuple[Any, ...]] = [("set", lo, "abc"), ("set", hi, "xyz")]
    for key, other in ((lo, hi), (hi, lo)):
        cmds += [
            ("append", key, "1"), ("get", key), ("append", key, "2"), ("get", key), ("mget", key, other, key),
            ("setrange", key, "1", "QQ"), ("getrange", key, "0", "-1"), ("get", key),
            ("copy", key, lo2), ("copy", key, "{x}c", "replace"), ("setbit", key, "5", "1"), ("get", key),
            ("get", lo2), ("get", "{x}c"), ("append", lo2, "+"), ("get", key), ("del", lo2, "{x}c"),
            ("bitfield", key, "set", "u8", "0", "33", "incrby", "u8", "8", "1", "get", "u16", "0"), ("get", key),
            ("lcs", key, other), ("set", key, "n", "nx", "get"), ("setrange", key, "20", "tail"), ("get", key),
            ("strlen", key), ("object", "encoding", key), ("getex", key), ("append", key, "."), ("getset", key, "plain"),
            ("append", key, "!"), ("getdel", key), ("exists", key),
            ("setbit", key, "100", "1"), ("get", key), ("bitcount", key), ("bitpos", key, "1"),
            ("move", key, "3"), ("select", "3"), ("append", key, "m"), ("get", key), ("del", key), ("select", "0"),
        ]
    pair.exact_many(cmds)


def test_incrbyfloat_result_encoding(pair: Pair) -> None:
    pair.exact_many([("incrbyfloat", "f", "3"), ("object", "encoding", "f"), ("incrbyfloat", "g", "1.5"), ("incrbyfloat", "g", "-1.5"), ("object", "encoding", "g")])


def test_error_texts_echo_raw_bytes(pair: Pair) -> None:
    pair.exact_many([(b"foo\xff", b"\xfe"), ("expire", "k", "10", b"\xff")])


def test_error_texts_with_newlines(pair: Pair) -> None:
    pair.both("set", "k", "v")
    pair.exact_many(
        [
            ("foo\nbar", "a\r\nb"), ("expire", "k", "10", "a\nb"), ("scan", "0", "type", "a\r\nb"),
            ("client", "list", "type", "a\nb"), ("client", "list", "user", "a\nb"), ("object", "a\nb"),
            ("config", "set", "a\nb", "c"), ("client", "setinfo", "a\nb", "x"), ("hello", "2", "a\nb"),
            ("client", "a\nb"), ("command", "a\nb"),
        ]
    )


def test_empty_key_and_expiretime_rounding(pair: Pair) -> None:
    pair.exact_many(
        [
            ("set", "", "v"), ("get", ""), ("exists", ""), ("keys", "*"), ("del", ""),
            ("mset", "", "1", "a", "2"), ("mget", "", "a"), ("append", "", "x"), ("setrange", "", "0", "y"),
            ("getrange", "", "0", "-1"), ("incr", ""), ("rename", "", "x"), ("copy", "x", ""), ("lcs", "", "x"),
            ("object", "encoding", ""),
            # EXPIRETIME rounds milliseconds to the nearest second, as TTL does
            ("set", "w", "1", "pxat", "4102444800499"), ("expiretime", "w"),
            ("set", "w", "1", "pxat", "4102444800500"), ("expiretime", "w"),
            ("set", "w", "1", "pxat", "4102444800600"), ("expiretime", "w"), ("pexpiretime", "w"),
        ]
    )


def test_pipelined_multi_key_commands_across_shards(pair: Pair) -> None:
    """Random pipelines mixing MSET/MGET/DEL/EXISTS/TOUCH/UNLINK (split over shards by the
    router, consecutive ones sharing runs) with one-key commands and other types, byte for byte."""
    rnd = random.Random(8)
    keys = [*LOW_KEYS, *HIGH_KEYS, b"{t}1", b"{t}2", b"n0", b"n1", b"n2"]
    for _ in range(12):
        cmds: list[tuple[Any, ...]] = []
        for _ in range(rnd.randrange(5, 40)):
            ks = rnd.sample(keys, rnd.randrange(1, 6))
            x = rnd.random()
            if x < 0.25:
                cmds.append(("MSET", *(y for k in ks for y in (k, b"v%d" % rnd.randrange(9)))))
            elif x < 0.45:
                cmds.append((rnd.choice(["MGET", "mget"]), *ks))
            elif x < 0.55:
                cmds.append((rnd.choice(["DEL", "UNLINK"]), *ks))
            elif x < 0.65:
                cmds.append((rnd.choice(["EXISTS", "TOUCH"]), *ks))
            elif x < 0.75:
                cmds.append(("GET", ks[0]))
            elif x < 0.8:
                cmds.append(("RPUSH", ks[0], "e"))  # another type: MGET gives nil for it, MSET replaces it
            elif x < 0.85:
                cmds.append(("MSET", *ks))  # odd or even: an arity error when the count is wrong
            elif x < 0.9:
                cmds.append(("INCR", ks[0]))
            else:
                cmds.append(("PING",))
        pair.exact_many(cmds)
