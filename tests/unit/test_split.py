"""The C router's split of multi-key commands whose keys span shards, and the merge of the shards' replies."""

from __future__ import annotations

import array
import random

import pytest

from shardserver.commands.table import SPLIT_MERGES, TABLE
from shardserver.resp import (
    FastRequestParser,
    RequestParser,
    encode_command,
    merge_splits,
)
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


def parse_all(raw: bytes) -> list[list[bytes]]:
    parser = RequestParser()
    parser.feed(raw)
    return parser.drain()


def units(name: bytes, keys: list[bytes], shard: int) -> list[bytes]:
    """The sub-command shard ``shard`` gets: the keys (MSET: with values v<i>) that live there."""
    step = 2 if name.lower() == b"mset" else 1
    return [name, *(x for i, k in enumerate(keys) if shard_of(k) == shard for x in ((k, b"v%d" % i) if step == 2 else (k,)))]


def args_of(name: bytes, keys: list[bytes]) -> list[bytes]:
    step = 2 if name.lower() == b"mset" else 1
    return [name, *(x for i, k in enumerate(keys) for x in ((k, b"v%d" % i) if step == 2 else (k,)))]


@pytest.mark.parametrize("name", [b"MSET", b"mget", b"DEL", b"exists"])
def test_keys_on_several_shards_become_one_sub_command_per_shard(name: bytes) -> None:
    keys = keys_spanning(7)
    items = route([b"GET", keys[0]], args_of(name, keys), [b"GET", keys[1]])
    assert len(items) == 3 and len(items[0]) == 3 and len(items[2]) == 3  # groups around the split
    merges, orders, raws, names = items[1]
    assert names == [name] and list(merges) == [TABLE[name.decode().lower()].route_keys[4]]
    assert orders == [bytes(shard_of(k) for k in keys)]
    for shard, raw in enumerate(raws):
        if not any(shard_of(k) == shard for k in keys):
            assert raw is None
        else:
            assert parse_all(raw) == [units(name, keys, shard)]


def test_consecutive_split_commands_share_one_run_per_shard() -> None:
    """A pipelined chunk of MSET, MGET, DEL over several shards: one item, each shard's run
    holding its sub-commands of each command in order (MGET's keys all on two shards)."""
    keys = keys_spanning(12)
    two = [next(k for k in keys if shard_of(k) == s) for s in (1, 2)]  # on two of the three shards
    cmds = [args_of(b"MSET", keys), args_of(b"MGET", two), args_of(b"del", keys[:5])]
    (item,) = route(*cmds)
    merges, orders, raws, names = item
    assert names == [b"MSET", b"MGET", b"del"] and list(merges) == [1, 3, 2]
    assert orders == [bytes(shard_of(k) for k in ks) for ks in (keys, two, keys[:5])]
    for shard, raw in enumerate(raws):
        want = [units(n, ks, shard) for n, ks in ((b"MSET", keys), (b"MGET", two), (b"del", keys[:5])) if any(shard_of(k) == shard for k in ks)]
        assert (parse_all(raw) if raw is not None else []) == want
    # a one-shard command in between ends the item: order is kept
    items = route(cmds[0], [b"GET", keys[0]], cmds[2])
    assert [len(x[3]) if len(x) == 4 else None for x in items] == [1, None, 1]


def test_keys_on_one_shard_or_bad_arity_are_not_split() -> None:
    same = [b"{t}a", b"{t}b", b"{t}c"]
    (item,) = route([b"MGET", *same])
    assert len(item) == 3 and item[0] == bytes([shard_of(b"t")])  # an ordinary one-shard group
    keys = keys_spanning(8)
    other = next(k for k in keys if shard_of(k) != shard_of(keys[0]))
    (item,) = route([b"MSET", keys[0], b"1", other])  # an even count: the slow path's arity error
    assert item == [b"MSET", keys[0], b"1", other]


def merge_split(merge: int, order: bytes, parts: list[bytes | None]) -> bytes:
    """merge_splits for one command: each shard's part its one reply."""
    joined = [None if p is None else (p, array.array("I", [len(p)]).tobytes()) for p in parts]
    return merge_splits(bytes([merge]), [order], joined)


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


