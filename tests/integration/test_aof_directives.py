"""The AOF directives through the real server: a non-default directory, a config
file, changes at run time, the automatic rewrite's thresholds, CONFIG SET's errors;
and LASTSAVE, BGREWRITEAOF during a BGSAVE and INCRBYFLOAT's TTL against Valkey 9.

Helpers come from test_persistence (servers on a test-owned directory).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis

from persistence import manifest as mf
from persistence.aof import read_records
from shardserver import errors
from tests.integration.helpers import connect, key_on, read_replies, resp, sync_log
from tests.integration.test_persistence import (
    _inject_env,
    _shard_aof,
    _wait_for,
    all_records,
    client,
    kill_tree,
    server,
    state,
)
from tests.servers import ServerProc, start_shardserver, valkey

SLOW_CHILD = rb"TEST-INJECT: rewrite child wrote its snapshot"


def call(port: int, *cmd: bytes | str | int) -> Any:
    """One command over a raw socket: the reply as sent (an error keeps its full text)."""
    with connect(port) as sock:
        sock.sendall(resp(*cmd))
        return read_replies(sock, 1)[0]


def shown(reply: Any) -> Any:
    """A reply to compare: an error as its text."""
    return ("error", str(reply)) if isinstance(reply, hiredis.ReplyError) else reply


def persistence(r: redis.Redis) -> dict[str, Any]:
    return r.info("persistence")  # type: ignore[no-any-return]


def records_in(aof_dir: Path) -> list[list[bytes]]:
    """Every record of every file the manifest in ``aof_dir`` lists, in its order."""
    m = mf.read(str(aof_dir))
    assert m is not None
    out: list[list[bytes]] = []
    for f in m.files:
        read_records(str(aof_dir / f.name), lambda db, recs: out.extend(recs))
    return out


def incr_bytes(aof_dir: Path, shard: int) -> bytes:
    """The contents of a shard's incremental files, in manifest order."""
    m = mf.read(str(aof_dir))
    assert m is not None
    return b"".join((aof_dir / f.name).read_bytes() for f in m.shard_files(shard) if f.kind == "incr")


def one_cron_tick(r: redis.Redis, shard: int) -> None:
    """Return once ``shard`` has run its cron (expiry cycle, then the AOF cron) at least once.

    A key that expires at once and is never read can only go by the active
    expiry cycle; the AOF cron runs in the same tick, before the shard answers
    anything else."""
    before = int(r.info("stats")["expired_keys"])
    r.set(key_on(shard, 2, "tick"), "v", px=1)
    _wait_for(lambda: int(r.info("stats")["expired_keys"]) > before)


def idle(r: redis.Redis) -> bool:
    """No rewrite or BGSAVE runs or waits on any shard."""
    p = persistence(r)
    return not (p["aof_rewrite_in_progress"] or p["rdb_bgsave_in_progress"] or p["aof_rewrite_scheduled"])


# ---------------------------------------------------------------------------- A1: appenddirname


def test_a_non_default_appenddirname_holds_the_files(tmp_path: Path) -> None:
    aof_dir = tmp_path / "my-aof"
    with server(tmp_path, "--appenddirname", "my-aof", "--appendfsync", "always") as s:
        r = client(s)
        assert r.config_get("appenddirname") == {"appenddirname": "my-aof"}
        r.mset({key_on(0, 2, "a"): "0", key_on(1, 2, "a"): "1"})
        r.set("ttl", "v", ex=1000)
        before = state(r)
        assert (aof_dir / "shardserver.manifest").is_file()
        assert not (tmp_path / "appendonlydir").exists()
        # the part of the MSET across shards on shard 1 (with the intents beside it)
        assert [b"mset", key_on(1, 2, "a").encode(), b"1"] in [[r[0].lower(), *r[1:]] for r in records_in(aof_dir)]
        assert any(p.name.startswith("shardserver.intents.") for p in aof_dir.iterdir())
    with server(tmp_path, "--appenddirname", "my-aof") as s:
        assert state(client(s)) == before
    assert not (tmp_path / "appendonlydir").exists()
    # the files are found through the directive: the default directory has none of them
    with server(tmp_path) as s:
        assert client(s).dbsize() == 0


# ---------------------------------------------------------------------------- A2: a config file


