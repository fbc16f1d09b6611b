"""The C router's split of multi-key commands whose keys span shards, and the merge of the shards' replies."""

from __future__ import annotations

import array
import random

import pytest

from shardserver.commands.table import SPLIT_MERGES, TABLE
from shardserver.resp import FastRequestParser, RequestParser, encode_command, merge_split
from shardserver.slots import key_slot

pytest.importorskip("shardserver._speedups")

NSHARDS = 3


def owners() -> bytes:
    """Slots dealt round-robin over NSHARDS shards, as a u16 slot map."""
    return array.array("H", [slot % NSHARDS for slot in range(16384)]).tobytes()


def fast_table() -> dict[bytes, object]:
    return {name.encode(): cmd.route_keys for name, cmd in TABLE.items() if cmd.route_keys}


def route(*cmds: list[bytes]) -> list[object]:
    parser = FastRequestParser()
    parser.feed(b"".join(encode_command(c) for c in cmds))
    items, err = parser.drain_routed(fast_table(), owners(), NSHARDS)
    assert err is None
    return items


def shard_of(key: bytes) -> int:
    return key_slot(key) % NSHARDS


def keys_spanning(n: int) -> list[bytes]:
    keys = [b"key:%d" % i for i in range(n)]
    assert len({shard_of(k) for k in keys}) > 1
    return keys


def test_the_table_marks_what_the_router_splits() -> None:
    split = {name for name, cmd in TABLE.items() if cmd.route_keys and cmd.route_keys[4]}
    assert split == {"mget", "mset", "del", "unlink", "exists", "touch"}
    assert TABLE["mset"].route_keys[4] == SPLIT_MERGES["all_succeeded"]
    assert TABLE["del"].route_keys[4] == SPLIT_MERGES["agg_sum"]
    assert TABLE["mget"].route_keys[4] == SPLIT_MERGES["by_position"]
    assert TABLE["pfcount"].route_keys[4] == 0  # SPLIT, but merged in Python (no response policy)


@pytest.mark.parametrize("name", [b"MSET", b"mget", b"DEL", b"exists"])
def test_keys_on_several_shards_become_one_sub_command_per_shard(name: bytes) -> None:
    keys = keys_spanning(7)
    step = 2 if name.lower() == b"mset" else 1
    args = [x for i, k in enumerate(keys) for x in ((k, b"v%d" % i) if step == 2 else (k,))]
    items = route([b"GET", keys[0]], [name, *args], [b"GET", keys[1]])
    assert len(items) == 3 and len(items[0]) == 3 and len(items[2]) == 3  # groups around the split
    merge, order, raws, last = items[1]
    assert last == name and merge == TABLE[name.decode().lower()].route_keys[4]
    assert list(order) == [shard_of(k) for k in keys]
    for shard, raw in enumerate(raws):
        mine = [k for k in keys if shard_of(k) == shard]
        if not mine:
            assert raw is None
            continue
        parser = RequestParser()
        parser.feed(raw)
        (argv,) = parser.drain()
        want = [name, *(x for i, k in enumerate(keys) if shard_of(k) == shard for x in ((k, b"v%d" % i) if step == 2 else (k,)))]
        assert argv == want


def test_keys_on_one_shard_or_bad_arity_are_not_split() -> None:
    same = [k for k in (b"{t}a", b"{t}b", b"{t}c")]
    (item,) = route([b"MGET", *same])
    assert len(item) == 3 and item[0] == bytes([shard_of(b"t")])  # an ordinary one-shard group
    keys = keys_spanning(8)
    other = next(k for k in keys if shard_of(k) != shard_of(keys[0]))
    (item,) = route([b"MSET", keys[0], b"1", other])  # an even count: the slow path's arity error
    assert item == [b"MSET", keys[0], b"1", other]


def test_merge_by_position_puts_values_back_in_key_order() -> None:
    rnd = random.Random(2)
    for _ in range(200):
        n = rnd.randrange(1, 12)
        order = bytes(rnd.randrange(NSHARDS) for _ in range(n))
        values = [rnd.choice([None, b"", b"x", b"\r\n$3\r\n", b"v" * rnd.randrange(40)]) for _ in range(n)]
        resp3 = rnd.random() < 0.5
        null = b"_\r\n" if resp3 else b"$-1\r\n"
        parts: list[bytes | None] = [None] * NSHARDS
        for shard in range(NSHARDS):
            mine = [v for v, s in zip(values, order, strict=True) if s == shard]
            if mine:
                parts[shard] = b"*%d\r\n" % len(mine) + b"".join(null if v is None else b"$%d\r\n%s\r\n" % (len(v), v) for v in mine)
        want = b"*%d\r\n" % n + b"".join(null if v is None else b"$%d\r\n%s\r\n" % (len(v), v) for v in values)
        assert merge_split(3, order, parts) == want


def test_merge_sums_counts_says_ok_and_returns_the_first_error_by_key_order() -> None:
    assert merge_split(2, bytes([1, 0, 1]), [b":2\r\n", b":-3\r\n"]) == b":-1\r\n"
    assert merge_split(1, bytes([0, 2]), [b"+OK\r\n", None, b"+OK\r\n"]) == b"+OK\r\n"
    parts = [b"-ERR from 0\r\n", b"*1\r\n$1\r\na\r\n", b"-LOADING from 2\r\n"]
    assert merge_split(3, bytes([2, 1, 0]), parts) == b"-LOADING from 2\r\n"
    assert merge_split(2, bytes([0, 2]), parts) == b"-ERR from 0\r\n"


@pytest.mark.parametrize(
    ("merge", "order", "parts"),
    [
        (3, bytes([0, 0]), [b"*1\r\n$1\r\na\r\n"]),  # too few values
        (3, bytes([0]), [b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"]),  # too many
        (3, bytes([1]), [None, b":1\r\n"]),  # not an array
        (3, bytes([0]), [b"*1\r\n$5\r\nab\r\n"]),  # a bulk longer than the data
        (2, bytes([0]), [b"+OK\r\n"]),  # not an integer
        (2, bytes([0, 1]), [b":1\r\n"]),  # a shard's part missing
        (9, bytes([0]), [b"+OK\r\n"]),  # no such merge
    ],
)
def test_merge_refuses_parts_of_the_wrong_shape(merge: int, order: bytes, parts: list[bytes | None]) -> None:
    with pytest.raises(ValueError):
        merge_split(merge, order, parts)
