"""Hash commands, field expiration included: shardserver against Valkey 9, reply for reply."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS, Pair


def _pairs(raw: Any) -> list[tuple[bytes, bytes]]:
    """HGETALL/HSCAN/HRANDFIELD replies in either protocol as (field, value) pairs."""
    if isinstance(raw, dict):
        return sorted(raw.items())
    if raw and isinstance(raw[0], list):
        return sorted((f, v) for f, v in raw)
    return sorted(zip(raw[::2], raw[1::2], strict=True))


def _wait(pair: Pair, cond: Any, timeout: float = 5.0) -> None:
    """Poll both servers until ``cond(client)`` holds on each (active expiry runs on its own)."""
    deadline = time.monotonic() + timeout
    while not (cond(pair.s) and cond(pair.v)):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ---------------------------------------------------------------- basics


def test_hset_hget_and_friends(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hset h a 10 d 4
        hget h a
        hget h zz
        hget nokey a
        hmget h a zz b
        hmget nokey a b
        hgetall h
        hgetall nokey
        hkeys h
        hvals h
        hkeys nokey
        hvals nokey
        hlen h
        hlen nokey
        hstrlen h a
        hstrlen h zz
        hstrlen nokey a
        hexists h a
        hexists h zz
        hexists nokey a
        hmset h e 5 f 6
        hgetall h
        hsetnx h a 99
        hsetnx h g 7
        hsetnx newkey x 1
        hgetall newkey
        hset h "" empty
        hget h ""
        hset h bin "\\x00\\xff"
        hstrlen h bin
        type h
        object encoding h
        """
    )


def test_hgetall_resp_encoding_exact(pair: Pair) -> None:
    pair.exact_many(
        [
            ("hset", "h", "a", "1", "b", "2"),
            ("hgetall", "h"),
            ("hgetall", "nokey"),
            ("hkeys", "h"),
            ("hvals", "nokey"),
            ("hmget", "h", "a", "zz"),
            ("hget", "h", "zz"),
            ("hrandfield", "h", "5", "withvalues"),
            ("hrandfield", "nokey"),
            ("hrandfield", "nokey", "3", "withvalues"),
            ("hscan", "h", "0"),
            ("hscan", "nokey", "0"),
            ("hincrbyfloat", "h", "f", "1.5"),
            ("hexpire", "h", "100", "fields", "2", "a", "zz"),
            ("httl", "h", "fields", "1", "b"),
            ("hgetex", "h", "fields", "2", "b", "zz"),
        ]
    )