def test_aof_directives_from_a_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "shardserver.conf"
    conf.write_text(
        "appendonly yes\n"
        "appendfsync always\n"
        'appenddirname "conf-aof"\n'
        "aof-timestamp-enabled yes\n"
        "auto-aof-rewrite-percentage 50\n"
        "auto-aof-rewrite-min-size 1mb\n"
    )
    data = tmp_path / "data"
    data.mkdir()
    aof_dir = data / "conf-aof"
    expected = {
        "appendonly": "yes",
        "appendfsync": "always",
        "appenddirname": "conf-aof",
        "aof-timestamp-enabled": "yes",
        "auto-aof-rewrite-percentage": "50",
        "auto-aof-rewrite-min-size": "1048576",
    }
    proc = start_shardserver(str(conf), shards=2, dir=str(data))
    try:
        r = client(proc)
        for name, value in expected.items():
            assert r.config_get(name) == {name: value}
        assert persistence(r)["aof_enabled"] == 1
        fsyncs = _shard_aof(r, 0)["fsyncs"]
        start = int(time.time())
        keys = [key_on(0, 2, "c"), key_on(1, 2, "c")]
        for k in keys:
            r.set(k, "v")
        end = int(time.time())
        assert _shard_aof(r, 0)["fsyncs"] > fsyncs  # always: fsynced before the reply
        for shard, k in enumerate(keys):
            # the annotation comes right before the records written in that second
            m = re.search(rb"#TS:(\d+)\r\n(?:\*2\r\n\$6\r\nSELECT\r\n\$1\r\n0\r\n)?\*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n" % (len(k), k.encode()), incr_bytes(aof_dir, shard))
            assert m is not None, incr_bytes(aof_dir, shard)
            assert start <= int(m.group(1)) <= end
        before = state(r)
    finally:
        proc.stop()
        kill_tree(proc)
    assert not (data / "appendonlydir").exists()
    proc = start_shardserver(str(conf), shards=2, dir=str(data))
    try:
        assert state(client(proc)) == before  # replay skips the annotations
    finally:
        proc.stop()
        kill_tree(proc)


# ---------------------------------------------------------------------------- A3, A4: run time


def test_config_set_appendonly_no_at_run_time(tmp_path: Path) -> None:
    """Writes after it are not logged; any start then loads the files as they were
    (docs/persistence.md: with appendonly no too).  Valkey with appendonly yes loads
    the same; with appendonly no it would load only its RDB file."""
    a0, a1, b0, b1 = key_on(0, 2, "a"), key_on(1, 2, "a"), key_on(0, 2, "b"), key_on(1, 2, "b")
    aof_dir = tmp_path / "appendonlydir"
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.mset({a0: "0", a1: "1"})
        before = state(r)
        assert r.config_set("appendonly", "no")
        assert r.config_get("appendonly") == {"appendonly": "no"}
        assert persistence(r)["aof_enabled"] == 0
        assert all(_shard_aof(r, i)["enabled"] == 0 for i in (0, 1))
        sizes = {p.name: p.stat().st_size for p in aof_dir.iterdir()}
        r.mset({b0: "0", b1: "1"})
        r.delete(a0)
        assert {p.name: p.stat().st_size for p in aof_dir.iterdir()} == sizes
    logged = {tuple(rec) for rec in all_records(tmp_path)}
    assert (b"DEL", a0.encode()) not in logged and not any(b0.encode() in rec for rec in logged)
    proc = start_shardserver(shards=2, dir=str(tmp_path))  # appendonly no
    try:
        r = client(proc)
        assert persistence(r)["aof_enabled"] == 0
        assert state(r) == before
    finally:
        proc.stop()
        kill_tree(proc)
    with server(tmp_path) as s:
        assert state(client(s)) == before


def test_config_set_aof_timestamp_enabled_at_run_time(tmp_path: Path) -> None:
    aof_dir = tmp_path / "appendonlydir"
    k = key_on(0, 2, "t")
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        r.set(k, "1")
        assert b"#TS:" not in incr_bytes(aof_dir, 0)
        assert r.config_set("aof-timestamp-enabled", "yes")
        assert r.config_get("aof-timestamp-enabled") == {"aof-timestamp-enabled": "yes"}
        size = len(incr_bytes(aof_dir, 0))
        now = int(time.time())
        r.set(k, "2")
        added = incr_bytes(aof_dir, 0)[size:]
        m = re.fullmatch(rb"#TS:(\d+)\r\n\*3\r\n\$3\r\nSET\r\n\$\d+\r\n%s\r\n\$1\r\n2\r\n" % k.encode(), added)
        assert m is not None, added
        assert now <= int(m.group(1)) <= int(time.time())
        assert r.config_set("aof-timestamp-enabled", "no")
        # a new second would get a new annotation if they were still on
        _wait_for(lambda: int(time.time()) > int(m.group(1)))
        size = len(incr_bytes(aof_dir, 0))
        r.set(k, "3")
        assert b"#TS:" not in incr_bytes(aof_dir, 0)[size:]
        before = state(r)
    with server(tmp_path) as s:
        assert state(client(s)) == before


