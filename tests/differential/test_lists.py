"""List commands: shardserver against Valkey 9, reply for reply (RESP2 and RESP3, 1 and 2 shards)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS, Pair

L, H = LOW_KEYS[0].decode(), HIGH_KEYS[0].decode()  # keys on different shards with 2 shards
L2, H2 = LOW_KEYS[1].decode(), HIGH_KEYS[1].decode()


def _exact_all(pair: Pair, cmds: list[tuple[str, ...]]) -> None:
    pair.exact_many(cmds)


def test_push_pop_basics(pair: Pair) -> None:
    _exact_all(pair, [
        ("lpush", "l", "a", "b", "c"), ("rpush", "l", "1", "2"), ("lrange", "l", "0", "-1"),
        ("lpushx", "nokey", "a"), ("rpushx", "nokey", "a"), ("exists", "nokey"),
        ("lpushx", "l", "x", "y"), ("rpushx", "l", "z"), ("llen", "l"), ("llen", "nokey"),
        ("lpop", "l"), ("rpop", "l"), ("lpop", "l", "2"), ("rpop", "l", "2"), ("lpop", "l", "0"),
        ("lpop", "nokey"), ("rpop", "nokey"), ("lpop", "nokey", "1"), ("rpop", "nokey", "0"),
        ("lpop", "l", "100"), ("exists", "l"), ("lpop", "l", "-1"), ("lpop", "l", "x"),
        ("lpop", "l", "1", "2"), ("rpop", "l", "1", "2"), ("lpush", "l"), ("rpush",),
        ("rpush", "l", "a"), ("rpop", "l", "9223372036854775807"), ("rpush", "l", "a"), ("lpop", "l", "9223372036854775808"),
        ("type", "l"), ("lpop", "l"), ("type", "l"),
    ])


def test_wrongtype_everywhere(pair: Pair) -> None:
    pair.both("set", "s", "v")
    for cmd in [
        ("lpush", "s", "a"), ("rpush", "s", "a"), ("lpushx", "s", "a"), ("rpushx", "s", "a"),
        ("lpop", "s"), ("rpop", "s", "1"), ("llen", "s"), ("lrange", "s", "0", "-1"),
        ("lindex", "s", "0"), ("lset", "s", "0", "x"), ("linsert", "s", "before", "a", "b"),
        ("lrem", "s", "0", "a"), ("ltrim", "s", "0", "1"), ("lpos", "s", "a"),
        ("lmove", "s", "d", "left", "right"), ("rpoplpush", "s", "d"), ("lmpop", "1", "s", "left"),
        ("blpop", "s", "0"), ("brpop", "s", "0.1"), ("blmove", "s", "d", "left", "left", "0"),
        ("brpoplpush", "s", "d", "0"), ("blmpop", "0", "1", "s", "left"),
    ]:
        pair.exact(*cmd)
    pair.both("rpush", "l", "a")
    pair.exact("lmove", "l", "s", "left", "left")
    pair.exact("rpoplpush", "l", "s")
    pair.exact("lrange", "l", "0", "-1")


def test_lrange_lindex_indexes(pair: Pair) -> None:
    pair.both("rpush", "l", *[str(i) for i in range(10)])
    cmds = []
    for a in ("0", "-1", "3", "-3", "9", "10", "-10", "-11", "100", "-100"):
        cmds.append(("lindex", "l", a))
        for b in ("0", "-1", "5", "-5", "9", "20", "-20"):
            cmds.append(("lrange", "l", a, b))
    cmds += [("lrange", "l", "x", "1"), ("lrange", "l", "1", "1.5"), ("lindex", "l", "a"), ("lindex", "nokey", "x"),
             ("lrange", "nokey", "0", "-1"), ("lrange", "nokey", "x", "1"), ("lindex", "l", "99999999999999999999")]
    _exact_all(pair, cmds)


def test_lset_linsert(pair: Pair) -> None:
    _exact_all(pair, [
        ("lset", "nokey", "0", "x"), ("lset", "nokey", "x", "x"), ("rpush", "l", "a", "b", "c"),
        ("lset", "l", "0", "A"), ("lset", "l", "-1", "C"), ("lset", "l", "3", "x"), ("lset", "l", "-4", "x"),
        ("lset", "l", "x", "y"), ("lrange", "l", "0", "-1"),
        ("linsert", "l", "before", "b", "B0"), ("linsert", "l", "AFTER", "b", "B1"), ("linsert", "l", "after", "zz", "q"),
        ("linsert", "l", "middle", "b", "q"), ("linsert", "nokey", "before", "a", "b"), ("linsert", "nokey", "bad", "a", "b"),
        ("lrange", "l", "0", "-1"), ("linsert", "l", "after", "C", "end"), ("linsert", "l", "before", "A", "start"),
        ("lrange", "l", "0", "-1"),
        # a 64-bit index wraps to a C int in Valkey's LSET (not in LINDEX)
        ("lset", "l", "4294967295", "W1"), ("lset", "l", "9223372036854775807", "W2"), ("lset", "l", "-9223372036854775808", "W3"),
        ("lset", "l", "4294967296", "W4"), ("lset", "l", "9223372036854775806", "W5"), ("lset", "l", "2147483648", "W6"),
        ("lindex", "l", "4294967295"), ("lrange", "l", "0", "-1"),
    ])


def test_lrem_ltrim(pair: Pair) -> None:
    base = ["a", "b", "a", "c", "a", "b", "a"]
    cmds: list[tuple[str, ...]] = []
    for count in ("0", "1", "2", "-1", "-2", "10", "-10"):
        cmds += [("del", "l"), ("rpush", "l", *base), ("lrem", "l", count, "a"), ("lrange", "l", "0", "-1")]
    cmds += [("lrem", "l", "x", "a"), ("lrem", "nokey", "0", "a"), ("lrem", "l", "-9223372036854775808", "a"),
             ("del", "l"), ("rpush", "l", "a", "a"), ("lrem", "l", "0", "a"), ("exists", "l")]
    for a, b in (("0", "-1"), ("1", "-2"), ("2", "1"), ("-100", "100"), ("5", "10"), ("-3", "-1"), ("0", "0"), ("x", "1")):
        cmds += [("del", "l"), ("rpush", "l", *base), ("ltrim", "l", a, b), ("lrange", "l", "0", "-1"), ("exists", "l")]
    cmds += [("ltrim", "nokey", "0", "1"), ("ltrim", "nokey", "x", "1")]
    _exact_all(pair, cmds)


def test_lpos(pair: Pair) -> None:
    pair.both("rpush", "l", "a", "b", "c", "1", "2", "3", "c", "c")
    cmds: list[tuple[str, ...]] = [("lpos", "nokey", "a"), ("lpos", "nokey", "a", "count", "0")]
    for opts in [(), ("rank", "1"), ("rank", "2"), ("rank", "-1"), ("rank", "-3"), ("rank", "5"), ("count", "0"),
                 ("count", "2"), ("rank", "-1", "count", "2"), ("rank", "2", "count", "0"), ("maxlen", "3"),
                 ("maxlen", "7", "count", "0"), ("rank", "-1", "maxlen", "1"), ("rank", "0"), ("count", "-1"),
                 ("maxlen", "-1"), ("rank", "x"), ("count", "x"), ("maxlen", "x"), ("rank",), ("foo", "1"),
                 ("rank", "-9223372036854775808"), ("rank", "9223372036854775807"), ("count", "1", "count", "2")]:
        for ele in ("c", "a", "zz"):
            cmds.append(("lpos", "l", ele, *opts))
    _exact_all(pair, cmds)


def test_lmove_rpoplpush_same_and_cross_shard(pair: Pair) -> None:
    cmds: list[tuple[str, ...]] = []
    for src, dst in ((L, L2), (L, H), (H, L), (L, L)):
        for wf in ("left", "right"):
            for wt in ("left", "RIGHT"):
                cmds += [("del", src, dst), ("rpush", src, "1", "2", "3"), ("rpush", dst, "x"),
                         ("lmove", src, dst, wf, wt), ("lrange", src, "0", "-1"), ("lrange", dst, "0", "-1")]
        cmds += [("del", src, dst), ("rpush", src, "only"), ("rpoplpush", src, dst), ("exists", src),
                 ("lrange", dst, "0", "-1"), ("rpoplpush", "nokey", dst), ("lmove", src, dst, "up", "left"),
                 ("lmove", src, dst, "left", "down"), ("set", dst, "str"), ("rpush", src, "v"),
                 ("lmove", src, dst, "left", "left"), ("lrange", src, "0", "-1"), ("del", src),
                 ("lmove", src, dst, "left", "left")]
    _exact_all(pair, cmds)


def test_lmpop(pair: Pair) -> None:
    cmds: list[tuple[str, ...]] = [
        ("lmpop", "1", L, "left"), ("rpush", H, "1", "2", "3"), ("lmpop", "2", L, H, "left"),
        ("lmpop", "2", L, H, "right", "count", "5"), ("exists", H), ("rpush", L, "a", "b"), ("rpush", H, "c"),
        ("lmpop", "2", H, L, "LEFT", "COUNT", "1"), ("lmpop", "2", H, L, "left", "count", "1"),
        ("lmpop", "0", L, "left"), ("lmpop", "-1", L, "left"), ("lmpop", "x", L, "left"), ("lmpop", "3", L, "left"),
        ("lmpop", "1", L, "up"), ("lmpop", "1", L, "left", "count"), ("lmpop", "1", L, "left", "count", "0"),
        ("lmpop", "1", L, "left", "count", "x"), ("lmpop", "1", L, "left", "count", "1", "count", "1"),
        ("lmpop", "1", L, "left", "foo"), ("lmpop", "1"), ("set", H2, "s"), ("lmpop", "2", H2, L, "left"),
        ("lmpop", "2", L, H2, "left"), ("rpush", L2, "z"), ("lmpop", "3", "nokey", L2, H2, "right"),
        ("lmpop", "2", H2, L2, "right"),
    ]
    _exact_all(pair, cmds)


def test_blocking_forms_without_waiting(pair: Pair) -> None:
    """Blocking commands that find data, and their argument errors."""
    cmds: list[tuple[str, ...]] = [
        ("rpush", L, "a", "b"), ("rpush", H, "c"),
        ("blpop", L, H, "0"), ("brpop", H, L, "0"), ("blpop", "nokey", L, "1.5"),
        ("rpush", L, "1", "2", "3"), ("blmpop", "0", "2", H, L, "right", "count", "2"),
        ("blmove", L, H, "left", "right", "0"), ("lrange", H, "0", "-1"), ("brpoplpush", H, L, "0"), ("lrange", L, "0", "-1"),
        ("blpop", L, "abc"), ("blpop", L, "-1"), ("blpop", L, "inf"), ("blpop", L, "nan"), ("blpop", L, " 1"),
        ("blpop", L, "1e20"), ("blpop", L), ("blmove", L, H, "up", "left", "0"), ("blmove", L, H, "left", "left", "x"),
        ("brpoplpush", L, H, "-1"), ("blmpop", "0", "0", L, "left"), ("blmpop", "x", "1", L, "left"),
        ("blmpop", "0", "2", L, "left"), ("blmpop", "-1", "1", L, "left"), ("blmpop", "0", "1", L, "left", "count", "0"),
        ("blmpop", "0", "1", L, "bad"),
        # timed out at once: nothing there
        ("blpop", "nokey", "0.001"), ("blmove", "nokey", L, "left", "left", "0.001"), ("blmpop", "0.001", "1", "nokey", "left"),
    ]
    _exact_all(pair, cmds)


def test_encodings_follow_valkey(pair: Pair) -> None:
    big = "x" * 3000
    cmds: list[tuple[str, ...]] = []
    # growing past 8 KB, then shrinking back below half
    for i in range(400):
        cmds.append(("rpush", "l", str(i) if i % 3 else f"element-{i}"))
        if i % 20 == 0:
            cmds.append(("object", "encoding", "l"))
    for _ in range(390):
        cmds += [("lpop", "l"), ("object", "encoding", "l")]
    cmds += [("del", "l"), ("rpush", "l", big, big), ("object", "encoding", "l"), ("rpush", "l", big), ("object", "encoding", "l"),
             ("rpop", "l"), ("object", "encoding", "l"), ("rpop", "l"), ("object", "encoding", "l"),
             ("del", "l"), ("rpush", "l", "y" * 9000), ("object", "encoding", "l"), ("lset", "l", "0", "s"), ("object", "encoding", "l"),
             ("del", "l"), ("rpush", "l", "a"), ("lset", "l", "0", "z" * 9000), ("object", "encoding", "l"),
             ("del", "l"), ("rpush", "l", "a"), ("linsert", "l", "before", "nope", "z" * 9000), ("object", "encoding", "l"),
             ("del", "l"), ("rpush", "l", *[str(i) for i in range(2000)]), ("object", "encoding", "l"),
             ("ltrim", "l", "0", "10"), ("object", "encoding", "l"), ("lrem", "l", "0", "5"), ("object", "encoding", "l")]
    for i in range(300):
        cmds.append(("lpush", "m", "v" * (i % 50), str(-i * 1000)))
    cmds += [("object", "encoding", "m"), ("rename", "m", H2), ("object", "encoding", H2), ("copy", H2, L2), ("object", "encoding", L2)]
    _exact_all(pair, cmds)


def test_list_max_listpack_size_positive_and_other_levels(pair: Pair) -> None:
    try:
        for fill in ("5", "-1", "-5", "0", "-10"):
            pair.both("config", "set", "list-max-listpack-size", fill)
            cmds: list[tuple[str, ...]] = [("del", "l")]
            for i in range(12):
                cmds += [("rpush", "l", "v" * (i * 300)), ("object", "encoding", "l")]
            for _ in range(12):
                cmds += [("lpop", "l"), ("object", "encoding", "l")]
            _exact_all(pair, cmds)
        pair.both("config", "get", "list-max-listpack-size")
    finally:
        pair.both("config", "set", "list-max-listpack-size", "-2")


def test_list_max_ziplist_size_alias_reaches_the_shards(pair: Pair) -> None:
    try:
        pair.both("config", "set", "list-max-ziplist-size", "1")
        pair.both("config", "get", "list-max-*")
        _exact_all(pair, [("del", "l"), ("rpush", "l", "a"), ("object", "encoding", "l"), ("rpush", "l", "b"), ("object", "encoding", "l")])
    finally:
        pair.both("config", "set", "list-max-listpack-size", "-2")


def test_pipelined_commands_wait_behind_a_blocking_one(pair: Pair) -> None:
    """As in Valkey, a push later in the same pipeline does not serve the client's own blocking pop."""
    _exact_all(pair, [
        ("blpop", L, "0.02"), ("rpush", L, "v"), ("blpop", L, H, "0.02"), ("brpop", H, "0.02"),
        ("rpush", H, "w"), ("blmove", L, H, "left", "left", "0.02"), ("blmove", L, H, "left", "left", "0.02"),
        ("lrange", H, "0", "-1"), ("blmpop", "0.02", "2", L, H, "right", "count", "5"), ("exists", L, H),
    ])


