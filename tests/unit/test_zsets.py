"""The sorted set value type: the ranked index (O(log N)), encodings, dumps, score parsing."""

from __future__ import annotations

import bisect
import random
from array import array
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver.errors import CommandError
from shardserver.resp import format_double
from shardserver.shard.types import dump_value, load_value
from shardserver.shard.types import zset as zsettype
from shardserver.shard.types.zset import LISTPACK, SKIPLIST, RankedList, ZSetValue
from shardserver.shard.zset_cmds import parse_score, parse_score_range


@pytest.fixture(autouse=True)
def default_limits() -> Iterator[None]:
    saved = dict(zsettype.LIMITS)
    yield
    zsettype.LIMITS.update(saved)


def test_rank_and_nth_item_match_a_sorted_list_under_random_updates() -> None:
    rng = random.Random(7)
    class Small(RankedList):
        LOAD = 8  # small blocks: many splits and merges

    rl = Small()
    ref: list[tuple[float, bytes]] = []
    for step in range(4000):
        if ref and rng.random() < 0.45:
            item = ref.pop(rng.randrange(len(ref)))
            rl.remove(item)
        else:
            item = (float(rng.randint(-50, 50)), b"%d" % rng.randint(0, 500))
            if item in ref:
                continue
            bisect.insort(ref, item)
            rl.add(item)
        if step % 97 == 0:
            rl.check()
            assert list(rl) == ref
            for i in range(0, len(ref), 7):
                assert rl[i] == ref[i]
                assert rl.bisect_left(ref[i]) == i  # the rank of a member
                assert rl.bisect_right(ref[i]) == i + 1
            if ref:
                a = rng.randrange(len(ref))
                b = rng.randrange(a, len(ref) + 1)
                assert list(rl.iterate(a, b)) == ref[a:b]
                assert list(rl.iterate_back(b - 1, a - 1)) == ref[a:b][::-1]
        # popping the ends (ZPOPMIN/ZPOPMAX), across blocks and past the size, without a rank
        if rng.random() < 0.05:
            n = rng.randrange(0, 20)
            last = rng.random() < 0.5
            want = ref[::-1][:n] if last else ref[:n]
            assert rl.pop_ends(n, last) == want
            for item in want:
                ref.remove(item)
            rl.check()
            assert list(rl) == ref and len(rl) == len(ref)
            if ref:
                i = rng.randrange(len(ref))
                assert rl[i] == ref[i] and rl.bisect_left(ref[i]) == i  # the tree is right after it
        # one item off an end (ZPOPMIN/ZPOPMAX without a count), the tree kept or not
        if ref and rng.random() < 0.1:
            last = rng.random() < 0.5
            assert rl.pop_one(last) == ref.pop(-1 if last else 0)
            if step % 3 == 0:
                rl.check()
                assert list(rl) == ref and len(rl) == len(ref)
                if ref:
                    i = rng.randrange(len(ref))
                    assert rl[i] == ref[i] and rl.bisect_left(ref[i]) == i


_SCORES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 1.5, float("inf"), float("-inf"), 1e300, 2.0])
_MEMBERS = st.sampled_from([b"", b"a", b"ab", b"b", b"\x00", b"a\x00", b"\xff", b"abc"])


@pytest.mark.skipif(zsettype.item_bisect is zsettype.py_item_bisect, reason="built without the C helpers")
@settings(max_examples=300)
@given(items=st.sets(st.tuples(_SCORES, _MEMBERS), max_size=30), probe=st.tuples(_SCORES, _MEMBERS))
def test_item_bisect_in_c_matches_tuple_bisect(items: set[tuple[float, bytes]], probe: tuple[float, bytes]) -> None:
    """-0.0 equals 0.0 and then the members decide, bytes compare as memcmp then length:
    the C bisection must agree with Python's tuple order on all of it."""
    ordered = sorted(items)
    scores = array("d", [s for s, _ in ordered])
    for right in (False, True):
        want = zsettype.py_item_bisect(ordered, *probe, right)
        assert zsettype.item_bisect(ordered, *probe, right) == want
        # with the scores side by side (RankedList's arrays): members are compared only on equal scores
        assert zsettype.item_bisect(ordered, *probe, right, scores) == want


@pytest.mark.skipif(zsettype.item_bisect is zsettype.py_item_bisect, reason="built without the C helpers")
def test_item_bisect_in_c_refuses_other_items() -> None:
    for bad in ([(1, b"a")], [(1.0, "a")], [(1.0,)], [[1.0, b"a"]]):
        with pytest.raises(TypeError):
            zsettype.item_bisect(bad, 1.0, b"a", False)
    with pytest.raises(TypeError):
        zsettype.item_bisect((), 1.0, b"a", False)  # a list only
    assert zsettype.item_bisect([], 1.0, b"a", True) == 0
    for scores in (array("d", [1.0, 2.0]), array("f", [1.0]), b"\0" * 8):  # too long, not doubles, untyped
        with pytest.raises((ValueError, TypeError)):
            zsettype.item_bisect([(1.0, b"a")], 1.0, b"a", False, scores)