# ---------------------------------------------------------------------------- A5: automatic rewrite


def test_auto_rewrite_waits_for_min_size_then_compacts_below_it(tmp_path: Path) -> None:
    """With 1% growth enough, only auto-aof-rewrite-min-size holds the rewrite back."""
    min_size = 32 * 1024
    k = key_on(0, 2, "grow")
    with server(tmp_path, "--auto-aof-rewrite-percentage", "1", "--auto-aof-rewrite-min-size", "32kb") as s:
        r = client(s)
        while _shard_aof(r, 0)["size"] < min_size * 3 // 4:
            r.set(k, "x" * 200)
        one_cron_tick(r, 0)
        assert persistence(r)["aof_rewrites"] == 0
        while persistence(r)["aof_rewrites"] == 0:
            r.set(k, "x" * 200)
        _wait_for(lambda: idle(r))
        sync_log(s)
        started = [int(n) for n in re.findall(r"Shard 0: starting automatic AOF rewrite \((\d+) bytes", s.text())]
        assert started and all(n >= min_size for n in started)
        assert _shard_aof(r, 0)["size"] < min_size  # one key left: the rewrite compacted it
        assert r.get(k) == b"x" * 200


def test_auto_rewrite_percentage_0_turns_automatic_rewrites_off(tmp_path: Path) -> None:
    k = key_on(0, 2, "grow")
    with server(tmp_path, "--auto-aof-rewrite-percentage", "0", "--auto-aof-rewrite-min-size", "8kb") as s:
        r = client(s)
        while _shard_aof(r, 0)["size"] < 64 * 1024:  # 8x min-size, from an empty file
            r.set(k, "x" * 200)
        one_cron_tick(r, 0)
        assert persistence(r)["aof_rewrites"] == 0
        assert "starting automatic AOF rewrite" not in s.text()
        # the same growth does trigger one once a percentage is set
        assert r.config_set("auto-aof-rewrite-percentage", "100")
        _wait_for(lambda: persistence(r)["aof_rewrites"] >= 1)


# ---------------------------------------------------------------------------- A6: CONFIG SET errors

BAD_CONFIG_SETS: list[tuple[str, ...]] = [
    ("appendonly", "foo"),
    ("appendonly", ""),
    ("appendfsync", "sometimes"),
    ("appendfsync", ""),
    ("appenddirname", "other"),
    ("appenddirname", "appendonlydir"),
    ("aof-timestamp-enabled", "maybe"),
    ("aof-load-truncated", "2"),
    ("auto-aof-rewrite-percentage", "-1"),
    ("auto-aof-rewrite-percentage", "abc"),
    ("auto-aof-rewrite-percentage", "1.5"),
    ("auto-aof-rewrite-percentage", "2147483648"),
    ("auto-aof-rewrite-percentage", "1kb"),
    ("auto-aof-rewrite-min-size", "-1"),
    ("auto-aof-rewrite-min-size", "abc"),
    ("auto-aof-rewrite-min-size", "1zb"),
    ("auto-aof-rewrite-min-size", "1.5mb"),
    ("auto-aof-rewrite-min-size", "99999999999999999999"),
    ("appendfsync", "always", "appendfsync", "no"),
    ("appendfsync", "always", "auto-aof-rewrite-min-size", "x"),
]
AOF_DIRECTIVES = ("appendonly", "appendfsync", "appenddirname", "aof-timestamp-enabled", "aof-load-truncated",
                  "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size")  # fmt: skip


def test_config_set_bad_values_answer_valkeys_errors(tmp_path: Path) -> None:
    """Each refused CONFIG SET gives Valkey 9's exact text and changes nothing."""
    with valkey() as vport, server(tmp_path) as s:
        before = [call(s.port, "CONFIG", "GET", name) for name in AOF_DIRECTIVES]
        for args in BAD_CONFIG_SETS:
            mine, theirs = shown(call(s.port, "CONFIG", "SET", *args)), shown(call(vport, "CONFIG", "SET", *args))
            assert theirs[0] == "error", (args, theirs)
            assert mine == theirs, args
        assert [call(s.port, "CONFIG", "GET", name) for name in AOF_DIRECTIVES] == before


# ---------------------------------------------------------------------------- B1: LASTSAVE


