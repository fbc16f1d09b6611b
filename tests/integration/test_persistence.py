"""Durability through the real server: each shard's AOF, restarts, crashes, rewrites.

Every server here keeps its files in a test-owned directory, so a test can
stop or kill it and start another on the same data.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import redis

from persistence import manifest as mf
from persistence.aof import read_records
from shardserver.commands.table import all_commands
from shardserver.resp import encode_command
from tests.integration.helpers import connect, key_on, keys_on, read_replies, resp, shard_pids
from tests.servers import ServerProc, aof_shardserver, kill_tree, start_shardserver

INJECT_DIR = Path(__file__).parent / "_inject_aof"


def _inject_env(**values: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, **values}


def server(data: Path, *args: str, shards: int = 2, env: dict[str, str] | None = None) -> AbstractContextManager[ServerProc]:
    return aof_shardserver(data, *args, shards=shards, env=env)


def all_records(data: Path) -> list[list[bytes]]:
    """Every record of every file the manifest lists, in its order."""
    records: list[list[bytes]] = []
    for f in manifest(data).files:
        read_records(str(data / "appendonlydir" / f.name), lambda db, recs: records.extend(recs))
    return records


def client(proc: ServerProc, **kw: Any) -> redis.Redis:
    return redis.Redis(port=proc.port, socket_timeout=20, **kw)


def state(r: redis.Redis, databases: tuple[int, ...] = (0, 1)) -> dict[tuple[int, bytes], Any]:
    """Every key of the given databases: type, value and absolute expiry (-1 for none)."""
    out: dict[tuple[int, bytes], Any] = {}
    for db in databases:
        r.execute_command("SELECT", db)
        for key in r.scan_iter(count=1000):
            kind = r.type(key)
            value: Any
            if kind == b"string":
                value = r.get(key)
            elif kind == b"hash":
                value = sorted(r.hgetall(key).items())
            elif kind == b"list":
                value = r.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(r.smembers(key))
            elif kind == b"zset":
                value = r.zrange(key, 0, -1, withscores=True)
            elif kind == b"stream":
                value = r.xrange(key)
            else:
                value = kind
            out[(db, key)] = (kind, value, r.execute_command("PEXPIRETIME", key))
    r.execute_command("SELECT", 0)
    return out


def manifest(data: Path) -> mf.Manifest:
    m = mf.read(str(data / "appendonlydir"))
    assert m is not None
    return m


# ---------------------------------------------------------------------------- basics


def _string_writes(r: redis.Redis) -> None:
    """Every string and generic write, with each TTL form."""
    r.set("plain", "v")
    r.set("ex", "v", ex=1000)
    r.set("px", "v", px=2_000_000)
    r.set("exat", "v", exat=2_000_000_000)
    r.execute_command("SETEX", "setex", 3000, "v")
    r.execute_command("PSETEX", "psetex", 3_000_000, "v")
    r.set("kept", "1", ex=500)
    r.set("kept", "2", keepttl=True)
    r.set("gone", "v", px=1)  # expires before the restart: must stay gone
    r.mset({"m1": "a", "m2": "b", "m3": "c"})  # on both shards
    r.msetnx({"n1": "x", "n2": "y"})
    r.incr("counter")
    r.incrby("counter", 41)
    r.decr("counter")
    r.execute_command("INCR", "counter")  # redis-py's incr/decr send INCRBY/DECRBY
    r.execute_command("DECR", "counter")
    r.execute_command("SETNX", "setnx", "first")
    r.execute_command("SETNX", "setnx", "second")
    r.set("pexpire-me", "v")
    r.execute_command("PEXPIRE", "pexpire-me", 5_000_000)
    r.incrbyfloat("float", "1.1")
    r.incrbyfloat("float", "2.2e3")
    r.append("appended", "abc")
    r.append("appended", "def")
    r.setrange("ranged", 3, "xyz")
    r.getset("getset", "new")
    r.getex("ex", px=5_000_000)
    r.set("persisted", "v", ex=100)
    r.persist("persisted")
    r.set("todel", "v")
    r.getdel("todel")
    r.set("deleted", "v")
    r.delete("deleted")
    r.set("expire-me", "v")
    r.expire("expire-me", 4000)
    r.pexpireat("expire-me2", 1)  # missing key: nothing to log
    r.set("past", "v")
    r.expireat("past", 1)  # in the past: deleted
    r.set("src", "v", ex=900)
    r.rename("src", "dst")
    r.copy("dst", "copied")
    r.set("moved", "v")
    r.move("moved", 1)
    r.execute_command("SELECT", 1)
    r.set("db1", "one")
    r.execute_command("SELECT", 0)
    r.execute_command("DELIFEQ", "m3", "c")
    r.set("cas", "1")
    r.execute_command("SET", "cas", "2", "IFEQ", "1")


def test_restart_brings_back_every_key_with_its_ttl(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        r = client(s)
        _string_writes(r)
        before = state(r)
        assert (0, b"gone") not in before and (0, b"past") not in before
    with server(tmp_path) as s:
        after = state(client(s))
    assert after == before
    assert after[(0, b"float")][1].startswith(b"2201.1")  # long double digits, as Valkey prints them


def test_flush_swapdb_and_dbs_replay(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        r = client(s)
        r.set("a", "1")
        r.execute_command("SELECT", 1)
        r.set("b", "2")
        r.execute_command("SWAPDB", 0, 1)
        r.execute_command("SELECT", 2)
        r.set("c", "3")
        r.execute_command("FLUSHDB")
        before = state(r, (0, 1, 2))
        assert set(before) == {(0, b"b"), (1, b"a")}
    with server(tmp_path) as s:
        r = client(s)
        assert state(r, (0, 1, 2)) == before
        r.flushall()
    with server(tmp_path) as s:
        assert client(s).dbsize() == 0


def test_expiry_is_logged_as_del(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.set("short", "v", px=50)
        r.set("long", "v")
        # wait for the expiry through the server's own view, then touch the key
        while r.pttl("short") > 0:
            pass
        assert r.get("short") is None
    files = b"".join(p.read_bytes() for p in (tmp_path / "appendonlydir").glob("*.incr.aof"))
    assert b"DEL\r\n$5\r\nshort" in files


# Writes that change nothing: Valkey propagates a command only when it made the data
# dirty, so none of these may reach the AOF (all keys on one shard but the cross-shard DEL).
NOOP_SETUP = [
    ["SET", "{n}s", "v"], ["SET", "{n}s2", "w"], ["SADD", "{n}set", "m"], ["SADD", "{n}set2", "x"],
    ["HSET", "{n}h", "f", "1"], ["RPUSH", "{n}l", "a", "b"], ["ZADD", "{n}z", "1", "m"],
    ["PFADD", "{n}hll", "e"], ["XADD", "{n}x", "1-1", "f", "v"], ["XGROUP", "CREATE", "{n}x", "g", "0"],
    ["SELECT", "1"], ["SET", "{n}s", "other"], ["SELECT", "0"],
]  # fmt: skip
NOOPS = [
    ["DEL", "{n}missing"], ["UNLINK", "{n}missing"], ["DEL", "{a}missing", "{b}missing"],
    ["SADD", "{n}set", "m"], ["SREM", "{n}set", "nope"], ["SREM", "{n}missing", "m"],
    ["SMOVE", "{n}set", "{n}set2", "nope"], ["SMOVE", "{n}set", "{n}set", "m"],
    ["HDEL", "{n}h", "nope"], ["HDEL", "{n}missing", "f"], ["HSETNX", "{n}h", "f", "2"],
    ["LPUSHX", "{n}missing", "a"], ["RPUSHX", "{n}missing", "a"], ["LPOP", "{n}missing"], ["LPOP", "{n}l", "0"],
    ["LREM", "{n}l", "0", "nope"], ["LTRIM", "{n}l", "0", "-1"], ["LINSERT", "{n}l", "BEFORE", "nope", "x"],
    ["LMOVE", "{n}missing", "{n}l", "LEFT", "LEFT"],
    ["ZADD", "{n}z", "1", "m"], ["ZADD", "{n}z", "NX", "5", "m"], ["ZADD", "{n}missing", "XX", "1", "m"],
    ["ZINCRBY", "{n}z", "0", "m"], ["ZREM", "{n}z", "nope"], ["ZREMRANGEBYSCORE", "{n}z", "5", "9"],
    ["ZREMRANGEBYRANK", "{n}z", "5", "9"], ["ZREMRANGEBYLEX", "{n}z", "[x", "[y"], ["ZPOPMIN", "{n}missing"],
    ["PFADD", "{n}hll", "e"], ["XDEL", "{n}x", "9-9"], ["XTRIM", "{n}x", "MAXLEN", "5"], ["XACK", "{n}x", "g", "1-1"],
    ["PERSIST", "{n}s"], ["EXPIRE", "{n}missing", "100"], ["RENAMENX", "{n}s", "{n}s2"], ["RENAME", "{n}s", "{n}s"],
    ["COPY", "{n}s", "{n}s2"], ["MOVE", "{n}s", "1"], ["SETNX", "{n}s", "x"], ["MSETNX", "{n}s", "x", "{n}new", "y"],
    ["SETRANGE", "{n}s", "0", ""], ["DELIFEQ", "{n}s", "nope"], ["SET", "{n}s", "x", "NX"],
]  # fmt: skip


def _aof_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in (data / "appendonlydir").glob("*.incr.aof"))


def _data_records(data: Path) -> list[list[bytes]]:
    """The records but the markers of cross-shard writes: a part that changed nothing still
    says it ran (persistence/intents.py), or a restart would roll it forward again."""
    return [r for r in all_records(data) if r[0] != b"__txmark"]


def test_writes_that_change_nothing_are_not_logged(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for cmd in NOOP_SETUP:
            r.execute_command(*cmd)
        before = _data_records(tmp_path)
        replies = [r.execute_command(*cmd) for cmd in NOOPS]
        assert _data_records(tmp_path) == before, "a write that changed nothing reached the AOF"
        assert replies[NOOPS.index(["SMOVE", "{n}set", "{n}set", "m"])] == 1  # answered, still not logged
        # the same commands when they do change something are logged (fsynced before the reply)
        for cmd in (["SADD", "{n}set", "new"], ["DEL", "{n}s2"], ["LTRIM", "{n}l", "0", "0"], ["ZADD", "{n}z", "2", "m"], ["PFADD", "{n}hll", "f"]):
            size = _aof_bytes(tmp_path)
            r.execute_command(*cmd)
            assert _aof_bytes(tmp_path) > size, cmd
        live = state(r)
    with server(tmp_path) as s:
        assert state(client(s)) == live


def test_cross_shard_rename_and_copy_replay(tmp_path: Path) -> None:
    a, b = key_on(0, 2, "a"), key_on(1, 2, "b")
    with server(tmp_path) as s:
        r = client(s)
        r.set(a, "value", ex=1000)
        r.rename(a, b)
        r.copy(b, key_on(0, 2, "c"))
        before = state(r)
    with server(tmp_path) as s:
        assert state(client(s)) == before


# ---------------------------------------------------------------------------- crashes


def _writer_load(port: int, prefix: str, acked: list[str], stop: threading.Event, started: threading.Event) -> None:
    r = redis.Redis(port=port, socket_timeout=10)
    i = 0
    try:
        while not stop.is_set():
            key = f"{prefix}:{i}"
            r.set(key, str(i))
            acked.append(key)
            if len(acked) >= 300:
                started.set()
            i += 1
    except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
        return


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_sigkill_of_the_whole_tree_loses_no_acknowledged_write(tmp_path: Path, policy: str) -> None:
    with server(tmp_path, "--appendfsync", policy) as s:
        acked: list[list[str]] = [[] for _ in range(4)]
        stop = threading.Event()
        ready = [threading.Event() for _ in range(4)]
        threads = [threading.Thread(target=_writer_load, args=(s.port, f"w{n}", acked[n], stop, ready[n])) for n in range(4)]
        for t in threads:
            t.start()
        for e in ready:
            assert e.wait(60)
        kill_tree(s)  # SIGKILL to every process while the writers are mid-flight
        stop.set()
        for t in threads:
            t.join(20)
    with server(tmp_path) as s:
        r = client(s)
        keys = [k for per in acked for k in per]
        values = r.mget(keys)
        lost = [k for k, v in zip(keys, values, strict=True) if v is None]
        print(f"appendfsync {policy}: {len(keys)} acknowledged writes, {len(lost)} lost after SIGKILL")
        assert lost == []
        assert all(v == k.split(":")[1].encode() for k, v in zip(keys, values, strict=True))


def test_killed_shard_restarts_from_its_own_files(tmp_path: Path) -> None:
    k0, k1 = key_on(0, 2, "x"), key_on(1, 2, "y")
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.set(k0, "zero")
        r.set(k1, "one", ex=1000)
        pids = shard_pids(r.info("shards"), 2)
        mark = s.log_size()
        os.kill(pids[1], signal.SIGKILL)
        s.wait_log(rb"Shard 1 ready: .* 1 keys, loaded from the AOF", 30, start=mark)
        assert r.get(k0) == b"zero"
        assert r.get(k1) == b"one"
        assert 0 < r.ttl(k1) <= 1000
        r.set(k1, "after")
    with server(tmp_path) as s:
        assert client(s).get(k1) == b"after"


# ---------------------------------------------------------------------------- files


def test_manifest_names_each_shards_files(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        client(s).set("k", "v")
    m = manifest(tmp_path)
    assert m.shards == 2
    assert {f.shard for f in m.files} == {0, 1}
    assert [f.slots for f in m.shard_files(0)] == [[(0, 8191)]]
    assert [f.slots for f in m.shard_files(1)] == [[(8192, 16383)]]
    for f in m.files:
        assert (tmp_path / "appendonlydir" / f.name).exists()


def test_truncated_tail_is_cut_with_a_warning(tmp_path: Path) -> None:
    keys = keys_on(0, 2, "t", 3)
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for k in keys:
            r.set(k, "v" * 10)
    incr = tmp_path / "appendonlydir" / manifest(tmp_path).shard_files(0)[-1].name
    data = incr.read_bytes()
    incr.write_bytes(data[:-7])  # the last record loses its end
    # aof-load-truncated no: start-up stops and names shard, file and offset
    with pytest.raises(RuntimeError) as info:
        with server(tmp_path, "--aof-load-truncated", "no"):
            pass
    text = str(info.value)
    assert "shard 0" in text and incr.name in text and f"truncated at byte {data.rindex(b'*3')}" in text
    with server(tmp_path) as s:
        r = client(s)
        assert r.mget(keys) == [b"v" * 10, b"v" * 10, None]
        assert "cutting it off" in s.text()
        assert r.info("persistence")["shard0_aof"]["truncations"] == 1
    # cut at the truncated record; a restart without writes adds nothing after it
    assert incr.read_bytes() == data[: data.rindex(b"*3")]
    with server(tmp_path) as s:
        client(s).set(keys[2], "w")
    # the first write after a restart says SELECT 0 before its record
    assert incr.read_bytes() == data[: data.rindex(b"*3")] + b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n" + b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nw\r\n" % (len(keys[2]), keys[2].encode())


def start_fails(data: Path, shards: int) -> str:
    """Start on ``data``'s files, which must stop start-up; the log."""
    proc = subprocess.run(
        [sys.executable, "-m", "shardserver.supervisor", "--port", "0", "--shards", str(shards), "--dir", str(data), "--appendonly", "yes"],
        capture_output=True, timeout=60,
    )
    assert proc.returncode != 0
    return proc.stdout.decode() + proc.stderr.decode()