def test_command_info_and_getkeys(pair: Pair) -> None:
    for name in ("lpush", "lpop", "lmove", "lmpop", "blpop", "blmove", "blmpop", "lpos", "client|unblock"):
        pair.both("command", "info", name)
    pair.both("command", "getkeys", "lmpop", "2", "a", "b", "left")
    pair.both("command", "getkeys", "blmpop", "0", "2", "a", "b", "left", "count", "3")
    pair.both("command", "getkeys", "blpop", "a", "b", "0")
    pair.both("command", "getkeysandflags", "lmove", "a", "b", "left", "left")
    for bad in (("lmpop", "0", "a", "left"), ("lmpop", "x", "a", "left"), ("lmpop", "5", "a", "left"), ("blmpop", "0", "0", "a", "left")):
        pair.both("command", "getkeys", *bad)


OPS = st.sampled_from([
    ("lpush", 2), ("rpush", 2), ("lpushx", 1), ("rpushx", 1), ("lpop", 0), ("rpop", 0), ("lpop", -1), ("llen", 0),
    ("lrange", -2), ("lindex", -3), ("lset", -4), ("linsert", -5), ("lrem", -6), ("ltrim", -2), ("lpos", -7),
    ("lmove", -8), ("rpoplpush", -9), ("lmpop", -10), ("blocking", -11),
])
KEYS = [L, H, L2, H2]
VALS = ["a", "b", "1", "-7", "x" * 70]