def test_lastsave_moves_for_bgsave_not_for_rewrites(tmp_path: Path) -> None:
    """As Valkey: LASTSAVE (and rdb_last_save_time) count SAVE/BGSAVE, the role of its RDB
    saves; BGREWRITEAOF and automatic rewrites leave them alone."""
    with server(tmp_path, "--auto-aof-rewrite-min-size", "16kb") as s:
        r = client(s)
        first = int(r.lastsave().timestamp())
        assert persistence(r)["rdb_last_save_time"] == first
        _wait_for(lambda: int(r.time()[0]) > first)  # a move would now show in whole seconds
        r.set("k", "v")
        assert r.bgrewriteaof()
        _wait_for(lambda: persistence(r)["aof_rewrites"] >= 1 and idle(r))
        k = key_on(0, 2, "grow")
        while persistence(r)["aof_rewrites"] < 2:
            r.set(k, "x" * 200)
        _wait_for(lambda: idle(r))
        sync_log(s)
        assert "starting automatic AOF rewrite" in s.text()
        assert int(r.lastsave().timestamp()) == first
        assert persistence(r)["rdb_last_save_time"] == first
        assert r.bgsave()
        _wait_for(lambda: idle(r))
        saved = int(r.lastsave().timestamp())
        assert saved > first
        assert persistence(r)["rdb_last_save_time"] == saved


# ---------------------------------------------------------------------------- B2: BGREWRITEAOF during BGSAVE


def _bgsave_running(s: ServerProc) -> None:
    """BGSAVE, returning once both shards' children wrote their snapshot and linger."""
    mark = s.log_size()
    assert call(s.port, "BGSAVE") == b"Background saving started"
    first = s.wait_log(SLOW_CHILD, 30, start=mark)
    s.wait_log(SLOW_CHILD, 30, start=first.end())


def test_bgrewriteaof_during_a_bgsave_is_scheduled_and_runs_after(tmp_path: Path) -> None:
    with server(tmp_path, env=_inject_env(SHARDSERVER_TEST_SLOW_REWRITE="2")) as s:
        r = client(s)
        r.mset({key_on(0, 2, "a"): "0", key_on(1, 2, "a"): "1"})
        first = int(r.lastsave().timestamp())
        _wait_for(lambda: int(r.time()[0]) > first)  # so the BGSAVE's LASTSAVE shows
        _bgsave_running(s)
        mark = s.log_size()
        assert call(s.port, "BGREWRITEAOF") == b"Background append only file rewriting scheduled"
        assert call(s.port, "BGREWRITEAOF") == b"Background append only file rewriting scheduled"
        p = persistence(r)
        assert (p["rdb_bgsave_in_progress"], p["aof_rewrite_in_progress"], p["aof_rewrite_scheduled"]) == (1, 0, 1)
        assert shown(call(s.port, "BGSAVE")) == ("error", errors.BGSAVE_RUNNING)
        r.set(key_on(0, 2, "during"), "v")
        # the BGSAVE finishes, then each shard runs the rewrite it scheduled, once
        for i in (0, 1):
            s.wait_log(rb"Shard %d: background AOF rewrite started" % i, 30, start=mark)
        _wait_for(lambda: idle(r))
        sync_log(s)
        assert len(re.findall(rb"background AOF rewrite started", bytes(s.log[mark:]))) == 2
        assert int(r.lastsave().timestamp()) > first
        before = state(r)
    with server(tmp_path) as s:
        assert state(client(s)) == before


def test_bgsave_cancel_leaves_the_scheduled_rewrite(tmp_path: Path) -> None:
    """As Valkey: BGSAVE CANCEL kills the BGSAVE; the rewrite scheduled after it runs, and
    a rewrite is not a save that BGSAVE CANCEL could stop."""
    with server(tmp_path, env=_inject_env(SHARDSERVER_TEST_SLOW_REWRITE="30")) as s:
        r = client(s)
        r.mset({key_on(0, 2, "a"): "0", key_on(1, 2, "a"): "1"})
        _bgsave_running(s)
        assert call(s.port, "BGREWRITEAOF") == b"Background append only file rewriting scheduled"
        mark = s.log_size()
        assert call(s.port, "BGSAVE", "CANCEL") == b"Background saving cancelled"
        first = s.wait_log(SLOW_CHILD, 30, start=mark)
        s.wait_log(SLOW_CHILD, 30, start=first.end())  # the scheduled rewrites run
        p = persistence(r)
        assert (p["rdb_bgsave_in_progress"], p["aof_rewrite_in_progress"], p["aof_rewrite_scheduled"]) == (0, 1, 0)
        assert shown(call(s.port, "BGSAVE", "CANCEL")) == ("error", errors.BGSAVE_NOT_RUNNING)
        assert persistence(r)["aof_rewrite_in_progress"] == 1


