"""The list value type (encodings, node model, operations) and the shard's blocking hooks."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator

import pytest

import shardserver.shard.worker  # noqa: F401  (registers every shard handler)
from shardserver.shard.keyspace import Keyspace
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.shard.types import dump_value, load_value
from shardserver.shard.types import list as lt
from shardserver.shard.types.list import ListValue, entry_size


@pytest.fixture(autouse=True)
def default_fill() -> Iterator[None]:
    lt.FILL[0] = -2
    yield
    lt.FILL[0] = -2


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (b"0", 2), (b"127", 2), (b"128", 3), (b"-1", 3), (b"-4096", 3), (b"4095", 3), (b"4096", 4),
        (b"32767", 4), (b"-32769", 5), (b"8388607", 5), (b"8388608", 6), (b"2147483647", 6),
        (b"2147483648", 10), (b"9223372036854775807", 10), (b"9223372036854775808", 21),
        (b"01", 4), (b"+1", 4), (b"-0", 4), (b"", 2), (b"a", 3), (b"x" * 63, 65), (b"x" * 64, 67),
        (b"x" * 125, 128), (b"x" * 126, 130), (b"x" * 4095, 4099), (b"x" * 4096, 4103),
    ],
)
def test_listpack_entry_sizes(value: bytes, size: int) -> None:
    assert entry_size(value) == size


def test_small_list_is_a_listpack_and_grows_into_a_quicklist() -> None:
    v = ListValue()
    v.push([b"a", b"b"], tail=True)
    assert v.encoding() == "listpack" and v.lp_bytes == 7 + 3 + 3
    v.push([b"x" * 8000], tail=True)  # 11 + 8000 raw bytes > 8192? no: 8011
    assert v.encoding() == "listpack"
    v.push([b"y" * 200], tail=False)
    assert v.encoding() == "quicklist"
    assert list(v) == [b"y" * 200, b"a", b"b", b"x" * 8000]


def _reference_push(nodes: list[list[int]], v: bytes, tail: bool, fill: int) -> None:
    """quicklist's push decision spelled with the module's own is_large / exceeds."""
    n = len(v)
    if lt.is_large(n, fill):
        nodes.insert(len(nodes) if tail else 0, [1, n, 1])
        return
    node = (nodes[-1] if tail else nodes[0]) if nodes else None
    if node is not None and not node[2] and not lt.exceeds(fill, node[1] + n + 8, node[0] + 1):
        node[0] += 1
        node[1] += entry_size(v)
        return
    nodes.insert(len(nodes) if tail else 0, [1, 7 + entry_size(v), 0])


@pytest.mark.parametrize("fill", [-1, -2, -3, -5, -6, 0, 1, 4])
def test_node_pushes_match_the_reference_decision(fill: int) -> None:
    """_node_push inlines the size-limit case: nodes, counts and sizes as is_large / exceeds decide."""
    lt.FILL[0] = fill
    rnd = random.Random(fill)
    limit = lt._size_limit(fill) if fill < 0 else 8192
    sizes = [1, 10, 100, limit - 20, limit - 9, limit - 8, limit, limit + 1, 3 * limit]
    v = ListValue()
    v.nodes = deque()
    ref: list[list[int]] = []
    for _ in range(400):
        item, tail = b"x" * rnd.choice(sizes), rnd.random() < 0.5
        v._node_push(item, tail)
        _reference_push(ref, item, tail, fill)
        assert [list(n) for n in v.nodes] == ref


def test_large_element_gets_a_plain_node_and_shrinking_converts_back() -> None:
    v = ListValue.from_items([b"a", b"z" * 9000, b"b"])
    assert v.encoding() == "quicklist"
    assert v.nodes is not None and [n[2] for n in v.nodes] == [0, 1, 0]
    v.pop(tail=True)
    v.shrunk()
    assert v.encoding() == "quicklist"  # two nodes left
    v.pop(tail=True)
    v.shrunk()
    assert v.encoding() == "listpack" and list(v) == [b"a"]


def test_shrinking_needs_half_the_limit() -> None:
    v = ListValue.from_items([b"v" * 100 for _ in range(100)])  # ~10 KB: quicklist, two nodes
    assert v.encoding() == "quicklist"
    while len(v) > 45:
        v.pop(tail=False)
        v.shrunk()
        assert v.encoding() == "quicklist"
    while v.encoding() == "quicklist":
        v.pop(tail=False)
        v.shrunk()
    assert v.lp_bytes <= 4096 and len(v) < 45


def test_positive_fill_counts_entries() -> None:
    lt.FILL[0] = 4
    v = ListValue.from_items([b"1", b"2", b"3", b"4"])
    assert v.encoding() == "listpack"
    v.push([b"5"], tail=True)
    assert v.encoding() == "quicklist"
    assert v.nodes is not None and [n[0] for n in v.nodes] == [4, 1]
    v.pop_many(3, tail=True)
    assert v.encoding() == "listpack" and list(v) == [b"1", b"2"]


def test_linsert_splits_a_full_node_and_merges_neighbours() -> None:
    lt.FILL[0] = 3
    v = ListValue.from_items([str(i).encode() for i in range(9)])
    assert v.nodes is not None and [n[0] for n in v.nodes] == [3, 3, 3]
    v.linsert(4, b"new", after=True)  # in the middle of the full middle node
    assert list(v)[:7] == [b"0", b"1", b"2", b"3", b"4", b"new", b"5"]
    assert sum(n[0] for n in v.nodes) == 10
    assert all(n[0] <= 3 for n in v.nodes)


def test_remove_matching_trim_range_index() -> None:
    v = ListValue.from_items([b"a", b"b", b"a", b"c", b"a"])
    assert v.remove_matching(b"a", -2) == 2 and list(v) == [b"a", b"b", b"c"]
    assert v.remove_matching(b"zz", 0) == 0
    assert v.range(1, 2) == [b"b", b"c"] and v.index(-1) == b"c" and v.index(3) is None
    v.trim(1, 1)
    assert list(v) == [b"b"]
    big = ListValue.from_items([str(i).encode() for i in range(5000)])
    assert big.encoding() == "quicklist"
    assert big.range(4990, 4999) == [str(i).encode() for i in range(4990, 5000)]
    assert big.remove_matching(b"7", 0) == 1 and len(big) == 4999
    assert sum(n[0] for n in big.nodes or []) == 4999


def test_dump_load_and_copy_keep_the_encoding() -> None:
    v = ListValue.from_items([b"x" * 3000 for _ in range(4)])
    w = load_value(b"list", dump_value(v))
    assert list(w) == list(v) and w.encoding() == v.encoding() == "quicklist"
    c = v.copy()
    c.pop(tail=True)
    assert len(v) == 4 and len(c) == 3
    assert v.memory_usage() > 12000


# ---- the shard side of blocking ---------------------------------------------


def _ctx() -> ShardContext:
    return ShardContext(Keyspace(2), 0, 1, [(0, 16383)])


def run(ctx: ShardContext, *argv: bytes) -> object:
    return HANDLERS[argv[0].decode()](ctx, list(argv))


def test_watched_key_created_is_reported_once_per_creation() -> None:
    ctx = _ctx()
    assert run(ctx, b"__try", b"1", b"blpop", b"k", b"0") is None  # blocks: k is watched
    assert ctx.db.watched == {b"k": 1}
    run(ctx, b"rpush", b"other", b"x")
    assert ctx.keyspace.ready == []
    run(ctx, b"rpush", b"k", b"v1")
    run(ctx, b"rpush", b"k", b"v2")  # not a creation: no second report
    assert ctx.keyspace.ready == [[0, b"k"]]
    assert b"k" in ctx.db.ready_pending


def test_attempt_skips_a_pending_key_and_serving_clears_it() -> None:
    ctx = _ctx()
    run(ctx, b"__try", b"1", b"blpop", b"k", b"0")
    run(ctx, b"rpush", b"k", b"v")
    # a newcomer must not take what the first waiter is about to get
    assert run(ctx, b"__try", b"1", b"blpop", b"k", b"0") == 1
    assert ctx.db.watched == {b"k": 2}
    assert run(ctx, b"__try", b"s", b"blpop", b"k", b"0") == [b"k", b"v"]
    assert ctx.rewrite == [[b"lpop", b"k"]]
    assert run(ctx, b"__try", b"s", b"blpop", b"k", b"0") is None
    assert b"k" not in ctx.db.ready_pending
    run(ctx, b"__unwatch", b"k")
    run(ctx, b"__unwatch", b"k")
    assert ctx.db.watched == {}


def test_serving_ignores_a_key_of_another_type_and_logs_the_pop_form() -> None:
    ctx = _ctx()
    run(ctx, b"__watch", b"k")
    run(ctx, b"set", b"k", b"string")
    assert run(ctx, b"__try", b"s", b"blmpop", b"0", b"1", b"k", b"left", b"count", b"2") is None
    run(ctx, b"del", b"k")
    run(ctx, b"rpush", b"k", b"a", b"b", b"c")
    assert run(ctx, b"__try", b"s", b"blmpop", b"0", b"1", b"k", b"right", b"count", b"2") == [b"k", [b"c", b"b"]]
    assert ctx.rewrite == [[b"rpop", b"k", b"2"]]
    assert run(ctx, b"__try", b"s", b"blmove", b"k", b"d", b"left", b"right", b"0") == b"a"
    assert ctx.rewrite == [[b"lmove", b"k", b"d", b"left", b"right"]]
    assert ctx.db.get(b"k") is None and list(ctx.db.get(b"d")) == [b"a"]


def test_swapdb_reports_watched_keys_that_now_exist() -> None:
    ctx = _ctx()
    run(ctx, b"__watch", b"k")
    ctx.keyspace.dbs[1].set(b"k", ListValue.from_items([b"v"]))
    ctx.keyspace.ready.clear()
    ctx.keyspace.dbs[0].swap(ctx.keyspace.dbs[1])
    assert [0, b"k"] in ctx.keyspace.ready


def test_listpack_entry_sizes_in_c_match_the_python_model() -> None:
    import random

    from shardserver.shard.types.listpack import entries_size, py_entries_size, py_entry_size

    cases = [b"", b"0", b"-0", b"00", b"-", b"+1", b" 1", b"1a", b"127", b"128", b"-4096", b"4095", b"4096", b"-32768", b"32767",
             b"8388607", b"8388608", b"2147483647", b"2147483648", b"-2147483648", b"9223372036854775807", b"9223372036854775808",
             b"-9223372036854775808", b"-9223372036854775809", b"12345678901234567890", b"x" * 63, b"x" * 64, b"x" * 4095,
             b"x" * 4096, b"x" * 70000]  # fmt: skip
    rnd = random.Random(1)
    cases += [bytes(rnd.choice(b"-0123456789a") for _ in range(rnd.randrange(0, 22))) for _ in range(5000)]
    assert [entry_size(c) for c in cases] == [py_entry_size(c) for c in cases]
    assert entries_size(cases) == py_entries_size(cases) == sum(map(py_entry_size, cases))
    assert entry_size(b"127") == 2 and entry_size(b"128") == 3 and entry_size(b"abc") == 5
