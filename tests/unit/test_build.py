"""The value types' C loaders (``types/_build.c``) against their twins, the classes' ``from_state``.

Each case builds a value both ways from the same state and compares every
slot, recursively (types, values, and the shared encoding names by identity),
so a slot the C builder forgets or fills differently fails here.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

import msgpack
import pytest

from shardserver.shard import keys
from shardserver.shard.keyspace import Keyspace, load_plain_sets, py_load_plain_sets
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.shard.types import dump_value
from shardserver.shard.types.build import c_loaders, c_makers
from shardserver.shard.types.hash import Hash, _Buckets
from shardserver.shard.types.list import ListValue
from shardserver.shard.types.scanlist import ScanList
from shardserver.shard.types.set import SetValue
from shardserver.shard.types.zset import RankedList, ZSetValue
from tests.unit.test_snapshot import index_map

C = c_loaders()
pytestmark = pytest.mark.skipif(not C, reason="built without the C loaders")

TWINS = {b"zset": ZSetValue.from_state, b"set": SetValue.from_state, b"hash": Hash.from_state, b"list": ListValue.from_state}
CLASSES = (ZSetValue, RankedList, ScanList, SetValue, Hash, _Buckets, ListValue)


def shape(obj: Any) -> Any:
    """Everything an object holds, as comparable builtins; a class's slots by name."""
    if isinstance(obj, CLASSES):
        return (type(obj).__name__, {name: shape(getattr(obj, name)) for name in type(obj).__slots__})
    if isinstance(obj, dict):
        return ("dict", [(shape(k), shape(v)) for k, v in obj.items()])  # order matters: scans follow it
    if isinstance(obj, list | tuple | deque):
        return (type(obj).__name__, [shape(x) for x in obj])
    if isinstance(obj, float):
        return ("float", obj if not math.isnan(obj) else "nan", math.copysign(1.0, obj))  # -0.0 is not 0.0
    return (type(obj).__name__, obj)


def both(kind: bytes, state: list[Any]) -> tuple[Any, Any]:
    """The value from the twin and from C, each from its own copy of the state."""
    copy = msgpack.unpackb(msgpack.packb(state, use_bin_type=True), raw=True, use_list=True)
    return TWINS[kind](state), C[kind](copy)


def assert_same(kind: bytes, state: list[Any]) -> Any:
    py, c = both(kind, state)
    assert type(c) is type(py)
    assert shape(c) == shape(py)
    if hasattr(py, "enc"):
        assert c.enc is py.enc  # the module's shared name, not an equal string
    return c


