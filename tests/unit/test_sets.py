"""The set value type: encodings, thresholds, conversions, random picks, scans and dumps."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from shardserver.shard.types import dump_value, load_value
from shardserver.shard.types import set as settype
from shardserver.shard.types.scanlist import ScanList
from shardserver.shard.types.set import HASHTABLE, INTSET, LISTPACK, SetValue


@pytest.fixture(autouse=True)
def default_limits() -> Iterator[None]:
    saved = dict(settype.LIMITS)
    yield
    settype.LIMITS.update(saved)


def _filled(members: list[bytes]) -> SetValue:
    s = SetValue.create(members[0], len(members))
    for m in members:
        s.add(m)
    return s


def test_create_picks_the_encoding_from_the_first_member_and_the_size_hint() -> None:
    assert SetValue.create(b"1", 1).encoding() == INTSET
    assert SetValue.create(b"1", 513).encoding() == HASHTABLE
    assert SetValue.create(b"a", 128).encoding() == LISTPACK
    assert SetValue.create(b"a", 129).encoding() == HASHTABLE
    assert SetValue.create(b"01", 1).encoding() == LISTPACK  # not a canonical integer


def test_intset_keeps_integers_sorted_and_rejects_non_canonical_forms() -> None:
    s = _filled([b"5", b"-3", b"100", b"7"])
    assert s.encoding() == INTSET
    assert s.members() == [b"-3", b"5", b"7", b"100"]
    assert s.contains(b"7") and not s.contains(b"07") and not s.contains(b"x")
    assert not s.remove(b"+5") and s.remove(b"5")
    assert s.members() == [b"-3", b"7", b"100"]


def test_intset_turns_into_a_listpack_for_a_string_and_keeps_order() -> None:
    s = _filled([b"3", b"1"])
    assert s.add(b"b")
    assert s.encoding() == LISTPACK
    assert s.members() == [b"1", b"3", b"b"]
    assert not s.add(b"1")


def test_intset_over_its_limit_becomes_a_hashtable() -> None:
    settype.LIMITS["set-max-intset-entries"] = 4
    s = _filled([b"1", b"2", b"3", b"4"])
    assert s.encoding() == INTSET
    s.add(b"5")
    assert s.encoding() == HASHTABLE and len(s) == 5


def test_intset_with_long_numbers_skips_the_listpack() -> None:
    settype.LIMITS["set-max-listpack-value"] = 3
    s = _filled([b"12345"])
    s.add(b"a")
    assert s.encoding() == HASHTABLE


def test_listpack_limits() -> None:
    s = _filled([b"a"])
    s.add(b"x" * 64)
    assert s.encoding() == LISTPACK
    s.add(b"y" * 65)
    assert s.encoding() == HASHTABLE
    settype.LIMITS["set-max-listpack-entries"] = 3
    t = _filled([b"a", b"b", b"c"])
    assert t.encoding() == LISTPACK
    t.add(b"d")
    assert t.encoding() == HASHTABLE


def test_maybe_convert_uses_the_hint_only() -> None:
    s = _filled([b"a"])
    s.maybe_convert(128)
    assert s.encoding() == LISTPACK
    s.maybe_convert(129)
    assert s.encoding() == HASHTABLE and s.members() == [b"a"]


def test_to_intset_when_every_member_is_an_integer() -> None:
    s = SetValue(LISTPACK)
    for m in (b"3", b"1", b"2"):
        s.add(m)
    s.to_intset()
    assert s.encoding() == INTSET and s.members() == [b"1", b"2", b"3"]


def test_random_members_and_pops_cover_the_set() -> None:
    for members in ([b"%d" % i for i in range(10)], [b"m%d" % i for i in range(10)], [b"m%d" % i for i in range(300)]):
        s = _filled(members)
        seen = {s.random() for _ in range(3000)}
        assert seen <= set(members) and len(seen) >= min(len(members), 10)
        sample = s.sample(5)
        assert len(set(sample)) == 5 and set(sample) <= set(members)
        popped = s.pop_random()
        assert popped in members and not s.contains(popped) and len(s) == len(members) - 1


def test_scanlist_keeps_positions_and_compacts() -> None:
    sl = ScanList()
    for i in range(100):
        sl.add(b"%d" % i)
    cursor, first = sl.scan(0, 10)
    assert cursor == 10 and first == [b"%d" % i for i in range(10)]
    for i in range(0, 10):
        sl.remove(b"%d" % i)  # behind the cursor: nothing moves
    cursor2, second = sl.scan(cursor, 10)
    assert second == [b"%d" % i for i in range(10, 20)]
    for i in range(10, 99):
        sl.remove(b"%d" % i)
    assert list(sl) == [b"99"] and len(sl.items) < 50  # compacted
    assert sl.random() == b"99"
    sl.remove(b"99")
    assert sl.items == [] and len(sl) == 0


def test_hashtable_scan_returns_every_member_once_despite_removals() -> None:
    s = _filled([b"m%d" % i for i in range(1000)])
    assert s.encoding() == HASHTABLE
    seen: list[bytes] = []
    cursor = 0
    removed: set[bytes] = set()
    while True:
        cursor, batch = s.scan(cursor, 37)
        seen.extend(batch)
        victim = b"m%d" % random.randrange(1000)
        if victim not in seen and s.remove(victim):
            removed.add(victim)
        if cursor == 0:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) | removed == {b"m%d" % i for i in range(1000)}


@pytest.mark.parametrize("members", [[b"1", b"2"], [b"a", b"1"], [b"m%d" % i for i in range(200)]])
def test_dump_load_and_copy_keep_members_and_encoding(members: list[bytes]) -> None:
    s = _filled(members)
    for other in (load_value(b"set", dump_value(s)), s.copy()):
        assert other.encoding() == s.encoding()
        assert sorted(other.members()) == sorted(s.members())
    c = s.copy()
    c.add(b"new")
    assert not s.contains(b"new")
    assert s.memory_usage() > 0
