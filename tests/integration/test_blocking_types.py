"""Blocking sorted-set pops (BZPOPMIN/BZPOPMAX/BZMPOP) and stream reads (XREAD/XREADGROUP BLOCK).

A 2-shard server: waiting, wake-ups by a client connected after the block,
FIFO order, sub-second timeouts, keys on both shards, and the AOF (never a
blocking command in it).  Every wait is on an event (INFO blocked_clients
reaching N, a reply arriving) with a deadline; no sleep synchronises.
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.differential.conftest import HIGH_KEYS, LOW_KEYS
from tests.integration.test_blocking import Call, wait_blocked
from tests.servers import ServerProc, shardserver, start_shardserver

L, H = LOW_KEYS[0], HIGH_KEYS[0]  # shard 0 / shard 1
L2, H2 = LOW_KEYS[1], HIGH_KEYS[1]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver("--appendonly", "yes", "--appendfsync", "always", shards=2) as srv:
        yield srv


@pytest.fixture
def r(server: ServerProc) -> Iterator[redis.Redis]:
    c = redis.Redis(port=server.port, socket_timeout=20)
    c.flushall()
    yield c
    c.close()


def raw_replies(port: int, payload: bytes, n: int, protocol: int = 2) -> bytes:
    """Send raw commands and read until ``n`` replies (one line each) arrived."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    if protocol == 3:
        s.sendall(b"HELLO 3\r\n")
        data = b""
        while b"modules" not in data or not data.endswith(b"*0\r\n"):
            data += s.recv(4096)
    s.sendall(payload)
    data = b""
    while data.count(b"\r\n") < n:
        data += s.recv(4096)
    s.close()
    return data


# ---- sorted sets -----------------------------------------------------------


