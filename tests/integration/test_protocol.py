"""The wire protocol: pipelining, inline commands, malformed input, limits, RESP3, order."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from collections.abc import Iterator

import psutil
import pytest
import redis

from tests.integration.helpers import (
    connect,
    key_on,
    keys_on,
    read_replies,
    read_until_closed,
    resp,
    shard_of,
    sync_log,
)
from tests.servers import ServerProc, shardserver, valkey

LIMIT_ARGS = ("--proto-max-bulk-len", "1mb", "--client-query-buffer-limit", "1mb")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(*LIMIT_ARGS, shards=2) as s:
        yield s
        assert "Traceback" not in s.text()


@pytest.fixture(scope="module")
def valkey_port() -> Iterator[int]:
    with valkey(*LIMIT_ARGS) as port:
        yield port


def _client(port: int, **kw: object) -> redis.Redis:
    kw.setdefault("socket_timeout", 5)
    return redis.Redis(port=port, **kw)  # type: ignore[arg-type]


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh connection; everything until the server closes (or times out)."""
    sock = connect(port)
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close while a large input is still being sent
        return read_until_closed(sock, timeout)
    finally:
        sock.close()


# ---------------------------------------------------------------- pipelining


def test_pipeline_of_10000_commands_in_one_write(server: ServerProc) -> None:
    r = _client(server.port)
    r.flushall()
    counters = [key_on(0, 2, "ctr"), key_on(1, 2, "ctr")]
    assert {shard_of(c, 2) for c in counters} == {0, 1}
    parts: list[bytes] = []
    expected: list[object] = []
    count = {c: 0 for c in counters}
    for i in range(2500):
        key = f"k{i}"
        value = f"value-{i}-{'x' * (i % 50)}".encode()
        ctr = counters[i % 2]
        count[ctr] += 1
        parts += [resp("SET", key, value), resp("GET", key), resp("INCR", ctr), resp("GET", f"k{i // 2}")]
        expected += [b"OK", value, count[ctr], f"value-{i // 2}-{'x' * ((i // 2) % 50)}".encode()]
    assert len(parts) == 10_000
    # both shards are involved, interleaved
    assert {shard_of(f"k{i}", 2) for i in range(10)} == {0, 1}
    sock = connect(server.port)
    sock.sendall(b"".join(parts))
    replies = read_replies(sock, len(expected), timeout=60)
    sock.close()
    for i, (got, want) in enumerate(zip(replies, expected, strict=True)):
        assert got == want, f"reply {i}: {got!r} != {want!r}"
    assert r.dbsize() == 2502


def test_inline_commands_mixed_with_multibulk(server: ServerProc) -> None:
    sock = connect(server.port)
    data = (
        b"PING\r\n"
        b'SET a "b c"\r\n'
        + resp("GET", "a")
        + b"GET a\n"  # a bare LF ends an inline command too
        + b"SET 'q x' 'it''s'\r\n".replace(b"'it''s'", b"\"it's\"")
        + resp("GET", "q x")
        + b"  ECHO   \"tab\\there\"  \r\n"
        + b"\r\n"  # an empty line is skipped
        + b"ECHO \"\\x41\\x42\"\r\n"
        + resp("PING", "multi")
    )
    sock.sendall(data)
    replies = read_replies(sock, 9)
    sock.close()
    assert replies == [b"PONG", b"OK", b"b c", b"b c", b"OK", b"it's", b"tab\there", b"AB", b"multi"]


def test_inline_commands_split_across_writes(server: ServerProc) -> None:
    sock = connect(server.port)
    for chunk in (b"SE", b"T split ", b'"one two"', b"\r", b"\nGET split\r\nPI", b"NG\r\n"):
        sock.sendall(chunk)
    assert read_replies(sock, 3) == [b"OK", b"one two", b"PONG"]
    sock.close()


# ---------------------------------------------------------------- malformed input