def test_bgsave_schedule_runs_after_the_rewrite_and_counts_as_a_save(tmp_path: Path) -> None:
    with server(tmp_path, env=_inject_env(SHARDSERVER_TEST_SLOW_REWRITE="2")) as s:
        r = client(s)
        r.set("k", "v")
        first = int(r.lastsave().timestamp())
        _wait_for(lambda: int(r.time()[0]) > first)
        mark = s.log_size()
        assert call(s.port, "BGREWRITEAOF") == b"Background append only file rewriting started"
        assert call(s.port, "BGSAVE", "SCHEDULE") == b"Background saving scheduled"
        assert int(r.lastsave().timestamp()) == first
        _wait_for(lambda: idle(r) and len(re.findall(rb"background AOF rewrite finished", bytes(s.log[mark:]))) == 4)
        assert int(r.lastsave().timestamp()) > first


BACKGROUND_STEPS: list[tuple[str, ...]] = [
    ("BGSAVE",),
    ("BGREWRITEAOF",),
    ("BGREWRITEAOF",),
    ("BGSAVE",),
    ("BGSAVE", "SCHEDULE"),
    ("SAVE",),
    ("INFO",),
    ("BGSAVE", "CANCEL"),
]
REWRITE_STEPS: list[tuple[str, ...]] = [
    ("BGREWRITEAOF",),
    ("BGREWRITEAOF",),
    ("BGSAVE",),
    ("BGSAVE", "SCHEDULE"),
    ("BGSAVE", "SCHEDULE"),
    ("INFO",),
    ("BGSAVE", "CANCEL"),
    ("BGSAVE", "CANCEL"),
]


def _steps(port: int, steps: list[tuple[str, ...]]) -> list[Any]:
    out = []
    for cmd in steps:
        reply = call(port, *cmd)
        if cmd == ("INFO",):
            fields = dict(line.split(":", 1) for line in call(port, "INFO", "persistence").decode().splitlines() if ":" in line)
            reply = {k: fields[k] for k in ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")}
        out.append(shown(reply))
    return out


@pytest.mark.parametrize("steps", [BACKGROUND_STEPS, REWRITE_STEPS], ids=["during-bgsave", "during-rewrite"])
@pytest.mark.parametrize("aof", ["yes", "no"])
def test_background_saves_and_rewrites_answer_as_valkey(tmp_path: Path, aof: str, steps: list[tuple[str, ...]]) -> None:
    """The same steps while a slow BGSAVE or rewrite runs, on Valkey (rdb-key-save-delay)
    and on shardserver (a lingering child): the same replies and INFO flags."""
    keys = {f"k{i}": "v" for i in range(100)}
    with valkey("--appendonly", aof, "--rdb-key-save-delay", "1000000") as vport:
        v = redis.Redis(port=vport)
        v.mset(keys)
        _wait_for(lambda: idle(v))  # the rewrite that turned Valkey's AOF on
        theirs = _steps(vport, steps)
    with server(tmp_path, "--appendonly", aof, env=_inject_env(SHARDSERVER_TEST_SLOW_REWRITE="60")) as s:
        client(s).mset(keys)
        mine = _steps(s.port, steps)
    assert mine == theirs


# ---------------------------------------------------------------------------- B3: INCRBYFLOAT keeps the TTL


def test_incrbyfloat_keeps_the_exact_ttl_across_a_restart(tmp_path: Path) -> None:
    keys = [key_on(0, 2, "f"), key_on(1, 2, "f")]
    at = int(time.time() * 1000) + 5_000_000
    with server(tmp_path, "--appendfsync", "always") as s:
        r = client(s)
        for i, k in enumerate(keys):
            r.set(k, "10.5", pxat=at + i)
            assert r.incrbyfloat(k, 0.25) == 10.75
            assert r.execute_command("PEXPIRETIME", k) == at + i
        kill_tree(s)  # nothing but the logged records survives
    assert [b"SET", keys[0].encode(), b"10.75", b"KEEPTTL"] in all_records(tmp_path)
    with server(tmp_path) as s:
        r = client(s)
        for i, k in enumerate(keys):
            assert r.get(k) == b"10.75"
            assert r.execute_command("PEXPIRETIME", k) == at + i
