"""The shard's keyspace and string handlers, without processes or sockets."""

from __future__ import annotations

import time

import pytest

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.resp import OK
from shardserver.shard import bitmap_cmds as _bitmap_cmds  # noqa: F401
from shardserver.shard import hll_cmds as _hll_cmds  # noqa: F401
from shardserver.shard import keys as _keys  # noqa: F401  (registers handlers)
from shardserver.shard import strings as _strings  # noqa: F401
from shardserver.shard.keyspace import Keyspace, RawStr
from shardserver.shard.registry import HANDLERS, ShardContext
from shardserver.slots import key_slot


@pytest.fixture
def ctx() -> ShardContext:
    return ShardContext(Keyspace(16), 0, 1, [(0, 16383)])


def run(ctx: ShardContext, *argv: bytes | str) -> object:
    args = [a.encode() if isinstance(a, str) else a for a in argv]
    name = args[0].decode().lower()
    if name == "object":
        name = f"object|{args[1].decode().lower()}"
    ctx.keyspace.clock.tick()
    return HANDLERS[name](ctx, args)


def test_set_get_and_slot_index(ctx: ShardContext) -> None:
    assert run(ctx, "set", "a", "1") is OK
    assert run(ctx, "get", "a") == b"1"
    db = ctx.db
    assert db.by_slot.keys(key_slot(b"a")) == [b"a"] and db.by_slot.count(key_slot(b"a")) == 1
    assert run(ctx, "del", "a", "a") == 1
    assert db.by_slot.count(key_slot(b"a")) == 0 and db.by_slot.slots() == []
    assert run(ctx, "get", "a") is None


def test_lazy_expiry_on_read(ctx: ShardContext) -> None:
    db = ctx.db
    run(ctx, "set", "k", "v")
    db.set_expire(b"k", ctx.keyspace.clock.ms - 1)
    assert db.data.get(b"k") == b"v"  # still stored...
    assert run(ctx, "get", "k") is None  # ...until read
    assert b"k" not in db.data and b"k" not in db.expires
    assert ctx.keyspace.expired_keys == 1


def test_active_expiry_reclaims_without_reads(ctx: ShardContext) -> None:
    db = ctx.db
    now = ctx.keyspace.clock.ms
    for i in range(1000):
        db.set(b"v%d" % i, b"x")
        db.set_expire(b"v%d" % i, now - 1)
    for i in range(100):
        db.set(b"p%d" % i, b"x")
    total = 0
    for _ in range(200):
        total += ctx.keyspace.expire_cycle(0.025)
        if not db.expires:
            break
    assert total == 1000
    assert len(db.data) == 100
    assert not db.expires


def test_expire_cycle_stops_when_few_keys_are_expired(ctx: ShardContext) -> None:
    db = ctx.db
    now = ctx.keyspace.clock.ms
    for i in range(5000):
        db.set(b"f%d" % i, b"x")
        db.set_expire(b"f%d" % i, now + 3_600_000)
    start = time.monotonic()
    assert ctx.keyspace.expire_cycle(0.025) == 0
    assert time.monotonic() - start < 0.5
    assert len(db.expires) == 5000


def test_set_options(ctx: ShardContext) -> None:
    assert run(ctx, "set", "k", "1", "nx") is OK
    assert run(ctx, "set", "k", "2", "nx") is None
    assert run(ctx, "set", "k", "3", "xx", "get") == b"1"
    assert run(ctx, "set", "k", "4", "ifeq", "nope") is None
    assert run(ctx, "set", "k", "4", "ifeq", "3") is OK
    assert run(ctx, "set", "k", "5", "px", "100000") is OK
    assert 0 < run(ctx, "pttl", "k") <= 100000  # type: ignore[operator]
    assert run(ctx, "set", "k", "6", "keepttl") is OK
    assert run(ctx, "pttl", "k") != -1
    assert run(ctx, "set", "k", "7") is OK
    assert run(ctx, "pttl", "k") == -1
    with pytest.raises(CommandError) as exc:
        run(ctx, "set", "k", "v", "nx", "xx")
    assert exc.value.text == errors.SYNTAX
    with pytest.raises(CommandError) as exc:
        run(ctx, "set", "k", "v", "ex", "0")
    assert exc.value.text == "ERR invalid expire time in 'set' command"