MALFORMED = {
    "bad-multibulk-length": b"*abc\r\n",
    "expected-dollar": b"*1\r\n:1\r\n",
    "negative-bulk-length": b"*1\r\n$-5\r\n",
    "bulk-length-not-a-number": b"*2\r\n$3\r\nGET\r\n$x\r\n",
    "unbalanced-double-quote": b'SET a "b\r\n',
    "unbalanced-single-quote": b"SET a 'b\r\n",
    "huge-inline-no-newline": b"x" * (64 * 1024 + 100),
    "huge-mbulk-count": b"*" + b"1" * (64 * 1024 + 100),
    "huge-bulk-count": b"*1\r\n$" + b"1" * (64 * 1024 + 100),
    "mbulk-over-int-max": b"*3000000000\r\n",
    "good-then-bad": b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n",
    "leading-zero-bulk": b"*1\r\n$04\r\nPING\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_gets_valkeys_error_and_close(server: ServerProc, valkey_port: int, name: str) -> None:
    data = MALFORMED[name]
    bystander = _client(server.port)
    bystander.set("bystander", "here")
    ours = _exchange(server.port, data)
    theirs = _exchange(valkey_port, data)
    assert theirs[1], "valkey closed the connection"
    assert theirs[0].endswith(b"\r\n") and b"-ERR Protocol error: " in theirs[0]
    assert ours == theirs
    # another client, connected all along, still works
    assert bystander.get("bystander") == b"here"
    assert bystander.ping()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"SET a 'b'c\r\nGET a\r\n", id="single-quote-then-text"),
        pytest.param(b'SET a "b"c\r\nGET a\r\n', id="double-quote-then-text"),
    ],
)
def test_inline_closing_quote_followed_by_text_like_valkey(server: ServerProc, valkey_port: int, data: bytes) -> None:
    ours = _exchange(server.port, data, timeout=0.5)
    theirs = _exchange(valkey_port, data, timeout=0.5)
    assert ours == theirs


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"*1\r\n$4\r\nPINGxx", id="junk-instead-of-crlf"),
        pytest.param(b"*2\r\n$4\r\nECHO\r\n$1\r\nab\r\n", id="bulk-longer-than-declared"),
        pytest.param(b"*1\r\n$4\r\nPING\n\n", id="lf-lf"),
        pytest.param(b"*\r*1\r\n$6\r\nappend\r\n", id="count-cr-without-lf"),
        pytest.param(b"*1\r\n$3\rfoo\r\n", id="length-cr-without-lf"),
        pytest.param(b"*1\r\nx3\rfoo\r\n", id="not-dollar-before-cr-check"),
    ],
)
def test_bulk_payload_must_end_with_crlf_like_valkey(server: ServerProc, valkey_port: int, data: bytes) -> None:
    ours = _exchange(server.port, data, timeout=0.5)
    theirs = _exchange(valkey_port, data, timeout=0.5)
    assert ours == theirs


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"*1\r\n\x00\r\n", id="nul-byte"),
        pytest.param(b"*1\r\n\xff\r\n", id="byte-0xff"),
    ],
)
def test_expected_dollar_error_echoes_the_raw_byte(server: ServerProc, valkey_port: int, data: bytes) -> None:
    ours = _exchange(server.port, data)
    theirs = _exchange(valkey_port, data)
    assert ours == theirs


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"ab\x00cd\r\nPING\r\n", id="nul-in-inline-line"),
        pytest.param(b"\x00\r\nPING\r\n", id="nul-alone-on-inline-line"),
        pytest.param(b"ab\x00cd\r\nPING\r\n" + b"x" * 70000, id="nul-in-inline-then-64k"),
        pytest.param(b"*1\r\n$4\r\nPI\x00G\r\n", id="nul-in-unknown-command-name"),
    ],
)
def test_nul_bytes_like_valkey(server: ServerProc, valkey_port: int, data: bytes) -> None:
    ours = _exchange(server.port, data, timeout=0.5)
    theirs = _exchange(valkey_port, data, timeout=0.5)
    assert ours == theirs


def test_bulk_length_above_proto_max_bulk_len(server: ServerProc, valkey_port: int) -> None:
    data = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n"
    ours = _exchange(server.port, data)
    assert ours == (b"-ERR Protocol error: invalid bulk length\r\n", True)
    assert ours == _exchange(valkey_port, data)
    # exactly the limit is fine (1mb = 1048576 bytes)
    r = _client(server.port)
    assert r.set("big", b"v" * 1048576) and r.strlen("big") == 1048576


