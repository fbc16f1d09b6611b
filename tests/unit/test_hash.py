"""The hash value type: encodings, field TTLs, scan cursor, the db's field-expiry index."""

from __future__ import annotations

import random

import pytest

from shardserver.shard.keyspace import Keyspace
from shardserver.shard.types import dump_value, load_value
from shardserver.shard.types.hash import LIMITS, Hash, _Buckets

NOW = 1_000_000


@pytest.fixture(autouse=True)
def _default_limits() -> object:
    saved = dict(LIMITS)
    LIMITS.update(entries=512, value=64)
    yield
    LIMITS.update(saved)


def _hash(n: int) -> Hash:
    h = Hash()
    for i in range(n):
        h.set(b"f%d" % i, b"v%d" % i, NOW)
    return h


# ---- encodings ----------------------------------------------------------------


def test_listpack_until_entries_limit_then_hashtable_for_good() -> None:
    h = _hash(512)
    assert h.encoding() == "listpack"
    h.set(b"extra", b"x", NOW)
    assert h.encoding() == "hashtable"
    for f in list(h.d):
        h.delete(f, NOW)
    h.set(b"a", b"1", NOW)
    assert h.encoding() == "hashtable"  # never converted back, as Valkey


def test_value_and_field_length_limit_is_inclusive() -> None:
    h = Hash()
    h.set(b"a", b"x" * 64, NOW)
    h.set(b"b" * 64, b"1", NOW)
    assert h.encoding() == "listpack"
    h.set(b"c", b"x" * 65, NOW)
    assert h.encoding() == "hashtable"
    h2 = Hash()
    h2.set(b"c" * 65, b"1", NOW)
    assert h2.encoding() == "hashtable"


def test_prepare_converts_on_pair_count_even_with_duplicates() -> None:
    LIMITS["entries"] = 2
    h = Hash()
    h.prepare(3, [b"a", b"1", b"a", b"2", b"a", b"3"])
    assert h.encoding() == "hashtable"
    h2 = Hash()
    h2.prepare(2, [b"a", b"1", b"b", b"2"])
    assert h2.encoding() == "listpack"
    h2.prepare(1, [b"x" * 65, b"1"])
    assert h2.encoding() == "hashtable"


def test_listpack_keeps_insertion_order_updates_in_place() -> None:
    h = Hash()
    for f in (b"c", b"a", b"b"):
        h.set(f, b"1", NOW)
    h.set(b"a", b"2", NOW)
    h.delete(b"c", NOW)
    h.set(b"c", b"3", NOW)
    assert list(h.items(NOW)) == [(b"a", b"2"), (b"b", b"1"), (b"c", b"3")]


def test_field_ttl_converts_to_hashtable() -> None:
    h = _hash(3)
    assert h.set_expire(b"f0", NOW + 100, frozenset(), NOW) == 1
    assert h.encoding() == "hashtable"
    assert h.persist(b"f0", NOW) == 1
    assert h.encoding() == "hashtable"


# ---- field TTL codes -------------------------------------------------------------


def test_set_expire_codes_on_listpack() -> None:
    h = _hash(3)
    assert h.set_expire(b"nope", NOW + 10, frozenset(), NOW) == -2
    assert h.set_expire(b"f0", NOW + 10, frozenset({"xx"}), NOW) == 0
    assert h.set_expire(b"f0", NOW + 10, frozenset({"gt"}), NOW) == 0
    assert h.encoding() == "listpack"
    assert h.set_expire(b"f0", NOW, frozenset(), NOW) == 2  # now counts as past
    assert b"f0" not in h.d and h.encoding() == "listpack"
    assert h.set_expire(b"f1", NOW + 10, frozenset({"lt"}), NOW) == 1
    assert h.encoding() == "hashtable"