def test_corruption_stops_startup_naming_shard_file_and_offset(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for k in keys_on(1, 2, "c", 3):
            r.set(k, "value")
    incr = tmp_path / "appendonlydir" / manifest(tmp_path).shard_files(1)[-1].name
    data = bytearray(incr.read_bytes())
    second = data.index(b"*3", 1)
    data[second + 4] = ord("!")  # '$3' -> '!3' inside the second record
    incr.write_bytes(bytes(data))
    out = start_fails(tmp_path, shards=2)
    assert "shard 1" in out and incr.name in out and f"bad record at byte {second}" in out


@pytest.mark.parametrize(
    ("record", "name"),
    [([b"HSET", b"k"], "hset"), ([b"INCR"], "incr"), ([b"XGROUP", b"SETID", b"k"], "xgroup|setid"), ([b"SET", b"k", b"v", b"EX"], None)],
)
def test_a_record_of_the_wrong_arity_stops_startup_naming_it(tmp_path: Path, record: list[bytes], name: str | None) -> None:
    """A hand-made file can hold what no client could send (the front checks arity): a
    clear error with the file and offset, never a traceback; a record whose arity is right
    but whose options are wrong is dropped, as Valkey drops a record's error reply."""
    with server(tmp_path, shards=1) as s:
        client(s).set("a", "1")
    incr = tmp_path / "appendonlydir" / manifest(tmp_path).shard_files(0)[-1].name
    data = incr.read_bytes()
    incr.write_bytes(data + encode_command(record) + encode_command([b"SET", b"b", b"2"]))
    if name is None:
        with server(tmp_path, shards=1) as s:
            assert client(s).mget("a", "b", "k") == [b"1", b"2", None]
        return
    out = start_fails(tmp_path, shards=1)
    assert f"shard 0: {incr}: bad record at byte {len(data)}: wrong number of arguments for a '{name}' record" in out, out
    assert "Traceback" not in out


def test_a_damaged_bulk_record_in_a_base_file_stops_startup(tmp_path: Path) -> None:
    import msgpack

    with server(tmp_path, shards=1) as s:
        r = client(s)
        for i in range(50):
            r.set(f"k{i}", "v")
        r.hset("h", "f", "v")
        assert r.bgrewriteaof()
        while r.info("persistence")["aof_rewrite_in_progress"] or int(r.info("persistence")["aof_rewrites"]) < 1:
            pass
    base = tmp_path / "appendonlydir" / next(f.name for f in manifest(tmp_path).files if f.kind == "base")
    data = base.read_bytes()
    payload = msgpack.packb([b"k1", b"v", b"odd-one-out"])  # a well-framed record whose payload is wrong
    base.write_bytes(data + b"*2\r\n$9\r\n__strings\r\n$%d\r\n%s\r\n" % (len(payload), payload))
    out = start_fails(tmp_path, shards=1)
    assert f"shard 0: {base}: bad record at byte {len(data)}: Bad bulk record payload in the append only file" in out, out


def test_shardctl_check_aof_reports_and_fixes(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for k in keys_on(0, 2, "f", 2):
            r.set(k, "v")
    aofdir = tmp_path / "appendonlydir"
    ok = subprocess.run([sys.executable, "-m", "shardserver.cli", "check-aof", str(aofdir)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout
    incr = aofdir / manifest(tmp_path).shard_files(0)[-1].name
    data = incr.read_bytes()
    incr.write_bytes(data[:-3])
    bad = subprocess.run([sys.executable, "-m", "shardserver.cli", "check-aof", str(aofdir)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"truncated at byte {data.rindex(b'*3')}" in bad.stdout
    fixed = subprocess.run([sys.executable, "-m", "shardserver.cli", "check-aof", "--fix", str(aofdir)], capture_output=True, text=True, timeout=60)
    assert fixed.returncode == 0, fixed.stdout
    assert incr.stat().st_size == data.rindex(b"*3")
    again = subprocess.run([sys.executable, "-m", "shardserver.cli", "check-aof", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout


def test_changing_the_shard_count_moves_keys_to_their_new_shard(tmp_path: Path) -> None:
    with server(tmp_path, shards=2) as s:
        r = client(s)
        r.mset({f"key{i}": str(i) for i in range(500)})
        for i in range(0, 500, 7):
            r.expire(f"key{i}", 5000)
        # every type, on both old shards, in two databases: the new base files are bulk records
        for tag in ("a", "b", "c", "d"):
            r.hset(f"h{{{tag}}}", mapping={"f": "1", "g": "2"})
            r.execute_command("HPEXPIRE", f"h{{{tag}}}", 500000, "FIELDS", 1, "f")
            r.rpush(f"l{{{tag}}}", "a", "b")
            r.sadd(f"s{{{tag}}}", "x", "1")
            r.sadd(f"i{{{tag}}}", "1", "2")
            r.zadd(f"z{{{tag}}}", {"m": 1.5, "n": -2})
            r.xadd(f"x{{{tag}}}", {"f": "v"}, id="1-1")
            r.append(f"raw{{{tag}}}", "x")
            r.incrbyfloat(f"emb{{{tag}}}", 1.5)
            r.set(f"ttl{{{tag}}}", "v", px=600000)
        r.select(1)
        r.set("in1", "v")
        r.zadd("z1", {"m": 3})
        r.select(0)
        before = state(r)
        field_ttl = r.execute_command("HPEXPIRETIME", "h{a}", "FIELDS", 2, "f", "g")
        encodings = {k: r.object("encoding", k) for k in ("raw{a}", "emb{b}", "i{c}", "s{d}", "z{a}", "h{b}")}
    with server(tmp_path, shards=1) as s:
        r = client(s)
        assert state(r) == before
        assert r.execute_command("HPEXPIRETIME", "h{a}", "FIELDS", 2, "f", "g") == field_ttl
        assert {k: r.object("encoding", k) for k in encodings} == encodings
    assert manifest(tmp_path).shards == 1
    with server(tmp_path, shards=2) as s:
        r = client(s)
        assert state(r) == before
        counts = [int(v["keys"]) for k, v in r.info("shards").items() if k.startswith("shard") and k != "shards"]
        assert sum(counts) == len(before) and min(counts) > 150
    m = manifest(tmp_path)
    assert m.shards == 2 and not m.pending
    names = {p.name for p in (tmp_path / "appendonlydir").glob("*.aof")}
    assert names == {f.name for f in m.files}  # the old layout's files are gone


def test_a_start_with_the_old_count_abandons_an_interrupted_change(tmp_path: Path) -> None:
    """A change to 3 shards stopped after two of its shards wrote their new files; the server
    then runs with 2 again and takes writes: the next change to 3 must not reuse those files."""
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    with server(data, shards=2) as s:
        client(s).mset({f"key{i}": str(i) for i in range(300)})
    # the new files of two of three shards, made from the old files as they are now
    shutil.copytree(data, scratch)
    with server(scratch, shards=3):
        pass
    done = manifest(scratch)
    with mf.locked(str(data / "appendonlydir")) as m:
        m.next_generation, m.next_shards = done.generation, 3
        m.pending = [f for f in done.files if f.shard in (0, 1)]
    for f in m.pending:
        shutil.copy(scratch / "appendonlydir" / f.name, data / "appendonlydir" / f.name)
    with server(data, shards=2) as s:
        r = client(s)
        r.mset({f"new{i}": "v" for i in range(50)})
        before = state(r)
    m = manifest(data)
    assert not m.pending and not m.next_shards  # abandoned, and its files deleted:
    assert {p.name for p in (data / "appendonlydir").glob("*.aof")} == {f.name for f in m.files}
    with server(data, shards=3) as s:
        assert state(client(s)) == before
    assert manifest(data).shards == 3


def test_a_kill_while_the_old_layout_files_go_leaves_the_new_layout_loadable(tmp_path: Path) -> None:
    """The old files are deleted only after the manifest that promotes the new count is on
    disk: a kill in between leaves a directory that starts (until 27 November the manifest
    could still name the deleted files, and no start worked any more)."""
    with server(tmp_path, shards=2) as s:
        client(s).mset({f"k{i}": str(i) for i in range(100)})
    with pytest.raises(RuntimeError):
        start_shardserver("--appendonly", "yes", shards=3, dir=str(tmp_path), env=_inject_env(SHARDSERVER_TEST_KILL_IN_LAYOUT_REMOVE="1"))
    with server(tmp_path, shards=3) as s:
        assert client(s).mget([f"k{i}" for i in range(100)]) == [str(i).encode() for i in range(100)]
    assert manifest(tmp_path).shards == 3


# ---------------------------------------------------------------------------- rewrite


def test_bgrewriteaof_compacts_and_keeps_everything(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        r = client(s)
        for i in range(200):
            r.set("same", str(i))
            r.incr("n")
        r.set("ttl", "v", ex=1000)
        size_before = int(r.info("persistence")["aof_current_size"])
        assert r.bgrewriteaof()
        while r.info("persistence")["aof_rewrite_in_progress"] or int(r.info("persistence")["aof_rewrites"]) < 1:
            pass
        after = r.info("persistence")
        assert after["aof_last_bgrewrite_status"] == "ok"
        assert int(after["aof_current_size"]) < size_before / 10
        r.set("after-rewrite", "1")
        before = state(r)
    kinds = sorted(f.kind for f in manifest(tmp_path).files)
    assert kinds == ["base", "base", "incr", "incr"]
    with server(tmp_path) as s:
        assert state(client(s)) == before


def test_writes_during_a_rewrite_and_a_kill_in_its_middle_lose_nothing(tmp_path: Path) -> None:
    env = _inject_env(SHARDSERVER_TEST_SLOW_REWRITE="60")
    with server(tmp_path, "--appendfsync", "always", env=env) as s:
        r = client(s)
        r.mset({f"old{i}": str(i) for i in range(300)})
        assert r.bgrewriteaof()
        s.wait_log(rb"TEST-INJECT: rewrite child wrote its snapshot", 30)
        assert r.info("persistence")["aof_rewrite_in_progress"] == 1
        # served and acknowledged while the rewrite runs
        r.mset({f"new{i}": str(i) for i in range(300)})
        for i in range(0, 300, 3):
            r.delete(f"old{i}")
        before = state(r)
        kill_tree(s)
    with server(tmp_path) as s:
        assert state(client(s)) == before
    leftovers = [p.name for p in (tmp_path / "appendonlydir").iterdir() if p.suffix in (".inject", ".tmp")]
    assert leftovers == []


def test_rewrite_under_load_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "everysec") as s:
        acked: list[str] = []
        stop, started = threading.Event(), threading.Event()
        t = threading.Thread(target=_writer_load, args=(s.port, "load", acked, stop, started))
        t.start()
        assert started.wait(60)
        r = client(s)
        for _ in range(3):
            rewrites = int(r.info("persistence")["aof_rewrites"])
            assert r.bgrewriteaof()
            while int(r.info("persistence")["aof_rewrites"]) == rewrites:
                pass
        stop.set()
        t.join(20)
    with server(tmp_path) as s:
        values = client(s).mget(acked)
        assert all(v is not None for v in values)


_REWRITE_POINTS = {
    # the child wrote its snapshot to a temporary name; the manifest names the old files
    "child-writing": ("SHARDSERVER_TEST_SLOW_REWRITE", rb"TEST-INJECT: rewrite child wrote its snapshot"),
    # the new base has its name, but the manifest does not name it yet
    "base-renamed": ("SHARDSERVER_TEST_PAUSE_AFTER_BASE", rb"TEST-INJECT: rewrite child renamed its base"),
    # the manifest names the new base; the files it replaces are not deleted yet
    "manifest-updated": ("SHARDSERVER_TEST_PAUSE_BEFORE_STALE_REMOVE", rb"TEST-INJECT: the manifest names the new base"),
}


@pytest.mark.parametrize("victim", ["tree", "shard"])
@pytest.mark.parametrize("point", list(_REWRITE_POINTS))
def test_a_kill_at_each_point_of_a_rewrite_under_load_loses_nothing(tmp_path: Path, point: str, victim: str) -> None:
    """Writers keep going while both shards rewrite; SIGKILL (of everything, or of shard 0,
    which the supervisor restarts) lands at one step of the rewrite.  Every acknowledged
    write is there afterwards, live and after a restart, and no stray file is left."""
    hook, message = _REWRITE_POINTS[point]
    with server(tmp_path, "--appendfsync", "always", env=_inject_env(**{hook: "5"})) as s:
        r = client(s)
        r.mset({f"old{i}": str(i) for i in range(300)})
        acked: list[list[str]] = [[], []]
        stop = threading.Event()
        ready = [threading.Event(), threading.Event()]
        threads = [threading.Thread(target=_writer_load, args=(s.port, f"w{n}", acked[n], stop, ready[n])) for n in range(2)]
        for t in threads:
            t.start()
        for e in ready:
            assert e.wait(60)
        mark = s.log_size()
        assert r.bgrewriteaof()
        first = s.wait_log(message, 30, start=mark)
        s.wait_log(message, 30, start=first.end())  # both shards are at that step
        if victim == "tree":
            kill_tree(s)
        else:
            os.kill(shard_pids(r.info("shards"), 2)[0], signal.SIGKILL)
            s.wait_log(rb"Shard 0 ready: .* loaded from the AOF", 30, start=mark)
        stop.set()
        for t in threads:
            t.join(30)
        written = [k for a in acked for k in a]
        assert len(written) >= 600
        if victim == "shard":
            live = client(s)
            assert None not in live.mget(written)
            assert live.dbsize() >= 300 + len(written)
    with server(tmp_path) as s:
        r = client(s)
        values = r.mget(written)
        assert [k for k, v in zip(written, values, strict=True) if v is None] == []
        assert r.mget([f"old{i}" for i in range(300)]) == [str(i).encode() for i in range(300)]
    m = manifest(tmp_path)
    on_disk = {p.name for p in (tmp_path / "appendonlydir").iterdir() if p.name.endswith((".aof", ".tmp", ".inject"))}
    assert on_disk == {f.name for f in m.files}


def test_auto_rewrite_by_growth(tmp_path: Path) -> None:
    with server(tmp_path, "--auto-aof-rewrite-min-size", "20kb", "--auto-aof-rewrite-percentage", "100") as s:
        r = client(s)
        while int(r.info("persistence")["aof_rewrites"]) == 0:
            r.set(key_on(0, 2, "grow"), "x" * 100)
        assert "starting automatic AOF rewrite" in s.text()


# ---------------------------------------------------------------------------- run-time control


def test_config_set_appendonly_yes_at_run_time(tmp_path: Path) -> None:
    proc = start_shardserver(shards=2, dir=str(tmp_path))
    try:
        r = client(proc)
        r.mset({"a": "1", "b": "2"})
        assert r.config_set("appendonly", "yes")
        while int(r.info("persistence")["aof_rewrites"]) < 1 or r.info("persistence")["aof_rewrite_in_progress"]:
            pass
        r.set("c", "3")
        r.config_set("appendfsync", "always")
        assert r.info("persistence")["aof_enabled"] == 1
        before = state(r)
    finally:
        proc.stop()
        kill_tree(proc)
    with server(tmp_path) as s:
        assert state(client(s)) == before


def test_appendonly_yes_during_a_bgsave_turns_the_aof_on_after_it(tmp_path: Path) -> None:
    """As Valkey: the rewrite that turns the AOF on waits for the running BGSAVE, then runs."""
    proc = start_shardserver(shards=2, dir=str(tmp_path), env=_inject_env(SHARDSERVER_TEST_SLOW_REWRITE="1"))
    try:
        r = client(proc)
        r.mset({"a": "1", "b": "2"})
        mark = proc.log_size()
        assert r.bgsave()
        first = proc.wait_log(rb"TEST-INJECT: rewrite child wrote its snapshot", 30, start=mark)
        proc.wait_log(rb"TEST-INJECT: rewrite child wrote its snapshot", 30, start=first.end())
        assert r.config_set("appendonly", "yes")
        _wait_for(lambda: all(_shard_aof(r, i)["enabled"] == 1 for i in (0, 1)))
        r.set("after", "on")
        before = state(r)
    finally:
        proc.stop()
        kill_tree(proc)
    assert [b"SET", b"after", b"on"] in all_records(tmp_path)
    with server(tmp_path) as s:
        assert state(client(s)) == before


def test_save_bgsave_lastsave_without_aof(tmp_path: Path) -> None:
    proc = start_shardserver(shards=2, dir=str(tmp_path))
    try:
        r = client(proc)
        r.mset({"a": "1", "b": "2"})
        first = r.lastsave()
        assert r.save()
        r.set("c", "3")
        raw = client(proc)
        raw.response_callbacks.clear()
        assert raw.execute_command("BGSAVE") == b"Background saving started"
        _wait_for(lambda: not r.info("persistence")["rdb_bgsave_in_progress"] and r.info("persistence")["aof_rewrites"] >= 2)
        # LASTSAVE counts seconds: once the clock passed the first one, a save must move it
        _wait_for(lambda: int(r.time()[0]) > first.timestamp())
        assert r.save()
        assert r.lastsave() > first
        with pytest.raises(redis.ResponseError, match="Background saving is currently not in progress or scheduled"):
            r.execute_command("BGSAVE", "CANCEL")
        with pytest.raises(redis.ResponseError, match="syntax error"):
            r.execute_command("BGSAVE", "SOMETIMES")
        r.set("d", "unsaved")
    finally:
        proc.stop()
        kill_tree(proc)
    # appendonly no: the snapshot is what the next start loads (like Valkey's RDB)
    proc = start_shardserver(shards=2, dir=str(tmp_path))
    try:
        r = client(proc)
        assert r.mget("a", "b", "c", "d") == [b"1", b"2", b"3", None]
        kinds = {f.kind for f in manifest(tmp_path).files}
        assert kinds == {"base"}
    finally:
        proc.stop()
        kill_tree(proc)


def _fsync_lines(path: Path) -> list[tuple[str, str, int]]:
    """(start|done, file, its size) per line of SHARDSERVER_TEST_FSYNC_LOG's file."""
    if not path.exists():
        return []
    return [(w[1], w[2], int(w[3])) for w in (line.split() for line in path.read_text().splitlines())]


def _shard_aof(r: redis.Redis, shard: int) -> dict[str, Any]:
    return r.info("persistence")[f"shard{shard}_aof"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("policy", ["everysec", "no"])
def test_shutdown_flushes_and_fsyncs_every_shard(tmp_path: Path, policy: str) -> None:
    fsyncs = tmp_path / "fsyncs.log"
    data = tmp_path / "data"
    data.mkdir()
    with server(data, "--appendfsync", policy, env=_inject_env(SHARDSERVER_TEST_FSYNC_LOG=str(fsyncs))) as s:
        r = client(s)
        r.mset({f"k{i}": "v" for i in range(1000)})
        try:
            r.shutdown()
        except redis.ConnectionError:
            pass
        assert s.proc.wait(20) == 0
    done = {(name, size) for what, name, size in _fsync_lines(fsyncs) if what == "done"}
    for f in manifest(data).files:
        path = data / "appendonlydir" / f.name
        # each shard's file was fsynced whole after its last write
        assert (os.path.realpath(path), path.stat().st_size) in done
    with server(data) as s:
        assert client(s).dbsize() == 1000


def test_always_answers_a_write_only_after_its_fsync(tmp_path: Path) -> None:
    """With every fsync made 0.2 s slower, an acknowledged write waited for its own fsync,
    and a pipeline of 2000 writes shares a few (group commit) instead of taking 400 s."""
    with server(tmp_path, "--appendfsync", "always", env=_inject_env(SHARDSERVER_TEST_SLOW_FSYNC="0.2")) as s:
        r = client(s)
        key = key_on(0, 2)
        for i in range(3):
            before = _shard_aof(r, 0)["fsyncs"]
            start = time.monotonic()
            assert r.set(key, i)
            assert time.monotonic() - start >= 0.2
            after = _shard_aof(r, 0)
            assert after["fsyncs"] == before + 1 and after["fsync_lag_ms"] == 0
        before_all = [_shard_aof(r, i)["fsyncs"] for i in (0, 1)]
        pipe = r.pipeline(transaction=False)
        for i in range(2000):
            pipe.set(f"g{i}", i)
        assert all(pipe.execute())
        after_all = [_shard_aof(r, i)["fsyncs"] for i in (0, 1)]
        assert all(1 <= a - b <= 20 for a, b in zip(after_all, before_all, strict=True)), (before_all, after_all)


def _wait_for(what: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_everysec_fsyncs_off_the_hot_path(tmp_path: Path) -> None:
    """The fsync thread starts on its own; a write is answered while that fsync still runs."""
    fsyncs = tmp_path / "fsyncs.log"
    data = tmp_path / "data"
    data.mkdir()
    env = _inject_env(SHARDSERVER_TEST_FSYNC_LOG=str(fsyncs), SHARDSERVER_TEST_SLOW_FSYNC="1.5")
    with server(data, "--appendfsync", "everysec", env=env) as s:
        r = client(s)
        key = key_on(0, 2)
        assert r.set(key, "first")
        _wait_for(lambda: any(what == "start" and ".s0." in name for what, name, _ in _fsync_lines(fsyncs)))
        assert r.set(key, "second")
        assert not [line for line in _fsync_lines(fsyncs) if line[0] == "done"]  # still in its fsync
        assert _shard_aof(r, 0)["fsync_lag_ms"] > 0
        # the thread catches up with no client asking
        _wait_for(lambda: _shard_aof(r, 0)["fsync_lag_ms"] == 0)
        assert _shard_aof(r, 0)["fsyncs"] >= 2


def test_loading_is_reported_and_answered_with_loading(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        client(s).mset({f"key{i}": "x" * 50 for i in range(3000)})
    env = _inject_env(SHARDSERVER_TEST_SLOW_LOAD="0.05")
    # the front listens before the shards are loaded: wait for that, not for "Ready"
    proc = start_shardserver("--appendonly", "yes", shards=2, dir=str(tmp_path), env=env, ready=rb"Front listening on .* port (\d+)")
    try:
        r = client(proc)
        info = r.info("persistence")
        assert info["loading"] == 1
        with connect(proc.port) as sock:  # raw: redis-py would retry a LOADING reply
            sock.sendall(resp("GET", "key1"))
            (reply,) = read_replies(sock, 1)
        assert str(reply).startswith("LOADING ")
        while not int(r.info("persistence").get("loading_loaded_bytes", 0)):
            pass
        info = r.info("persistence")
        assert info["loading"] == 1 and int(info["loading_total_bytes"]) > 0
        while r.info("persistence")["loading"]:
            pass
        assert r.dbsize() == 3000
        info = r.info("persistence")
        assert info["shard0_aof"]["loaded_records"] > 0 and info["shard1_aof"]["load_time_ms"] > 0
    finally:
        proc.stop()
        kill_tree(proc)


def test_misconf_when_the_aof_cannot_be_written_then_recovery(tmp_path: Path) -> None:
    k0, k1 = key_on(0, 2, "m"), key_on(1, 2, "m")
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.set(k0, "before")
        pid = shard_pids(r.info("shards"), 2)[0]
        import resource

        size = (tmp_path / "appendonlydir" / manifest(tmp_path).shard_files(0)[-1].name).stat().st_size
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (size + 10, resource.RLIM_INFINITY))
        with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to the AOF file: File too large"):
            r.set(k0, "x" * 100)
        # reads keep working; writes keep failing while the disk is "full"
        assert r.get(k0) in (b"before", b"x" * 100)
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            r.set(k0, "again")
        assert r.info("persistence")["aof_last_write_status"] == "err"
        # a write across shards: shard 1 applies its part, so shard 0 runs its own too (kept
        # for when the disk has room) and answers MISCONF; it is whole, now and after restarts
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            r.mset({k0: "both", k1: "both"})
        assert r.mget(k0, k1) == [b"both", b"both"]
        src, dst = key_on(1, 2, "src"), key_on(0, 2, "dst")
        assert r.set(src, "moved")  # shard 1's own writes go on
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            r.rename(src, dst)  # its last step is a write across shards too
        assert (r.get(dst), r.exists(src)) == (b"moved", 0)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert r.set(k0, "after")
        assert r.info("persistence")["aof_last_write_status"] == "ok"
    with server(tmp_path) as s:  # the MSET is not rolled forward over the later SET
        assert client(s).mget(k0, k1, dst, src) == [b"after", b"both", b"moved", None]
        assert "rolled forward" not in s.text()


def test_replay_does_not_expire_keys_between_their_records(tmp_path: Path) -> None:
    import time

    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        deadline_ms = int(time.time() * 1000) + 300
        r.set("k", "v", pxat=deadline_ms)
        r.append("k", "x")  # logged while k is live
        r.set("other", "stays")
        kill_tree(s)  # no DEL for k is ever logged
    while time.time() * 1000 <= deadline_ms + 5:  # the TTL must pass before the restart
        time.sleep(0.01)
    with server(tmp_path) as s:
        r = client(s)
        # replaying APPEND after an already-expired SET must not resurrect "x" without a TTL
        assert r.get("k") is None
        assert r.get("other") == b"stays"


# ---------------------------------------------------------------------------- every type


def _type_writes(r: redis.Redis) -> None:
    """Writes of every command family, with relative TTLs, random choices, auto IDs and cross-shard steps."""
    _string_writes(r)
    lo, hi = key_on(0, 2, "lo"), key_on(1, 2, "hi")
    # hashes, with field TTLs in every form
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3", "d": "4", "f": "1.5"})
    r.hsetnx("h", "e", "5")
    r.hincrby("h", "a", 10)
    r.hincrbyfloat("h", "f", "0.25")
    r.hdel("h", "d")
    r.execute_command("HEXPIRE", "h", 1000, "FIELDS", 1, "a")
    r.execute_command("HPEXPIRE", "h", 2_000_000, "FIELDS", 1, "b")
    r.execute_command("HEXPIREAT", "h", 2_000_000_000, "FIELDS", 1, "c")
    r.execute_command("HPERSIST", "h", "FIELDS", 1, "c")
    r.execute_command("HSETEX", "h2", "EX", 500, "FIELDS", 2, "x", "1", "y", "2")
    r.execute_command("HGETEX", "h2", "PX", 900_000, "FIELDS", 1, "y")
    r.execute_command("HPEXPIRE", "h2", 1, "FIELDS", 1, "x")  # expires at once
    r.hset(key_on(0, 2, "hl"), "k", "v")
    # sets: SPOP is random, SMOVE and the *STORE forms cross shards
    r.sadd("s", *[str(i) for i in range(20)])
    r.srem("s", "0")
    r.spop("s", 3)
    r.spop("s")
    r.sadd(lo, "x", "y", "z")
    r.sadd(hi, "y", "z", "w")
    r.smove(lo, hi, "x")
    r.sinterstore("sinter", [lo, hi])
    r.sunionstore(key_on(1, 2, "su"), [lo, hi, "s"])
    r.sdiffstore(key_on(0, 2, "sd"), [hi, lo])
    # sorted sets
    r.zadd("z", {"a": 1, "b": 2.5, "c": -3, "d": 10})
    r.zadd("z", {"a": 5}, gt=True)
    r.zincrby("z", 0.5, "b")
    r.zpopmin("z")
    r.zpopmax("z")
    r.zadd(key_on(0, 2, "za"), {"m": 1, "n": 2})
    r.zadd(key_on(1, 2, "zb"), {"n": 3, "o": 4})
    r.zunionstore(key_on(1, 2, "zu"), [key_on(0, 2, "za"), key_on(1, 2, "zb")], aggregate="MAX")
    r.zinterstore(key_on(0, 2, "zi"), {key_on(0, 2, "za"): 2, key_on(1, 2, "zb"): 3})
    r.zrangestore(key_on(1, 2, "zr"), key_on(0, 2, "za"), 0, 0)
    r.zremrangebyscore("z", "-inf", "(0")
    # streams: auto IDs, trimming, consumer groups and their pending lists
    for i in range(30):
        r.xadd("st", {"n": str(i)})
    r.xadd("st", {"n": "trim"}, maxlen=20, approximate=False)
    r.xadd("st", {"n": "explicit"}, id="9999999999999-5")
    r.xgroup_create("st", "g", id="0")
    r.xgroup_createconsumer("st", "g", "idle")
    r.xreadgroup("g", "alice", {"st": ">"}, count=5)
    r.xreadgroup("g", "bob", {"st": ">"}, count=3, noack=True)
    first = r.xrange("st", count=2)
    r.xack("st", "g", first[0][0])
    r.xclaim("st", "g", "bob", 0, [first[1][0]])
    r.xautoclaim("st", "g", "carol", 0, count=1)
    r.xdel("st", r.xrange("st", count=3)[2][0])
    r.xtrim("st", maxlen=15)
    r.xgroup_create("st", "g2", id="$", mkstream=True)
    r.xgroup_setid("st", "g2", id="0")
    r.xgroup_delconsumer("st", "g", "idle")
    # bitmaps and HyperLogLog
    r.setbit("bits", 7, 1)
    r.setbit("bits", 100, 1)
    r.bitfield("bf").set("u8", 0, 200).incrby("i5", 8, 3).execute()
    r.set(key_on(0, 2, "b1"), "\xff\x0f")
    r.set(key_on(1, 2, "b2"), "\x0f\xff")
    r.bitop("AND", key_on(1, 2, "band"), key_on(0, 2, "b1"), key_on(1, 2, "b2"))
    r.pfadd(key_on(0, 2, "p1"), *[f"e{i}" for i in range(100)])
    r.pfadd(key_on(1, 2, "p2"), *[f"e{i}" for i in range(50, 5000)])
    r.pfmerge(key_on(0, 2, "pm"), key_on(0, 2, "p1"), key_on(1, 2, "p2"))
    # lists, with a cross-shard move and a served blocking pop
    r.rpush("l", *[str(i) for i in range(10)])
    r.lpush("l", "head")
    r.linsert("l", "before", "5", "ins")
    r.lset("l", 0, "HEAD")
    r.lrem("l", 1, "3")
    r.ltrim("l", 0, 8)
    r.rpop("l")
    r.lpop("l", 2)
    r.rpush(key_on(0, 2, "la"), "a", "b", "c")
    r.lmove(key_on(0, 2, "la"), key_on(1, 2, "lb"), "LEFT", "RIGHT")
    r.rpoplpush(key_on(0, 2, "la"), key_on(0, 2, "la"))
    r.rpush("bl", "x")
    assert r.blpop(["bl-empty", "bl"], timeout=1) == (b"bl", b"x")
    r.lmpop(2, "nothing", "l", direction="RIGHT", count=2)
    # the rest of the write commands
    r.execute_command("HMSET", "hm", "a", "1", "b", "2", "c", "3")
    r.execute_command("HGETDEL", "hm", "FIELDS", 1, "a")
    r.execute_command("HPEXPIREAT", "hm", 4_000_000_000_000, "FIELDS", 1, "b")
    r.lpushx("l", "lx")
    r.rpushx("l", "rx")
    r.lpushx("no-such-list", "x")
    r.rpush("bq", "1", "2", "3", "4")
    assert r.brpop(["bq"], timeout=1) == (b"bq", b"4")
    assert r.brpoplpush("bq", "bq2", timeout=1) == b"3"
    assert r.blmove("bq", "bq2", 1, "LEFT", "LEFT") == b"1"
    assert r.execute_command("BLMPOP", 1, 2, "none", "bq2", "LEFT", "COUNT", 1) == [b"bq2", [b"1"]]
    r.zadd("zz", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6})
    r.zrem("zz", "a")
    r.zremrangebyrank("zz", 0, 0)
    r.zremrangebylex("zz", "[c", "[c")
    r.zmpop(2, ["none", "zz"], max=True)
    r.zadd("bz", {"p": 1, "q": 2, "r": 3, "s": 4})
    assert r.bzpopmin(["bz"], timeout=1) == (b"bz", b"p", 1.0)
    assert r.bzpopmax(["bz"], timeout=1) == (b"bz", b"s", 4.0)
    assert r.execute_command("BZMPOP", 1, 1, "bz", "MIN") == [b"bz", [[b"q", b"2"]]]
    r.zdiffstore(key_on(1, 2, "zdiff"), [key_on(0, 2, "za"), key_on(1, 2, "zb")])
    r.execute_command("XSETID", "st", "99999999999999-1")
    r.xgroup_destroy("st", "g2")
    r.execute_command("PFDEBUG", "TODENSE", key_on(0, 2, "p1"))
    r.set("u1", "1")
    r.unlink("u1", "u2")
    r.set("rn", "v")
    r.renamenx("rn", "rn2")
    r.renamenx("rn2", "plain")  # the destination exists: nothing happens
    # generic commands on collections
    r.copy("z", "zcopy")
    r.rename("s", key_on(1, 2, "srenamed"))
    r.expire("h", 9000)


def _as_map(value: Any) -> dict[bytes, Any]:
    return value if isinstance(value, dict) else dict(zip(value[::2], value[1::2], strict=True))


def _full_state(r: redis.Redis) -> dict[Any, Any]:
    out: dict[Any, Any] = dict(state(r))
    raw = redis.Redis(connection_pool=r.connection_pool)
    raw.response_callbacks.clear()
    for (_db, key), (kind, _, _) in list(out.items()):
        if kind == b"hash":
            fields = sorted(r.hkeys(key))
            out[("httl", key)] = list(zip(fields, r.execute_command("HPEXPIRETIME", key, "FIELDS", len(fields), *fields), strict=True))
        if kind == b"stream":
            info = _as_map(raw.execute_command("XINFO", "STREAM", key, "FULL"))
            groups = []
            for g in info[b"groups"]:
                g = _as_map(g)
                pel = [e[:2] + e[3:] for e in g.get(b"pending", g.get(b"pel", []))]  # without the delivery time
                consumers = sorted((_as_map(c)[b"name"], [p[0] for p in _as_map(c)[b"pending"]]) for c in g[b"consumers"])
                groups.append((g[b"name"], g[b"last-delivered-id"], g[b"entries-read"], g[b"pel-count"], pel, consumers))
            fields = (b"length", b"last-generated-id", b"max-deleted-entry-id", b"entries-added", b"recorded-first-entry-id")
            meta = {k: info[k] for k in fields}
            out[("xinfo", key)] = (meta, groups)
        if kind == b"string":
            out[("encoding", key)] = r.object("encoding", key)
    return out


@pytest.mark.parametrize("rewrite", [False, True], ids=["incremental", "after-rewrite"])
def test_every_type_replays_to_the_live_state(tmp_path: Path, rewrite: bool) -> None:
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        _type_writes(r)
        called = {k[len("cmdstat_") :] for k in r.info("commandstats")}
        writes = {c.fullname for c in all_commands() if "write" in c.flags}
        # FLUSHALL, FLUSHDB and SWAPDB have their own replay test above
        assert writes - called - {"flushall", "flushdb", "swapdb"} == set()
        before = _full_state(r)
        if rewrite:
            assert r.bgrewriteaof()
            while r.info("persistence")["aof_rewrite_in_progress"] or int(r.info("persistence")["aof_rewrites"]) < 1:
                pass
            assert _full_state(r) == before
    assert {k[0] if isinstance(k[0], int) else k[0] for k in before} >= {0, "httl", "xinfo"}
    # nothing non-deterministic or relative reached the files
    names = {a[0].lower() for a in all_records(tmp_path)}
    assert not names & {
        b"blpop", b"brpop", b"blmove", b"blmpop", b"brpoplpush", b"bzpopmin", b"bzpopmax", b"bzmpop", b"spop", b"incrbyfloat", b"hincrbyfloat", b"setex", b"psetex", b"expire",
        b"pexpire", b"expireat", b"getex", b"hexpire", b"hpexpire", b"hexpireat", b"hgetex", b"getdel", b"getset",
    }, names
    # records are commands as clients send them (XGROUP CREATE), not handler names (xgroup|create)
    assert not [n for n in names if b"|" in n], names
    if rewrite:  # the base files are bulk records
        assert {b"__strings", b"__values"} <= names, names
    else:
        assert b"set" in names and b"__strings" not in names
    with server(tmp_path) as s:
        after = _full_state(client(s))
    assert after == before


def test_a_failed_rewrite_keeps_the_old_files(tmp_path: Path) -> None:
    import resource

    keys = keys_on(0, 2, "rw", 200)
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for k in keys:
            r.set(k, "x" * 50)
        pid = shard_pids(r.info("shards"), 2)[0]
        names_before = sorted(f.name for f in manifest(tmp_path).shard_files(0))
        # the rewrite child inherits a file size limit its snapshot cannot fit in
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
        assert r.bgrewriteaof()
        while r.info("persistence")["aof_rewrite_in_progress"]:
            pass
        assert r.info("persistence")["aof_last_bgrewrite_status"] == "err"
        assert "background AOF rewrite failed" in s.text()
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        r.set(keys[0], "after")  # the new incremental file, listed before the fork, takes writes
        names_after = sorted(f.name for f in manifest(tmp_path).shard_files(0))
        assert names_after[: len(names_before)] == names_before and len(names_after) == len(names_before) + 1
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (10, resource.RLIM_INFINITY))
        with connect(s.port) as sock:  # raw: redis-py strips the bare "ERR"
            sock.sendall(resp("SAVE"))
            (reply,) = read_replies(sock, 1)
        assert str(reply) == "ERR" and "SAVE failed" in s.text()
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    with server(tmp_path) as s:
        r = client(s)
        assert r.get(keys[0]) == b"after" and r.mget(keys[1:]) == [b"x" * 50] * 199


def test_hash_fields_reclaimed_by_active_expiry_replay(tmp_path: Path) -> None:
    with server(tmp_path, "--appendfsync", "always", "--hz", "100") as s:
        r = client(s)
        r.hset("h", mapping={"a": "1", "b": "2"})
        r.hset("gone", mapping={"x": "1"})
        r.execute_command("HPEXPIRE", "h", 30, "FIELDS", 1, "a")
        r.execute_command("HPEXPIRE", "gone", 30, "FIELDS", 1, "x")
        # HLEN counts an expired field until the active cycle reclaims it (as Valkey)
        while r.hlen("h") != 1 or r.exists("gone"):
            pass
        kill_tree(s)
    names = all_records(tmp_path)
    assert [b"HDEL", b"h", b"a"] in names and [b"HDEL", b"gone", b"x"] in names
    with server(tmp_path) as s:
        r = client(s)
        assert r.hgetall("h") == {b"b": b"2"} and r.exists("gone") == 0


def test_stream_trims_with_limit_and_group_reads_replay(tmp_path: Path) -> None:
    """An approximate trim with LIMIT is logged as the exact trim it made, LIMIT kept, as
    Valkey logs it: the replay obeys it (no LIMIT-without-~ error, which lost the key or
    the trim).  A group's entries-read after XREADGROUP comes back too (XGROUP SETID ...
    ENTRIESREAD is logged whenever the group moved, not only under NOACK)."""
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.execute_command("XADD", "t1", "MAXLEN", "~", "5", "LIMIT", "2", "13-0", "f", "v")
        r.execute_command("XADD", "t2", "15-0", "f", "v")
        assert r.execute_command("XTRIM", "t2", "MINID", "~", "16-0", "LIMIT", "2") == 1
        r.execute_command("XADD", "t3", "MAXLEN", "~", "0", "LIMIT", "1", "3-2", "f", "v")
        assert r.xlen("t3") == 0 and r.type("t3") == b"stream"
        for i in range(1, 5):
            r.xadd("g1", {"f": "v"}, id=f"{i}-0")
        r.xgroup_create("g1", "g", id="0")
        r.xreadgroup("g", "c", {"g1": ">"}, count=1)
        r.execute_command("XGROUP", "CREATE", "g2", "g", "0", "MKSTREAM", "ENTRIESREAD", "100")
        r.xadd("g2", {"a": "1"}, id="19-2")
        r.xreadgroup("g", "c", {"g2": ">"})
        before = _full_state(r)
    groups = {key: g for (kind, key), (_, g) in ((k, v) for k, v in before.items() if k[0] == "xinfo")}
    assert groups[b"g1"][0][2] == 1 and groups[b"g2"][0][2] == 1  # entries-read
    with server(tmp_path) as s:
        after = _full_state(client(s))
    assert after == before


@pytest.mark.parametrize("shards", [1, 2])
def test_writes_after_a_restart_stay_in_their_database(tmp_path: Path, shards: int) -> None:
    """A restart reopens the last incremental file, which may end under SELECT 1: the
    writer says SELECT 0 again before its first record, so db 0's writes after the
    restart do not replay into db 1 (they did: found by a differential fuzzer)."""
    with server(tmp_path, shards=shards) as s:
        r = client(s, db=1)
        r.set("a", "1")
        r.execute_command("SELECT", "0")
    with server(tmp_path, shards=shards) as s:
        client(s).set("b", "2")
        client(s, db=1).set("c", "3")
        client(s).set("d", "4")
    with server(tmp_path, shards=shards) as s:
        assert sorted(client(s).keys()) == [b"b", b"d"]
        assert sorted(client(s, db=1).keys()) == [b"a", b"c"]


@pytest.mark.parametrize(("before", "after"), [(2, 1), (3, 2), (1, 3)])
def test_flushes_and_swaps_replay_once_into_a_new_shard_count(tmp_path: Path, before: int, after: int) -> None:
    """With a new shard count each shard replays every old shard's files that held its
    slots: an old shard's FLUSHALL, FLUSHDB or SWAPDB touches only that old shard's slots,
    as it did when it ran (it emptied or swapped the keys of the shards replayed before
    it: found by a differential fuzzer)."""
    keys = [b"a", b"b", b"c", b"k2", b"{b}x", b"x", b"k1"]
    with server(tmp_path, "--appendfsync", "always", shards=before) as s:
        r = client(s)
        r.flushall()
        r.flushdb()
        for k in keys:
            r.set(k, b"v-" + k)
        r.set("s1", "1", ex=10000)
        r1 = client(s, db=1)  # its hash comes to db 0 with the swap (_full_state reads field TTLs there)
        r1.hset("h", mapping={"f": "v", "g": "w"})
        r1.execute_command("HEXPIRE", "h", "10000", "FIELDS", "1", "f")
        r.swapdb(0, 1)
        client(s, db=1).set("after-swap", "y")
        expected = _full_state(client(s))
    with server(tmp_path, shards=after) as s:
        assert _full_state(client(s)) == expected
        assert client(s, db=1).get("a") == b"v-a" and client(s).keys() == [b"h"]


def test_pfcount_that_caches_a_cardinality_is_logged(tmp_path: Path) -> None:
    """PFCOUNT writes the cardinality it computed into the HLL's header; Valkey logs that
    PFCOUNT, so GET shows the same bytes after a reload.  A PFCOUNT that finds the cache
    valid changes nothing and logs nothing."""
    with server(tmp_path, "--appendfsync", "always", shards=1) as s:
        r = client(s, db=2)
        r.pfadd("h", "a", "b", "c")
        assert r.pfcount("h") == 3
        before = r.get("h")
        size = _aof_bytes(tmp_path)
        assert r.pfcount("h") == 3  # cached now
        assert _aof_bytes(tmp_path) == size
    with server(tmp_path, shards=1) as s:
        assert client(s, db=2).get("h") == before


def test_replayed_stream_times_are_real_times(tmp_path: Path) -> None:
    """Replay runs with the expiry clock at 0 (no TTL passes mid-replay), but what a
    replayed record stamps is a real time: a pending entry's delivery time (XCLAIM
    ... TIME) and its consumer's seen and active times.  They came back as 0, so
    XPENDING and XINFO CONSUMERS showed an idle time of about 56 years (found by a
    differential fuzzer; Valkey shows the time since the read, and since the load)."""
    with server(tmp_path, shards=1) as s:
        r = client(s)
        r.xadd("s", {"a": "1"}, id="1-1")
        r.xgroup_create("s", "g", id="0")
        r.xreadgroup("g", "c", {"s": ">"}, count=1)
        idle_before = r.xpending_range("s", "g", "-", "+", 10)[0]["time_since_delivered"]
    with server(tmp_path, shards=1) as s:
        r = client(s)
        (entry,) = r.xpending_range("s", "g", "-", "+", 10)
        assert entry["message_id"] == b"1-1" and entry["consumer"] == b"c" and entry["times_delivered"] == 1
        assert idle_before <= entry["time_since_delivered"] < 60_000
        (consumer,) = r.xinfo_consumers("s", "g")
        assert consumer["pending"] == 1 and 0 <= consumer["idle"] < 60_000 and 0 <= consumer["inactive"] < 60_000


def test_bit_writes_that_change_nothing_are_not_logged(tmp_path: Path) -> None:
    """As Valkey: SETBIT of a bit already so, a BITFIELD SET of the value already there and a
    BITFIELD whose every write FAILs change nothing and log nothing (so after a restart the
    untouched string keeps its compact encoding, as in Valkey); a write that grows the
    string, or changes a bit or field, is logged."""
    with server(tmp_path, "--appendfsync", "always", shards=1) as s:
        r = client(s)
        r.set("b", "cdbacbacddaadbca")
        assert r.setbit("b", 8, 0) == 0  # already 0
        r.set("f", "x")
        assert r.execute_command("BITFIELD", "f", "SET", "u8", "0", "120") == [120]  # "x" is 120
        assert r.execute_command("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "5") == [None]
        assert r.setbit("g", 3, 0) == 0  # creates g: logged
        assert r.setbit("b", 200, 0) == 0  # grows b: logged
        assert r.execute_command("BITFIELD", "f", "SET", "u8", "0", "121", "GET", "u8", "0") == [120, 121]
        assert r.setbit("g", 3, 1) == 0
        kill_tree(s)
    writes = [rec for rec in all_records(tmp_path) if rec[0].upper() in (b"SETBIT", b"BITFIELD")]
    assert writes == [
        [b"SETBIT", b"g", b"3", b"0"],
        [b"SETBIT", b"b", b"200", b"0"],
        [b"BITFIELD", b"f", b"SET", b"u8", b"0", b"121", b"GET", b"u8", b"0"],
        [b"SETBIT", b"g", b"3", b"1"],
    ]
    with server(tmp_path, shards=1) as s:
        r = client(s)
        assert r.get("f") == b"y" and r.getbit("g", 3) == 1 and r.strlen("b") == 26