def test_incr_family_and_overflow(ctx: ShardContext) -> None:
    assert run(ctx, "incr", "n") == 1
    assert run(ctx, "incrby", "n", "41") == 42
    assert run(ctx, "decrby", "n", "2") == 40
    run(ctx, "set", "n", "9223372036854775807")
    with pytest.raises(CommandError) as exc:
        run(ctx, "incr", "n")
    assert exc.value.text == errors.OVERFLOW
    run(ctx, "set", "s", "abc")
    with pytest.raises(CommandError) as exc:
        run(ctx, "incr", "s")
    assert exc.value.text == errors.NOT_INTEGER
    assert run(ctx, "incrbyfloat", "f", "0.1") == b"0.1"
    assert run(ctx, "incrbyfloat", "f", "0.2") == b"0.3"


def test_encodings(ctx: ShardContext) -> None:
    run(ctx, "set", "i", "12345")
    run(ctx, "set", "e", "hello")
    run(ctx, "set", "r", "x" * 200)
    assert run(ctx, "object", "encoding", "i") == "int"
    assert run(ctx, "object", "encoding", "e") == "embstr"
    assert run(ctx, "object", "encoding", "r") == "raw"
    run(ctx, "append", "e", "!")
    assert isinstance(ctx.db.data[b"e"], RawStr)
    assert run(ctx, "object", "encoding", "e") == "raw"
    assert run(ctx, "get", "e") == b"hello!"


def test_setrange_getrange(ctx: ShardContext) -> None:
    assert run(ctx, "setrange", "k", "5", "ab") == 7
    assert run(ctx, "get", "k") == b"\x00" * 5 + b"ab"
    assert run(ctx, "getrange", "k", "-2", "-1") == b"ab"
    assert run(ctx, "getrange", "k", "10", "20") == b""
    assert run(ctx, "setrange", "empty", "3", "") == 0
    assert run(ctx, "exists", "empty") == 0


def test_raw_strings_are_edited_in_place(ctx: ShardContext) -> None:
    """APPEND, SETRANGE, SETBIT and BITFIELD change the stored RawStr itself (O(change), not a
    copy of the whole value per command, as Valkey's sds); the first edit unshares a plain string."""
    run(ctx, "set", "k", "abc")
    assert run(ctx, "append", "k", "def") == 6
    stored = ctx.db.data[b"k"]
    assert type(stored) is RawStr
    steps = [
        (("append", "k", "gh"), 8, b"abcdefgh"),
        (("setrange", "k", "1", "XY"), 8, b"aXYdefgh"),
        (("setrange", "k", "10", "!"), 11, b"aXYdefgh\0\0!"),
        (("setbit", "k", "7", "0"), 1, b"`XYdefgh\0\0!"),
        (("bitfield", "k", "set", "u8", "8", "90"), [88], b"`ZYdefgh\0\0!"),
        (("setbit", "k", "103", "1"), 0, b"`ZYdefgh\0\0!\0\x01"),
    ]
    for cmd, reply, value in steps:
        assert run(ctx, *cmd) == reply, cmd
        assert ctx.db.data[b"k"] is stored, cmd
        assert run(ctx, "get", "k") == value, cmd
    for cmd in (("setbit", "k", "0", "0"), ("setrange", "k", "0", ""), ("bitfield", "k", "get", "u8", "0")):
        run(ctx, *cmd)  # edits that change nothing keep it too
        assert ctx.db.data[b"k"] is stored, cmd
    for name in ("new-setbit", "new-setrange", "new-bitfield"):
        assert run(ctx, "exists", name) == 0
    run(ctx, "setbit", "new-setbit", "9", "1")
    run(ctx, "setrange", "new-setrange", "2", "ab")
    run(ctx, "bitfield", "new-bitfield", "set", "u8", "0", "65")
    assert [type(ctx.db.data[k]) for k in (b"new-setbit", b"new-setrange", b"new-bitfield")] == [RawStr] * 3
    assert [run(ctx, "get", k) for k in ("new-setbit", "new-setrange", "new-bitfield")] == [b"\0@", b"\0\0ab", b"A"]


