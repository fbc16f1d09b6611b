"""Random pipelines, the same on shardserver and Valkey: every reply compared.

Seeded pipelines of 1-20 commands over a few keys of both shards (strings,
keys, hashes, lists, sets, sorted sets, streams, bitmaps, HyperLogLogs; good
and bad arguments), so runs spread over shards, commands split over shards
and slow commands meet in one read, as the front's C path and its Python twin
(the one-shard server) see them.  Commands whose replies are random (SPOP,
HRANDFIELD with a count) or depend on timing (short TTLs, TTL and the
*EXPIRETIME of relative TTLs) are left out; replies that are sets (SMEMBERS,
HGETALL, KEYS...) are compared sorted.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.differential.conftest import Pair

KEYS = [b"a", b"b", b"x", b"k1", b"k2", b"{t}1", b"{t}2"]  # both shards, and a hash tag
VALUES = [b"", b"1", b"-3", b"10", b"abc", b"3.5", b"9223372036854775807", b"-9223372036854775808", b"1e3", b"x" * 70]
NUMBERS = [b"0", b"1", b"-1", b"2", b"-2", b"10", b"-100", b"x", b"9223372036854775807", b"1.5", b""]
TTLS = [b"0", b"-1", b"abc", b"100000", b"1000000", b"9223372036854775807", b"1.5", b""]  # never expiring mid-test
SCORES = [b"1", b"2", b"-1", b"1.5", b"inf", b"-inf", b"abc", b"0", b"(1", b"nan"]
UNORDERED = {b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HGETALL", b"HKEYS", b"HVALS", b"KEYS"}


def _command(r: random.Random) -> list[bytes]:
    k = lambda: r.choice(KEYS)  # noqa: E731
    v = lambda: r.choice(VALUES)  # noqa: E731
    n = lambda: r.choice(NUMBERS)  # noqa: E731
    keys = lambda most=3: [k() for _ in range(r.randrange(1, most + 1))]  # noqa: E731
    pairs = lambda: [x for _ in range(r.randrange(1, 3)) for x in (k(), v())]  # noqa: E731
    choices: list[Any] = [
        lambda: [b"SET", k(), v(), *r.choice([[], [b"NX"], [b"XX"], [b"GET"], [b"EX", r.choice(TTLS)], [b"KEEPTTL"], [b"IFEQ", v()]])],
        lambda: [b"GET", k()],
        lambda: [b"MGET", *keys(4)],
        lambda: [b"MSET", *pairs(), *([k()] if r.random() < 0.1 else [])],
        lambda: [b"MSETNX", *pairs()],
        lambda: [r.choice([b"DEL", b"UNLINK", b"EXISTS", b"TOUCH"]), *keys()],
        lambda: [r.choice([b"INCR", b"DECR"]), k()],
        lambda: [r.choice([b"INCRBY", b"DECRBY"]), k(), n()],
        lambda: [b"INCRBYFLOAT", k(), r.choice([b"1.5", b"-2", b"abc", b"1e308", b"inf", b""])],
        lambda: [b"APPEND", k(), v()],
        lambda: [b"GETRANGE", k(), n(), n()],
        lambda: [b"SETRANGE", k(), r.choice([b"0", b"3", b"-1", b"x"]), v()],
        lambda: [b"GETDEL", k()],
        lambda: [b"GETEX", k(), *r.choice([[], [b"PERSIST"], [b"EX", r.choice(TTLS)], [b"FOO"]])],
        lambda: [b"STRLEN", k()],
        lambda: [b"LCS", k(), k(), *r.choice([[], [b"LEN"], [b"IDX", b"WITHMATCHLEN"]])],
        lambda: [b"TYPE", k()],
        lambda: [b"OBJECT", b"ENCODING", k()],
        lambda: [r.choice([b"EXPIRE", b"PEXPIRE"]), k(), r.choice(TTLS), *r.choice([[], [b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"GT", b"LT"]])],
        lambda: [b"PERSIST", k()],
        lambda: [r.choice([b"RENAME", b"RENAMENX"]), k(), k()],
        lambda: [b"COPY", k(), k(), *r.choice([[], [b"REPLACE"], [b"DB", b"1"]])],
        lambda: [b"KEYS", r.choice([b"*", b"k*", b"{t}*", b"?"])],
        lambda: [b"DBSIZE"],
        lambda: [b"HSET", k(), *[x for _ in range(r.randrange(1, 3)) for x in (v(), v())]],
        lambda: [b"HGET", k(), v()],
        lambda: [b"HDEL", k(), v(), v()],
        lambda: [b"HGETALL", k()],
        lambda: [b"HINCRBY", k(), v(), n()],
        lambda: [b"HMGET", k(), v(), v()],
        lambda: [r.choice([b"LPUSH", b"RPUSH", b"LPUSHX"]), k(), v(), v()],
        lambda: [r.choice([b"LPOP", b"RPOP"]), k(), *([n()] if r.random() < 0.3 else [])],
        lambda: [b"LRANGE", k(), n(), n()],
        lambda: [b"LINSERT", k(), r.choice([b"BEFORE", b"AFTER", b"X"]), v(), v()],
        lambda: [b"LMOVE", k(), k(), r.choice([b"LEFT", b"RIGHT"]), r.choice([b"LEFT", b"RIGHT"])],
        lambda: [b"SADD", k(), v(), v()],
        lambda: [b"SREM", k(), v()],
        lambda: [b"SMEMBERS", k()],
        lambda: [r.choice([b"SINTER", b"SUNION", b"SDIFF"]), *keys()],
        lambda: [r.choice([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), k(), *keys()],
        lambda: [b"SMOVE", k(), k(), v()],
        lambda: [b"ZADD", k(), *r.sample([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"], r.randrange(3)), r.choice(SCORES), v()],
        lambda: [b"ZRANGE", k(), n(), n(), *r.choice([[], [b"WITHSCORES"], [b"REV"]])],
        lambda: [b"ZRANGE", k(), r.choice(SCORES), r.choice(SCORES), b"BYSCORE", *r.choice([[], [b"LIMIT", n(), n()]])],
        lambda: [r.choice([b"ZPOPMIN", b"ZPOPMAX"]), k(), *r.choice([[], [n()]])],
        lambda: [r.choice([b"ZRANK", b"ZREVRANK"]), k(), v(), *r.choice([[], [b"WITHSCORE"]])],
        lambda: [r.choice([b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"]), k(), b"2", k(), k()],
        lambda: [b"ZSCORE", k(), v()],
        lambda: [b"LPOS", k(), v(), *r.choice([[], [b"RANK", n()], [b"COUNT", n()], [b"MAXLEN", n()]])],
        lambda: [b"LSET", k(), n(), v()],
        lambda: [b"LREM", k(), n(), v()],
        lambda: [b"LTRIM", k(), n(), n()],
        lambda: [b"LINDEX", k(), n()],
        lambda: [b"HSETNX", k(), v(), v()],
        lambda: [b"HINCRBYFLOAT", k(), v(), r.choice(SCORES)],
        lambda: [r.choice([b"HEXISTS", b"HSTRLEN"]), k(), v()],
        lambda: [r.choice([b"HLEN", b"LLEN", b"SCARD", b"ZCARD"]), k()],
        lambda: [r.choice([b"HKEYS", b"HVALS"]), k()],
        lambda: [b"SISMEMBER", k(), v()],
        lambda: [b"SMISMEMBER", k(), v(), v()],
        lambda: [b"SINTERCARD", r.choice([b"1", b"2", b"0", b"x"]), k(), k(), *r.choice([[], [b"LIMIT", n()]])],
        lambda: [b"ZCOUNT", k(), r.choice(SCORES), r.choice(SCORES)],
        lambda: [b"ZINCRBY", k(), r.choice(SCORES), v()],
        lambda: [b"ZREMRANGEBYRANK", k(), n(), n()],
        lambda: [b"ZREMRANGEBYSCORE", k(), r.choice(SCORES), r.choice(SCORES)],
        lambda: [b"ZRANGEBYLEX", k(), r.choice([b"-", b"[1", b"(abc", b"+", b"x"]), r.choice([b"+", b"[x", b"(1", b"-"])],
        lambda: [b"ZMSCORE", k(), v(), v()],
        lambda: [r.choice([b"ZUNION", b"ZINTER", b"ZDIFF"]), b"2", k(), k(), *r.choice([[], [b"WITHSCORES"]])],
        lambda: [b"XADD", k(), *r.choice([[], [b"NOMKSTREAM"], [b"MAXLEN", b"2"]]), r.choice([b"1-1", b"2-0", b"5", b"0-1", b"x"]), v(), v()],
        lambda: [b"XRANGE", k(), r.choice([b"-", b"1", b"(1-1"]), r.choice([b"+", b"5", b"x"]), *r.choice([[], [b"COUNT", n()]])],
        lambda: [r.choice([b"XLEN", b"TYPE"]), k()],
        lambda: [b"XDEL", k(), r.choice([b"1-1", b"2-0", b"x"])],
        lambda: [b"XTRIM", k(), b"MAXLEN", n()],
        lambda: [b"SETBIT", k(), r.choice([b"0", b"7", b"100", b"-1", b"x"]), r.choice([b"0", b"1", b"2"])],
        lambda: [b"GETBIT", k(), r.choice([b"0", b"7", b"100", b"-1"])],
        lambda: [b"BITCOUNT", k(), *r.choice([[], [n(), n()], [n(), n(), r.choice([b"BIT", b"BYTE", b"X"])]])],
        lambda: [b"BITPOS", k(), r.choice([b"0", b"1", b"2"]), *r.choice([[], [n()], [n(), n()]])],
        lambda: [b"BITOP", r.choice([b"AND", b"OR", b"XOR", b"NOT", b"FOO"]), k(), *keys(2)],
        lambda: [b"PFADD", k(), v(), v()],
        lambda: [b"PFCOUNT", *keys(2)],
        lambda: [b"MOVE", k(), r.choice([b"1", b"0", b"x"])],
        lambda: [b"RENAMENX", k(), k()],
        lambda: [b"SET", k(), v(), r.choice([b"EXAT", b"PXAT"]), r.choice([b"1", b"99999999999", b"x", b"0"])],
        lambda: [r.choice([b"EXPIREAT", b"PEXPIREAT"]), k(), r.choice([b"1", b"99999999999", b"x"]), *r.choice([[], [b"NX"], [b"XX"], [b"GT"], [b"LT"]])],
        lambda: [b"GETSET", k(), v()],
        lambda: [b"SETNX", k(), v()],
        lambda: [b"DELIFEQ", k(), v()],
        lambda: [b"HSETEX", k(), *r.choice([[], [b"FNX"], [b"FXX"], [b"EX", r.choice(TTLS)], [b"KEEPTTL"]]), b"FIELDS", r.choice([b"1", b"2", b"0", b"x"]), v(), v()],
        lambda: [b"HGETEX", k(), *r.choice([[], [b"PERSIST"], [b"EX", r.choice(TTLS)]]), b"FIELDS", b"1", v()],
        lambda: [r.choice([b"HEXPIRE", b"HPEXPIRE"]), k(), r.choice(TTLS), *r.choice([[], [b"NX"], [b"XX"]]), b"FIELDS", b"1", v()],
        lambda: [b"HPERSIST", k(), b"FIELDS", b"1", v()],
        lambda: [b"LMPOP", b"2", k(), k(), r.choice([b"LEFT", b"RIGHT", b"X"]), *r.choice([[], [b"COUNT", n()]])],
        lambda: [b"ZMPOP", b"2", k(), k(), r.choice([b"MIN", b"MAX", b"X"]), *r.choice([[], [b"COUNT", n()]])],
        lambda: [b"ZRANGESTORE", k(), k(), n(), n()],
        lambda: [b"SUNIONSTORE", k(), *keys()],
        lambda: [b"OBJECT", r.choice([b"ENCODING", b"REFCOUNT", b"FREQ", b"NOSUCH"]), k()],
        lambda: [b"HRANDFIELD", k(), b"0"],
        lambda: [b"SRANDMEMBER", k(), b"0"],
        lambda: [b"STRLEN", k()],
        lambda: [b"ECHO", v()],
        lambda: [b"GETRANGE", k(), b"0", b"-1"],
        lambda: [b"SELECT", r.choice([b"0", b"0", b"1", b"16", b"x"])],
        lambda: [b"SWAPDB", r.choice([b"0", b"1"]), r.choice([b"0", b"1", b"x"])],
        lambda: [r.choice([b"PING", b"ECHO"]), v()],
        lambda: [b"FLUSHDB"] if r.random() < 0.2 else [b"DBSIZE"],
    ]
    return r.choice(choices)()


def _normal(cmd: list[bytes], value: Any) -> Any:
    if isinstance(value, Exception):
        return f"{type(value).__name__}: {value}"
    if cmd[0] in UNORDERED:
        if isinstance(value, dict):
            return sorted(value.items())
        if cmd[0] == b"HGETALL" and isinstance(value, list):
            return sorted(zip(value[::2], value[1::2], strict=True))
        if isinstance(value, (list, set)):
            return sorted(value)
    return value


@pytest.mark.parametrize("seed", range(16))
def test_random_pipelines_match_valkey(pair: Pair, seed: int) -> None:
    pair.flushall()  # also back to database 0
    rnd = random.Random(seed)
    for batch in range(15):
        cmds = [_command(rnd) for _ in range(rnd.randrange(1, 21))]
        got = []
        for client in (pair.s, pair.v):
            pipe = client.pipeline(transaction=False)
            for cmd in cmds:
                pipe.execute_command(*cmd)
            got.append([_normal(c, x) for c, x in zip(cmds, pipe.execute(raise_on_error=False), strict=True)])
        for cmd, a, b in zip(cmds, *got, strict=True):
            assert a == b, f"seed {seed} batch {batch}: {cmd} (RESP{pair.protocol}, {pair.shards} shards)\n  shard : {a!r}\n  valkey: {b!r}"