def _render(op: tuple[str, int], rnd: random.Random) -> tuple[str, ...]:
    name, kind = op
    k = rnd.choice(KEYS)
    v = lambda: rnd.choice(VALS)  # noqa: E731
    i = lambda: str(rnd.randint(-4, 4))  # noqa: E731
    if kind == 2:
        return (name, k, *[v() for _ in range(rnd.randint(1, 3))])
    if kind == 1:
        return (name, k, v())
    if kind == 0:
        return (name, k)
    if kind == -1:
        return (name, k, str(rnd.randint(0, 3)))
    if kind == -2:
        return (name, k, i(), i())
    if kind == -3:
        return (name, k, i())
    if kind == -4:
        return (name, k, i(), v())
    if kind == -5:
        return (name, k, rnd.choice(["before", "after"]), v(), v())
    if kind == -6:
        return (name, k, i(), v())
    if kind == -7:
        return (name, k, v(), "rank", rnd.choice(["1", "-1", "2"]), "count", str(rnd.randint(0, 2)))
    if kind == -8:
        return (name, k, rnd.choice(KEYS), rnd.choice(["left", "right"]), rnd.choice(["left", "right"]))
    if kind == -9:
        return (name, k, rnd.choice(KEYS))
    if kind == -11:  # a blocking command with a short timeout: later commands wait behind it
        k2 = rnd.choice(KEYS)
        return rnd.choice([
            ("blpop", k, k2, "0.01"),
            ("brpop", k, "0.01"),
            ("blmove", k, k2, rnd.choice(["left", "right"]), rnd.choice(["left", "right"]), "0.01"),
            ("brpoplpush", k, k2, "0.01"),
            ("blmpop", "0.01", "2", k, k2, rnd.choice(["left", "right"]), "count", str(rnd.randint(1, 3))),
        ])
    return (name, "2", k, rnd.choice(KEYS), rnd.choice(["left", "right"]), "count", str(rnd.randint(1, 3)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=40), seed=st.integers(0, 2**32))