def test_merge_splits_takes_each_commands_replies_in_turn() -> None:
    """Three commands over two shards (the second only on shard 1): each gets the next
    reply of each of its shards; an error of one command leaves the others' replies."""
    parts = [
        (b"+OK\r\n" + b":1\r\n", array.array("I", [5, 4]).tobytes()),
        (b"+OK\r\n" + b"*1\r\n$1\r\nz\r\n" + b"-ERR no\r\n", array.array("I", [5, 11, 9]).tobytes()),
    ]
    got = merge_splits(bytes([1, 3, 2]), [bytes([0, 1]), bytes([1]), bytes([1, 0, 1])], parts)
    assert got == b"+OK\r\n" + b"*1\r\n$1\r\nz\r\n" + b"-ERR no\r\n"
    with pytest.raises(ValueError):  # a reply left over
        merge_splits(bytes([1]), [bytes([0, 1])], parts)
    with pytest.raises(ValueError):  # fewer replies than commands need
        merge_splits(bytes([1, 1, 1, 1]), [bytes([0, 1])] * 4, parts)
    with pytest.raises(ValueError):  # lengths beyond the data
        merge_splits(bytes([1]), [bytes([0])], [(b"+OK\r\n", array.array("I", [50]).tobytes())])


def test_merge_sums_counts_says_ok_and_returns_the_first_error_by_key_order() -> None:
    assert merge_split(2, bytes([1, 0, 1]), [b":2\r\n", b":-3\r\n"]) == b":-1\r\n"
    assert merge_split(1, bytes([0, 2]), [b"+OK\r\n", None, b"+OK\r\n"]) == b"+OK\r\n"
    parts = [b"-ERR from 0\r\n", b"*1\r\n$1\r\na\r\n", b"-LOADING from 2\r\n"]
    assert merge_split(3, bytes([2, 1, 0]), parts) == b"-LOADING from 2\r\n"
    assert merge_split(2, bytes([0, 2]), [parts[0], None, parts[2]]) == b"-ERR from 0\r\n"


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


def _flatten(items: list[object]) -> list[tuple[object, ...]]:
    """drain_routed's items as one entry per command: ("run", shard, argv), ("split", argv...), ("slow", argv), ("ping",)."""
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, list):
            out.append(("slow", *item))
        elif len(item) == 4:
            merges, orders, raws, names = item
            subs = {s: parse_all(raw) for s, raw in enumerate(raws) if raw is not None}
            for name, order in zip(names, orders, strict=True):
                out.append(("split", name, bytes(order), *(tuple(subs[s].pop(0)) for s in dict.fromkeys(order))))
        elif item[0] is None:
            out.extend([("ping",)] * item[2])
        else:
            order, raws, _ = item
            cmds = {s: parse_all(raw) for s, raw in enumerate(raws) if raw is not None}
            out.extend(("run", s, *cmds[s].pop(0)) for s in order)
            assert not any(cmds.values())
    return out


@pytest.mark.parametrize("seed", range(4))
def test_routing_is_the_same_whatever_the_chunks(seed: int) -> None:
    """Random commands (one-shard key commands routed from their bytes, split ones, wrong
    arities, unknown names, PING, mixed case) fed whole and in random chunks: the same
    routing, each one-shard command on its key's shard, nothing lost or repeated."""
    rnd = random.Random(seed)
    keys = [b"k%d" % i for i in range(20)] + [b"{t}a", b"{t}b"]
    cmds: list[list[bytes]] = []
    for _ in range(300):
        k = rnd.choice(keys)
        cmds.append(rnd.choice([
            [rnd.choice([b"GET", b"get", b"gEt"]), k],
            [b"SET", k, b"v" * rnd.randrange(0, 40)],
            [b"SET", k],  # wrong arity: the slow path answers it
            [b"INCRBY", k, b"3"],
            [b"MGET", b"{t}a", b"{t}b"],
            [b"MGET", *rnd.sample(keys, 3)],
            [b"MSET", k, b"1", rnd.choice(keys), b"2"],
            [b"PING"],
            [b"NOSUCH", k],
            [b"HSET", k, b"f", b"v"],
        ]))
    data = b"".join(encode_command(c) for c in cmds)
    whole = route_bytes([data])
    cuts = sorted(rnd.sample(range(1, len(data)), 60))
    chunked = route_bytes([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)])
    assert whole == chunked
    assert len(whole) == len(cmds)
    for cmd, entry in zip(cmds, whole, strict=True):
        if entry[0] == "run":
            assert list(entry[2:]) == cmd and entry[1] == shard_of(cmd[1 if cmd[0].lower() != b"mget" else 1])
        elif entry[0] == "split":
            assert entry[1] == cmd[0]
        elif entry[0] == "ping":
            assert cmd == [b"PING"]
        else:
            assert list(entry[1:]) == cmd


def route_bytes(chunks: list[bytes]) -> list[tuple[object, ...]]:
    parser = FastRequestParser()
    out: list[tuple[object, ...]] = []
    for chunk in chunks:
        parser.feed(chunk)
        items, err = parser.drain_routed(fast_table(), owners(), NSHARDS)
        assert err is None
        out.extend(_flatten(items))
    return out