def zstate(enc: bytes, n: int, dup: bool = False) -> list[Any]:
    flat: list[Any] = []
    for i in range(n):
        flat += [b"m%05d" % (i // 2 if dup else i), float(i) / 3]
    return [enc, flat]


@pytest.mark.parametrize(("enc", "n"), [(b"listpack", 0), (b"listpack", 3), (b"skiplist", 129), (b"skiplist", 256), (b"skiplist", 257), (b"skiplist", 1000)])
def test_sorted_sets_match_the_twin(enc: bytes, n: int) -> None:
    z = assert_same(b"zset", zstate(enc, n))
    assert len(z.index.blocks) == -(-n // RankedList.LOAD)
    z.index.check()
    assert len(z) == n and z.rank(b"m00000") == (0 if n else None)


def test_sorted_set_scores_of_every_number_type_and_repeated_members() -> None:
    assert_same(b"zset", [b"listpack", [b"a", 1, b"b", 2.5, b"c", -7, b"d", float("inf")]])
    z = assert_same(b"zset", zstate(b"skiplist", 300, dup=True))
    assert len(z.scan_list) == 150  # a repeated member is in the scan list once


def test_sets_of_every_encoding_match_the_twin() -> None:
    assert_same(b"set", [b"listpack", [b"a", b"b", b"c"]])
    assert_same(b"set", [b"listpack", [b"a", b"a", b"b"]])
    ints = [1, 5, 9, 100]
    state = [b"intset", ints]
    py, c = both(b"set", state)
    assert shape(c) == shape(py) and c.ints == ints
    assert_same(b"set", [b"hashtable", [b"x%d" % i for i in range(600)]])
    assert_same(b"set", [b"hashtable", [b"x", b"y", b"x"]])


def test_hashes_match_the_twin_and_unusual_ones_take_from_state() -> None:
    h = assert_same(b"hash", [0, [b"f1", b"1", b"f2", b"22"], []])
    assert h.get(b"f2", 0) == b"22"
    assert_same(b"hash", [0, [], []])
    # a hashtable and field TTLs go through Hash.from_state: still the same value
    t = assert_same(b"hash", [1, [b"f%d" % i for i in range(400)], []])
    assert t.buckets is not None
    ttl = assert_same(b"hash", [0, [b"f1", b"1", b"f2", b"2"], [b"f1", 1_900_000_000_000]])
    assert ttl.ttl == {b"f1": 1_900_000_000_000} and ttl.heap == [(1_900_000_000_000, b"f1")]


def test_lists_of_both_encodings_match_the_twin() -> None:
    assert_same(b"list", [[b"x", b"y", b"z"], 23, None])
    q = assert_same(b"list", [[b"e%d" % i for i in range(300)], 0, [[128, 4000, 0], [128, 4000, 0], [44, 900, 0]]])
    assert isinstance(q.items, deque) and isinstance(q.nodes, deque)


def test_values_made_by_commands_round_trip_through_c() -> None:
    rng = random.Random(7)
    z = ZSetValue.create(500, 4)
    s = SetValue()
    for _ in range(700):
        member, score = b"m%d" % rng.randrange(500), rng.uniform(-5, 5)
        old = z.score(member)
        if old is None:
            z.insert(member, score)
        else:
            z.update(member, old, score)
        s.add(b"s%d" % rng.randrange(400))
    h = Hash()
    for i in range(20):
        h.set(b"f%d" % i, b"v%d" % i, 0)
    values = {b"zset": z, b"set": s, b"hash": h}
    for kind, value in values.items():
        state = msgpack.unpackb(dump_value(value), raw=True, use_list=True)
        c = C[kind](state)
        assert c.state() == value.state()
        assert c.encoding() == value.encoding()


BAD = [
    (b"zset", [b"nosuch", []]),
    (b"zset", [b"listpack", [b"a"]]),
    (b"zset", [b"listpack", [b"a", b"not a number"]]),
    (b"zset", [b"listpack"]),
    (b"set", [b"nosuch", [b"a"]]),
    (b"set", [b"listpack", [b"a"], 3]),
    (b"hash", [0, [b"f"], []]),
    (b"hash", [0, []]),
    (b"list", [[b"a"], 0]),
    (b"list", [5, 0, None]),
]


@pytest.mark.parametrize(("kind", "state"), BAD)
def test_bad_states_raise_what_loading_turns_into_a_bad_file(kind: bytes, state: list[Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        TWINS[kind](list(state))
    with pytest.raises((ValueError, TypeError)):
        C[kind](list(state))


def test_base_files_load_with_the_c_loaders() -> None:
    for kind in (b"zset", b"set", b"hash", b"list"):
        assert keys._LOADERS[kind] is C[kind]


# ---- replay makers: the value a record creates for a new key, against its handler ----

MAKERS = c_makers()
LONG = b"x" * 65  # one byte over the listpack value limits
TAKEN = [  # the plain small records the makers must build
    [b"HSET", b"k", b"f", b"v"],
    [b"hset", b"k", b"f1", b"v1", b"f2", b"v2", b"f1", b"v3"],
    [b"HMSET", b"k", b"f", b"1"],
    [b"SADD", b"k", b"a", b"b", b"c"],
    [b"sadd", b"k", b"a", b"a", b"1", b"2"],
    [b"SADD", b"k", b""],
    [b"ZADD", b"k", b"1", b"a", b"2", b"b"],
    [b"zadd", b"k", b"2", b"b", b"1", b"a", b"1.5", b"c", b"-3", b"d", b"1", b"0"],
    [b"ZADD", b"k", b"1", b"a", b"2", b"a"],
    [b"ZADD", b"k", b"0", b"a", b"-0", b"b", b"0.000000000000000000001", b"c", b"123456789012345678901", b"d"],
    [b"RPUSH", b"k", b"a", b"b", b"c"],
    [b"lpush", b"k", b"a", b"b", b"c"],
    [b"RPUSH", b"k", b"1", b"22", b"-5", b"12345678901", b"x" * 300],
    [b"LPUSH", b"k", b"x" * 8000],
]
LEFT = [  # anything else: the handler runs the record
    [b"HSET", b"k", b"f", LONG],
    [b"HSET", b"k", *[b"f%d" % (i // 2) for i in range(1026)]],
    [b"HSET", b"k", b"f"],
    [b"SADD", b"k", b"1", b"2"],
    [b"SADD", b"k", b"-x", b"a"],
    [b"SADD", b"k", LONG],
    [b"SADD", b"k", *[b"m%d" % i for i in range(129)]],
    [b"ZADD", b"k", b"NX", b"1", b"a"],
    [b"ZADD", b"k", b"1e3", b"a"],
    [b"ZADD", b"k", b"inf", b"a"],
    [b"ZADD", b"k", b"+1", b"a"],
    [b"ZADD", b"k", b"1.", b"a"],
    [b"ZADD", b"k", b".5", b"a"],
    [b"ZADD", b"k", b"abc", b"a"],
    [b"ZADD", b"k", b"1", b"a", b"2"],
    [b"ZADD", b"k", b"1", LONG],
    [b"ZADD", b"k", *[x for i in range(129) for x in (b"1", b"m%d" % i)]],
    [b"RPUSH", b"k", b"x" * 8190],
    [b"LPUSH", b"k", b"a" * 5000, b"b" * 5000],
]


def handled(argv: list[bytes]) -> Any:
    """The value the command's handler stores at a new key."""
    ctx = ShardContext(Keyspace(16), 0, 1, [(0, 16383)])
    ctx.keyspace.clock.tick()
    HANDLERS[argv[0].decode().lower()](ctx, argv)
    return ctx.db.data[argv[1]]


@pytest.mark.parametrize("argv", TAKEN, ids=lambda a: b" ".join(a)[:40].decode())
def test_makers_build_what_the_handler_builds(argv: list[bytes]) -> None:
    made = MAKERS[argv[0]](argv)
    assert made is not None
    want = handled(argv)
    assert type(made) is type(want)
    assert shape(made) == shape(want)
    assert made.encoding() == want.encoding()


@pytest.mark.parametrize("argv", LEFT, ids=lambda a: b" ".join(a)[:40].decode())
def test_makers_leave_every_other_record_to_the_handler(argv: list[bytes]) -> None:
    assert MAKERS[argv[0]](argv) is None


def test_makers_follow_the_configured_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from shardserver.shard.types import hash as hash_type
    from shardserver.shard.types import list as list_type

    argv = [b"HSET", b"k", b"f1", b"v", b"f2", b"v"]
    assert MAKERS[b"HSET"](argv) is not None
    monkeypatch.setitem(hash_type.LIMITS, "entries", 1)
    assert MAKERS[b"HSET"](argv) is None
    assert handled(argv).encoding() == "hashtable"
    push = [b"RPUSH", b"k", b"a", b"b", b"c"]
    fill = list_type.FILL[0]
    list_type.FILL[0] = 2  # at most 2 entries per listpack
    try:
        assert MAKERS[b"RPUSH"](push) is None
        assert handled(push).encoding() == "quicklist"
    finally:
        list_type.FILL[0] = fill


@pytest.mark.parametrize("impl", [load_plain_sets, py_load_plain_sets])
def test_replay_with_makers_equals_replay_by_handlers(impl: Any) -> None:
    """A replay loop taking makers leaves the keyspace the handlers alone would."""
    records = [
        [b"SET", b"s", b"1"],
        *[[a[0], b"k%d" % i, *a[2:]] for i, a in enumerate(TAKEN + LEFT) if a not in ([b"HSET", b"k", b"f"], [b"ZADD", b"k", b"abc", b"a"], [b"ZADD", b"k", b"1", b"a", b"2"])],
        [b"HSET", b"k0", b"g", b"w"],  # an existing key
        [b"SADD", b"new", b"z"],
    ]
    got = ShardContext(Keyspace(16), 0, 1, [(0, 16383)])
    want = ShardContext(Keyspace(16), 0, 1, [(0, 16383)])
    for ctx in (got, want):
        ctx.keyspace.clock.tick()
    i = taken = 0
    db = got.db
    while i < len(records):
        j = impl(db.data, db.by_slot, records, i, MAKERS)
        taken += j - i
        if j < len(records):
            HANDLERS[records[j][0].decode().lower()](got, records[j])
        i = j + 1
    for argv in records:
        HANDLERS[argv[0].decode().lower()](want, argv)
    assert taken == 1 + len(TAKEN) + 1  # every plain record went through the loop
    assert list(got.db.data) == list(want.db.data)
    assert {k: shape(v) for k, v in got.db.data.items()} == {k: shape(v) for k, v in want.db.data.items()}
    assert index_map(got.db.by_slot) == index_map(want.db.by_slot)
