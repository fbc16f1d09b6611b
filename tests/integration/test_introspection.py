"""SLOWLOG, INFO command statistics, LATENCY, MEMORY, DEBUG, MONITOR, CONFIG REWRITE."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.servers import ServerProc, shardserver


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver("--enable-debug-command", "yes", shards=2) as s:
        yield s


@pytest.fixture
def r(server: ServerProc) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, socket_timeout=10)
    client.flushall()
    client.config_set("slowlog-log-slower-than", 10000)
    client.slowlog_reset()
    client.config_resetstat()
    yield client
    client.close()


def test_slowlog_records_commands_from_every_shard(r: redis.Redis) -> None:
    r.config_set("slowlog-log-slower-than", 0)
    r.set("k{a}", "v")
    r.set("k{b}", "v")
    r.get("k{a}")
    long_args = [f"arg{i}" for i in range(40)]
    r.execute_command("exists", *long_args)
    r.set("big", "x" * 300)
    r.config_set("slowlog-log-slower-than", 10000)
    entries = r.slowlog_get(-1)
    commands = [e["command"].lower() for e in entries]  # logged as the client spelled them
    assert b"set k{a} v" in commands and b"set k{b} v" in commands and b"get k{a}" in commands
    big = next(e for e in entries if e["command"].lower().startswith(b"set big"))
    assert big["command"].endswith(b"... (172 more bytes)")
    exists = next(e for e in entries if e["command"].lower().startswith(b"exists"))
    assert exists["command"].endswith(b"... (10 more arguments)")  # 41 arguments: 31 kept
    assert all(e["duration"] >= 0 and e["client_address"] for e in entries)
    ids = [e["id"] for e in entries]
    assert len(set(ids)) == len(ids)
    assert r.slowlog_len() >= 5
    assert len(r.slowlog_get(2)) == 2
    r.slowlog_reset()
    assert r.slowlog_len() == 0


def test_commandstats_errorstats_latencystats(r: redis.Redis) -> None:
    for i in range(10):
        r.set(f"s{i}", i)
    r.get("s1")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")  # arity: rejected
    r.set("str", "x")
    with pytest.raises(redis.ResponseError):
        r.incr("str")  # failed call
    stats = r.info("commandstats")
    assert stats["cmdstat_set"]["calls"] == 11
    assert stats["cmdstat_get"]["calls"] == 1
    assert stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_incrby"]["failed_calls"] == 1  # redis-py sends INCR as INCRBY
    errors = r.info("errorstats")
    assert errors["errorstat_ERR"]["count"] == 2
    latency = r.info("latencystats")
    assert "latency_percentiles_usec_set" in latency
    hist = r.execute_command("LATENCY", "HISTOGRAM", "set")  # redis-py parses the map
    assert list(hist) == [b"set"]
    assert hist[b"set"][b"calls"] == 11
    buckets = hist[b"set"][b"histogram_usec"]
    assert max(buckets.values()) == 11  # cumulative counts
    assert r.info("stats")["total_error_replies"] == 2
    r.config_resetstat()
    assert "cmdstat_set" not in r.info("commandstats")


def test_commands_split_over_shards_count_once_and_log_as_sent(r: redis.Redis) -> None:
    """MSET/MGET/DEL/EXISTS over keys of both shards: one call each in the statistics
    (the front counts a split command; its shards' parts are not counted again), and
    the slow log shows the command as the client sent it."""
    keys = [f"key:{i}" for i in range(8)]  # spread over both shards
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.mset({k: str(i) for i, k in enumerate(keys)})
    assert r.mget(keys) == [str(i).encode() for i in range(8)]
    assert r.exists(*keys) == 8
    assert r.delete(*keys[:5]) == 5
    r.config_set("slowlog-log-slower-than", 10000)
    stats = r.info("commandstats")
    for name in ("mset", "mget", "exists", "del"):
        assert stats[f"cmdstat_{name}"]["calls"] == 1, (name, stats[f"cmdstat_{name}"])
    logged = [e["command"] for e in r.slowlog_get(-1)]
    assert b"MSET " + b" ".join(b"%s %d" % (k.encode(), i) for i, k in enumerate(keys)) in logged
    assert b"MGET " + b" ".join(k.encode() for k in keys) in logged


def test_latency_monitor(r: redis.Redis) -> None:
    assert r.execute_command("LATENCY", "LATEST") == []
    r.config_set("latency-monitor-threshold", 5)
    try:
        r.execute_command("DEBUG", "SLEEP", "0.02")
        latest = r.execute_command("LATENCY", "LATEST")
        assert latest[0][0] == b"command" and latest[0][2] >= 20
        assert r.execute_command("LATENCY", "HISTORY", "command")[0][1] >= 20
        assert b"command" in r.execute_command("LATENCY", "DOCTOR")
        assert r.execute_command("LATENCY", "RESET") == 1
        assert r.execute_command("LATENCY", "LATEST") == []
    finally:
        r.config_set("latency-monitor-threshold", 0)


def test_memory_and_debug_object(r: redis.Redis) -> None:
    r.set("m", "x" * 1000)
    usage = r.memory_usage("m")
    assert 1000 < usage < 2000
    assert r.memory_usage("missing") is None
    stats = r.memory_stats()
    assert stats["total.allocated"] > 0 and stats["keys.count"] == 1
    line = r.execute_command("DEBUG", "OBJECT", "m")
    assert "encoding:raw" in str(line) and "serializedlength:1000" in str(line)
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.execute_command("DEBUG", "OBJECT", "missing")


def test_debug_is_refused_unless_enabled() -> None:
    with shardserver(shards=1) as s:
        with pytest.raises(redis.ResponseError, match="DEBUG command not allowed"):
            redis.Redis(port=s.port).execute_command("DEBUG", "SLEEP", "0")


def test_monitor_streams_commands(server: ServerProc, r: redis.Redis) -> None:
    mon = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    mon.sendall(b"MONITOR\r\nMONITOR\r\n")  # the second one gets no reply, as in Valkey
    assert mon.recv(100) == b"+OK\r\n"
    r.set("mon key", 'a"b')
    data = b""
    deadline = time.monotonic() + 5
    while b'"SET"' not in data and time.monotonic() < deadline:
        data += mon.recv(4096)
    mon.close()
    line = next(x for x in data.split(b"\r\n") if b'"SET"' in x)  # as the client spelled it
    assert line.startswith(b"+")
    assert line.endswith(b'"SET" "mon key" "a\\"b"')
    assert b"[0 127.0.0.1:" in line
    assert r.get("mon key") == b'a"b'  # normal service once the monitor left


def test_config_rewrite_keeps_comments(tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_text("# my settings\nmaxclients 100\n\n# timeouts\ntimeout 0\n")
    with shardserver(str(conf), shards=1) as s:
        c = redis.Redis(port=s.port)
        c.config_set("maxclients", 77)
        c.config_set("slowlog-max-len", 50)
        assert c.config_rewrite() == b"OK"  # redis-py returns the raw reply here
    text = conf.read_text()
    assert "# my settings" in text and "# timeouts" in text
    assert "maxclients 77" in text and "maxclients 100" not in text
    assert "slowlog-max-len 50" in text
    with shardserver(str(conf), shards=1) as s:
        assert redis.Redis(port=s.port).config_get("maxclients") == {"maxclients": "77"}


def test_config_rewrite_without_a_file(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="running without a config file"):
        r.config_rewrite()


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_client_pause_all_holds_every_command(server: ServerProc, r: redis.Redis) -> None:
    other = _raw(server.port)
    r.set("p", "v")
    start = time.monotonic()
    assert r.execute_command("CLIENT", "PAUSE", "300", "ALL") == b"OK"
    other.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\np\r\n")
    assert other.recv(100) == b"$1\r\nv\r\n"  # only once the pause is over
    assert time.monotonic() - start >= 0.25
    other.close()


def test_client_pause_write_lets_reads_through(server: ServerProc, r: redis.Redis) -> None:
    r.set("w", "old")
    writer, reader = _raw(server.port), _raw(server.port)
    assert r.execute_command("CLIENT", "PAUSE", "10000", "WRITE") == b"OK"
    try:
        writer.sendall(b"SET w new\r\nGET w\r\n")  # held, in order
        reader.sendall(b"GET w\r\n")
        assert reader.recv(100) == b"$3\r\nold\r\n"  # reads are served during the pause
        writer.settimeout(0.2)
        with pytest.raises(TimeoutError):
            writer.recv(100)
    finally:
        assert r.execute_command("CLIENT", "UNPAUSE") == b"OK"
    writer.settimeout(5)
    data = b""
    while data.count(b"\r\n") < 2:
        data += writer.recv(100)
    assert data == b"+OK\r\n$3\r\nnew\r\n"
    writer.close()
    reader.close()


def test_client_pause_errors(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="timeout is not an integer or out of range"):
        r.execute_command("CLIENT", "PAUSE", "abc")
    with pytest.raises(redis.ResponseError, match="mode must be WRITE or ALL"):
        r.execute_command("CLIENT", "PAUSE", "10", "foo")


def test_client_no_touch_and_no_evict(server: ServerProc) -> None:
    c = redis.Redis(port=server.port, socket_timeout=5)
    c.set("t", "v")
    assert c.execute_command("CLIENT", "NO-TOUCH", "on") == b"OK"
    assert c.execute_command("CLIENT", "NO-EVICT", "on") == b"OK"
    flags = c.client_info()["flags"]
    assert "T" in flags and "e" in flags
    time.sleep(1.1)  # idle time is counted in whole seconds: let one pass
    c.get("t")
    assert c.object("idletime", "t") >= 1  # the read did not touch the key
    c.execute_command("CLIENT", "NO-TOUCH", "off")
    c.get("t")
    assert c.object("idletime", "t") == 0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        c.execute_command("CLIENT", "NO-TOUCH", "maybe")


def test_monitor_sees_its_own_commands(server: ServerProc) -> None:
    mon = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    mon.sendall(b"MONITOR\r\n")
    assert mon.recv(100) == b"+OK\r\n"
    mon.sendall(b"PING\r\n")
    data = b""
    while b'"PING"' not in data:
        data += mon.recv(4096)
    assert data.startswith(b"+PONG\r\n+")
    mon.close()