def test_random_command_sequences(pair: Pair, ops: list[tuple[str, int]], seed: int) -> None:
    rnd = random.Random(seed)
    pair.flushall()
    cmds = [_render(op, rnd) for op in ops]
    cmds += [("lrange", k, "0", "-1") for k in KEYS]
    _exact_all(pair, cmds)


def _edit_script(rnd: random.Random) -> list[tuple[str, ...]]:
    """Random pushes, pops, inserts, sets, removals and trims, each followed by OBJECT ENCODING."""
    vals = ["a", "bb", "12", "-5", "x" * rnd.choice([10, 100, 1000, 3000]), "9" * 19]
    cmds: list[tuple[str, ...]] = []
    for _ in range(150):
        op = rnd.choice(["lpush", "rpush", "lpop", "rpop", "linsert", "lset", "lrem", "ltrim", "lpopn", "rpopn"])
        val = rnd.choice(vals)
        if op in ("lpush", "rpush"):
            cmds.append((op, "l", *[rnd.choice(vals) for _ in range(rnd.randint(1, 4))]))
        elif op in ("lpop", "rpop"):
            cmds.append((op, "l"))
        elif op in ("lpopn", "rpopn"):
            cmds.append((op[:4], "l", str(rnd.randint(1, 5))))
        elif op == "linsert":
            cmds.append((op, "l", rnd.choice(["before", "after"]), rnd.choice(vals), val))
        elif op == "lset":
            cmds.append((op, "l", str(rnd.randint(-10, 10)), val))
        elif op == "lrem":
            cmds.append((op, "l", str(rnd.randint(-2, 2)), val))
        else:
            cmds.append((op, "l", str(rnd.randint(0, 3)), str(rnd.randint(-3, -1))))
        cmds.append(("object", "encoding", "l"))
    cmds.append(("lrange", "l", "0", "-1"))
    return cmds