def test_set_expire_conditions_on_hashtable() -> None:
    h = _hash(2)
    h.convert()
    nx, xx, gt, lt = (frozenset({x}) for x in ("nx", "xx", "gt", "lt"))
    assert h.set_expire(b"f0", NOW + 50, xx, NOW) == 0
    assert h.set_expire(b"f0", NOW + 50, gt, NOW) == 0  # no TTL is infinite
    assert h.set_expire(b"f0", NOW + 50, nx, NOW) == 1
    assert h.set_expire(b"f0", NOW + 60, nx, NOW) == 0
    assert h.set_expire(b"f0", NOW + 40, gt, NOW) == 0
    assert h.set_expire(b"f0", NOW + 60, gt, NOW) == 1
    assert h.set_expire(b"f0", NOW + 70, lt, NOW) == 0
    assert h.set_expire(b"f0", NOW + 30, frozenset({"xx", "lt"}), NOW) == 1
    assert h.expiry(b"f0", NOW) == NOW + 30
    assert h.set_expire(b"f1", NOW + 30, lt, NOW) == 1  # LT on no TTL passes
    assert h.set_expire(b"f1", NOW - 1, xx, NOW) == 2
    assert h.expiry(b"f1", NOW) is None


def test_expired_fields_are_invisible_but_counted_until_reclaimed() -> None:
    h = _hash(3)
    h.set_expire(b"f1", NOW + 5, frozenset(), NOW)
    later = NOW + 5
    assert h.get(b"f1", later) is None
    assert h.expiry(b"f1", later) is None
    assert [f for f, _ in h.items(later)] == [b"f0", b"f2"]
    assert len(h) == 3  # HLEN counts it, as Valkey
    assert h.delete(b"f1", later) is False  # HDEL does not see it either
    assert h.persist(b"f1", later) == -2
    assert h.set_expire(b"f1", later + 100, frozenset(), later) == -2
    _, fields = h.scan(0, 100, later)
    assert b"f1" not in fields
    assert all(h.random_field(later) != b"f1" for _ in range(50))
    assert h.pop_expired(later, 10) == [b"f1"]
    assert len(h) == 2 and h.next_expiry() is None


def test_overwriting_an_expired_field_creates_it_without_ttl() -> None:
    h = _hash(1)
    h.set_expire(b"f0", NOW + 1, frozenset(), NOW)
    created, overwritten = h.set(b"f0", b"new", NOW + 2)
    assert created and overwritten
    assert h.expiry(b"f0", NOW + 2) == -1
    h.set_expire(b"f0", NOW + 10, frozenset(), NOW)
    assert h.set(b"f0", b"x", NOW, keep_ttl=True) == (False, False)
    assert h.expiry(b"f0", NOW) == NOW + 10
    assert h.set(b"f0", b"y", NOW)[0] is False
    assert h.expiry(b"f0", NOW) == -1  # a plain set drops the TTL


def test_persist_codes() -> None:
    h = _hash(2)
    assert h.persist(b"f0", NOW) == -1
    assert h.persist(b"zz", NOW) == -2
    h.set_expire(b"f0", NOW + 5, frozenset(), NOW)
    assert h.persist(b"f0", NOW) == 1
    assert h.persist(b"f0", NOW) == -1


def test_ttl_heap_stays_bounded_under_repeated_updates() -> None:
    h = _hash(4)
    for i in range(10_000):
        h.set_expire(b"f%d" % (i % 4), NOW + 1000 + i, frozenset(), NOW)
    assert len(h.heap) <= 2 * len(h.ttl) + 17
    assert h.next_expiry() == min(h.ttl.values())


def test_pop_expired_in_time_order_and_limited() -> None:
    h = _hash(10)
    for i in range(10):
        h.set_expire(b"f%d" % i, NOW + 100 - i, frozenset(), NOW)
    assert h.pop_expired(NOW + 95, 3) == [b"f9", b"f8", b"f7"]
    assert h.pop_expired(NOW + 95, 100) == [b"f6", b"f5"]
    assert h.next_expiry() == NOW + 96


# ---- scan and random picks ----------------------------------------------------------