def test_replies_and_copies_never_share_a_raw_string(ctx: ShardContext) -> None:
    """A RawStr is edited in place, so every reader that hands the value on gets bytes of its own:
    a reply held while later commands run (a pipeline's, an EXEC's) or a copy must not change."""
    run(ctx, "set", "k", "ab")
    run(ctx, "append", "k", "c")
    stored = ctx.db.data[b"k"]
    run(ctx, "set", "o", "x")
    held = {
        "get": run(ctx, "get", "k"),
        "mget": run(ctx, "mget", "k", "o")[0],
        "getex": run(ctx, "getex", "k"),
        "set nx get": run(ctx, "set", "k", "other", "nx", "get"),
        "set ifeq get": run(ctx, "set", "k", "other", "ifeq", "nope", "get"),
        "lcs": run(ctx, "lcs", "k", "k"),
        "__getstr": run(ctx, "__getstr", "k"),
        "__dump": run(ctx, "__dump", "k")[1],
    }
    assert run(ctx, "copy", "k", "c") == 1
    assert ctx.db.data[b"k"] is stored and ctx.db.data[b"c"] is not stored
    run(ctx, "append", "k", "d")
    run(ctx, "setrange", "k", "0", "Z")
    assert ctx.db.data[b"k"] is stored
    assert run(ctx, "get", "k") == b"Zbcd"
    assert {name: (type(v), v) for name, v in held.items()} == {name: (bytes, b"abc") for name in held}
    assert run(ctx, "get", "c") == b"abc"
    run(ctx, "append", "c", "!")
    assert run(ctx, "get", "k") == b"Zbcd"
    # values that leave the key: GETSET's, GETDEL's and SET GET's old value
    assert (run(ctx, "getset", "k", "new"), run(ctx, "get", "k")) == (b"Zbcd", b"new")
    run(ctx, "append", "k", "!")
    gone = run(ctx, "getdel", "k")
    assert (type(gone), gone) == (bytes, b"new!")


def test_rename_copy_move_keep_ttl(ctx: ShardContext) -> None:
    run(ctx, "set", "a", "1", "ex", "100")
    assert run(ctx, "rename", "a", "b") is OK
    assert run(ctx, "ttl", "b") in (99, 100)
    assert run(ctx, "copy", "b", "c", "db", "3") == 1
    assert ctx.db_at(3).data[b"c"] == b"1"
    assert ctx.db_at(3).ttl_ms(b"c") is not None
    assert run(ctx, "move", "b", "5") == 1
    assert ctx.db_at(5).data[b"b"] == b"1"
    assert run(ctx, "exists", "b") == 0


def test_scan_cursor_walks_slots(ctx: ShardContext) -> None:
    keys = {b"key:%d" % i for i in range(500)}
    for k in keys:
        ctx.db.set(k, b"v")
    seen: set[bytes] = set()
    cursor = b"0"
    calls = 0
    while True:
        nxt, batch = run(ctx, "scan", cursor, "count", "50")  # type: ignore[misc]
        seen.update(batch)
        calls += 1
        if nxt == b"0":
            break
        cursor = nxt
    assert seen == keys
    assert calls > 5


def test_swapdb_and_flush(ctx: ShardContext) -> None:
    run(ctx, "set", "a", "1")
    assert run(ctx, "swapdb", "0", "1") is OK
    assert ctx.db_at(1).data[b"a"] == b"1"
    assert not ctx.db_at(0).data
    assert run(ctx, "flushall") is OK
    assert not ctx.db_at(1).data


def test_lcs_table_in_c_is_the_python_table() -> None:
    import random

    from shardserver.shard import strings

    if strings.lcs_table is None:
        pytest.fail("built without the C helpers")
    rnd = random.Random(5)
    for _ in range(400):
        a = bytes(rnd.choice(b"abc\x00\xff") for _ in range(rnd.randrange(0, 25)))
        b = bytes(rnd.choice(b"abc\x00\xff") for _ in range(rnd.randrange(0, 25)))
        assert list(strings._lcs_table(a, b)) == strings.py_lcs_table(a, b), (a, b)
        assert strings.lcs_reply(a, b, [b"IDX", b"WITHMATCHLEN"]) == _lcs_with_python_table(strings, a, b)


def _lcs_with_python_table(strings, a: bytes, b: bytes):  # type: ignore[no-untyped-def]
    saved = strings.lcs_table
    strings.lcs_table = None
    try:
        return strings.lcs_reply(a, b, [b"IDX", b"WITHMATCHLEN"])
    finally:
        strings.lcs_table = saved