def test_encodings_after_random_edits(pair: Pair) -> None:
    """The quicklist node model (splits, merges, plain nodes) decides OBJECT ENCODING as Valkey does."""
    try:
        for seed in range(8):
            rnd = random.Random(seed)
            fill = ["-2", "-1", "3", "5", "1"][seed % 5]
            pair.both("config", "set", "list-max-listpack-size", fill)
            pair.both("del", "l")
            _exact_all(pair, _edit_script(rnd))
    finally:
        pair.both("config", "set", "list-max-listpack-size", "-2")


def test_a_quicklist_keeps_the_fill_it_was_created_with(pair: Pair) -> None:
    """A quicklist's node decisions follow the list-max-listpack-size it was created
    under, as Valkey's quicklist keeps its own fill; its conversion back to a listpack
    follows the configuration of the moment (the new limit used to apply to existing
    quicklists too; found by a differential fuzzer)."""
    try:
        pair.exact_many([
            ("config", "set", "list-max-listpack-size", "0"),
            ("rpush", "k", "a", "b"), ("object", "encoding", "k"),
            ("rpush", "k2", "a", "b", "c"),
            ("config", "set", "list-max-listpack-size", "-2"),
            ("lmove", "k", "k", "RIGHT", "RIGHT"), ("object", "encoding", "k"),
            ("rpush", "k", "c"), ("lpop", "k"), ("lpop", "k"), ("object", "encoding", "k"),
            ("linsert", "k2", "BEFORE", "b", "x"), ("lpop", "k2", "3"), ("object", "encoding", "k2"),
            ("lrange", "k", "0", "-1"), ("lrange", "k2", "0", "-1"),
        ])
    finally:
        for r in (pair.s, pair.v):
            r.execute_command("config", "set", "list-max-listpack-size", "-2")