def test_bzpopmin_wakes_on_zadd_from_a_later_client(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BZPOPMIN", L, H, "0")
    wait_blocked(r, 1)
    late = redis.Redis(port=server.port)  # connected after the block
    assert late.zadd(H, {"m": 2.5, "n": 3}) == 2
    assert call.result() == [H, b"m", b"2.5"]
    assert r.zrange(H, 0, -1) == [b"n"]
    wait_blocked(r, 0)
    late.close()


def test_bzpopmax_resp3_score_is_a_double(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BZPOPMAX", H, "0", protocol=3)
    wait_blocked(r, 1)
    r.zadd(H, {"a": 1, "b": 7})
    assert call.result() == [H, b"b", 7.0]
    wait_blocked(r, 0)


def test_bzpop_fifo_order(server: ServerProc, r: redis.Redis) -> None:
    calls = []
    for i in range(3):
        calls.append(Call(server.port, "BZPOPMIN", L, "0"))
        wait_blocked(r, i + 1)
    r.zadd(L, {"a": 1, "b": 2, "c": 3})
    assert [c.result() for c in calls] == [[L, b"a", b"1"], [L, b"b", b"2"], [L, b"c", b"3"]]
    wait_blocked(r, 0)


def test_bzmpop_served_by_zunionstore_and_zincrby(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BZMPOP", "0", "2", L, H, "MAX", "COUNT", "5")
    wait_blocked(r, 1)
    r.zadd(L2, {"x": 1, "y": 2})
    r.zunionstore(H, [L2])  # the source on the other shard: the destination is restored on H's
    assert call.result() == [H, [[b"y", b"2"], [b"x", b"1"]]]
    wait_blocked(r, 0)
    call = Call(server.port, "BZPOPMIN", L, "0")
    wait_blocked(r, 1)
    r.zincrby(L, 4, "z")
    assert call.result() == [L, b"z", b"4"]
    wait_blocked(r, 0)


def test_bzpop_keys_on_two_shards_never_pop_twice(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BZPOPMIN", L, H, "0")
    wait_blocked(r, 1)
    p = r.pipeline(transaction=False)
    p.zadd(L, {"x": 1})
    p.zadd(H, {"y": 1})
    p.execute()
    _key, member, _score = call.result()
    wait_blocked(r, 0)
    left = r.zrange(L, 0, -1) + r.zrange(H, 0, -1)
    assert len(left) == 1 and {member, left[0]} == {b"x", b"y"}


def test_bzpop_immediate_across_shards_and_wrongtype(server: ServerProc, r: redis.Redis) -> None:
    r.zadd(H, {"h": 1})
    assert raw_replies(server.port, b"BZPOPMIN " + L + b" " + H + b" 0\r\n", 4) == b"*3\r\n$1\r\na\r\n$1\r\nh\r\n$1\r\n1\r\n"
    r.set(L, "str")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.execute_command("BZPOPMIN", L, H, "0")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.execute_command("BZMPOP", "0", "2", H, L, "MIN")


def test_bz_timeouts_sub_second(server: ServerProc, r: redis.Redis) -> None:
    start = time.monotonic()
    assert Call(server.port, "BZPOPMIN", L, H, "0.2").result() is None
    assert 0.15 < time.monotonic() - start < 5
    start = time.monotonic()
    data = raw_replies(server.port, b"BZPOPMIN nokey 0.05\r\nBZPOPMAX nokey 0.05\r\nBZMPOP 0.05 1 nokey MIN\r\n", 3)
    assert data == b"*-1\r\n*-1\r\n*-1\r\n"
    data = raw_replies(server.port, b"BZPOPMIN nokey 0.05\r\nBZMPOP 0.05 2 nokey " + H + b" MIN\r\n", 2, protocol=3)
    assert data == b"_\r\n_\r\n"
    assert time.monotonic() - start < 5
    wait_blocked(r, 0)


def test_many_waiters_each_member_popped_once(server: ServerProc, r: redis.Redis) -> None:
    calls = [Call(server.port, "BZPOPMIN", L, H, "0") for _ in range(8)]
    wait_blocked(r, 8)
    p = r.pipeline(transaction=False)
    for i in range(10):
        p.zadd(L if i % 2 else H, {f"m{i}": i})
    p.execute()
    got = [c.result()[1] for c in calls]
    wait_blocked(r, 0)
    left = r.zrange(L, 0, -1) + r.zrange(H, 0, -1)
    assert len(set(got)) == 8 and sorted(got + left) == sorted(f"m{i}".encode() for i in range(10))


def test_list_pop_behind_a_zset_pop_on_the_same_key(server: ServerProc, r: redis.Redis) -> None:
    zpop = Call(server.port, "BZPOPMIN", H, "0")
    wait_blocked(r, 1)
    lpop = Call(server.port, "BLPOP", H, "0")
    wait_blocked(r, 2)
    r.rpush(H, "v")  # a list: the sorted-set waiter ahead gets nothing, the list waiter behind it does
    assert lpop.result() == [H, b"v"]
    wait_blocked(r, 1)
    r.delete(H)
    r.zadd(H, {"m": 1})
    assert zpop.result() == [H, b"m", b"1"]
    wait_blocked(r, 0)


def test_bzpop_disconnect_and_unblock(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BZPOPMIN", H, "0")
    wait_blocked(r, 1)
    assert r.client_unblock(call.id, error=True)
    with pytest.raises(redis.ResponseError, match="UNBLOCKED"):
        call.result()
    wait_blocked(r, 0)
    r.zadd(H, {"kept": 1})
    assert r.zcard(H) == 1


# ---- streams ---------------------------------------------------------------


def test_xread_block_served_by_xadd_from_a_later_client(server: ServerProc, r: redis.Redis) -> None:
    r.xadd(H, {"old": "1"}, id="1-1")
    call = Call(server.port, "XREAD", "BLOCK", "0", "STREAMS", L, H, "$", "$")
    wait_blocked(r, 1)
    late = redis.Redis(port=server.port)
    late.xadd(H, {"f": "v"}, id="2-1")
    assert call.result() == [[H, [[b"2-1", [b"f", b"v"]]]]]
    wait_blocked(r, 0)
    late.close()


def test_xread_block_stream_created_on_other_shard(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", H, L, "$", "0")
    wait_blocked(r, 1)
    r.xadd(L, {"a": "1"}, id="5-1")
    assert call.result() == [[L, [[b"5-1", [b"a", b"1"]]]]]
    wait_blocked(r, 0)


def test_xreadgroup_block_keys_on_two_shards(server: ServerProc, r: redis.Redis) -> None:
    for key in (L, H):
        r.xgroup_create(key, "g", id="$", mkstream=True)
    call = Call(server.port, "XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "BLOCK", "0", "STREAMS", L, H, ">", ">")
    wait_blocked(r, 1)
    r.xadd(H, {"f": "h"}, id="7-1")
    assert call.result() == [[H, [[b"7-1", [b"f", b"h"]]]]]
    assert r.xpending(H, "g")["pending"] == 1 and r.xpending(L, "g")["pending"] == 0
    wait_blocked(r, 0)


def test_xread_block_timeout_sub_second(server: ServerProc, r: redis.Redis) -> None:
    start = time.monotonic()
    assert Call(server.port, "XREAD", "BLOCK", "200", "STREAMS", L, H, "$", "$").result() is None
    assert 0.15 < time.monotonic() - start < 5
    wait_blocked(r, 0)


def test_xread_block_every_reader_is_served(server: ServerProc, r: redis.Redis) -> None:
    r.xgroup_create(H, "g", id="$", mkstream=True)
    calls = [
        Call(server.port, "XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", H, ">"),
        Call(server.port, "XREADGROUP", "GROUP", "g", "c2", "BLOCK", "0", "STREAMS", H, ">"),
    ]
    wait_blocked(r, 2)
    calls.append(Call(server.port, "XREAD", "BLOCK", "0", "STREAMS", H, "$"))
    wait_blocked(r, 3)
    r.xadd(H, {"f": "v"}, id="1-1")
    entry = [[H, [[b"1-1", [b"f", b"v"]]]]]
    assert calls[0].result() == entry  # the first blocked consumer of the group gets it
    assert calls[2].result() == entry  # a reader behind the group's second consumer too
    wait_blocked(r, 1)
    assert not calls[1].done.is_set()
    r.xadd(H, {"f": "w"}, id="1-2")
    assert calls[1].result() == [[H, [[b"1-2", [b"f", b"w"]]]]]
    pending = r.xpending(H, "g")
    assert pending["pending"] == 2 and {c["name"] for c in pending["consumers"]} == {b"c1", b"c2"}
    wait_blocked(r, 0)


def test_xreadgroup_block_consumers_share_entries_once(server: ServerProc, r: redis.Redis) -> None:
    r.xgroup_create(H, "g", id="$", mkstream=True)
    calls = [Call(server.port, "XREADGROUP", "GROUP", "g", f"c{i}", "COUNT", "1", "BLOCK", "0", "STREAMS", H, ">") for i in range(5)]
    wait_blocked(r, 5)
    for i in range(5):
        r.xadd(H, {"n": str(i)}, id=f"{i + 1}-1")
    got = sorted(c.result()[0][1][0][0] for c in calls)
    assert got == [f"{i + 1}-1".encode() for i in range(5)]
    assert r.xpending(H, "g")["pending"] == 5
    wait_blocked(r, 0)


def test_xreadgroup_block_noack_leaves_no_pel(server: ServerProc, r: redis.Redis) -> None:
    r.xgroup_create(L, "g", id="$", mkstream=True)
    call = Call(server.port, "XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "0", "STREAMS", L, ">")
    wait_blocked(r, 1)
    r.xadd(L, {"f": "v"}, id="3-1")
    assert call.result() == [[L, [[b"3-1", [b"f", b"v"]]]]]
    assert r.xpending(L, "g")["pending"] == 0
    assert r.xinfo_groups(L)[0]["last-delivered-id"] == b"3-1"
    wait_blocked(r, 0)


@pytest.mark.parametrize("how", ["del", "destroy", "set", "flushall"])
def test_xreadgroup_block_unblocked_when_stream_or_group_goes(server: ServerProc, r: redis.Redis, how: str) -> None:
    r.xgroup_create(H, "g", id="$", mkstream=True)
    call = Call(server.port, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", H, ">")
    wait_blocked(r, 1)
    if how == "del":
        r.delete(H)
    elif how == "destroy":
        r.xgroup_destroy(H, "g")
    elif how == "flushall":
        r.flushall()
    else:
        r.set(H, "x")
    if how == "set":  # the stream is overwritten: XREADGROUP run again meets a string
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE Operation against a key holding the wrong kind of value$"):
            call.result()
    else:
        with pytest.raises(redis.ResponseError, match="NOGROUP No such key 'a' or consumer group 'g' in XREADGROUP with GROUP option"):
            call.result()
    wait_blocked(r, 0)


@pytest.mark.parametrize("how", ["del", "set", "destroy"])
def test_xreadgroup_block_unblocked_as_valkey_unblocks_it(server: ServerProc, how: str) -> None:
    """The same scenario on Valkey 9: the blocked client's error is the same text."""
    from tests.servers import valkey

    errors: list[str] = []
    with valkey() as vport:
        for port in (server.port, vport):
            c = redis.Redis(port=port)
            c.delete(H)
            c.xgroup_create(H, "g", id="$", mkstream=True)
            call = Call(port, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", H, ">")
            wait_blocked(c, 1)
            if how == "del":
                c.delete(H)
            elif how == "set":
                c.set(H, "x")
            else:
                c.xgroup_destroy(H, "g")
            with pytest.raises(redis.ResponseError) as info:
                call.result()
            errors.append(str(info.value))
            wait_blocked(c, 0)
            c.delete(H)
            c.close()
    assert errors[0] == errors[1], errors


def test_xread_block_keeps_waiting_when_stream_deleted(server: ServerProc, r: redis.Redis) -> None:
    r.xadd(L, {"f": "v"}, id="1-1")
    call = Call(server.port, "XREAD", "BLOCK", "0", "STREAMS", L, "$")
    wait_blocked(r, 1)
    r.delete(L)
    r.xadd(L, {"f": "v"}, id="0-5")  # older than the ID '$' stood for: not served
    r.xadd(L, {"f": "w"}, id="2-1")
    assert call.result() == [[L, [[b"2-1", [b"f", b"w"]]]]]
    wait_blocked(r, 0)


def test_xread_block_count_and_resp3(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", H, "$", protocol=3)
    wait_blocked(r, 1)
    r.xadd(H, {"a": "1"}, id="1-1")
    assert call.result() == {H: [[b"1-1", [b"a", b"1"]]]}
    wait_blocked(r, 0)


def test_xread_block_timeouts_and_immediate(server: ServerProc, r: redis.Redis) -> None:
    start = time.monotonic()
    data = raw_replies(server.port, b"XREAD BLOCK 50 STREAMS nokey " + H + b" $ $\r\n", 1)
    assert data == b"*-1\r\n"
    data = raw_replies(server.port, b"XREAD BLOCK 50 STREAMS nokey $\r\n", 1, protocol=3)
    assert data == b"_\r\n"
    r.xgroup_create(L, "g", id="$", mkstream=True)
    data = raw_replies(server.port, b"XREADGROUP GROUP g c BLOCK 50 STREAMS " + L + b" >\r\n", 1)
    assert data == b"*-1\r\n"
    assert time.monotonic() - start < 5
    r.xadd(H, {"f": "v"}, id="1-1")
    data = raw_replies(server.port, b"XREAD BLOCK 0 STREAMS " + L + b" " + H + b" 0 0\r\n", 11)
    assert data == b"*1\r\n*2\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    data = raw_replies(server.port, b"XREADGROUP GROUP g c BLOCK 0 STREAMS " + L + b" 0\r\n", 4)
    assert data == b"*1\r\n*2\r\n$1\r\nb\r\n*0\r\n"
    wait_blocked(r, 0)


def test_aof_never_logs_blocking_commands(server: ServerProc, r: redis.Redis) -> None:
    r.xgroup_create(H, "g", id="$", mkstream=True)
    calls = [
        Call(server.port, "BZPOPMIN", L, "0"),
        Call(server.port, "BZMPOP", "0", "1", L2, "MAX", "COUNT", "2"),
        Call(server.port, "XREAD", "BLOCK", "0", "STREAMS", H2, "$"),
        Call(server.port, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", H, ">"),
    ]
    wait_blocked(r, 4)
    r.zadd(L, {"a": 1})
    r.zadd(L2, {"b": 1, "c": 2})
    r.xadd(H2, {"f": "v"}, id="1-1")
    r.xadd(H, {"f": "v"}, id="1-1")
    assert calls[0].result() == [L, b"a", b"1"]
    assert calls[1].result() == [L2, [[b"c", b"2"], [b"b", b"1"]]]
    assert calls[2].result() == [[H2, [[b"1-1", [b"f", b"v"]]]]]
    assert calls[3].result() == [[H, [[b"1-1", [b"f", b"v"]]]]]
    wait_blocked(r, 0)
    files = glob.glob(os.path.join(server.dir, "appendonlydir*", "**", "*"), recursive=True)
    data = b"".join(open(f, "rb").read() for f in files if os.path.isfile(f))
    assert b"XCLAIM" in data.upper() and b"ZPOPMIN" in data.upper() and b"ZPOPMAX" in data.upper()
    for word in (b"BZPOPMIN", b"BZMPOP", b"BLOCK", b"XREAD\r"):
        assert word not in data.upper()


def test_served_blocking_commands_replay_from_the_aof(tmp_path: Path) -> None:
    """What blocked clients took is gone after a restart, and the group's PEL is back."""

    def start() -> ServerProc:
        return start_shardserver("--appendonly", "yes", "--appendfsync", "always", shards=2, dir=str(tmp_path))

    srv = start()
    try:
        r = redis.Redis(port=srv.port, socket_timeout=20)
        r.xgroup_create(L, "g", id="$", mkstream=True)
        calls = [
            Call(srv.port, "BZPOPMAX", H, "0"),
            Call(srv.port, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", L, ">"),
        ]
        wait_blocked(r, 2)
        r.zadd(H, {"lo": 1, "hi": 2})
        r.xadd(L, {"f": "v"}, id="4-1")
        assert calls[0].result() == [H, b"hi", b"2"]
        assert calls[1].result() == [[L, [[b"4-1", [b"f", b"v"]]]]]
        r.close()
    finally:
        srv.stop()
    srv = start()
    try:
        r = redis.Redis(port=srv.port, socket_timeout=20)
        assert r.zrange(H, 0, -1, withscores=True) == [(b"lo", 1.0)]
        pending = r.xpending_range(L, "g", "-", "+", 10)
        assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending] == [(b"4-1", b"c", 1)]
        assert r.xinfo_groups(L)[0]["last-delivered-id"] == b"4-1"
        r.close()
    finally:
        srv.stop()
        try:
            os.killpg(srv.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_blocking_keys_on_nokey_as_valkey_counts_them(server: ServerProc) -> None:
    """total_blocking_keys_on_nokey counts the keys an XREADGROUP waits on (a deletion
    unblocks it); XREAD and BLPOP waiters are in total_blocking_keys only."""
    from tests.servers import valkey

    seen = []
    with valkey() as vport:
        for port in (server.port, vport):
            c = redis.Redis(port=port)
            c.flushall()
            c.xgroup_create(H, "g", id="$", mkstream=True)
            calls = [Call(port, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", H, ">"),
                     Call(port, "XREAD", "BLOCK", "0", "STREAMS", L, "$"),
                     Call(port, "BLPOP", "list", "0")]
            wait_blocked(c, 3)
            info = c.info("clients")
            seen.append((info["total_blocking_keys"], info["total_blocking_keys_on_nokey"]))
            c.xadd(H, {"f": "v"}, id="1-1")
            c.xadd(L, {"f": "v"}, id="1-1")
            c.lpush("list", "x")
            for call in calls:
                call.result()
            wait_blocked(c, 0)
            info = c.info("clients")
            seen.append((info["total_blocking_keys"], info["total_blocking_keys_on_nokey"]))
            c.close()
    assert seen[:2] == seen[2:] == [(3, 1), (0, 0)], seen
