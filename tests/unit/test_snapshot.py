"""Base-file snapshots: bulk records written from a keyspace and loaded back, without processes."""

from __future__ import annotations

import random
import sys
from typing import Any

import msgpack
import pytest

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.resp import FastRequestParser, RequestParser
from shardserver.shard import persist
from shardserver.shard import worker as _worker  # noqa: F401  (registers every handler)
from shardserver.shard.keys import _LOADERS
from shardserver.shard.keyspace import (
    EmbStr,
    Keyspace,
    RawStr,
    load_plain_sets,
    load_values,
    py_load_plain_sets,
    py_load_values,
    py_store_flat,
    store_flat,
    string_from,
)
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.shard.types.hash import Hash
from shardserver.shard.types.zset import RankedList
from shardserver.slots import PySlotIndex, SlotIndex, key_slot


def index_map(index: Any) -> dict[int, set[bytes]]:
    """A slot index as {slot: keys}, checking that each slot's count is its number of keys."""
    out = {slot: set(index.keys(slot)) for slot in index.slots()}
    assert all(
        index.count(slot) == len(keys) == len(index.keys(slot)) for slot, keys in out.items()
    )
    assert index.nonempty == len(out)
    return out


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
            state = bytes(value) if isinstance(value, bytes | bytearray) else value.state()
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
        slots = index_map(db.by_slot)
        assert {k for keys in slots.values() for k in keys} == set(db.data)
        assert sum(map(len, slots.values())) == len(db.data)
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


@pytest.mark.parametrize("seed", [5, 6])
def test_slot_index_matches_its_python_twin_and_a_plain_model(seed: int) -> None:
    """Random adds and deletes (as Database makes them) against SlotIndex, PySlotIndex and {slot: set}."""
    rnd = random.Random(seed)
    pool = [b"k%d" % i for i in range(300)] + [
        b"{user1000}.following",
        b"foo{}{bar}",
        b"a{b}c",
        b"{t}1",
        b"{t}2",
        b"{t}3",
    ]
    data_c: dict[bytes, Any] = {}
    data_p: dict[bytes, Any] = {}
    c, p = SlotIndex(data_c), PySlotIndex(data_p)
    model: dict[int, set[bytes]] = {}
    for step in range(20000):
        key = rnd.choice(
            pool[:12] if rnd.random() < 0.5 else pool
        )  # a few hot keys: repeats and compaction
        if key in data_c and rnd.random() < 0.55:
            for index, data in ((c, data_c), (p, data_p)):
                del data[key]
                index.discard(key)
            model[key_slot(key)].discard(key)
            if not model[key_slot(key)]:
                del model[key_slot(key)]
        elif key not in data_c:
            for index, data in ((c, data_c), (p, data_p)):
                index.add(key)  # Database.set indexes before it stores
                data[key] = b"v"
            model.setdefault(key_slot(key), set()).add(key)
        if step % 997 == 0:
            assert index_map(c) == index_map(p) == model
    assert index_map(c) == index_map(p) == model
    for index in (c, p):  # what a slot's list holds stays bounded by its live keys
        lists = [index.lists[s] for s in index.slots()] if isinstance(index, PySlotIndex) else None
        if lists is not None:
            assert all(
                len(keys) <= 2 * index.count(s) + 9
                for s, keys in zip(index.slots(), lists, strict=True)
            )
    for key in list(data_c):  # emptied slots are dropped
        for index, data in ((c, data_c), (p, data_p)):
            del data[key]
            index.discard(key)
    assert c.slots() == p.slots() == [] and c.nonempty == p.nonempty == 0
    for index in (c, p):
        index.discard(b"never-added")  # a no-op, as for a key already gone
        assert index.keys(7) == [] and index.count(7) == 0
        with pytest.raises(TypeError):
            index.add("str")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            index.count(16384)


@pytest.mark.parametrize("cls", [SlotIndex, PySlotIndex])
def test_a_deleted_key_leaves_the_slot_index(cls: Any) -> None:
    """Compaction lets go of deleted keys: 1000 keys of one slot added, all but one deleted."""
    data: dict[bytes, Any] = {}
    index = cls(data)
    keys = [b"{same}%d" % i for i in range(1000)]
    for k in keys:
        index.add(k)
        data[k] = b"v"
    for k in keys[1:]:
        del data[k]
        index.discard(k)
    slot = key_slot(b"same")
    assert index.count(slot) == 1 and index.keys(slot) == [b"{same}0"]
    refs = sys.getrefcount(keys[1])  # (outside the assert: pytest's rewriting would hold one more)
    assert refs == 2  # only ``keys`` (and the call) still hold a key deleted early
    if cls is PySlotIndex:
        assert len(index.lists[slot]) <= 10