def test_query_buffer_limit_closes_only_that_client() -> None:
    with shardserver("--client-query-buffer-limit", "1mb", shards=2) as s:
        bystander = _client(s.port)
        bystander.set("bystander", "here")
        sock = connect(s.port)
        total = 64 * 1024 * 1024
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % total)
        sent = 0
        closed_early = False
        try:
            while sent < total:
                sock.sendall(b"x" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            closed_early = True
        data, closed = read_until_closed(sock, 5)
        sock.close()
        assert closed_early or closed
        assert data == b""  # like Valkey: no reply, the connection is just closed
        s.wait_log(rb"Closing client that reached max query buffer length")
        assert closed_early and sent < total // 2  # it did not wait for the whole value
        assert bystander.get("bystander") == b"here"
        assert bystander.exists("k") == 0
        assert "Traceback" not in s.text()


def test_maxclients() -> None:
    with shardserver("--maxclients", "5", shards=2) as s:
        socks = [connect(s.port) for _ in range(5)]
        for i, sock in enumerate(socks):
            sock.sendall(resp("SET", f"c{i}", i) + resp("GET", f"c{i}"))
            assert read_replies(sock, 2) == [b"OK", str(i).encode()]
        sixth = connect(s.port)
        data, closed = read_until_closed(sixth, 5)
        sixth.close()
        assert (data, closed) == (b"-ERR max number of clients reached\r\n", True)
        # the five are unaffected
        for sock in socks:
            sock.sendall(b"PING\r\n")
            assert read_replies(sock, 1) == [b"PONG"]
        # when one leaves, a new client gets in (poll: the front notices the close asynchronously)
        socks.pop().close()
        deadline = time.monotonic() + 10
        while True:
            sock = connect(s.port)
            sock.sendall(b"PING\r\n")
            data = sock.recv(100)
            if data == b"+PONG\r\n":
                socks.append(sock)
                break
            assert data.startswith(b"-ERR max number of clients reached")
            sock.close()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        info = _client_info_clients(socks[0])
        assert info == 5
        for sock in socks:
            sock.close()


def _client_info_clients(sock: socket.socket) -> int:
    sock.sendall(resp("INFO", "clients"))
    (text,) = read_replies(sock, 1)
    for line in text.decode().splitlines():  # type: ignore[union-attr]
        if line.startswith("connected_clients:"):
            return int(line.split(":")[1])
    raise AssertionError(text)


# ---------------------------------------------------------------- clients that go away


def test_clients_disconnecting_mid_command_or_with_pending_replies(server: ServerProc) -> None:
    r = _client(server.port)
    big_keys = [key_on(0, 2, "bigv"), key_on(1, 2, "bigv")]
    for k in big_keys:
        r.set(k, b"z" * 200_000)
    baseline = int(r.info("clients")["connected_clients"])
    mark = server.log_size()
    for _ in range(5):
        # half a command
        sock = connect(server.port)
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$100\r\nabc")
        sock.close()
        # half an inline command
        sock = connect(server.port)
        sock.sendall(b"SET half2 ")
        sock.close()
        # lots of replies that are never read (several MB), to both shards
        sock = connect(server.port)
        sock.sendall(b"".join(resp("GET", big_keys[i % 2]) for i in range(100)))
        sock.close()
        # close right after the write, with a reset (SO_LINGER 0)
        sock = connect(server.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_ON_CLOSE)
        sock.sendall(b"".join(resp("INCR", "resetctr") for _ in range(100)) + resp("MGET", *big_keys))
        sock.close()
    # the server is fine and forgets the clients (poll: closes are noticed asynchronously)
    deadline = time.monotonic() + 10
    while int(r.info("clients")["connected_clients"]) != baseline:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert r.exists("half", "half2") == 0
    assert r.get(big_keys[0]) == b"z" * 200_000
    assert r.set("after", "ok") and r.get("after") == b"ok"
    sync_log(server)
    text = server.text()[mark:]
    assert "Traceback" not in text
    assert "internal error" not in text


RST_ON_CLOSE = struct.pack("ii", 1, 0)


def _front_pid(s: ServerProc, r: redis.Redis) -> int:
    shards = {int(v["pid"]) for k, v in r.info("shards").items() if k.startswith("shard") and isinstance(v, dict)}
    (front,) = [p.pid for p in psutil.Process(s.proc.pid).children() if p.pid not in shards]
    return front


def _reply_to_departed_client(s: ServerProc, r: redis.Redis, bystanders: int) -> list[object]:
    """A client leaves while its GET is in flight; its reply arrives in one batch with others'.

    The front and the shard are frozen (SIGSTOP) so that the departed client's GET and
    the bystanders' GETs travel in the same ring message and come back in one reply.
    Returns each bystander's reply, or "HANG" when none came within 2 s (all together).
    """
    k0 = key_on(0, 2, "dep")
    r.set(k0, "v")
    pid0 = int(r.info("shards")["shard0"]["pid"])
    front = _front_pid(s, r)
    others = [connect(s.port) for _ in range(bystanders)]
    leaver = connect(s.port)
    os.kill(pid0, signal.SIGSTOP)
    os.kill(front, signal.SIGSTOP)
    try:
        leaver.sendall(resp("GET", k0))
        leaver.close()
        for sock in others:
            sock.sendall(resp("GET", k0))
    finally:
        os.kill(front, signal.SIGCONT)
    try:
        # wait until the front has routed every GET and noticed the departure
        deadline = time.monotonic() + 10
        while True:
            clients = r.client_list()
            waiting = [c for c in clients if c["tot-cmds"] == "1"]  # its GET routed (the shard is stopped)
            if len(clients) == bystanders + 1 and len(waiting) == bystanders:
                break
            assert time.monotonic() < deadline, clients
            time.sleep(0.01)  # poll: routing has no client-visible event
    finally:
        os.kill(pid0, signal.SIGCONT)
    out: list[object] = []
    deadline = time.monotonic() + 2
    for sock in others:
        try:
            out.append(read_replies(sock, 1, timeout=max(deadline - time.monotonic(), 0.05))[0])
        except TimeoutError:
            out.append("HANG")
        sock.close()
    return out


def test_reply_for_a_departed_client_is_dropped_quietly() -> None:
    with shardserver(shards=2) as s:
        r = _client(s.port, socket_timeout=2)
        assert _reply_to_departed_client(s, r, bystanders=0) == []
        assert r.get(key_on(0, 2, "dep")) == b"v"  # after the departed client's reply in the ring
        assert r.ping()  # a later event-loop callback: the one that got that reply has finished
        sync_log(s)
        assert "Traceback" not in s.text()


def test_reply_for_a_departed_client_does_not_stall_others() -> None:
    with shardserver(shards=2) as s:
        r = _client(s.port)
        for _ in range(4):
            assert _reply_to_departed_client(s, r, bystanders=10) == [b"v"] * 10


# ---------------------------------------------------------------- RESP3 and reply order


def test_resp3_with_hello_3(server: ServerProc) -> None:
    r3 = redis.Redis(port=server.port, protocol=3, socket_timeout=5)
    assert r3.ping()
    assert r3.set("r3", "v") is True
    assert r3.get("r3") == b"v"
    assert r3.get("r3-missing") is None
    assert r3.config_get("maxclients") == {"maxclients": "10000"}
    hello = r3.execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"valkey"
    # raw: RESP3 types on the wire
    sock = connect(server.port)
    sock.sendall(resp("HELLO", "3"))
    sock.sendall(resp("GET", "r3-missing") + resp("CONFIG", "GET", "maxclients") + resp("MGET", key_on(0, 2, "r3none"), key_on(1, 2, "r3none")))
    buf = b""
    deadline = time.monotonic() + 5
    while not buf.endswith(b"_\r\n_\r\n") and time.monotonic() < deadline:
        buf += sock.recv(65536)
    sock.close()
    assert buf.startswith(b"%7\r\n")
    assert b"_\r\n%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n*2\r\n_\r\n_\r\n" in buf
    # and back to RESP2
    r3.execute_command("HELLO", "2")


def test_reply_order_when_consecutive_commands_go_to_different_shards(server: ServerProc) -> None:
    r = _client(server.port)
    k0 = keys_on(0, 2, "ord0-", 50)
    k1 = keys_on(1, 2, "ord1-", 50)
    pipe = r.pipeline(transaction=False)
    expected: list[object] = []
    for i in range(50):
        pipe.set(k0[i], f"a{i}")
        pipe.set(k1[i], f"b{i}")
        expected += [True, True]
    for i in range(50):
        pipe.get(k1[i])
        pipe.ping()
        pipe.get(k0[i])
        pipe.mget(k0[i], k1[i])  # a cross-shard command in between
        pipe.echo(f"e{i}")
        pipe.incr(k0[0] + "-ctr")
        pipe.dbsize()  # an all-shards command in between
        expected += [f"b{i}".encode(), True, f"a{i}".encode(), [f"a{i}".encode(), f"b{i}".encode()], f"e{i}".encode(), i + 1, None]
    replies = pipe.execute()
    for i, (got, want) in enumerate(zip(replies, expected, strict=True)):
        if want is None:  # DBSIZE: the count grows with the counter key
            assert isinstance(got, int)
            continue
        assert got == want, f"reply {i}: {got!r} != {want!r}"


def test_values_larger_than_the_ring() -> None:
    """A request bigger than the 4 MiB ring crosses in fragments; nothing stalls or breaks."""
    with shardserver(shards=2) as s:
        r = redis.Redis(port=s.port, socket_timeout=20)
        big = os.urandom(20 * 1024 * 1024)
        assert r.set("big", big) is True
        assert r.get("big") == big
        pipe = r.pipeline(transaction=False)
        values = {f"v{i}": os.urandom(100_000) for i in range(200)}  # 20 MB in one pipeline
        for k, v in values.items():
            pipe.set(k, v)
        assert all(pipe.execute())
        assert r.mget(list(values)) == list(values.values())
        assert r.info("stats")["ring_backpressure_events"] >= 1