def test_hdel(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hdel h a a a
        hdel h zz
        hdel h b c zz
        exists h
        hdel nokey a
        hset h a 1 b 2
        hdel h a b c
        exists h
        """
    )


def test_wrong_type_and_arity(pair: Pair) -> None:
    pair.both("set", "s", "x")
    for cmd in (
        ("hset", "s", "a", "1"), ("hsetnx", "s", "a", "1"), ("hget", "s", "a"), ("hmget", "s", "a"),
        ("hmset", "s", "a", "1"), ("hgetall", "s"), ("hdel", "s", "a"), ("hlen", "s"), ("hstrlen", "s", "a"),
        ("hexists", "s", "a"), ("hkeys", "s"), ("hvals", "s"), ("hincrby", "s", "a", "1"),
        ("hincrbyfloat", "s", "a", "1"), ("hrandfield", "s"), ("hrandfield", "s", "3"), ("hscan", "s", "0"),
        ("hscan", "s", "0", "count", "0"), ("hexpire", "s", "10", "fields", "1", "a"),
        ("hpexpire", "s", "10", "fields", "1", "a"), ("hexpireat", "s", "10", "fields", "1", "a"),
        ("hpexpireat", "s", "10", "fields", "1", "a"), ("httl", "s", "fields", "1", "a"),
        ("hpttl", "s", "fields", "1", "a"), ("hexpiretime", "s", "fields", "1", "a"),
        ("hpexpiretime", "s", "fields", "1", "a"), ("hpersist", "s", "fields", "1", "a"),
        ("hgetex", "s", "fields", "1", "a"), ("hgetex", "s", "ex", "-1", "fields", "1", "a"),
        ("hsetex", "s", "fields", "1", "a", "1"), ("hsetex", "s", "nx", "fields", "1", "a", "1"),
        ("hsetex", "s", "xx", "ex", "-1", "fields", "1", "a", "1"),
        # errors that come before the type check
        ("hexpire", "s", "-1", "fields", "1", "a"), ("hexpire", "s", "10", "fields", "2", "a"),
        ("hrandfield", "s", "x"), ("hscan", "s", "x"), ("hincrby", "s", "a", "x"), ("hincrbyfloat", "s", "a", "x"),
        ("hsetex", "s", "fields", "2", "a", "1"),
    ):
        pair.both(*cmd)
    pair.both("hset", "h", "a", "1")
    pair.both("hgetall", "s")  # the string is untouched
    for cmd in (
        ("hset", "h"), ("hset", "h", "a"), ("hset", "h", "a", "1", "b"), ("hmset", "h", "a", "1", "b"),
        ("hsetnx", "h", "a"), ("hget", "h"), ("hmget", "h"), ("hgetall",), ("hdel", "h"), ("hlen",),
        ("hstrlen", "h"), ("hexists", "h"), ("hkeys",), ("hvals", "h", "x"), ("hincrby", "h", "a"),
        ("hincrbyfloat", "h", "a"), ("hrandfield",), ("hscan", "h"), ("hexpire", "h", "10", "fields", "1"),
        ("hexpire", "h", "10", "nx"), ("hpexpireat", "h"), ("httl", "h", "fields", "1"), ("hpersist", "h", "fields"),
        ("hgetex", "h", "fields", "1"), ("hgetex", "h", "b", "c"), ("hsetex", "h", "fields", "1", "a"),
        ("hpttl", "h", "fields"), ("hexpiretime", "h"), ("hpexpiretime", "h", "fields", "1"),
    ):
        pair.both(*cmd)


# ---------------------------------------------------------------- increments


def test_hincrby(pair: Pair) -> None:
    pair.script(
        """
        hincrby h a 5
        hincrby h a -15
        hincrby h a x
        hincrby h a 1.5
        hincrby h big 9223372036854775807
        hincrby h big 1
        hincrby h small -9223372036854775808
        hincrby h small -1
        hset h f 1.5 g "  1" s abc z 007 huge 9223372036854775808
        hincrby h f 1
        hincrby h g 1
        hincrby h s 1
        hincrby h z 1
        hincrby h huge 1
        hincrby h a 9223372036854775808
        hgetall h
        """
    )


def test_hincrbyfloat(pair: Pair) -> None:
    pair.script(
        """
        hincrbyfloat h a 1.10
        hincrbyfloat h a 5.0e3
        hincrbyfloat h a -5003.1
        hincrbyfloat h a x
        hincrbyfloat h a inf
        hincrbyfloat h a -inf
        hincrbyfloat h a nan
        hincrbyfloat h a 1e308
        hincrbyfloat h b 1e308
        hincrbyfloat h b 1e308
        hset h s abc i 10 sp " 1" inf inf
        hincrbyfloat h s 1
        hincrbyfloat h sp 1
        hincrbyfloat h i 0.1
        hincrbyfloat h inf 1
        hincrbyfloat h c 0x10
        hincrbyfloat h d 3.0e-5
        hgetall h
        """
    )


def test_increments_keep_the_field_ttl(pair: Pair) -> None:
    pair.both("hset", "h", "a", "1", "b", "2.5")
    pair.both("hexpire", "h", "1000", "fields", "2", "a", "b")
    pair.both("hincrby", "h", "a", "1")
    pair.both("hincrbyfloat", "h", "b", "1")
    pair.both("hgetall", "h")
    a, b = pair.run("httl", "h", "fields", "2", "a", "b")
    assert a == b == [1000, 1000]


# ---------------------------------------------------------------- HRANDFIELD


def test_hrandfield_errors_and_degenerate_counts(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hrandfield h x
        hrandfield h 1 withvalue
        hrandfield h 1 withvalues x
        hrandfield h 9223372036854775807
        hrandfield h -9223372036854775808
        hrandfield h -9223372036854775808 withvalues
        hrandfield h -9223372036854775807 withvalues
        hrandfield h 4611686018427387904 withvalues
        hrandfield h -4611686018427387904 withvalues
        hrandfield h 4611686018427387903 withvalues
        hrandfield h 3
        hrandfield h 3 WITHVALUES
        hrandfield h 0
        hrandfield h 0 withvalues
        hrandfield nokey
        hrandfield nokey 5
        hrandfield nokey -5 withvalues
        hrandfield nokey x
        hrandfield nokey 1 foo
        """
    )


