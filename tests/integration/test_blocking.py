"""Blocking list commands on a 2-shard server: waiting, wake-ups, order, timeouts, unblocking.

Every wait is on an event (INFO blocked_clients reaching N, a reply arriving)
with a deadline; no sleep is used to synchronise.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from shardserver.resp import encode_command
from tests.differential.conftest import HIGH_KEYS, LOW_KEYS
from tests.servers import ServerProc, shardserver

L, H = LOW_KEYS[0], HIGH_KEYS[0]  # shard 0 / shard 1


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=2) as srv:
        yield srv


@pytest.fixture
def r(server: ServerProc) -> Iterator[redis.Redis]:
    c = redis.Redis(port=server.port, socket_timeout=20)
    c.flushall()
    yield c
    c.close()


def blocked(r: redis.Redis) -> int:
    return int(r.info("clients")["blocked_clients"])


def wait_blocked(r: redis.Redis, n: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while blocked(r) != n:
        assert time.monotonic() < end, f"blocked_clients never reached {n} (is {blocked(r)})"


class Call:
    """A command on its own connection, run in a thread; ``result`` waits for its reply."""

    def __init__(self, port: int, *args: Any, protocol: int = 2) -> None:
        self.client = redis.Redis(port=port, socket_timeout=30, protocol=protocol)
        self.client.response_callbacks.clear()
        self.id = self.client.client_id()
        self.value: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)
        self.thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self.value = self.client.execute_command(*args)
        except Exception as exc:  # noqa: BLE001  (the test looks at it)
            self.error = exc
        self.done.set()

    def result(self, timeout: float = 10.0) -> Any:
        assert self.done.wait(timeout), "no reply"
        if self.error is not None:
            raise self.error
        return self.value


def test_blpop_wakes_on_push_from_a_later_client(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BLPOP", L, H, "0")
    wait_blocked(r, 1)
    late = redis.Redis(port=server.port)  # connected after the block
    assert late.rpush(H, "v") == 1
    assert call.result() == [H, b"v"]
    assert r.exists(H) == 0
    wait_blocked(r, 0)


def test_fifo_order_per_key(server: ServerProc, r: redis.Redis) -> None:
    calls = []
    for i in range(4):
        calls.append(Call(server.port, "BRPOP", L, "0"))
        wait_blocked(r, i + 1)  # queued in this order
    r.rpush(L, "a", "b", "c", "d")
    got = [c.result() for c in calls]
    assert got == [[L, b"d"], [L, b"c"], [L, b"b"], [L, b"a"]]
    wait_blocked(r, 0)


def test_push_serves_only_as_many_as_elements(server: ServerProc, r: redis.Redis) -> None:
    calls = [Call(server.port, "BLPOP", H, "0") for _ in range(3)]
    wait_blocked(r, 3)
    r.rpush(H, "one", "two")
    wait_blocked(r, 1)
    values = sorted(c.result()[1] for c in calls if c.done.wait(5))
    assert values == [b"one", b"two"]
    r.rpush(H, "three")
    assert sum(1 for c in calls if c.done.wait(5)) == 3
    wait_blocked(r, 0)


def test_keys_on_two_shards_never_pop_twice(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BLPOP", L, H, "0")
    wait_blocked(r, 1)
    p = r.pipeline(transaction=False)
    p.rpush(L, "x")
    p.rpush(H, "y")
    p.execute()
    key, value = call.result()
    wait_blocked(r, 0)
    left = r.lrange(L, 0, -1) + r.lrange(H, 0, -1)
    assert len(left) == 1 and value not in left and {value, left[0]} == {b"x", b"y"}


def test_timeout_sub_second_and_null_replies(server: ServerProc, r: redis.Redis) -> None:
    start = time.monotonic()
    for protocol, expect in ((2, None), (3, None)):
        call = Call(server.port, "BLPOP", L, "0.2", protocol=protocol)
        assert call.result() == expect
    took = time.monotonic() - start
    assert 0.35 < took < 5
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"BLMOVE nokey other LEFT LEFT 0.05\r\nBRPOPLPUSH nokey other 0.05\r\nBLMPOP 0.05 1 nokey LEFT\r\n")
    data = b""
    raw.settimeout(5)
    while data.count(b"\r\n") < 3:
        data += raw.recv(100)
    assert data == b"*-1\r\n*-1\r\n*-1\r\n"
    raw.close()
    wait_blocked(r, 0)


def test_timeout_errors(r: redis.Redis) -> None:
    for bad, text in (("abc", "timeout is not a float or out of range"), ("-1", "timeout is negative"), ("inf", "timeout is out of range")):
        with pytest.raises(redis.ResponseError, match=text):
            r.execute_command("BLPOP", L, bad)


def test_cross_shard_blmove_wakes_and_moves_once(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BLMOVE", L, H, "LEFT", "RIGHT", "0")
    wait_blocked(r, 1)
    r.rpush(L, "e1", "e2")
    assert call.result() == b"e1"
    assert r.lrange(L, 0, -1) == [b"e2"]
    assert r.lrange(H, 0, -1) == [b"e1"]
    # a cross-shard LMOVE feeding a waiter on its destination
    waiter = Call(server.port, "BRPOPLPUSH", "dst{x}", L, "0")
    wait_blocked(r, 1)
    assert r.lmove(L, "dst{x}", "LEFT", "LEFT") == b"e2"
    assert waiter.result() == b"e2"
    assert r.lrange(L, 0, -1) == [b"e2"] and r.exists("dst{x}") == 0


def test_many_cross_shard_moves_lose_nothing(server: ServerProc, r: redis.Redis) -> None:
    n = 200
    r.rpush(L, *[str(i) for i in range(n)])
    movers = [Call(server.port, "BLMOVE", H, L, "RIGHT", "LEFT", "5") for _ in range(3)]
    wait_blocked(r, 3)
    p = r.pipeline(transaction=False)
    for _ in range(n):
        p.lmove(L, H, "LEFT", "RIGHT")
    p.execute()
    for m in movers:
        m.result()
    items = r.lrange(L, 0, -1) + r.lrange(H, 0, -1)
    assert sorted(int(x) for x in items) == list(range(n))


def test_disconnect_while_blocked_is_removed(server: ServerProc, r: redis.Redis) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"BLPOP gone 0\r\n")
    wait_blocked(r, 1)
    raw.close()
    wait_blocked(r, 0)
    r.rpush("gone", "kept")
    assert r.lrange("gone", 0, -1) == [b"kept"]


def test_client_kill_and_unblock(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BLPOP", L, "0")
    wait_blocked(r, 1)
    assert b"flags=b" in r.execute_command("CLIENT", "LIST", "ID", call.id)
    assert r.execute_command("CLIENT", "UNBLOCK", call.id) == 1
    assert call.result() is None
    assert r.execute_command("CLIENT", "UNBLOCK", call.id) == 0
    call = Call(server.port, "BRPOP", H, "0")
    wait_blocked(r, 1)
    assert r.execute_command("CLIENT", "UNBLOCK", call.id, "ERROR") == 1
    with pytest.raises(redis.ResponseError, match="UNBLOCKED client unblocked via CLIENT UNBLOCK"):
        call.result()
    raw = socket.create_connection(("127.0.0.1", server.port))  # no client library retrying after the kill
    raw.sendall(b"CLIENT ID\r\n")
    raw.settimeout(5)
    raw_id = int(raw.recv(100)[1:-2])
    raw.sendall(b"BLPOP " + H + b" 0\r\n")
    wait_blocked(r, 1)
    assert r.execute_command("CLIENT", "KILL", "ID", raw_id) == 1
    wait_blocked(r, 0)
    assert raw.recv(100) == b""
    raw.close()
    r.rpush(H, "v")
    assert r.lrange(H, 0, -1) == [b"v"]


def test_blocked_client_runs_its_next_commands_after(server: ServerProc, r: redis.Redis) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"BLPOP q 0\r\n")
    wait_blocked(r, 1)
    raw.sendall(b"RPUSH q mine\r\n")  # waits while the client is blocked, as in Valkey
    r.rpush("q", "first")
    data = b""
    raw.settimeout(5)
    while data.count(b"\r\n") < 6:
        data += raw.recv(100)
    assert data == b"*2\r\n$1\r\nq\r\n$5\r\nfirst\r\n:1\r\n"
    raw.close()


def test_blmpop_and_wrongtype_source_keeps_waiting(server: ServerProc, r: redis.Redis) -> None:
    call = Call(server.port, "BLMPOP", "0", "2", L, H, "RIGHT", "COUNT", "2")
    wait_blocked(r, 1)
    r.set(L, "string")  # a key of another type does not serve it
    r.rpush(H, "1", "2", "3")
    assert call.result() == [H, [b"3", b"2"]]
    assert r.get(L) == b"string"


def test_waiter_survives_a_shard_restart() -> None:
    import os
    import signal

    from tests.integration.helpers import shard_pids

    with shardserver(shards=2) as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        call = Call(s.port, "BLPOP", L, "0")
        wait_blocked(r, 1)
        mark = s.log_size()
        os.kill(shard_pids(r.info("shards"), 2)[0], signal.SIGKILL)
        m = s.wait_log(rb"Restarted shard 0 as pid (\d+)", 10, start=mark)
        s.wait_log(rb"%d:H0 .*Shard 0 ready" % int(m.group(1)), 10, start=mark)
        deadline = time.monotonic() + 10
        while True:  # the hello has no client-visible event: retry while the shard still loads
            try:
                r.rpush(L, "after-restart")
                break
            except redis.exceptions.BusyLoadingError:
                assert time.monotonic() < deadline
        assert call.result() == [L, b"after-restart"]
        assert blocked(r) == 0


def test_concurrent_consumers_get_every_element_exactly_once(server: ServerProc, r: redis.Redis) -> None:
    """Consumers blocked on keys of both shards (BLPOP, and BLMOVE across shards) against bursts of pushes."""
    dst = HIGH_KEYS[1]  # BLMOVE L -> dst crosses shards
    produced = [b"v%d" % i for i in range(400)]
    done = threading.Event()
    got: list[list[bytes]] = [[] for _ in range(8)]
    moved: list[list[bytes]] = [[] for _ in range(8)]

    def consume(i: int) -> None:
        c = redis.Redis(port=server.port, socket_timeout=30)
        while True:
            if i % 2:
                v = c.execute_command("BLMOVE", L, dst, "LEFT", "RIGHT", "0.3")
                if v is not None:
                    moved[i].append(v)
            else:
                reply = c.execute_command("BLPOP", L, H, "0.3")
                v = None if reply is None else reply[1]
                if v is not None:
                    got[i].append(v)
            if v is None and done.is_set():
                break
        c.close()

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    wait_blocked(r, 8)
    p = r.pipeline(transaction=False)
    for n, v in enumerate(produced):
        if n % 3 == 0:
            p.rpush(H, v)
        elif n % 3 == 1:
            p.lpush(L, v)
        else:  # through a cross-shard LMOVE, whose destination push wakes the consumers
            p.rpush(b"stage", v)
            p.lmove(b"stage", L, "LEFT", "RIGHT")
        if n % 50 == 49:
            p.execute()
    p.execute()
    done.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    popped = [v for part in got for v in part]
    moved_all = [v for part in moved for v in part]
    assert sorted(popped + moved_all) == sorted(produced)  # nothing lost, nothing twice
    assert sorted(r.lrange(dst, 0, -1)) == sorted(moved_all)
    assert r.exists(L, H, b"stage") == 0


@pytest.mark.parametrize("how", ["rename-same-shard", "rename-cross-shard", "copy", "move", "swapdb"])
def test_keys_created_by_other_commands_wake_waiters(server: ServerProc, r: redis.Redis, how: str) -> None:
    target = L
    src = LOW_KEYS[1] if how != "rename-cross-shard" else H  # LOW_KEYS share shard 0
    call = Call(server.port, "BRPOP", target, "0")
    wait_blocked(r, 1)
    if how.startswith("rename"):
        r.rpush(src, "a", "b")
        r.rename(src, target)
    elif how == "copy":
        r.rpush(src, "a", "b")
        assert r.copy(src, target)
    else:
        other = redis.Redis(port=server.port, db=1)
        other.rpush(target, "a", "b")
        if how == "move":
            assert other.move(target, 0)
        else:
            r.swapdb(0, 1)
        other.close()
    assert call.result() == [target, b"b"]
    wait_blocked(r, 0)


def _client_fields(r: redis.Redis, client_id: int) -> dict[str, str]:
    line = next(x for x in r.execute_command("CLIENT", "LIST", "ID", str(client_id)).decode().split("\n") if x)
    return dict(kv.split("=", 1) for kv in line.split(" "))


def _blocking_counters(port: int) -> list[Any]:
    """A blocked client as CLIENT LIST and INFO show it, then after it is served, timed
    out and unblocked with an error: the counters a dashboard reads."""
    r = redis.Redis(port=port, socket_timeout=20)
    r.flushall()
    r.config_resetstat()
    seen: list[Any] = []

    def processed() -> int:
        return int(r.info("stats")["total_commands_processed"])

    call = Call(port, "BLPOP", L, "0")
    wait_blocked(r, 1)
    f = _client_fields(r, call.id)
    seen.append(("blocked", f["flags"], f["obl"], f["oll"], f["omem"], f["tot-cmds"], f["cmd"]))
    before = processed()
    r.lpush(L, "v")
    assert call.result() == [L, b"v"]
    f = _client_fields(r, call.id)
    seen.append(("served", f["tot-cmds"], f["cmd"], processed() - before))  # LPUSH, CLIENT LIST and the BLPOP
    before = processed()
    assert call.client.execute_command("BLPOP", L, "0.05") is None  # a timeout
    f = _client_fields(r, call.id)
    seen.append(("timed out", f["tot-cmds"], processed() - before))
    blocker = Call(port, "BLPOP", L, "0")
    wait_blocked(r, 1)
    assert r.client_unblock(blocker.id, error=True)
    with pytest.raises(redis.ResponseError, match="^UNBLOCKED client unblocked via CLIENT UNBLOCK$"):
        blocker.result()
    stats = r.info("commandstats")["cmdstat_blpop"]
    seen.append(("commandstats", stats["calls"], stats["rejected_calls"], stats["failed_calls"]))
    seen.append(("errorstats", r.info("errorstats")))
    seen.append(("total_error_replies", r.info("stats")["total_error_replies"]))
    for c in (call, blocker):
        c.client.close()
    r.close()
    return seen


def test_blocked_client_counters_as_valkey_shows_them(server: ServerProc) -> None:
    """Valkey counts a blocking command when it completes (tot-cmds, total_commands_processed),
    shows no output list for a blocked client, and counts CLIENT UNBLOCK ... ERROR as a
    rejected call of the command with an UNBLOCKED error: the same run on both servers."""
    from tests.servers import valkey

    ours = _blocking_counters(server.port)
    with valkey() as vport:
        theirs = _blocking_counters(vport)
    assert ours == theirs


def _blocked_command_stats(port: int) -> list[Any]:
    """commandstats of blocking commands (lists, a sorted set) that block and then: lose their client, are served
    after CONFIG RESETSTAT, or fail on a key of another type (calls, failed, rejected)."""
    r = redis.Redis(port=port, socket_timeout=20)
    r.flushall()
    r.set(H, "a string")
    seen: list[Any] = []

    def counts(name: str) -> Any:
        stats = r.info("commandstats").get(f"cmdstat_{name}")
        return None if stats is None else (stats["calls"], stats["failed_calls"], stats["rejected_calls"])

    lists = (("BLPOP", L, "0"), ("BRPOP", L, "0"), ("BLMPOP", "0", "1", L, "LEFT"), ("BLMOVE", L, L + b"x", "LEFT", "RIGHT", "0"))
    for args in (*lists, ("BZPOPMIN", L, "0")):
        name = str(args[0]).lower()
        r.config_resetstat()
        gone = socket.create_connection(("127.0.0.1", port))  # a raw socket: redis-py would retry
        gone.sendall(encode_command([a if isinstance(a, bytes) else a.encode() for a in args]))
        wait_blocked(r, 1)
        gone.close()  # the client goes away while blocked: never counted
        wait_blocked(r, 0)
        seen.append((name, "client gone", counts(name)))
        served = Call(port, *args)
        wait_blocked(r, 1)
        r.config_resetstat()  # counted when it completes, so after the reset
        if args[0] == "BZPOPMIN":
            r.zadd(L, {"m": 1})
        else:
            r.rpush(L, "v")
        served.result()
        seen.append((name, "served after a reset", counts(name)))
        r.config_resetstat()
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command(*[H if a == L else a for a in args])
        seen.append((name, "wrong type", counts(name)))
        served.client.close()
    r.close()
    return seen


def test_blocked_commands_count_when_they_complete_as_valkey(server: ServerProc) -> None:
    """Valkey counts a blocking command in commandstats when it completes: not at all when
    its client disconnects while blocked, after a CONFIG RESETSTAT made meanwhile, and as
    a failed call when its key holds another type; the same run on both servers."""
    from tests.servers import valkey

    ours = _blocked_command_stats(server.port)
    with valkey() as vport:
        theirs = _blocked_command_stats(vport)
    assert ours == theirs
    assert ("blpop", "client gone", None) in theirs  # the run reaches what it is about


def test_client_list_shows_output_a_slow_reader_has_not_taken(server: ServerProc, r: redis.Redis) -> None:
    """obl/oll/omem: a reply the socket has not taken yet shows as Valkey's 16 KB buffer
    and 16 KB blocks, and goes back to nothing once the client reads it."""
    size = 48 * 1024 * 1024  # far more than the kernel's socket buffers hold
    r.set(L, b"x" * size)
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        sock.sendall(b"CLIENT ID\r\n")
        client_id = int(sock.recv(64)[1:].split(b"\r")[0])
        sock.sendall(b"GET " + L + b"\r\n")
        deadline = time.monotonic() + 10
        while True:
            f = _client_fields(r, client_id)
            if f["oll"] != "0":
                break
            assert time.monotonic() < deadline, f
        assert f["obl"] == "16384"
        assert 0 < int(f["omem"]) <= size and int(f["oll"]) == -(-int(f["omem"]) // 16384)
        # sampled once a second into INFO's recent maximum
        while int(r.info("clients")["client_recent_max_output_buffer"]) < int(f["omem"]):
            assert time.monotonic() < deadline + 5
        got, total = 0, len(b"$%d\r\n" % size) + size + 2
        while got < total:
            chunk = sock.recv(1 << 20)
            assert chunk
            got += len(chunk)
        f = _client_fields(r, client_id)
        assert (f["obl"], f["oll"], f["omem"]) == ("0", "0", "0")
    finally:
        sock.close()


@pytest.mark.parametrize(
    "pre",
    [
        [("RPUSH", L, "a"), ("BLPOP", L, "0")],
        [("RPUSH", L, "a"), ("BLMOVE", L, H, "LEFT", "LEFT", "0")],  # across shards (with two)
        [("ZADD", H, "1", "a"), ("BZPOPMIN", H, "0")],
    ],
    ids=["blpop", "blmove", "bzpopmin"],
)
def test_commands_after_a_served_blocking_command_keep_their_order(server: ServerProc, pre: list[tuple[str, ...]]) -> None:
    """A blocking command served at once holds the client's next commands back until
    its reply is in place.  Input that arrived in that gap used to run ahead of the held
    commands and take their replies' places (GET m answered before the SET m x sent
    before it; found by a differential fuzzer).  The second write follows the first
    after the client yields its CPU once (``sleep(0)``, no wait: it lets the front run
    the first write alone), so it often lands in that gap: with one shard about half
    the rounds failed before the fix, with two a few in a hundred."""
    from tests.integration.helpers import connect, read_replies, resp

    first = b"".join(resp(*c) for c in [("DEL", "m"), *pre, ("SET", "m", "x")])
    with shardserver(shards=1) as one:
        for port, rounds in ((one.port, 150), (server.port, 150)):
            for _ in range(rounds):
                sock = connect(port)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    sock.sendall(first)
                    time.sleep(0)
                    sock.sendall(resp("GET", "m"))
                    replies = read_replies(sock, len(pre) + 3)
                finally:
                    sock.close()
                assert replies[-2:] == [b"OK", b"x"], (port, replies)
