"""Real clients from redis-tools against the server: redis-cli modes and redis-benchmark."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.servers import ServerProc, shardserver, valkey


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProc]:
    with shardserver(shards=2) as s:
        yield s
        assert "Traceback" not in s.text()


@pytest.fixture(scope="module")
def valkey_port() -> Iterator[int]:
    with valkey() as port:
        yield port


def _cli(port: int, *args: str, stdin: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["redis-cli", "-p", str(port), *args], input=stdin, capture_output=True, timeout=timeout)


CLI_SCRIPT = b"""\
flushall
set greeting "hello world"
get greeting
append greeting !
strlen greeting
incr counter
incrby counter 41
incr greeting
mset a{x} 1 b 2 c 3
mget a{x} b c nosuchkey
exists a{x} b c nosuchkey
rename b b2
get b2
msetnx b2 x d 4
del a{x} b2 c
dbsize
get nosuchkey
ping
ping "with arg"
echo 'single quoted'
set k v ex 100
ttl k
expire k 50 gt
ttl k
persist k
ttl k
getrange greeting 0 4
setrange greeting 6 there
get greeting
lcs greeting greeting
nosuchcommand foo
get
type greeting
object encoding counter
copy counter counter2
get counter2
"""


def test_redis_cli_commands_on_stdin_like_valkey(server: ServerProc, valkey_port: int) -> None:
    ours = _cli(server.port, stdin=CLI_SCRIPT)
    theirs = _cli(valkey_port, stdin=CLI_SCRIPT)
    assert ours.returncode == 0, ours
    assert ours.stderr == b""
    assert ours.stdout.decode().splitlines() == theirs.stdout.decode().splitlines()
    # a few lines spelled out, so a broken valkey binary would not hide a regression
    lines = ours.stdout.decode().splitlines()
    assert lines[:5] == ["OK", "OK", "hello world", "12", "12"]
    assert "ERR value is not an integer or out of range" in lines


def test_redis_cli_one_shot_commands_and_errors(server: ServerProc) -> None:
    assert _cli(server.port, "set", "one", "shot").stdout == b"OK\n"
    assert _cli(server.port, "get", "one").stdout == b"shot\n"
    assert _cli(server.port, "--no-raw", "get", "one").stdout == b'"shot"\n'
    out = _cli(server.port, "incr", "one")
    assert b"ERR value is not an integer or out of range" in out.stdout + out.stderr


def _make_keys(port: int) -> tuple[set[str], set[str]]:
    r = redis.Redis(port=port, socket_timeout=10)
    r.flushall()
    users = {f"user:{i}" for i in range(300)}
    others = {f"item:{i}" for i in range(700)}
    pipe = r.pipeline(transaction=False)
    for k in sorted(users | others):
        pipe.set(k, "v")
    pipe.execute()
    assert r.dbsize() == 1000
    return users, others


def test_redis_cli_scan_prints_every_key_once(server: ServerProc) -> None:
    users, others = _make_keys(server.port)
    out = _cli(server.port, "--scan")
    assert out.returncode == 0 and out.stderr == b""
    keys = out.stdout.decode().splitlines()
    assert len(keys) == 1000
    assert set(keys) == users | others


def test_redis_cli_scan_with_pattern(server: ServerProc) -> None:
    users, _ = _make_keys(server.port)
    out = _cli(server.port, "--scan", "--pattern", "user:*")
    assert out.returncode == 0 and out.stderr == b""
    keys = out.stdout.decode().splitlines()
    assert len(keys) == len(users)
    assert set(keys) == users
    out = _cli(server.port, "--scan", "--pattern", "user:1?")
    assert sorted(out.stdout.decode().splitlines()) == sorted(f"user:1{d}" for d in range(10))


def test_redis_cli_stat(server: ServerProc) -> None:
    # a pty as stdout: redis-cli's stdio then flushes every line instead of every 4 KiB
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["redis-cli", "-p", str(server.port), "--stat", "-i", "0.1"],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    buf = b""
    data_lines: list[str] = []
    deadline = time.monotonic() + 20
    try:
        while len(data_lines) < 3:
            left = deadline - time.monotonic()
            assert left > 0, f"--stat printed only: {buf!r}"
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other side of the pty is gone
                chunk = b""
            assert chunk, f"redis-cli --stat exited early: {buf!r}"
            buf += chunk
            lines = buf.decode().replace("\r", "").split("\n")[:-1]
            data_lines = [ln for ln in lines if ln.split() and ln.split()[0].isdigit()]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        os.close(master)
    text = buf.decode()
    assert "keys" in text and "clients" in text and "requests" in text
    assert "error" not in text.lower() and "ERR" not in text
    for line in data_lines[:3]:
        keys, mem, clients = line.split()[:3]
        assert int(keys) >= 0
        assert mem[-1] in "BKMG"
        assert int(clients) >= 1


DEFAULT_SUITE = (
    "PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
    "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100", "LRANGE_300", "LRANGE_500", "LRANGE_600", "MSET",
)  # fmt: skip


@pytest.mark.parametrize("shards", [1, 2])
def test_redis_benchmark_default_suite(shards: int) -> None:
    """redis-benchmark's whole default suite, plus XADD (redis-benchmark 7.0 has no XADD test; the command form runs it).

    redis-benchmark 7 exits non-zero at the first error reply, so a zero exit means none.
    """
    with shardserver(shards=shards) as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        for pipeline in ("1", "16"):
            r.flushall()
            run = subprocess.run(
                ["redis-benchmark", "-p", str(s.port), "-c", "20", "-n", "2000", "-r", "1000", "-P", pipeline, "-q"],
                capture_output=True,
                timeout=300,
            )
            out = (run.stdout + run.stderr).decode(errors="replace")
            assert run.returncode == 0, out
            assert "ERR" not in out and "error" not in out.lower() and "WRONGTYPE" not in out, out
            for test in DEFAULT_SUITE:
                assert f"{test}" in out, out
            # every INCR landed exactly once, whichever shard owns its counter
            counters = list(r.scan_iter(match="counter:*", count=1000))
            assert counters
            assert sum(int(v) for v in r.mget(counters)) == 2000
            xadd = subprocess.run(
                ["redis-benchmark", "-p", str(s.port), "-c", "20", "-n", "2000", "-P", pipeline, "-q", "XADD", "mystream", "*", "myfield", "myvalue"],
                capture_output=True,
                timeout=120,
            )
            out = (xadd.stdout + xadd.stderr).decode(errors="replace")
            assert xadd.returncode == 0 and "requests per second" in out and "ERR" not in out, out
            assert r.xlen("mystream") == 2000
        assert "Traceback" not in s.text()
