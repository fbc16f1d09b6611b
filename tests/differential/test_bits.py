"""Bitmaps and HyperLogLog: shardserver against Valkey 9, reply for reply and byte for byte."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS, Pair

LO, HI = LOW_KEYS[0].decode(), HIGH_KEYS[0].decode()
LO2, HI2 = LOW_KEYS[1].decode(), HIGH_KEYS[1].decode()


def _values_equal(pair: Pair, *keys: str) -> None:
    for key in keys:
        pair.both("get", key)
        pair.both("object", "encoding", key)
        pair.both("type", key)


# ---------------------------------------------------------------- SETBIT / GETBIT


def test_setbit_getbit_basics(pair: Pair) -> None:
    pair.script(
        """
        setbit k 7 1
        get k
        object encoding k
        setbit k 7 1
        setbit k 7 0
        setbit k 100 1
        get k
        strlen k
        getbit k 100
        getbit k 101
        getbit k 99999999
        getbit missing 0
        setbit k 0 1
        getbit k 0
        setbit n 0 0
        get n
        strlen n
        object encoding n
        """
    )


def test_setbit_encodings_and_ttl(pair: Pair) -> None:
    pair.script(
        """
        set s ab
        object encoding s
        getbit s 1
        object encoding s
        setbit s 1 1
        object encoding s
        set i 12345
        object encoding i
        getbit i 2
        setbit i 2 1
        get i
        object encoding i
        set e x
        setbit e 7 0
        object encoding e
        set t hello ex 1000
        setbit t 3 1
        ttl t
        """
    )


def test_setbit_getbit_errors(pair: Pair) -> None:
    pair.script(
        """
        setbit k -1 1
        setbit k foo 1
        setbit k 1.5 1
        setbit k " 1" 1
        setbit k +1 1
        setbit k 01 1
        setbit k 4294967296 1
        setbit k 4294967295 2
        setbit k 0 2
        setbit k 0 -1
        setbit k 0 foo
        setbit k 0 -0
        setbit k 0 01
        setbit k 9223372036854775807 1
        setbit k 9223372036854775808 1
        getbit k -1
        getbit k foo
        getbit k 4294967296
        getbit k 4294967295
        exists k
        setbit
        setbit k 1
        setbit k 1 1 1
        getbit k
        getbit k 1 2
        """
    )


def test_setbit_proto_max_bulk_len(pair: Pair) -> None:
    try:
        pair.script(
            """
            config set proto-max-bulk-len 1mb
            setbit k 8388608 1
            setbit k 8388607 1
            strlen k
            getbit k 8388608
            bitfield k set u8 8388600 1
            bitfield k get u8 8388608
            bitfield k get u8 #1048576
            bitfield k get u8 #1048575
            """
        )
    finally:
        pair.run("config", "set", "proto-max-bulk-len", "536870912")


# ---------------------------------------------------------------- BITCOUNT


def test_bitcount_ranges(pair: Pair) -> None:
    pair.both("set", "k", b"\xff\x0f\xf0\xaa\x55\x01\x80")
    cmds = [("bitcount", "k")]
    for start in (-10, -8, -7, -3, -1, 0, 1, 2, 6, 7, 8, 100):
        cmds.append(("bitcount", "k", str(start)))
        for end in (-100, -8, -7, -2, -1, 0, 1, 3, 6, 7, 100):
            cmds.append(("bitcount", "k", str(start), str(end)))
            cmds.append(("bitcount", "k", str(start), str(end), "byte"))
    for start in (-60, -56, -9, -1, 0, 1, 5, 7, 8, 9, 30, 55, 56, 100):
        for end in (-60, -57, -9, -1, 0, 3, 7, 8, 15, 16, 40, 55, 56, 1000):
            cmds.append(("bitcount", "k", str(start), str(end), "bit"))
    pair.exact_many(cmds)


def test_bitcount_errors_and_edges(pair: Pair) -> None:
    pair.script(
        """
        bitcount missing
        bitcount missing 0
        bitcount missing 0 -1
        bitcount missing 0 -1 bit
        bitcount missing 0 -1 foo
        set k foobar
        bitcount k
        bitcount k 1 1
        bitcount k 1 1 BIT
        bitcount k 1 1 Byte
        bitcount k 5 30 bit
        bitcount k 0 -1 nibble
        bitcount k a
        bitcount k 0 a
        bitcount k a b foo
        bitcount k 0 a foo
        bitcount k 0 1 bit extra
        bitcount k 1.5
        bitcount k 9223372036854775807 -9223372036854775808
        bitcount k -9223372036854775808 9223372036854775807 bit
        bitcount k 9223372036854775808
        set e ""
        bitcount e
        bitcount e 0 0
        set i 1234
        bitcount i
        bitcount i 1 2 bit
        bitcount
        """
    )


# ---------------------------------------------------------------- BITPOS


def test_bitpos_ranges(pair: Pair) -> None:
    pair.both("set", "k", b"\xff\xff\x0f\x00\xf0\xff\x00\x01")
    pair.both("set", "ones", b"\xff\xff\xff")
    pair.both("set", "zeros", b"\x00\x00\x00")
    cmds = []
    for key in ("k", "ones", "zeros", "missing"):
        for bit in ("0", "1"):
            cmds.append(("bitpos", key, bit))
            for start in (-9, -3, -1, 0, 1, 2, 5, 7, 8, 100):
                cmds.append(("bitpos", key, bit, str(start)))
                for end in (-100, -9, -2, -1, 0, 1, 2, 4, 7, 100):
                    cmds.append(("bitpos", key, bit, str(start), str(end)))
                    cmds.append(("bitpos", key, bit, str(start), str(end), "byte"))
            for start in (-70, -64, -20, -1, 0, 1, 3, 8, 9, 15, 16, 20, 23, 24, 63, 64):
                for end in (-70, -1, 0, 3, 7, 8, 12, 15, 16, 19, 20, 23, 31, 40, 63, 64):
                    cmds.append(("bitpos", key, bit, str(start), str(end), "bit"))
    pair.exact_many(cmds)


def test_bitpos_errors_and_edges(pair: Pair) -> None:
    pair.script(
        """
        bitpos missing 0
        bitpos missing 1
        bitpos missing 0 5 10 bit
        set e ""
        bitpos e 0
        bitpos e 1
        bitpos e 0 0
        bitpos e 0 0 -1 bit
        set k "\xff\xf0\x00"
        bitpos k 2
        bitpos k -1
        bitpos k foo
        bitpos k 1.0
        bitpos k 0 a
        bitpos k 0 0 a
        bitpos k 0 0 1 word
        bitpos k 0 a b word
        bitpos k 2 a b word
        bitpos k 0 0 1 bit x
        bitpos k 3 0 1 bit x
        set i 255
        bitpos i 0
        bitpos i 1 1
        bitpos k
        bitpos
        """
    )


# ---------------------------------------------------------------- BITOP


def test_bitop_all_operations(pair: Pair) -> None:
    pair.both("set", "a", b"\xff\x0f\x33\xcc\x55\xaa" * 7)
    pair.both("set", "b", b"\x0f\xf0\x01")
    pair.both("set", "c", b"")
    for op in ("and", "or", "xor", "AND", "Or", "xOr"):
        for srcs in (["a"], ["a", "b"], ["b", "a"], ["a", "b", "missing"], ["missing", "a"], ["a", "c"], ["a", "a", "b", "b"]):
            pair.both("bitop", op, "dest", *srcs)
            _values_equal(pair, "dest")
    for src in ("a", "b", "c", "missing"):
        pair.both("bitop", "not", "dest", src)
        _values_equal(pair, "dest")
    pair.both("bitop", "and", "dest", "a", "b")
    pair.both("bitop", "or", "dest", "missing", "missing2")
    pair.both("exists", "dest")
    pair.both("bitop", "or", "dest", "c")
    pair.both("exists", "dest")


def test_bitop_long_values_fast_path(pair: Pair) -> None:
    rng = random.Random(7)
    values = [bytes(rng.randrange(256) for _ in range(n)) for n in (64, 100, 33, 200)]
    for i, v in enumerate(values):
        pair.both("set", f"s{i}", v)
    for op in ("and", "or", "xor"):
        pair.both("bitop", op, "d", "s0", "s1", "s2", "s3")
        pair.both("get", "d")
    pair.both("bitop", "not", "d", "s3")
    pair.both("get", "d")


def test_bitop_errors(pair: Pair) -> None:
    pair.script(
        """
        set a foo
        bitop nand d a
        bitop "" d a
        bitop diff d a a
        bitop diff1 d a a
        bitop andor d a a
        bitop one d a a
        bitop not d a a
        bitop not d
        bitop and d
        exists d
        set d keep ex 1000
        bitop and d a
        ttl d
        get d
        bitop
        """
    )


def test_bitop_keys_on_different_shards(pair: Pair) -> None:
    pair.both("set", LO, b"\xf0\xf0\xf0")
    pair.both("set", HI, b"\x0f\x0f")
    pair.both("set", LO2, b"\xff")
    for op in ("and", "or", "xor"):
        pair.both("bitop", op, HI2, LO, HI)
        _values_equal(pair, HI2)
        pair.both("bitop", op, LO2, HI, LO, HI2, "missing")
        _values_equal(pair, LO2)
    pair.both("bitop", "not", HI2, LO)
    _values_equal(pair, HI2)
    pair.both("set", HI2, "x", "ex", "1000")
    pair.both("bitop", "or", HI2, LO, HI)
    pair.both("ttl", HI2)
    pair.both("bitop", "or", HI2, "nosuch1", "nosuch2")
    pair.both("exists", HI2)
    pair.both("bitop", "nope", HI2, LO, HI)
    pair.both("bitop", "not", HI2, LO, HI)


# ---------------------------------------------------------------- BITFIELD


def test_bitfield_get_set_incrby(pair: Pair) -> None:
    pair.script(
        """
        bitfield k set i8 0 100 get i8 0 incrby i8 0 50 get u8 0
        get k
        object encoding k
        bitfield k set u4 3 15 get u4 3 get u2 4 get i3 2 get i64 0 get u63 1
        bitfield k set i64 8 -9223372036854775808 get i64 8 incrby i64 8 -1
        bitfield k set u63 100 9223372036854775807 get u63 100
        bitfield k incrby u1 7 1 incrby u1 7 1 incrby u1 7 1
        bitfield k get i16 #3 set i16 #3 -2 get u16 #3 get u8 #7
        bitfield k get u1 999 get i5 1000000
        get k
        bitfield k
        bitfield missing
        bitfield missing get u8 0
        exists missing
        bitfield_ro missing get u8 0
        bitfield_ro k get u8 0 get i32 3 get u8 #2
        bitfield_ro k
        bitfield k overflow sat
        exists ov
        bitfield ov overflow fail incrby u2 100 10
        get ov
        exists ov
        """
    )


def test_bitfield_overflow_policies(pair: Pair) -> None:
    cmds = []
    for policy in ("wrap", "sat", "fail", "WRAP", "Sat"):
        for kind in ("u1", "u2", "u8", "u63", "i1", "i2", "i8", "i63", "i64"):
            for op, value in (
                ("set", "0"), ("set", "1"), ("set", "-1"), ("set", "255"), ("set", "256"), ("set", "-129"),
                ("set", "9223372036854775807"), ("set", "-9223372036854775808"),
                ("incrby", "1"), ("incrby", "-1"), ("incrby", "200"), ("incrby", "-300"),
                ("incrby", "9223372036854775807"), ("incrby", "-9223372036854775808"),
            ):
                cmds.append(("bitfield", "f", "overflow", policy, op, kind, "5", value, "get", kind, "5"))
        cmds.append(("get", "f"))
    pair.exact_many(cmds)


def test_bitfield_policy_applies_to_following_ops(pair: Pair) -> None:
    pair.script(
        """
        bitfield k set u8 0 250 incrby u8 0 10 overflow sat incrby u8 0 10 overflow fail incrby u8 0 10 overflow wrap incrby u8 0 10
        bitfield k overflow fail set u8 0 300 set u8 0 20 get u8 0
        bitfield k overflow fail overflow sat set i4 0 100
        """
    )


def test_bitfield_errors(pair: Pair) -> None:
    pair.script(
        """
        set k abc
        bitfield k get
        bitfield k get u8
        bitfield k set u8 0
        bitfield k incrby u8 0
        bitfield k overflow
        bitfield k overflow foo get u8 0
        bitfield k foo u8 0
        bitfield k get u64 0
        bitfield k get i65 0
        bitfield k get u0 0
        bitfield k get i0 0
        bitfield k get x8 0
        bitfield k get U8 0
        bitfield k get u 0
        bitfield k get u08 0
        bitfield k get u8 -1
        bitfield k get u8 foo
        bitfield k get u8 #
        bitfield k get u8 #-1
        bitfield k get u8 ##1
        bitfield k get u8 4294967296
        bitfield k get u8 #536870912
        bitfield k get u8 #536870911
        bitfield k set u8 0 foo
        bitfield k set u8 0 1.5
        bitfield k incrby u8 0 9223372036854775808
        bitfield k get u8 0 get foo 0
        bitfield k set u8 0 1 get u64 0
        bitfield_ro k set u8 0 1
        bitfield_ro k incrby u8 0 1
        bitfield_ro k get u8 0 set u8 0 1
        bitfield_ro k get u8 0 overflow sat
        bitfield_ro k overflow foo
        bitfield_ro k get u64 0
        get k
        bitfield
        bitfield_ro
        """
    )


def test_bitfield_type_with_a_nul_byte_is_refused(pair: Pair) -> None:
    """Valkey reads a BITFIELD type at its full length: a NUL inside is an invalid type,
    reported before a bad offset or value after it, and nothing is created."""
    for args in (
        ("bitfield", "nul", "get", b"u8\x00", "0"),
        ("bitfield", "nul", "set", b"u8\x00", "0", "65"),
        ("bitfield_ro", "nul", "get", b"i16\x00zz", "0"),
        ("bitfield", "nul", "get", b"u8\x00", "x"),
        ("bitfield", "nul", "set", b"i8\x00", "0", "x"),
        ("bitfield", "nul", b"get\x00x", "u8", "0"),
        ("bitfield", "nul", "overflow", b"sat\x00x", "get", "u8", "0"),
    ):
        pair.both(*args)
    pair.both("exists", "nul")


def test_bitfield_hash_offsets_wrap_like_c(pair: Pair) -> None:
    pair.script(
        """
        bitfield k get u8 #2305843009213693952
        bitfield k get i64 #144115188075855872
        bitfield k get u8 #1152921504606846976
        bitfield k get u8 #9223372036854775807
        bitfield k set i4 #3 5 get i4 #3 get u4 #3 get u12 #1
        get k
        """
    )


def test_bitmap_wrong_arity(pair: Pair) -> None:
    for cmd in (("setbit", "k"), ("getbit", "k"), ("bitcount",), ("bitpos", "k"), ("bitop", "and", "d"), ("bitfield",), ("bitfield_ro",)):
        pair.both(*cmd)


# ---------------------------------------------------------------- HyperLogLog


def _hll_equal(pair: Pair, *keys: str) -> None:
    for key in keys:
        pair.both("get", key)
        pair.both("pfcount", key)
        pair.both("get", key)
        pair.both("object", "encoding", key)


def test_pfadd_pfcount_bytes_match(pair: Pair) -> None:
    pair.both("pfadd", "h")
    _hll_equal(pair, "h")
    pair.both("pfadd", "h")
    pair.both("pfadd", "h", "a", "b", "c")
    pair.both("pfadd", "h", "a", "b", "c")
    _hll_equal(pair, "h")
    pair.both("pfadd", "h", "")
    pair.both("pfadd", "h", b"\x00\xff\x00" * 9)
    _hll_equal(pair, "h")


def test_pfadd_through_sparse_to_dense(pair: Pair) -> None:
    rng = random.Random(3)
    n = 0
    cmds = []
    while n < 6000:
        k = rng.choice([1, 2, 5, 20, 100])
        cmds.append(("pfadd", "h", *[f"el:{n + i}" for i in range(k)]))
        n += k
        cmds.append(("get", "h"))
        if rng.random() < 0.3:
            cmds.append(("pfcount", "h"))
    cmds.append(("pfcount", "h"))
    cmds.append(("get", "h"))
    pair.exact_many(cmds)


def test_pfadd_large_registers_promote(pair: Pair) -> None:
    # Random binary elements: some hash to run lengths above 32, which sparse cannot hold.
    rng = random.Random(11)
    for _ in range(40):
        els = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20))) for _ in range(50)]
        pair.both("pfadd", "h", *els)
        pair.both("get", "h")
    _hll_equal(pair, "h")


def test_hll_sparse_max_bytes(pair: Pair) -> None:
    try:
        pair.both("config", "set", "hll-sparse-max-bytes", "200")
        pair.both("config", "get", "hll-sparse-max-bytes")
        for i in range(30):
            pair.both("pfadd", "h", *[f"x{i}-{j}" for j in range(5)])
            pair.both("get", "h")
        pair.both("config", "set", "hll-sparse-max-bytes", "0")
        pair.both("pfadd", "z", "a")
        pair.both("get", "z")
        pair.both("config", "set", "hll-sparse-max-bytes", "1kb")
        pair.both("config", "get", "hll-sparse-max-bytes")
        pair.both("config", "set", "hll-sparse-max-bytes", "-1")
        pair.both("config", "set", "hll-sparse-max-bytes", "abc")
        pair.both("config", "get", "hll-sparse-max-bytes")
    finally:
        pair.run("config", "set", "hll-sparse-max-bytes", "3000")


def test_pfcount_cache_and_encoding(pair: Pair) -> None:
    pair.both("set", "e", b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff")
    pair.both("object", "encoding", "e")
    pair.both("pfcount", "e")
    _hll_equal(pair, "e")
    # a valid cached cardinality is returned as is
    pair.both("set", "c", b"HYLL\x01\x00\x00\x00" + (12345).to_bytes(8, "little") + b"\x7f\xff")
    pair.both("pfcount", "c")
    pair.both("pfadd", "c", "x")
    _hll_equal(pair, "c")
    pair.both("set", "t", b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff", "ex", "1000")
    pair.both("pfadd", "t", "a")
    pair.both("ttl", "t")
    pair.both("pfmerge", "t", "c")
    pair.both("ttl", "t")


def test_hll_wrong_types_and_corruption(pair: Pair) -> None:
    pair.both("pfadd", "good", "a", "b")
    pair.script(
        """
        set s hello
        set i 12345
        set short HYLL
        set badenc "HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
        set baddense "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
        pfadd s a
        pfadd i a
        pfadd short a
        pfadd badenc a
        pfadd baddense a
        pfcount s
        pfcount good s
        pfmerge good s
        pfmerge s good
        pfmerge newkey good badenc
        exists newkey
        pfdebug encoding s
        pfdebug encoding nosuch
        """
    )
    # corrupt sparse payloads: too few registers, too many, truncated XZERO
    for payload in (b"\x7f\xfe", b"\x7f\xff\x00", b"\x7f", b"\x40\x00" * 3, b"\xff" * 10, b""):
        value = b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80" + payload
        pair.both("set", "bad", value)
        pair.both("pfcount", "bad")
        pair.both("pfadd", "bad", "a", "b", "c", "d")
        pair.both("get", "bad")
        pair.both("set", "bad", value)
        pair.both("pfcount", "bad", "good")
        pair.both("pfcount", "good", "bad")
        pair.both("pfmerge", "bad", "good")
        pair.both("pfmerge", "good2", "bad")
        pair.both("pfdebug", "decode", "bad")
        pair.both("pfdebug", "getreg", "bad")
        pair.both("pfdebug", "todense", "bad")
    pair.both("set", "cached", b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f")
    pair.both("pfcount", "cached")


def test_pfcount_many_keys_and_pfmerge(pair: Pair) -> None:
    pair.both("pfadd", "h1", *[f"a{i}" for i in range(300)])
    pair.both("pfadd", "h2", *[f"a{i}" for i in range(150, 500)])
    pair.both("pfadd", "big", *[f"b{i}" for i in range(5000)])
    pair.both("pfcount", "h1", "h2")
    pair.both("pfcount", "h1", "h2", "missing")
    pair.both("pfcount", "missing", "missing2")
    pair.both("pfcount", "h1", "big")
    pair.both("pfmerge", "m", "h1", "h2")
    _hll_equal(pair, "m")
    pair.both("pfmerge", "m")
    _hll_equal(pair, "m")
    pair.both("pfmerge", "m2", "h1", "big")
    _hll_equal(pair, "m2")
    pair.both("pfmerge", "h1", "h2")
    _hll_equal(pair, "h1")
    pair.both("pfmerge", "empty")
    _hll_equal(pair, "empty")
    pair.both("pfmerge", "empty2", "nosuch")
    _hll_equal(pair, "empty2")
    pair.both("pfmerge", "h2", "big")
    _hll_equal(pair, "h2")
    pair.both("pfadd", "s1", *[f"s{i}" for i in range(1100)])
    pair.both("pfadd", "s2", *[f"s{i}" for i in range(900, 2100)])
    pair.both("pfdebug", "encoding", "s1")
    pair.both("pfmerge", "s3", "s1", "s2")  # sparse sources whose union outgrows the sparse limit midway
    _hll_equal(pair, "s3")
    pair.both("pfdebug", "encoding", "s3")
    pair.both("pfmerge", "s1", "s2")
    _hll_equal(pair, "s1")
    pair.both("pfmerge", "big", "s2", "h1")  # a dense destination, sparse sources
    _hll_equal(pair, "big")


def test_hll_keys_on_different_shards(pair: Pair) -> None:
    pair.both("pfadd", LO, *[f"a{i}" for i in range(200)])
    pair.both("pfadd", HI, *[f"a{i}" for i in range(100, 400)])
    pair.both("pfadd", LO2, *[f"c{i}" for i in range(4000)])
    pair.both("pfcount", LO, HI)
    pair.both("pfcount", HI, LO, "missing")
    pair.both("pfcount", LO, HI, LO2)
    pair.both("pfmerge", HI2, LO, HI)
    _hll_equal(pair, HI2)
    pair.both("pfmerge", HI2, LO2)
    _hll_equal(pair, HI2)
    pair.both("pfmerge", LOW_KEYS[2], HI, LO)
    _hll_equal(pair, LOW_KEYS[2].decode())
    pair.both("pfmerge", HIGH_KEYS[2], LO)
    _hll_equal(pair, HIGH_KEYS[2].decode())
    # errors: the first bad key in argument order wins, wherever it lives
    pair.both("set", "b", "notanhll")  # a low-slot key: WRONGTYPE
    pair.both("set", "x", b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80\x7f\xfd")  # a high-slot key: corrupt
    pair.both("pfcount", LO, HI, "b", "x")
    pair.both("pfcount", LO, "x", HI, "b")
    pair.both("pfmerge", HI2, "x", "b")
    pair.both("pfmerge", HI2, "b", "x")
    pair.both("pfmerge", "x", LO)
    pair.both("set", "k2", b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80\x7f\xfe")  # corrupt, low slot
    pair.both("pfcount", HI, "k2")
    pair.both("pfcount", HI, "k2", "x")
    pair.both("pfcount", HI, "x", "k2")
    pair.both("pfmerge", HI2, "k2")
    pair.both("get", HI2)
    pair.both("set", HI2, b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff", "px", "100000000")
    pair.both("pfmerge", HI2, LO)
    pair.both("get", HI2)
    ttl_s, ttl_v = pair.run("pttl", HI2)
    assert abs(ttl_s - ttl_v) < 5000


def _has_lists(pair: Pair) -> bool:
    """Whether this shardserver serves a non-string type (lists) to test WRONGTYPE with."""
    reply, _ = pair.run("rpush", "__probe", "x")
    pair.run("del", "__probe")
    return isinstance(reply, int)


def test_wrongtype_for_non_strings(pair: Pair) -> None:
    if not _has_lists(pair):
        pytest.skip("no non-string type in this build")
    low_list, high_list = LOW_KEYS[2].decode(), HIGH_KEYS[2].decode()
    pair.both("rpush", low_list, "a")
    pair.both("rpush", high_list, "a")
    pair.both("set", LO, "abc")
    pair.both("set", HI, "not an hll")
    pair.both("pfadd", LO2, "a")
    for key in (low_list, high_list):
        pair.script(
            f"""
            setbit {key} 0 1
            setbit {key} foo 1
            setbit {key} 0 5
            getbit {key} 0
            getbit {key} foo
            bitcount {key}
            bitcount {key} 0 1
            bitcount {key} a
            bitcount {key} 0 1 bit extra
            bitpos {key} 0
            bitpos {key} 2
            bitpos {key} 0 x
            bitfield {key} get u8 0
            bitfield {key} set u8 0 1
            bitfield {key} get u64 0
            bitfield {key}
            bitfield_ro {key} get u8 0
            bitfield_ro {key} set u8 0 1
            bitop and d {key}
            bitop not d {key}
            bitop foo d {key}
            bitop or {key} {LO}
            type {key}
            pfadd {key} a
            pfcount {key}
            pfmerge {key} {LO2}
            pfmerge d {key}
            pfdebug encoding {key}
            """
        )
    pair.both("del", low_list, high_list)  # BITOP made them strings: lists again
    pair.both("rpush", low_list, "a")
    pair.both("rpush", high_list, "a")
    # keys on different shards: WRONGTYPE wherever the bad source lives, in argument order for PF*
    pair.both("bitop", "or", "d", LO, high_list)
    pair.both("bitop", "or", "d", low_list, HI)
    pair.both("pfcount", LO2, HI, low_list)
    pair.both("pfcount", LO2, low_list, HI)
    pair.both("pfcount", high_list, LO)
    pair.both("pfmerge", HI2, high_list, LO)
    pair.both("pfmerge", HI2, LO, high_list)
    pair.both("pfmerge", high_list, LO2)
    pair.both("exists", "d", HI2)


def test_pfdebug(pair: Pair) -> None:
    pair.both("pfadd", "h", "a", "b", "c")
    pair.script(
        """
        pfdebug encoding h
        pfdebug decode h
        pfdebug ENCODING h
        pfdebug nosuch h
        pfdebug nosuch missing
        pfdebug decode missing
        pfdebug getreg missing
        pfdebug todense h
        pfdebug todense h
        pfdebug encoding h
        pfdebug decode h
        get h
        pfcount h
        """
    )
    pair.both("pfadd", "g", *[f"e{i}" for i in range(100)])
    pair.both("pfdebug", "getreg", "g")
    pair.both("get", "g")
    pair.both("object", "encoding", "g")
    pair.both("pfdebug")
    pair.both("pfdebug", "getreg")


def test_hll_wrong_arity(pair: Pair) -> None:
    for cmd in (("pfadd",), ("pfcount",), ("pfmerge",), ("pfdebug", "x")):
        pair.both(*cmd)


def test_command_info_for_the_family(pair: Pair) -> None:
    names = ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro", "pfadd", "pfcount", "pfmerge", "pfdebug"]
    pair.exact_many([("command", "info", n) for n in names])
    pair.exact_many([("command", "getkeys", *c) for c in (
        ("bitop", "and", "d", "a", "b"), ("pfmerge", "d", "a", "b"), ("pfcount", "a", "b"), ("bitfield", "k", "get", "u8", "0"),
        ("pfdebug", "getreg", "k"), ("setbit", "k", "1", "1"),
    )])


# ---------------------------------------------------------------- random sequences


_KEYS = [k.decode() for k in LOW_KEYS + HIGH_KEYS]


def _bit_cmd(draw: st.DrawFn) -> tuple[str, ...]:
    key = draw(st.sampled_from(_KEYS))
    kind = draw(st.integers(0, 9))
    num = st.integers(-20, 70).map(str)
    if kind == 0:
        return ("setbit", key, str(draw(st.integers(0, 80))), draw(st.sampled_from(["0", "1"])))
    if kind == 1:
        return ("getbit", key, str(draw(st.integers(0, 80))))
    if kind == 2:
        unit = draw(st.sampled_from([(), ("bit",), ("byte",)]))
        return ("bitcount", key, draw(num), draw(num), *unit)
    if kind == 3:
        unit = draw(st.sampled_from([(), ("bit",), ("byte",)]))
        return ("bitpos", key, draw(st.sampled_from(["0", "1"])), draw(num), draw(num), *unit)
    if kind == 4:
        op = draw(st.sampled_from(["and", "or", "xor", "not"]))
        srcs = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=1 if op == "not" else 3))
        return ("bitop", op, key, *srcs)
    if kind == 5:
        t = draw(st.sampled_from(["u1", "u5", "u8", "i3", "i8", "i16", "u63", "i64"]))
        op = draw(st.sampled_from(["get", "set", "incrby"]))
        pol = draw(st.sampled_from(["wrap", "sat", "fail"]))
        args = [t, str(draw(st.integers(0, 70)))] + ([] if op == "get" else [str(draw(st.integers(-300, 300)))])
        return ("bitfield", key, "overflow", pol, op, *args)
    if kind == 6:
        return ("pfadd", key, *draw(st.lists(st.text("abcdef", max_size=3), max_size=4)))
    if kind == 7:
        return ("pfcount", *draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3)))
    if kind == 8:
        return ("pfmerge", key, *draw(st.lists(st.sampled_from(_KEYS), max_size=3)))
    return ("get", key)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_bit_and_hll_sequences(pair: Pair, data: st.DataObject) -> None:
    pair.flushall()
    cmds = [data.draw(st.composite(_bit_cmd)()) for _ in range(30)]
    cmds += [("get", k) for k in _KEYS]
    pair.exact_many(cmds)


def test_pfselftest(pair: Pair) -> None:
    pair.exact_many(
        [
            ("pfselftest",),
            ("pfselftest", "x"),
            ("command", "info", "pfselftest"),
            ("command", "getkeys", "pfselftest"),
        ]
    )