def test_zset_rank_and_reverse_rank() -> None:
    z = ZSetValue(SKIPLIST)
    for i, m in enumerate([b"e", b"d", b"c", b"b", b"a"]):
        z.insert(m, float(i % 2))
    # order: score 0: c, e ; score 1: b, d ... then a (score 0, i=4)
    order = [m for _, m in z.items()]
    assert order == [b"a", b"c", b"e", b"b", b"d"]
    assert [z.rank(m) for m in order] == [0, 1, 2, 3, 4]
    z.update(b"a", 0.0, 5.0)
    assert z.rank(b"a") == 4 and z.rank(b"c") == 0
    assert z.rank(b"zz") is None


def _steps_per_insert(size: int, probes: int = 2000) -> float:
    rl = RankedList((float(i), b"m%d" % i) for i in range(0, 2 * size, 2))
    rl.bisect_left((0.0, b""))  # build the tree once
    rl.steps = 0
    rng = random.Random(size)
    for _ in range(probes):
        v = rng.randrange(2 * size)
        item = (v + 0.5, b"x%d" % v)
        rl.add(item)
        rl.bisect_left(item)  # a rank query
        rl.remove(item)
    return rl.steps / probes


def test_updates_and_rank_queries_are_not_linear() -> None:
    small = _steps_per_insert(1_000)
    large = _steps_per_insert(1_000_000)
    # a thousand times more members costs a few more tree levels, not a thousand times more work
    assert large < small * 3, (small, large)
    assert large < 100, large


def test_encodings_and_conversions() -> None:
    assert ZSetValue.create(128, 64).encoding() == LISTPACK
    assert ZSetValue.create(129, 1).encoding() == SKIPLIST
    assert ZSetValue.create(1, 65).encoding() == SKIPLIST
    z = ZSetValue.create(1, 1)
    for i in range(128):
        z.insert(b"m%d" % i, float(i))
    assert z.encoding() == LISTPACK
    z.insert(b"one-more", 0.0)
    assert z.encoding() == SKIPLIST
    zsettype.LIMITS["zset-max-listpack-value"] = 3
    w = ZSetValue.create(1, 1)
    w.insert(b"abcd", 1.0)
    assert w.encoding() == SKIPLIST
    w.maybe_to_listpack()
    assert w.encoding() == SKIPLIST
    zsettype.LIMITS["zset-max-listpack-value"] = 64
    w.maybe_to_listpack()
    assert w.encoding() == LISTPACK


def test_scan_of_the_skiplist_encoding_visits_everyone() -> None:
    z = ZSetValue(SKIPLIST)
    for i in range(300):
        z.insert(b"m%d" % i, float(i))
    seen: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = z.scan(cursor, 25)
        seen.extend(batch)
        if cursor == 0:
            break
    assert sorted(seen) == sorted(b"m%d" % i for i in range(300))
    assert z.random_member() in z.scores


@pytest.mark.parametrize("n", [3, 200])
def test_dump_load_copy(n: int) -> None:
    z = ZSetValue.create(n, 1)
    for i in range(n):
        z.insert(b"m%d" % i, i / 3)
    z.insert(b"neg", -float("inf"))
    for other in (load_value(b"zset", dump_value(z)), z.copy()):
        assert other.encoding() == z.encoding()
        assert list(other.items()) == list(z.items())
        assert other.scores == z.scores
    c = z.copy()
    c.delete(b"neg")
    assert z.score(b"neg") == -float("inf")


def test_score_parsing_like_valkey() -> None:
    assert parse_score(b"1.5") == 1.5
    assert parse_score(b"+inf") == float("inf") and parse_score(b"-Infinity") == -float("inf")
    assert parse_score(b"1e-320") > 0  # a denormal is fine
    for bad in (b"", b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"0x10", b"1_0", b"abc"):
        with pytest.raises(CommandError):
            parse_score(bad)
    assert parse_score_range(b"(1", b"+inf") == (1.0, True, float("inf"), False)
    assert parse_score_range(b"", b"(") == (0.0, False, 0.0, True)
    assert parse_score_range(b"1e400", b"-1e400") == (float("inf"), False, -float("inf"), False)
    with pytest.raises(CommandError):
        parse_score_range(b"((1", b"2")


def test_double_formatting_like_valkey() -> None:
    cases = [
        (0.0, "0"), (-0.0, "-0"), (1.5, "1.5"), (1e17, "100000000000000000"), (1.234e17, "123400000000000000"), (5e18, "5e+18"),
        (1e-5, "0.00001"), (0.0001234, "1.234e-4"), (1e21, "1e+21"), (123456789012345678, "123456789012345680"),
        (float("inf"), "inf"), (-float("inf"), "-inf"), (3.0000000000000004, "3.0000000000000004"),
    ]
    for value, text in cases:
        assert format_double(float(value)) == text, value