def test_lset_replaces_in_place_past_a_count_limited_nodes_size(pair: Pair) -> None:
    """LSET puts a value that is not large into its packed node in place, even when the
    node grows past 8 KB (quicklistReplaceEntry); the node used to split, so the list
    stayed a quicklist where Valkey's converts back (found by a differential fuzzer)."""
    big = "L" * 8150
    try:
        for fill in ("128", "1000"):
            for r in (pair.s, pair.v):
                r.execute_command("config", "set", "list-max-listpack-size", fill)
            pair.exact_many([
                ("del", "k", "k2"),
                ("rpush", "k", big, "a"), ("object", "encoding", "k"),
                ("lset", "k", "1", "x" * 70), ("object", "encoding", "k"), ("lrange", "k", "1", "1"),
                ("lpush", "k2", "b", "b"), ("rpush", "k2", "P" * 8000), ("object", "encoding", "k2"),
                ("lset", "k2", "-3", "y" * 300), ("object", "encoding", "k2"), ("llen", "k2"),
            ])
    finally:
        for r in (pair.s, pair.v):
            r.execute_command("config", "set", "list-max-listpack-size", "-2")


def test_lmove_counts_an_integer_from_a_quicklist_as_no_bytes(pair: Pair) -> None:
    """LMOVE's conversion check on the destination counts what a quicklist source hands
    over as an integer (a canonical integer element) as 0 bytes, and what a listpack
    source hands over (always a string) by its length: a destination 3-7 bytes under
    the 8 KB limit stays a listpack only in the first case (found by a differential
    fuzzer).  Same shard and across shards."""
    near = [("lpush", "{d}", "P" * 8000, "Q" * 100), ("rpushx", "{d}", "r" * 70)]  # 8189 listpack bytes
    cmds: list[tuple[str, ...]] = []
    for src, dst in ((L2, L), (H, L)):
        for head in ("-2514", "2514x", "007"):
            for big in (True, False):  # the source a quicklist (two 8 KB elements) or a listpack
                cmds += [("del", src, dst), *[tuple(a.replace("{d}", dst) for a in c) for c in near],
                         ("object", "encoding", dst)]
                if big:
                    cmds += [("rpush", src, "S" * 8000, "T" * 9000)]
                cmds += [("lpush", src, head), ("object", "encoding", src),
                         ("lmove", src, dst, "left", "right"), ("object", "encoding", dst), ("llen", dst)]
    _exact_all(pair, cmds)
