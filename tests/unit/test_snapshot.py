"""Base-file snapshots: bulk records written from a keyspace and loaded back, without processes."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.resp import FastRequestParser, RequestParser
from shardserver.shard import persist
from shardserver.shard import worker as _worker  # noqa: F401  (registers every handler)
from shardserver.shard.keyspace import EmbStr, Keyspace, RawStr, load_plain_sets, py_load_plain_sets
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.shard.types.zset import RankedList
from shardserver.slots import (
    index_key,
    index_keys,
    key_slot,
    py_index_key,
    py_index_keys,
    py_unindex_key,
    unindex_key,
)


def _ctx() -> ShardContext:
    return ShardContext(Keyspace(16), 0, 1, [(0, 16383)])


def run(ctx: ShardContext, db: int, *argv: bytes | str) -> Any:
    args = [a.encode() if isinstance(a, str) else a for a in argv]
    ctx.db = ctx.keyspace.dbs[db]
    ctx.keyspace.clock.tick()
    name = args[0].decode().lower()
    if name not in HANDLERS:  # a container command: XGROUP CREATE ...
        name = f"{name}|{args[1].decode().lower()}"
        args = [name.encode(), *args[1:]]
    return HANDLERS[name](ctx, args)


def _replay(records: list[bytes], ctx: ShardContext) -> list[bytes]:
    """Apply a snapshot's records as the shard's loader does; returns the record names."""
    parser = RequestParser()
    for record in records:
        parser.feed(record)
    names = []
    db = 0
    for argv in parser.drain():
        names.append(argv[0])
        if argv[0] == b"SELECT":
            db = int(argv[1])
            continue
        run(ctx, db, *argv)
    return names


def _state(ks: Keyspace) -> dict[tuple[int, bytes], Any]:
    out: dict[tuple[int, bytes], Any] = {}
    for db in ks.dbs:
        for key, value in db.data.items():
            kind = type(value).__name__
            state = value if isinstance(value, bytes) else value.state()
            out[(db.id, key)] = (kind, state, db.expires.get(key))
    return out


def _populated() -> ShardContext:
    ctx = _ctx()
    rnd = random.Random(3)
    future = str(ctx.keyspace.clock.ms + 3_600_000)
    for i in range(3000):  # several bulk records per kind
        run(ctx, 0, "set", f"s{i}", "v" * rnd.randrange(0, 40))
    run(ctx, 0, "set", "ttl", "x", "pxat", future)
    run(ctx, 0, "set", "raw", "abc")
    run(ctx, 0, "append", "raw", "def")  # modified in place: RawStr
    run(ctx, 0, "incrbyfloat", "emb", "1.5")  # EmbStr
    run(ctx, 0, "set", "int", "12345")
    for i in range(1500):
        run(ctx, 0, "hset", f"h{i}", "f1", "1", "f2", "two")
        run(ctx, 0, "sadd", f"set{i}", "a", "b", str(i))
        run(ctx, 0, "zadd", f"z{i}", "1", "a", "2.5", "b", "-inf", "c")
        run(ctx, 0, "rpush", f"l{i}", "x", "y", "z")
    run(ctx, 0, "zadd", "bigz", *[x for j in range(600) for x in (str(rnd.random()), f"m{j}")])  # skiplist, several blocks
    run(ctx, 0, "sadd", "ints", "1", "2", "3")
    run(ctx, 0, "hset", "hf", "a", "1", "b", "2")
    run(ctx, 0, "hpexpireat", "hf", future, "fields", "1", "a")
    run(ctx, 0, "pexpireat", "h1", future)
    run(ctx, 0, "xadd", "st", "1-1", "f", "v")
    run(ctx, 0, "xgroup", "create", "st", "g", "0")
    run(ctx, 3, "set", "in3", "three")
    run(ctx, 3, "rpush", "l3", "a")
    return ctx


def test_snapshot_is_bulk_records_that_load_to_the_same_keyspace() -> None:
    ctx = _populated()
    records = list(persist.snapshot_records(ctx.keyspace))
    loaded = _ctx()
    names = _replay(records, loaded)
    assert set(names) == {b"SELECT", b"__strings", b"__values"}
    # 3000+ plain strings and 6000+ other values: chunked by BULK_KEYS
    assert names.count(b"__strings") >= 3 and names.count(b"__values") >= 6
    assert len(records) == len(names)
    assert _state(loaded.keyspace) == _state(ctx.keyspace)
    assert type(loaded.keyspace.dbs[0].data[b"raw"]) is RawStr and type(loaded.keyspace.dbs[0].data[b"emb"]) is EmbStr
    for db in loaded.keyspace.dbs:  # the slot index holds every key once
        assert {k for keys in db.by_slot.values() for k in keys} == set(db.data)
        assert all(k in db.by_slot[key_slot(k)] for k in db.data)
    # a hash field TTL is filed for active expiry again
    assert any(k == b"hf" for _, k in loaded.keyspace.dbs[0].member_expiry)


def test_expired_keys_are_not_written() -> None:
    ctx = _ctx()
    run(ctx, 0, "set", "gone", "x", "pxat", str(ctx.keyspace.clock.ms + 50))
    run(ctx, 0, "set", "kept", "y")
    ctx.keyspace.clock.ms += 1000  # as if time passed: the key is expired but not yet reclaimed
    loaded = _ctx()
    _replay(list(persist.snapshot_records(ctx.keyspace)), loaded)
    assert loaded.keyspace.dbs[0].data == {b"kept": b"y"}


def test_bulk_strings_replace_a_key_and_its_ttl_and_access_time() -> None:
    ctx = _ctx()
    db = ctx.db
    run(ctx, 0, "set", "k", "old", "px", "100000")
    run(ctx, 0, "hset", "h", "f", "v")
    db.atime[b"k"] = 5
    assert run(ctx, 0, "__strings", msgpack.packb([b"k", b"new", b"h", b"str"])) is not None
    assert db.data[b"k"] == b"new" and db.data[b"h"] == b"str"
    assert b"k" not in db.expires and b"k" not in db.atime
    assert db.last_access(b"k") == db.loaded_sec == ctx.keyspace.clock.sec


def test_bulk_values_replace_and_skip_expired() -> None:
    ctx = _ctx()
    db = ctx.db
    run(ctx, 0, "set", "k", "old")
    now = ctx.keyspace.clock.ms
    payload = msgpack.packb([b"k", b"set", [b"listpack", [b"a"]], -1, 0, b"dead", b"string", b"x", now - 1, 0, b"t", b"string", b"y", now + 60_000, 1])
    run(ctx, 0, "__values", payload)
    assert db.data[b"k"].TYPE == "set" and b"dead" not in db.data
    assert type(db.data[b"t"]) is RawStr and db.expires[b"t"] == now + 60_000


@pytest.mark.parametrize(
    "name,payload",
    [
        ("__strings", b"\xc1"),  # not msgpack
        ("__strings", msgpack.packb([b"only-a-key"])),
        ("__strings", msgpack.packb({b"a": b"b"})),
        ("__values", msgpack.packb([b"k", b"nosuchtype", [], -1, 0])),
        ("__values", msgpack.packb([b"k", b"zset", [b"listpack"], -1, 0])),
        ("__values", msgpack.packb([b"k", b"string", b"v", -1])),
    ],
)
def test_a_damaged_bulk_record_is_an_error(name: str, payload: bytes) -> None:
    ctx = _ctx()
    with pytest.raises(CommandError) as exc:
        run(ctx, 0, name, payload)
    assert exc.value.text == errors.AOF_BAD_BULK
    assert ctx.db.data == {}


def test_slot_index_helpers_match_their_python_twins() -> None:
    rnd = random.Random(5)
    keys = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 12))) for _ in range(2000)] + [b"{user1000}.following", b"foo{}{bar}", b"a{b}c"]
    c: dict[int, set[bytes]] = {}
    p: dict[int, set[bytes]] = {}
    index_keys(c, keys[:1000])
    py_index_keys(p, keys[:1000])
    for k in keys[1000:]:
        index_key(c, k)
        py_index_key(p, k)
    assert c == p and all(k in c[key_slot(k)] for k in keys)
    for k in keys[::2] + [b"never-added"]:
        unindex_key(c, k)
        py_unindex_key(p, k)
    assert c == p and all(c.values())  # emptied slots are dropped
    with pytest.raises(TypeError):
        index_key(c, "str")  # type: ignore[arg-type]


def test_ranked_list_from_sorted_equals_a_sorted_build() -> None:
    for n in (0, 1, 255, 256, 257, 1000):
        items = sorted((float(i % 7), b"m%d" % i) for i in range(n))
        a, b = RankedList(items), RankedList.from_sorted(list(items))
        assert a.blocks == b.blocks and a.maxes == b.maxes and len(a) == len(b) == n
        b.check()
        b.add((3.5, b"new"))
        b.check()


def test_the_strict_parser_reads_snapshot_records() -> None:
    records = list(persist.snapshot_records(_populated().keyspace))
    parser = FastRequestParser(max_bulk_len=2**62, max_buffer=2**62)
    parser.strict = True
    parser.feed(b"".join(records))
    assert len(parser.drain()) == len(records) and parser.at_boundary()


@pytest.mark.parametrize("impl", [load_plain_sets, py_load_plain_sets])
def test_load_plain_sets_stores_a_run_of_new_plain_sets(impl: Any) -> None:
    data: dict[bytes, Any] = {b"old": b"x"}
    by_slot: dict[int, set[bytes]] = {}
    records = [[b"SET", b"a", b"1"], [b"set", b"b", b"2"], [b"sEt", b"c", b"3"], [b"SET", b"old", b"y"], [b"SET", b"d", b"4"]]
    assert impl(data, by_slot, records, 0) == 3  # stops at a key that exists: SET's handler replaces it
    assert data == {b"old": b"x", b"a": b"1", b"b": b"2", b"c": b"3"}
    assert impl(data, by_slot, records, 3) == 3
    assert impl(data, by_slot, records, 4) == 5
    stops = ([b"SET", b"e", b"v", b"PX", b"100"], [b"HSET", b"e", b"f", b"v"], [b"SETX", b"e", b"v"], [b"GET", b"e"])
    for n, stop in enumerate(stops):
        assert impl(data, by_slot, [[b"SET", b"f%d" % n, b"1"], stop], 0) == 1
    assert {k for keys in by_slot.values() for k in keys} == {b"a", b"b", b"c", b"d", b"f0", b"f1", b"f2", b"f3"}