def test_listpack_scan_returns_everything_with_cursor_zero() -> None:
    h = _hash(5)
    assert h.scan(0, 1, NOW) == (0, [b"f0", b"f1", b"f2", b"f3", b"f4"])


def test_bucket_scan_visits_every_stable_field_across_resizes() -> None:
    rng = random.Random(7)
    for _ in range(20):
        fields = [b"s%d" % i for i in range(rng.randrange(1, 300))]
        b = _Buckets(fields)
        stable = set(fields[: len(fields) // 2])
        seen: set[bytes] = set()
        cursor = 0
        extra = 0
        while True:
            cursor = b.scan(cursor, rng.randrange(1, 20), seen.add)
            # churn between calls: grow and shrink the table under the cursor
            for _ in range(rng.randrange(0, 40)):
                f = b"x%d" % extra
                extra += 1
                b.add(f)
            for f in [f for f in fields[len(fields) // 2 :] if rng.random() < 0.3]:
                if f in b.table[hash(f) & ((1 << b.bits) - 1)]:
                    b.remove(f)
            if cursor == 0:
                break
        assert stable <= seen


def test_bucket_table_grows_and_shrinks() -> None:
    b = _Buckets([b"%d" % i for i in range(1000)])
    assert len(b.table) >= 1000 and b.n == 1000
    for i in range(995):
        b.remove(b"%d" % i)
    assert len(b.table) <= 16 and sorted(f for bucket in b.table for f in bucket) == [b"%d" % i for i in range(995, 1000)]


def test_random_field_covers_hashtable() -> None:
    h = _hash(600)
    assert h.encoding() == "hashtable"
    seen = {h.random_field(NOW) for _ in range(20_000)}
    assert len(seen) > 550


def test_random_field_gives_up_when_everything_expired() -> None:
    h = _hash(3)
    for f in list(h.d):
        h.set_expire(f, NOW + 1, frozenset(), NOW)
    assert h.random_field(NOW + 1) is None
    assert h.random_field(NOW) is not None


# ---- contract: dump/load/copy -------------------------------------------------------


def test_dump_load_roundtrip_keeps_encoding_order_and_ttls() -> None:
    h = _hash(3)
    lp = load_value(b"hash", dump_value(h))
    assert lp.encoding() == "listpack" and list(lp.items(NOW)) == list(h.items(NOW))
    h.set_expire(b"f1", NOW + 77, frozenset(), NOW)
    ht = load_value(b"hash", dump_value(h))
    assert ht.encoding() == "hashtable"
    assert ht.expiry(b"f1", NOW) == NOW + 77 and ht.next_expiry() == NOW + 77
    assert dict(ht.items(NOW)) == dict(h.items(NOW))


def test_copy_is_independent() -> None:
    h = _hash(3)
    h.set_expire(b"f0", NOW + 5, frozenset(), NOW)
    c = h.copy()
    c.set(b"f1", b"changed", NOW)
    c.persist(b"f0", NOW)
    assert h.get(b"f1", NOW) == b"v1" and h.expiry(b"f0", NOW) == NOW + 5
    assert c.encoding() == h.encoding() == "hashtable"
    assert h.memory_usage() > 0


# ---- the database's index of hashes with volatile fields -----------------------------


def _keyspace() -> tuple[Keyspace, list[tuple[int, list[bytes]]]]:
    ks = Keyspace(2)
    log: list[tuple[int, list[bytes]]] = []
    ks.journal = lambda db, argv: log.append((db, argv))
    return ks, log


def _volatile(ks: Keyspace, key: bytes, fields: dict[bytes, int]) -> Hash:
    db = ks.dbs[0]
    h = Hash()
    for f in (b"keep", *fields):
        h.set(f, b"v", ks.clock.ms)
    db.set(key, h)
    for f, when in fields.items():
        h.set_expire(f, when, frozenset(), ks.clock.ms)
    h.track(db, key)
    return h


def test_active_expiry_reclaims_due_fields_and_logs_hdel() -> None:
    ks, log = _keyspace()
    now = ks.clock.ms
    h = _volatile(ks, b"h", {b"a": now - 1 + 10**9, b"b": now + 10**9})
    # make "a" due without waiting: move its time into the past
    h.ttl[b"a"] = now - 1
    h.heap = [(w, f) for f, w in h.ttl.items()]
    h.indexed = None
    h.track(ks.dbs[0], b"h")
    ks.expire_cycle(0.05)
    assert log == [(0, [b"HDEL", b"h", b"a"])]
    assert len(h) == 2 and h.indexed == now + 10**9


def test_hash_whose_last_field_expires_is_deleted_without_a_del_record() -> None:
    ks, log = _keyspace()
    db = ks.dbs[0]
    h = Hash()
    h.set(b"only", b"v", 0)
    h.set_expire(b"only", 1, frozenset(), 0)  # an old absolute time
    db.set(b"h", h)
    ks.expire_cycle(0.05)
    assert b"h" not in db.data
    assert log == [(0, [b"HDEL", b"h", b"only"])]


def test_index_follows_rename_move_and_swapdb() -> None:
    ks, log = _keyspace()
    db0, db1 = ks.dbs
    h = Hash()
    h.set(b"f", b"v", 0)
    h.set(b"g", b"v", 0)
    h.set_expire(b"f", 1, frozenset(), 0)
    db0.set(b"old", h)
    db0.delete(b"old")
    db0.set(b"new", h)  # RENAME within a shard
    db1.set(b"moved", db0.data.pop(b"new"))  # MOVE-like: stored in another db
    db0.by_slot.discard(b"new")
    db0.swap(db1)
    ks.expire_cycle(0.05)
    assert log == [(0, [b"HDEL", b"moved", b"f"])]
    assert list(h.d) == [b"g"]


def test_stale_index_entries_are_ignored() -> None:
    ks, log = _keyspace()
    db = ks.dbs[0]
    h = Hash()
    h.set(b"f", b"v", 0)
    h.set_expire(b"f", 1, frozenset(), 0)
    db.set(b"k", h)
    db.delete(b"k")
    db.set(b"k", b"a string now")
    ks.expire_cycle(0.05)
    assert log == [] and db.data[b"k"] == b"a string now"
    assert db.member_expiry == []


def test_flush_clears_the_index() -> None:
    ks, _ = _keyspace()
    db = ks.dbs[0]
    h = Hash()
    h.set(b"f", b"v", 0)
    h.set_expire(b"f", 10**15, frozenset(), 0)
    db.set(b"k", h)
    assert db.member_expiry
    db.clear()
    assert db.member_expiry == []


# ---- handlers: what a write leaves in the AOF (ctx.rewrite) ---------------------------


def _ctx() -> object:
    import shardserver.shard.hash_cmds  # noqa: F401  (registers the handlers)
    from shardserver.shard.registry import ShardContext

    ctx = ShardContext(Keyspace(2), 0, 1, [(0, 16383)])
    ctx.keyspace.clock.ms = NOW
    return ctx


def _run(ctx: object, *args: object) -> object:
    from shardserver.shard.registry import HANDLERS

    argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    ctx.rewrite = None  # type: ignore[attr-defined]
    return HANDLERS[argv[0].decode()](ctx, argv)  # type: ignore[arg-type]


def test_hexpire_logs_absolute_times_or_the_hdel_it_did() -> None:
    ctx = _ctx()
    _run(ctx, "hset", "h", "a", "1", "b", "2")
    assert _run(ctx, "hexpire", "h", 100, "NX", "FIELDS", 2, "a", "zz") == [1, -2]
    assert ctx.rewrite == [[b"HPEXPIREAT", b"h", b"%d" % (NOW + 100_000), b"NX", b"FIELDS", b"2", b"a", b"zz"]]
    assert _run(ctx, "hexpire", "h", 100, "NX", "FIELDS", 1, "a") == [0]
    assert ctx.rewrite == []  # nothing changed: nothing logged
    assert _run(ctx, "hpexpireat", "h", 1, "FIELDS", 2, "a", "b") == [2, 2]
    assert ctx.rewrite == [[b"HDEL", b"h", b"a", b"b"]]
    assert b"h" not in ctx.keyspace.dbs[0].data


def test_increments_are_logged_as_their_result() -> None:
    ctx = _ctx()
    assert _run(ctx, "hincrbyfloat", "h", "f", "1.5") == b"1.5"
    assert ctx.rewrite == [[b"HSET", b"h", b"f", b"1.5"]]
    assert _run(ctx, "hincrby", "h", "i", 2) == 2
    assert ctx.rewrite is None  # deterministic: logged as received
    _run(ctx, "hpexpire", "h", 5000, "FIELDS", 1, "f")
    assert _run(ctx, "hincrbyfloat", "h", "f", "1") == b"2.5"
    assert ctx.rewrite == [[b"HSETEX", b"h", b"PXAT", b"%d" % (NOW + 5000), b"FIELDS", b"1", b"f", b"2.5"]]
    assert _run(ctx, "hincrby", "h", "i", 2) == 4
    assert ctx.rewrite == [[b"HSET", b"h", b"i", b"4"]]  # the hash has volatile fields
    assert _run(ctx, "hsetnx", "h", "n", "v") == 1
    assert ctx.rewrite == [[b"HSET", b"h", b"n", b"v"]]
    assert _run(ctx, "hsetnx", "h", "n", "v") == 0
    assert ctx.rewrite == []


def test_hgetex_is_logged_as_what_it_did() -> None:
    ctx = _ctx()
    _run(ctx, "hset", "h", "a", "1", "b", "2")
    assert _run(ctx, "hgetex", "h", "EX", 10, "FIELDS", 2, "a", "zz") == [b"1", None]
    assert ctx.rewrite == [[b"HPEXPIREAT", b"h", b"%d" % (NOW + 10_000), b"FIELDS", b"1", b"a"]]
    assert _run(ctx, "hgetex", "h", "PERSIST", "FIELDS", 2, "a", "b") == [b"1", b"2"]
    assert ctx.rewrite == [[b"HPERSIST", b"h", b"FIELDS", b"1", b"a"]]
    assert _run(ctx, "hgetex", "h", "FIELDS", 1, "a") == [b"1"]
    assert ctx.rewrite == []
    assert _run(ctx, "hgetex", "h", "PXAT", 1, "FIELDS", 1, "b") == [b"2"]
    assert ctx.rewrite == [[b"HDEL", b"h", b"b"]]


def test_hsetex_logs_pxat_without_field_conditions() -> None:
    ctx = _ctx()
    assert _run(ctx, "hsetex", "h", "FNX", "EX", 10, "ex", 20, "FIELDS", 1, "a", "1") == 1
    assert ctx.rewrite == [[b"hsetex", b"h", b"PXAT", b"%d" % (NOW + 20_000), b"FIELDS", b"1", b"a", b"1"]]
    assert _run(ctx, "hsetex", "h", "FXX", "FIELDS", 1, "zz", "1") == 0
    assert ctx.rewrite == []
    assert _run(ctx, "hsetex", "h", "PXAT", NOW + 5, "FIELDS", 1, "b", "2") == 1
    assert ctx.rewrite is not None and ctx.rewrite[-1][2:4] == [b"PXAT", b"%d" % (NOW + 5)]
    ctx.keyspace.clock.ms = NOW + 5  # b is now expired but not reclaimed
    assert _run(ctx, "hsetex", "h", "KEEPTTL", "FIELDS", 2, "b", "3", "a", "4") == 1
    assert ctx.rewrite == [[b"HDEL", b"h", b"b"], [b"hsetex", b"h", b"KEEPTTL", b"FIELDS", b"2", b"b", b"3", b"a", b"4"]]
    assert _run(ctx, "httl", "h", "FIELDS", 2, "a", "b") == [20, -1]  # KEEPTTL kept a's, b is new
    assert _run(ctx, "hsetex", "h", "PXAT", 1, "FIELDS", 2, "a", "x", "zz", "y") == 1
    assert ctx.rewrite == [[b"HDEL", b"h", b"a"]]


def test_handlers_hide_expired_fields_but_hlen_counts_them() -> None:
    ctx = _ctx()
    _run(ctx, "hset", "h", "a", "1", "b", "2", "c", "3")
    _run(ctx, "hpexpire", "h", 10, "FIELDS", 2, "b", "c")
    ctx.keyspace.clock.ms = NOW + 10
    assert _run(ctx, "hlen", "h") == 3
    assert _run(ctx, "hgetall", "h") == {b"a": b"1"}
    assert _run(ctx, "hkeys", "h") == [b"a"] and _run(ctx, "hvals", "h") == [b"1"]
    assert _run(ctx, "hexists", "h", "b") == 0 and _run(ctx, "hstrlen", "h", "c") == 0
    assert _run(ctx, "hmget", "h", "a", "b") == [b"1", None]
    assert _run(ctx, "hrandfield", "h", 10) == [b"a"] and _run(ctx, "hrandfield", "h", -3) == [b"a"] * 3
    assert _run(ctx, "hscan", "h", 0, "COUNT", 100)[1] == [b"a", b"1"]
    assert _run(ctx, "hdel", "h", "b") == 0
    assert _run(ctx, "hset", "h", "b", "new") == 1  # an expired field counts as created
    assert _run(ctx, "hlen", "h") == 3
    ctx.keyspace.expire_cycle(0.05)  # reclaims c, logs nothing here (no journal)
    assert _run(ctx, "hlen", "h") == 2


def test_hgetdel_is_logged_as_hdel_of_what_it_removed() -> None:
    ctx = _ctx()
    _run(ctx, "hset", "h", "a", "1", "b", "2")
    assert _run(ctx, "hgetdel", "h", "FIELDS", 3, "a", "zz", "a") == [b"1", None, None]
    assert ctx.rewrite == [[b"HDEL", b"h", b"a"]]
    assert _run(ctx, "hgetdel", "h", "FIELDS", 1, "zz") == [None]
    assert ctx.rewrite == []
    assert _run(ctx, "hgetdel", "h", "FIELDS", 1, "b") == [b"2"]
    assert b"h" not in ctx.keyspace.dbs[0].data


def test_member_index_compacts_stale_entries_and_counts_volatile_hashes() -> None:
    ks, _ = _keyspace()
    db = ks.dbs[0]
    h = Hash()
    h.set(b"f", b"v", 0)
    db.set(b"k", h)
    far = 10**15
    for i in range(5000):  # each earlier time files the hash again: stale entries pile up
        h.set_expire(b"f", far - i, frozenset(), 0)
        h.track(db, b"k")
    assert len(db.member_expiry) < 200
    assert db.values_with_member_expiry() == 1
    h2 = Hash()
    h2.set(b"g", b"v", 0)
    h2.set_expire(b"g", far, frozenset(), 0)
    db.set(b"k2", h2)
    assert db.values_with_member_expiry() == 2
    h2.persist(b"g", 0)
    assert db.values_with_member_expiry() == 1
    db.delete(b"k")
    assert db.values_with_member_expiry() == 0


def test_expired_fields_counter() -> None:
    ctx = _ctx()
    _run(ctx, "hset", "h", "a", "1", "b", "2", "c", "3")
    _run(ctx, "hexpire", "h", 0, "FIELDS", 2, "a", "zz")
    assert ctx.keyspace.expired_fields == 1
    _run(ctx, "hsetex", "h", "PXAT", 1, "FIELDS", 2, "b", "x", "zz", "y")
    assert ctx.keyspace.expired_fields == 3  # every field named, as Valkey
    _run(ctx, "hpexpire", "h", 5, "FIELDS", 1, "c")
    ctx.keyspace.clock.ms = NOW + 5
    _run(ctx, "hset", "h", "c", "new")  # overwriting an expired field counts
    assert ctx.keyspace.expired_fields == 4