@pytest.mark.parametrize("size", [5, 700])
def test_hrandfield_samples(pair: Pair, size: int) -> None:
    fields = {b"f%d" % i: b"%d" % i for i in range(size)}
    pair.both("hset", "h", *[x for kv in fields.items() for x in kv])
    for count in (1, 2, size // 2, size - 1, size, size + 3):
        for r in (pair.s, pair.v):
            got = r.execute_command("hrandfield", "h", count)
            assert len(got) == min(count, size) and len(set(got)) == len(got) and set(got) <= set(fields)
            pairs = _pairs(r.execute_command("hrandfield", "h", count, "withvalues"))
            assert len(pairs) == min(count, size) and all(fields[f] == v for f, v in pairs)
    for r in (pair.s, pair.v):
        got = r.execute_command("hrandfield", "h", -(size + 5))
        assert len(got) == size + 5 and set(got) <= set(fields)
        pairs = _pairs(r.execute_command("hrandfield", "h", -7, "withvalues"))
        assert len(pairs) == 7 and all(fields[f] == v for f, v in pairs)
        assert r.execute_command("hrandfield", "h") in fields
    # on a listpack a count covering the hash is the whole hash, in order
    if size <= 512:
        pair.both("hrandfield", "h", size, "withvalues")


# ---------------------------------------------------------------- HSCAN


def test_hscan_errors_and_small_hashes(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3 ab 4
        hscan h 0
        hscan h 0 count 1
        hscan h 0 match a*
        hscan h 0 novalues
        hscan h 0 novalues count 1 match a*
        hscan h 0 MATCH * NOVALUES NOVALUES
        hscan h 0 count 5 count 2
        hscan h x
        hscan h -1
        hscan h 18446744073709551615
        hscan h 18446744073709551616
        hscan h 0 count 0
        hscan h 0 count -1
        hscan h 0 count x
        hscan h 0 match
        hscan h 0 type string
        hscan h 0 noscores
        hscan h 0 foo
        hscan nokey 0
        hscan nokey 0 count 0
        hscan nokey x
        """
    )


def _full_scan(r: Any, key: str, *opts: Any) -> list[bytes]:
    cursor = b"0"
    out: list[bytes] = []
    calls = 0
    while True:
        cursor, items = r.execute_command("hscan", key, cursor, *opts)
        out += items
        calls += 1
        assert calls < 10_000
        if cursor == b"0":
            return out


def test_hscan_full_iteration_on_a_hashtable(pair: Pair) -> None:
    pair.both("hset", "h", *[x for i in range(1500) for x in (f"f{i}", str(i))])
    pair.both("hpexpire", "h", "100000", "fields", "2", "f1", "f2")
    a, b = _full_scan(pair.s, "h"), _full_scan(pair.v, "h")
    assert _pairs(a) == _pairs(b) and len(set(a[::2])) == 1500
    a, b = _full_scan(pair.s, "h", "count", "7", "match", "f1*", "novalues"), _full_scan(pair.v, "h", "count", "7", "match", "f1*", "novalues")
    assert sorted(a) == sorted(b) and len(a) == 611


# ---------------------------------------------------------------- encodings and config


def test_encodings_and_thresholds(pair: Pair) -> None:
    pair.both("hset", "lp", *[x for i in range(512) for x in (f"f{i}", "v")])
    pair.both("object", "encoding", "lp")
    pair.both("hset", "lp", "one", "more")
    pair.both("object", "encoding", "lp")
    pair.both("hset", "v64", "f", "x" * 64, "y" * 64, "1")
    pair.both("object", "encoding", "v64")
    pair.both("hset", "v65", "f", "x" * 65)
    pair.both("object", "encoding", "v65")
    pair.both("hset", "f65", "y" * 65, "1")
    pair.both("object", "encoding", "f65")
    pair.both("hsetnx", "nx65", "f", "x" * 65)
    pair.both("object", "encoding", "nx65")
    pair.both("hincrbyfloat", "inc", "y" * 65, "1")
    pair.both("object", "encoding", "inc")
    pair.both("hset", "dups", *[x for _ in range(513) for x in ("same", "v")])
    pair.both("object", "encoding", "dups")
    pair.both("hlen", "dups")
    # a TTL converts to hashtable and the hash stays there
    pair.both("hset", "t", "a", "1", "b", "2")
    pair.both("hexpire", "t", "100", "xx", "fields", "1", "a")
    pair.both("object", "encoding", "t")
    pair.both("hexpire", "t", "100", "fields", "1", "a")
    pair.both("object", "encoding", "t")
    pair.both("hpersist", "t", "fields", "1", "a")
    pair.both("object", "encoding", "t")
    pair.both("hsetex", "t2", "px", "100000", "fields", "1", "a", "1")
    pair.both("object", "encoding", "t2")


def test_config_listpack_limits_and_ziplist_aliases(pair2: Pair) -> None:
    p = pair2
    try:
        p.script(
            """
            config get hash-max-listpack-entries
            config get hash-max-ziplist-entries
            config get HASH-MAX-ZIPLIST-VALUE
            config get hash*ziplist*
            config set hash-max-listpack-entries -1
            config set hash-max-listpack-entries 1k
            config set hash-max-listpack-value -1
            config set hash-max-listpack-value x
            config set hash-max-ziplist-entries 2
            config get hash-max-listpack-entries
            hset h a 1 b 2
            object encoding h
            hset h c 3
            object encoding h
            config set hash-max-listpack-entries 512 hash-max-listpack-value 3
            hset h2 a 123
            object encoding h2
            hset h2 b 1234
            object encoding h2
            config set hash-max-ziplist-value 1k
            config get hash-max-listpack-value
            """
        )
        got = _pairs(p.s.execute_command("config", "get", "hash-max-*"))
        want = _pairs(p.v.execute_command("config", "get", "hash-max-*"))
        assert got == want and len(got) == 4
    finally:
        for r in (p.s, p.v):
            r.execute_command("config", "set", "hash-max-listpack-entries", "512", "hash-max-listpack-value", "64")


def test_a_lowered_entries_limit_converts_on_any_set(pair: Pair) -> None:
    """Valkey checks a listpack hash's length after every set, an update of an existing
    field too: a limit lowered at run time converts the hash at the next write of any
    kind (an update used to leave it a listpack; found by a differential fuzzer)."""
    ops = [("hset", "h", "f1", "x"), ("hmset", "h", "f1", "x"), ("hincrby", "h", "f1", "1"), ("hincrbyfloat", "h", "f1", "1.5"),
           ("hsetnx", "h", "f1", "9"), ("hsetex", "h", "KEEPTTL", "FIELDS", "1", "f1", "x"), ("hsetex", "h", "FXX", "FIELDS", "1", "f1", "x"),
           ("hdel", "h", "f3"), ("hset", "h", "f9", "y")]
    try:
        for op in ops:
            for r in (pair.s, pair.v):
                r.execute_command("config", "set", "hash-max-listpack-entries", "512")
            pair.exact_many([("del", "h"), ("hset", "h", "f1", "1", "f2", "2", "f3", "3"), ("object", "encoding", "h")])
            for r in (pair.s, pair.v):
                r.execute_command("config", "set", "hash-max-listpack-entries", "1")
            pair.exact_many([op, ("object", "encoding", "h"), ("hlen", "h"), ("hget", "h", "f1")])
    finally:
        for r in (pair.s, pair.v):
            r.execute_command("config", "set", "hash-max-listpack-entries", "512")


# ---------------------------------------------------------------- field expiration


def test_hexpire_codes_and_conditions(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hexpire h 100 xx fields 1 a
        hexpire h 100 gt fields 1 a
        object encoding h
        hexpire h 100 lt fields 1 a
        object encoding h
        hexpire h 200 gt fields 1 a
        hexpire h 50 gt fields 1 a
        hexpire h 20 xx fields 1 b
        hexpire h 20 nx fields 1 b
        hexpire h 30 nx fields 1 b
        hexpire h 10 lt fields 1 b
        hexpire h 30 lt fields 1 b
        hexpire h 300 xx gt fields 2 a c
        hexpire h 5 xx lt fields 2 a c
        hexpire h 10 FIELDS 3 b zz b
        hexpire h 10 fields 1 fields
        hexpire nokey 10 fields 2 a b
        httl h fields 4 a b c zz
        hexpiretime nokey fields 1 a
        hpersist h fields 3 a c zz
        hpersist nokey fields 1 a
        httl h fields 3 a b c
        """
    )


def test_hexpire_errors(pair: Pair) -> None:
    pair.both("hset", "h", "a", "1")
    for cmd in (
        "hexpire h 10 fields 2 a",
        "hexpire h 10 fields 0 a",
        "hexpire h 10 fields -1 a",
        "hexpire h 10 fields x a",
        "hexpire h 10 fields 1 a b",
        "hexpire h 10 field 1 a",
        "hexpire h 10 a b c",
        "hexpire h 10 nx xx fields 1 a",
        "hexpire h 10 gt lt fields 1 a",
        "hexpire h 10 nx gt fields 1 a",
        "hexpire h 10 NX LT fields 1 a",
        "hexpire h 10 foo fields 1 a",
        "hexpire h -1 fields 1 a",
        "hexpire h x fields 1 a",
        "hexpire h 10 fields 2147483648 a",
        "hexpire h 9223372036854775807 fields 1 a",
        "hexpire h 9223372036854774 fields 1 a",
        "hpexpire h 9223372036854775807 fields 1 a",
        "hpexpire h 9223372030000000000 fields 1 a",
        "hexpireat h 9223372036854775807 fields 1 a",
        "hpexpireat h -1 fields 1 a",
        "hexpire nokey 10 fields 2 a",
        "hexpire nokey -1 fields 1 a",
        "httl h fields 0 a",
        "httl h fields 2 a",
        "httl h fields 1 a b",
        "httl h field 1 a",
        "httl h field x a",
        "httl h fields x a",
        "httl h fields -1 a",
        "httl nokey fields 2 a",
        "hpttl h foo 1 a",
        "hexpiretime h fields 2 a",
        "hpexpiretime h fields x a",
        "hpersist h fields 2 a",
        "hpersist h fields 0 a",
        "hpersist h field 1 a",
        "hpersist h foo x a",
        "hpersist h fields x a",
    ):
        pair.both(*cmd.split())
    pair.both("hgetall", "h")


def test_past_times_delete_fields_code_2_and_the_last_one_deletes_the_key(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hexpireat h 1 fields 2 a zz
        hgetall h
        hexpire h 0 fields 1 b
        object encoding h
        hgetall h
        hpexpireat h 0 xx fields 1 c
        hpexpireat h 0 fields 1 c
        exists h
        hset h a 1 b 2
        hexpire h 100 fields 1 a
        hpexpire h 0 fields 3 a b zz
        exists h
        hset h a 1
        hexpire h 100 fields 1 a
        hexpire h 0 gt fields 1 a
        hexpire h 0 lt fields 1 a
        exists h
        """
    )


def test_ttl_reads_and_absolute_times(pair: Pair) -> None:
    at = int(time.time()) + 5000
    pair.both("hset", "h", "a", "1", "b", "2", "c", "3")
    pair.both("hexpireat", "h", str(at), "fields", "1", "a")
    pair.both("hpexpireat", "h", str(at * 1000 + 123), "fields", "1", "b")
    pair.both("hexpiretime", "h", "fields", "4", "a", "b", "c", "zz")
    pair.both("hpexpiretime", "h", "fields", "4", "a", "b", "c", "zz")
    pair.both("hpexpireat", "h", "9223372036854775807", "fields", "1", "c")
    pair.both("hpexpiretime", "h", "fields", "1", "c")
    for cmd, tol in (("httl", 2), ("hpttl", 2000)):
        a, b = pair.run(cmd, "h", "fields", "3", "a", "b", "zz")
        assert len(a) == len(b) == 3 and a[2] == b[2] == -2
        assert all(abs(x - y) <= tol for x, y in zip(a[:2], b[:2], strict=True))
    pair.both("hexpire", "h", "100", "fields", "1", "a")
    a, b = pair.run("httl", "h", "fields", "1", "a")
    assert a == b == [100]


def test_hgetex(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hgetex h fields 2 a zz
        hgetex h ex 100 fields 2 b zz
        httl h fields 2 b zz
        hgetex h persist fields 2 b a
        httl h fields 1 b
        hgetex h px 100000 fields 1 a
        hgetex h ex 10 ex 20 fields 1 a
        httl h fields 1 a
        hgetex h persist persist fields 1 a
        hgetex h ex 0 fields 1 b
        hgetall h
        hgetex h exat 1 fields 2 c zz
        hgetex h pxat 1 fields 1 a
        exists h
        hgetex nokey ex 10 fields 1 a
        hgetex nokey ex -1 fields 1 a
        hset h a 1
        hgetex h persist ex 10 fields 1 a
        hgetex h ex 10 persist fields 1 a
        hgetex h ex 10 px 20 fields 1 a
        hgetex h keepttl fields 1 a
        hgetex h fnx fields 1 a
        hgetex h nx fields 1 a
        hgetex h foo fields 1 a
        hgetex h ex fields 1 a
        hgetex h ex -1 fields 1 a
        hgetex h ex x fields 1 a
        hgetex h exat 9223372036854775807 fields 1 a
        hgetex h fields 0 a
        hgetex h fields 2 a
        hgetex h fields -1 a
        hgetex h fields x a
        hgetex nokey fields 2 a
        hgetex fields fields 1 a
        object encoding h
        hgetex h ex 100 fields 1 a
        object encoding h
        """
    )


def test_hgetdel(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2 c 3
        hgetdel h fields 2 a zz
        hgetall h
        hgetdel h fields 2 b
        hgetdel h field 1 b
        hgetdel h fields x b
        hgetdel h fields 0 b
        hgetdel h fields -1 b
        hgetdel h foo 1 b
        hgetdel h fields 1 b c
        hgetdel h fields 2 b b
        hgetdel h fields 2 c c
        exists h
        hgetdel nokey fields 1 a
        hgetdel nokey fields 2 a
        set s x
        hgetdel s fields 1 a
        hgetdel s fields 2 a
        hgetdel h fields
        hgetdel h fields 1
        hset h a 1 b 2
        hpexpire h 100000 fields 1 a
        hgetdel h fields 1 a
        httl h fields 2 a b
        """
    )


def test_hsetex(pair: Pair) -> None:
    pair.script(
        """
        hset h a 1 b 2
        hsetex h fields 1 a 5
        hsetex h ex 100 fields 1 a 5
        httl h fields 1 a
        hsetex h keepttl fields 1 a 6
        httl h fields 1 a
        hsetex h fields 1 a 7
        httl h fields 1 a
        hsetex h ex 10 ex 20 fields 1 a 5
        httl h fields 1 a
        hsetex h ex 10 px 10 fields 1 a 5
        hsetex h keepttl ex 10 fields 1 a 5
        hsetex h ex 10 keepttl fields 1 a 5
        hsetex h fnx fxx fields 1 a 5
        hsetex h nx xx fields 1 a 5
        hsetex h fnx fnx fields 1 a 5
        hsetex h nx nx fields 1 a 5
        hsetex h xx fields 1 a 9
        hsetex h persist fields 1 a 5
        hsetex h foo fields 1 a 5
        hsetex h ex -1 fields 1 a 5
        hsetex h ex x fields 1 a 5
        hsetex h ex fields 1 a 5
        hsetex h fields 2 a 5
        hsetex h fields 0 a 5
        hsetex h fields x a 5
        hsetex h fields 1 a 5 b
        hsetex h a 1 a 5
        hsetex h ex 10 fields 1 a
        hsetex h fields 1 fields 5
        hsetex fields fields 1 a 1
        hsetex h ex 9223372036854775807 fields 1 b 5
        hsetex h px 9223372036854775807 fields 1 b 5
        hsetex h exat 9223372036854775807 fields 1 b 5
        hsetex h ex 9223372036854775 fields 1 b 5
        hgetall h
        hsetex h fnx fields 1 new 5
        hsetex h fxx fields 1 zz 5
        hsetex h fxx fields 2 b 5 a 6
        hsetex h fnx fields 1 b 5
        hsetex h fnx ex 10 fields 2 c 1 c 2
        hgetall h
        hsetex nokey fxx fields 1 b 5
        hsetex nokey xx fields 1 b 5
        hsetex nokey xx ex -1 fields 1 b 5
        hsetex nokey fxx ex -1 fields 1 b 5
        hsetex h nx ex x fields 1 a 1
        hsetex h xx ex x fields 1 a 1
        exists nokey
        hsetex nokey fnx fields 1 b 5
        hgetall nokey
        hsetex h ex 0 fields 1 a 5
        hsetex h exat 1 fields 2 b 1 nope 1
        hgetall h
        hsetex h pxat 1 fields 10 c 1 fields 1 new 1 x 1 y 1 z 1 w 1 v 1 u 1 t 1
        exists h
        hsetex gone pxat 1 fields 1 a 1
        exists gone
        """
    )


def test_expired_fields_are_invisible_to_every_read(pair: Pair) -> None:
    pair.both("hset", "h", "a", "1", "b", "22", "c", "333")
    pair.both("hpexpire", "h", "1", "fields", "2", "b", "c")
    _wait(pair, lambda r: r.execute_command("hexists", "h", "b") == 0 and r.execute_command("hexists", "h", "c") == 0)
    for cmd in (
        ("hget", "h", "b"), ("hmget", "h", "a", "b", "c"), ("hgetall", "h"), ("hkeys", "h"), ("hvals", "h"),
        ("hexists", "h", "c"), ("hstrlen", "h", "b"), ("httl", "h", "fields", "2", "a", "b"),
        ("hpexpiretime", "h", "fields", "1", "c"), ("hscan", "h", "0"), ("hrandfield", "h", "10"),
        ("hrandfield", "h", "-5"), ("hrandfield", "h"), ("hpersist", "h", "fields", "1", "b"),
        ("hexpire", "h", "10", "fields", "1", "b"), ("hgetex", "h", "persist", "fields", "2", "a", "b"),
        ("hdel", "h", "b"), ("hsetnx", "h", "b", "new"), ("hincrby", "h", "c", "5"), ("hgetall", "h"),
        ("httl", "h", "fields", "2", "b", "c"), ("object", "encoding", "h"),
    ):
        pair.both(*cmd)


def test_last_field_expiring_removes_the_key(pair: Pair) -> None:
    pair.both("hset", "h", "a", "1", "b", "2")
    pair.both("hpexpire", "h", "1", "fields", "2", "a", "b")
    pair.both("hset", "h2", "a", "1")
    pair.both("hsetex", "h2", "px", "1", "fields", "1", "b", "2")
    _wait(pair, lambda r: r.execute_command("exists", "h") == 0 and r.execute_command("hlen", "h2") == 1)
    pair.both("hgetall", "h2")
    pair.both("dbsize")


def test_field_ttls_survive_rename_copy_move_across_shards(pair: Pair) -> None:
    src, dst = LOW_KEYS[0], HIGH_KEYS[0]
    pair.both("hset", src, "a", "1", "b", "2")
    pair.both("hexpire", src, "1000", "fields", "1", "a")
    pair.both("rename", src, dst)
    pair.both("object", "encoding", dst)
    pair.both("httl", dst, "fields", "2", "a", "b")
    pair.both("copy", dst, LOW_KEYS[1])
    pair.both("httl", LOW_KEYS[1], "fields", "2", "a", "b")
    pair.both("hgetall", LOW_KEYS[1])
    pair.both("move", LOW_KEYS[1], "3")
    pair.both("select", "3")
    pair.both("httl", LOW_KEYS[1], "fields", "1", "a")
    pair.both("select", "0")
    pair.both("hset", LOW_KEYS[2], "x", "1")
    pair.both("renamenx", LOW_KEYS[2], HIGH_KEYS[1])
    pair.both("object", "encoding", HIGH_KEYS[1])
    pair.both("hgetall", HIGH_KEYS[1])
    pair.both("type", HIGH_KEYS[1])
    # a renamed hash still has its fields reclaimed
    pair.both("hpexpire", dst, "1", "fields", "1", "b")
    pair.both("hpexpire", dst, "1", "xx", "fields", "1", "a")
    _wait(pair, lambda r: r.execute_command("exists", dst) == 0)


def test_info_expired_fields_and_keys_with_volatile_items(pair2: Pair) -> None:
    p = pair2
    for r in (p.s, p.v):
        r.execute_command("config", "resetstat")
    for cmd in (
        "hset h a 1 b 2 c 3", "hexpire h 1000 fields 1 a", "hexpire h 0 fields 2 b zz",
        f"hset {LOW_KEYS[0]} x 1", f"hsetex {HIGH_KEYS[0]} px 100000 fields 1 y 1",
        "hsetex gone pxat 1 fields 3 y 1 z 2 y 3", "hset p a 1", "hexpire p 1000 fields 1 a",
        "hpersist p fields 1 a", "select 2", "hsetex h ex 1000 fields 1 a 1", "select 0",
    ):
        p.both(*cmd.split())

    def stats(r: Any) -> tuple[list[bytes], list[bytes]]:
        stat = [line for line in r.execute_command("info", "stats").split(b"\r\n") if line.startswith(b"expired_fields:")]
        keyspace = [line for line in r.execute_command("info", "keyspace").split(b"\r\n") if line.startswith(b"db")]
        return stat, keyspace

    got, want = stats(p.s), stats(p.v)
    assert got == want
    assert got[0] == [b"expired_fields:4"]
    assert b"keys_with_volatile_items=2" in got[1][0] and b"keys_with_volatile_items=1" in got[1][1]


# ---------------------------------------------------------------- property test


_FIELDS = st.sampled_from(["a", "b", "c", "d", "e"])
_KEYS = st.sampled_from(["h", "g", LOW_KEYS[0], HIGH_KEYS[0]])
_FUTURE = int(time.time()) + 100_000


def _command() -> st.SearchStrategy[tuple[str, ...]]:
    f, k = _FIELDS, _KEYS
    nums = st.integers(min_value=-3, max_value=3).map(str)
    fields = st.lists(f, min_size=1, max_size=3)
    return st.one_of(
        st.tuples(st.just("hset"), k, f, st.sampled_from(["1", "x", "2.5", "-7"])),
        st.tuples(st.just("hsetnx"), k, f, st.just("v")),
        st.tuples(st.just("hdel"), k, f, f),
        st.tuples(st.just("hget"), k, f),
        st.tuples(st.just("hmget"), k, f, f),
        st.tuples(st.just("hlen"), k),
        st.tuples(st.just("hexists"), k, f),
        st.tuples(st.just("hstrlen"), k, f),
        st.tuples(st.just("hincrby"), k, f, nums),
        st.tuples(st.just("hincrbyfloat"), k, f, st.sampled_from(["0.5", "-1.25", "3"])),
        st.tuples(st.just("hgetall"), k),
        fields.flatmap(lambda fs: st.tuples(st.sampled_from(["hexpireat", "hpexpireat"]), k,
                                            st.sampled_from([str(_FUTURE), str(_FUTURE + 7), "0"]),
                                            st.sampled_from(["nx", "xx", "gt", "lt", "fields"]),
                                            st.just("fields"), st.just(str(len(fs))), *[st.just(x) for x in fs])),
        fields.flatmap(lambda fs: st.tuples(st.sampled_from(["hpersist", "hexpiretime"]), k, st.just("fields"),
                                            st.just(str(len(fs))), *[st.just(x) for x in fs])),
        st.tuples(st.just("hsetex"), k, st.sampled_from(["fnx", "fxx", "keepttl", "nx", "xx"]),
                  st.just("fields"), st.just("1"), f, st.just("s")),
        st.tuples(st.just("hgetex"), k, st.sampled_from(["persist", "fields"]), st.just("fields"), st.just("1"), f),
        st.tuples(st.just("object"), st.just("encoding"), k),
        st.tuples(st.just("exists"), k),
    )


def _normalise(cmd: tuple[str, ...], reply: Any) -> Any:
    if cmd[0] == "hgetall" and not isinstance(reply, str):
        return _pairs(reply)
    return reply


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmds=st.lists(_command(), min_size=1, max_size=25))
def test_random_command_sequences_match(pair: Pair, cmds: list[tuple[str, ...]]) -> None:
    pair.flushall()
    for cmd in cmds:
        cmd = tuple(x for x in cmd if x != "")
        # "fields" as an option token means "no option"
        if cmd[0] in ("hexpireat", "hpexpireat") and cmd[3] == "fields":
            cmd = cmd[:3] + cmd[4:]
        a, b = pair.run(*cmd)
        assert _normalise(cmd, a) == _normalise(cmd, b), f"{cmd}: shard {a!r}, valkey {b!r}"
