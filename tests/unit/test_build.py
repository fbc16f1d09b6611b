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
from shardserver.shard.types import dump_value
from shardserver.shard.types.build import c_loaders
from shardserver.shard.types.hash import Hash, _Buckets
from shardserver.shard.types.list import ListValue
from shardserver.shard.types.scanlist import ScanList
from shardserver.shard.types.set import SetValue
from shardserver.shard.types.zset import RankedList, ZSetValue

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
        return ("float", obj if not math.isnan(obj) else "nan")
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
