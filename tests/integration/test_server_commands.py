"""Expiry, INFO, CONFIG and idleness through the real server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import psutil
import pytest
import redis

from shardserver import REDIS_VERSION, VALKEY_VERSION, __version__
from tests.integration.helpers import keys_on
from tests.servers import ServerProc, shardserver


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=2) as s:
        yield s


@pytest.fixture
def r(server: ServerProc) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll for a server-side state change that has no client-visible event."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_active_expiry_reclaims_keys_nobody_reads(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"vol:{i}", "x", px=100)
    for i in range(50):
        pipe.set(f"keep:{i}", "x")
    pipe.execute()
    assert r.dbsize() == 2050
    # no reads of vol:* at all: only the shards' sampling can remove them
    _until(lambda: r.dbsize() == 50)
    stats = r.info("stats")
    assert stats["expired_keys"] >= 2000
    assert r.info("keyspace")["db0"]["keys"] == 50


def test_lazy_expiry_on_access(r: redis.Redis) -> None:
    r.set("lazy", "v", px=30)
    _until(lambda: r.get("lazy") is None, timeout=5)
    assert r.exists("lazy") == 0


def test_info_sections_and_versions(r: redis.Redis, server: ServerProc) -> None:
    info = r.info("server")
    assert info["redis_version"] == REDIS_VERSION
    assert info["valkey_version"] == VALKEY_VERSION
    assert info["shardserver_version"] == __version__
    assert info["tcp_port"] == server.port
    for key in keys_on(0, 2, "s0-", 3) + keys_on(1, 2, "s1-", 5):
        r.set(key, "v")
    r.expire(keys_on(1, 2, "s1-", 1)[0], 100)
    shards = r.info("shards")
    assert shards["shards"] == 2
    s0, s1 = shards["shard0"], shards["shard1"]
    assert s0["keys"] == 3 and s1["keys"] == 5
    assert s1["expires"] == 1
    assert s0["slots"] == "0-8191" and s1["slots"] == "8192-16383"
    assert psutil.pid_exists(int(s0["pid"])) and psutil.pid_exists(int(s1["pid"]))
    assert int(s0["ops"]) >= 3
    keyspace = r.info("keyspace")["db0"]
    assert keyspace["keys"] == 8 and keyspace["expires"] == 1
    everything = r.info("all")
    for field in ("connected_clients", "total_commands_processed", "used_memory", "role", "used_cpu_user"):
        assert field in everything
    assert set(r.info("clients")) >= {"connected_clients", "maxclients"}


def test_config_get_set_and_resetstat(r: redis.Redis) -> None:
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert r.config_set("maxclients", 123) is True
    assert r.config_get("maxc*") == {"maxclients": "123"}
    r.config_set("maxclients", 10000)
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("port", 1)
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        r.config_set("no-such-directive", 1)
    r.set("a", 1)
    assert r.info("stats")["total_commands_processed"] > 0
    assert r.config_resetstat() is True
    assert r.info("stats")["total_commands_processed"] <= 2


def test_proto_max_bulk_len_reaches_the_shards(r: redis.Redis) -> None:
    r.config_set("proto-max-bulk-len", 1024 * 1024)
    try:
        with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
            r.setrange("big", 2 * 1024 * 1024, "x")
    finally:
        r.config_set("proto-max-bulk-len", 512 * 1024 * 1024)
    assert r.setrange("big", 2 * 1024 * 1024, "x") == 2 * 1024 * 1024 + 1


def test_idle_server_uses_almost_no_cpu(server: ServerProc, r: redis.Redis) -> None:
    """No busy-spinning: an idle front and idle shards sleep in poll/epoll."""
    info = r.info("all")
    pids = [info["front_process_id"]] + [int(s["pid"]) for k, s in r.info("shards").items() if k.startswith("shard") and k != "shards"]
    procs = [psutil.Process(p) for p in pids]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(2.0)  # measuring idleness needs an interval of idleness
    used = sum(sum(p.cpu_times()[:2]) - b for p, b in zip(procs, before, strict=True))
    assert used < 0.2, f"{used:.3f}s of CPU in 2s while idle"


def test_idle_clients_are_closed_after_timeout() -> None:
    with shardserver("--timeout", "1", shards=1) as s:
        idle = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        busy = redis.Redis(port=s.port, socket_timeout=10)
        idle.sendall(b"PING\r\n")
        assert idle.recv(100) == b"+PONG\r\n"
        assert idle.recv(100) == b""  # the server closes it after about a second of idleness
        assert busy.ping()  # a fresh client is served