@pytest.mark.parametrize(
    ("impl", "cls"),
    [(store_flat, SlotIndex), (py_store_flat, PySlotIndex), (py_store_flat, SlotIndex)],
)
def test_store_flat_stores_and_indexes_new_keys_once(impl: Any, cls: Any) -> None:
    data: dict[bytes, Any] = {b"x": b"x"}
    index = cls(data)
    index.add(b"x")
    impl(
        data, index, [b"a", b"1", b"x", b"x", b"b", b"2", b"a", b"3"]
    )  # b"x": the shared one-byte object
    assert data == {b"x": b"x", b"a": b"3", b"b": b"2"}
    model: dict[int, set[bytes]] = {}
    for k in (b"a", b"b", b"x"):
        model.setdefault(key_slot(k), set()).add(k)
    assert index_map(index) == model
    assert sum(len(index.keys(slot)) for slot in index.slots()) == 3  # each key once
    with pytest.raises(ValueError):
        impl(data, index, [b"odd"])
    with pytest.raises(TypeError):
        impl(data, index, [b"k", 5])


@pytest.mark.parametrize(("impl", "cls"), [(load_values, SlotIndex), (py_load_values, PySlotIndex)])
def test_load_values_stores_files_and_replaces(impl: Any, cls: Any) -> None:
    ks = Keyspace(1)
    db = ks.dbs[0]
    data, expires = db.data, db.expires
    index = cls(data)
    data[b"old"] = b"x"
    index.add(b"old")
    replaced: list[tuple[bytes, Any]] = []

    def replace(key: bytes, value: Any) -> None:
        replaced.append((key, value))

    entries = [
        b"s",
        b"string",
        b"x",
        -1,
        0,  # a new key whose value is the shared b"x"
        b"raw",
        b"string",
        b"12",
        5000,
        1,
        b"h",
        b"hash",
        [0, [b"f", b"v"], [b"f", 9000]],
        -1,
        0,
        b"gone",
        b"string",
        b"v",
        10,
        0,  # expired by now=100: skipped
        b"old",
        b"string",
        b"x",
        5000,
        0,  # exists: replace(key, value)
        b"old",
        b"string",
        b"v",
        50,
        0,  # exists and expired: replace(key, None)
    ]
    impl(db, data, expires, index, entries, _LOADERS, string_from, 100, replace)
    assert data[b"s"] == b"x" and type(data[b"raw"]) is RawStr and type(data[b"h"]) is Hash
    assert b"gone" not in data and expires == {b"raw": 5000, b"old": 5000}
    assert replaced == [(b"old", b"x"), (b"old", None)]
    assert sum(len(index.keys(s)) for s in index.slots()) == 4  # old, s, raw, h: each once
    assert any(k == b"h" for _, k in db.member_expiry)  # the hash's field TTL was filed (on_store)
    with pytest.raises(TypeError):
        impl(
            db,
            data,
            expires,
            index,
            [5, b"string", b"v", -1, 0],
            _LOADERS,
            string_from,
            100,
            replace,
        )
    with pytest.raises(ValueError):
        impl(db, data, expires, index, [b"k", b"string"], _LOADERS, string_from, 100, replace)


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
    by_slot = (SlotIndex if impl is load_plain_sets else PySlotIndex)(data)
    records = [[b"SET", b"a", b"1"], [b"set", b"b", b"2"], [b"sEt", b"c", b"3"], [b"SET", b"old", b"y"], [b"SET", b"d", b"4"]]
    assert impl(data, by_slot, records, 0) == 3  # stops at a key that exists: SET's handler replaces it
    assert data == {b"old": b"x", b"a": b"1", b"b": b"2", b"c": b"3"}
    assert impl(data, by_slot, records, 3) == 3
    assert impl(data, by_slot, records, 4) == 5
    stops = ([b"SET", b"e", b"v", b"PX", b"100"], [b"HSET", b"e", b"f", b"v"], [b"SETX", b"e", b"v"], [b"GET", b"e"])
    for n, stop in enumerate(stops):
        assert impl(data, by_slot, [[b"SET", b"f%d" % n, b"1"], stop], 0) == 1
    assert {k for keys in index_map(by_slot).values() for k in keys} == {b"a", b"b", b"c", b"d", b"f0", b"f1", b"f2", b"f3"}
