"""Writes across shards stay whole through crashes: the intents of persistence/intents.py.

A fault hook (tests/integration/_inject_aof) makes shard 1 SIGKILL or SIGSTOP
itself when the first part of a cross-shard write reaches it, before running
it, so shard 0 has logged its part and shard 1 has not: the window a crash
between the two shards' fsyncs leaves.
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import redis

from persistence import intents as txi
from persistence.aof import read_records
from tests.integration.helpers import connect, key_on, read_replies, resp, shard_pids
from tests.integration.test_persistence import _inject_env, _wait_for, manifest, state
from tests.servers import ServerProc, aof_shardserver, kill_tree, start_shardserver


def server(data: Path, *args: str, shards: int = 2, env: dict[str, str] | None = None) -> AbstractContextManager[ServerProc]:
    return aof_shardserver(data, "--appendfsync", "always", *args, shards=shards, env=env)


def client(proc: ServerProc) -> redis.Redis:
    return redis.Redis(port=proc.port, socket_timeout=20)


def trap(tmp_path: Path, how: str) -> dict[str, str]:
    """The fault hook, for shard 1; ``arm(tmp_path)`` sets it off at the next part."""
    return _inject_env(SHARDSERVER_TEST_TX_TRAP=f"1:{how}:{tmp_path / 'armed'}")


def arm(tmp_path: Path) -> None:
    (tmp_path / "armed").touch()


def send_raw(proc: ServerProc, *cmd: Any) -> Any:
    """One command on a fresh socket, its reply as read (redis-py would retry a LOADING)."""
    with connect(proc.port, timeout=20) as sock:
        sock.sendall(resp(*[str(a) for a in cmd]))
        (reply,) = read_replies(sock, 1)
    return reply


def intent_files(data: Path) -> list[str]:
    return [os.path.basename(p) for _, p in txi.existing(str(data / "appendonlydir"))]


def marks(data: Path, shard: int) -> list[int]:
    """The ids of the cross-shard writes whose part shard ``shard``'s files hold."""
    out: list[int] = []
    for f in manifest(data).shard_files(shard):
        read_records(str(data / "appendonlydir" / f.name), lambda db, recs: out.extend(int(r[1]) for r in recs if r[0] == b"__txmark"))
    return out


def crash_between_the_parts(s: ServerProc, tmp_path: Path, data: Path, write: list[Any]) -> None:
    """Send ``write`` (never answered: the armed hook freezes shard 1 before its part), wait
    until shard 0's part is in its files, then SIGKILL the whole tree (the server runs with
    ``trap(tmp_path, "stop")``)."""
    arm(tmp_path)
    with connect(s.port) as sock:
        sock.sendall(resp(*[str(a) for a in write]))
        s.wait_log(rb"TEST-INJECT: shard 1 traps cross-shard write", 30)
        _wait_for(lambda: bool(marks(data, 0)) and max(marks(data, 0)) not in marks(data, 1))
        kill_tree(s)


# one write of each kind that spans the two shards, and what it leaves
A0, A1 = key_on(0, 2, "a"), key_on(1, 2, "a")
WRITES: dict[str, tuple[list[Any], list[Any], Any]] = {
    # setup commands, the write, the check of what it leaves: all or nothing
    "mset": ([], ["MSET", A0, "x", A1, "y"], lambda r: r.mget(A0, A1) == [b"x", b"y"]),
    "del": ([["MSET", A0, "1", A1, "2"]], ["DEL", A0, A1], lambda r: r.exists(A0, A1) == 0),
    "rename": ([["SET", A1, "v"]], ["RENAME", A1, A0], lambda r: (r.get(A0), r.exists(A1)) == (b"v", 0)),
    "smove": ([["SADD", A1, "m"]], ["SMOVE", A1, A0, "m"], lambda r: (r.smembers(A0), r.exists(A1)) == ({b"m"}, 0)),
    "lmove": ([["RPUSH", A1, "e"]], ["LMOVE", A1, A0, "LEFT", "RIGHT"], lambda r: (r.lrange(A0, 0, -1), r.exists(A1)) == ([b"e"], 0)),
    "msetnx": ([], ["MSETNX", A0, "x", A1, "y"], lambda r: r.mget(A0, A1) == [b"x", b"y"]),
    "flushall": ([["MSET", A0, "1", A1, "2"]], ["FLUSHALL"], lambda r: r.dbsize() == 0),
    "xreadgroup": (
        [["XADD", A0, "1-1", "f", "v"], ["XADD", A1, "1-1", "f", "v"], ["XGROUP", "CREATE", A0, "g", "0"], ["XGROUP", "CREATE", A1, "g", "0"]],
        ["XREADGROUP", "GROUP", "g", "c", "STREAMS", A0, A1, ">", ">"],
        lambda r: [r.xpending(k, "g")["pending"] for k in (A0, A1)] == [1, 1],
    ),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_shard_killed_in_the_middle_of_a_write_gets_its_part_when_it_restarts(tmp_path: Path, kind: str) -> None:
    setup, write, check = WRITES[kind]
    data = tmp_path / "data"
    data.mkdir()
    with server(data, env=trap(tmp_path, "kill")) as s:
        r = client(s)
        for cmd in setup:
            r.execute_command(*cmd)
        mark = s.log_size()
        arm(tmp_path)
        reply = send_raw(s, *write)  # shard 1 died before its part: the client is told
        assert str(reply).startswith("LOADING"), reply
        s.wait_log(rb"Shard 1 ready: ", 30, start=mark)
        assert "rolled forward 1 part(s)" in s.text()[mark:]
        assert check(r)  # the write is whole: shard 1 ran its part from the intent
        assert marks(data, 1)  # and logged it with its marker
    with server(data) as s:
        assert check(client(s))


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_crash_of_the_whole_tree_between_the_parts_leaves_the_write_whole(tmp_path: Path, kind: str) -> None:
    setup, write, check = WRITES[kind]
    data = tmp_path / "data"
    data.mkdir()
    with server(data, env=trap(tmp_path, "stop")) as s:
        r = client(s)
        for cmd in setup:
            r.execute_command(*cmd)
        crash_between_the_parts(s, tmp_path, data, write)
    with server(data) as s:
        r = client(s)
        assert check(r)
        assert "rolled forward 1 part(s)" in s.text()
    with server(data) as s:  # and stays so: the intent files of that run are gone
        assert check(client(s))
        assert len(intent_files(data)) == 1


def test_a_rewrite_keeps_the_marker_so_a_write_is_not_rolled_forward_twice(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        r = client(s)
        r.mset({A0: "old", A1: "old"})
        assert r.bgrewriteaof()
        _wait_for(lambda: all(r.info("persistence")[f"shard{i}_aof"]["rewrites"] == 1 for i in (0, 1)))
        r.set(A1, "new")  # after the cross-shard write, on shard 1
        before = state(r)
    assert any(f.kind == "base" for f in manifest(tmp_path).shard_files(1))
    with server(tmp_path) as s:
        assert state(client(s)) == before
        assert "rolled forward" not in s.text()


def test_intent_files_are_rotated_and_deleted_once_their_writes_are_on_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with server(data, "--appendfsync", "everysec", env=_inject_env(SHARDSERVER_TEST_INTENT_ROTATE="2048")) as s:
        r = client(s)
        seen: set[str] = set()
        for i in range(300):
            r.mset({f"{A0}:{i}": "v" * 20, f"{A1}:{i}": "w" * 20})
            seen.update(intent_files(data))
        _wait_for(lambda: len(intent_files(data)) <= 2)
        assert len(seen) >= 5  # it rotated
        before = state(r)
    with server(data) as s:
        assert state(client(s)) == before
        assert "rolled forward" not in s.text()


def test_a_shard_count_change_rolls_the_old_layout_forward(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with server(data, env=trap(tmp_path, "stop")) as s:
        r = client(s)
        r.mset({f"k{i}": str(i) for i in range(200)})
        crash_between_the_parts(s, tmp_path, data, ["MSET", A0, "x", A1, "y"])
    with server(data, shards=3) as s:
        r = client(s)
        assert r.mget(A0, A1) == [b"x", b"y"]
        assert r.dbsize() == 202
    assert manifest(data).shards == 3


def test_with_the_aof_off_no_intent_is_written(tmp_path: Path) -> None:
    proc = start_shardserver(shards=2, dir=str(tmp_path))
    try:
        client(proc).mset({A0: "x", A1: "y"})
        assert intent_files(tmp_path) == []
    finally:
        proc.stop()
        kill_tree(proc)


def test_turning_the_aof_on_at_run_time_makes_writes_across_shards_whole(tmp_path: Path) -> None:
    proc = start_shardserver(shards=2, dir=str(tmp_path), env=trap(tmp_path, "kill"))
    try:
        r = client(proc)
        assert r.config_set("appendonly", "yes")
        _wait_for(lambda: all(r.info("persistence")[f"shard{i}_aof"]["enabled"] == 1 for i in (0, 1)))
        assert len(intent_files(tmp_path)) == 1
        pids = shard_pids(r.info("shards"), 2)
        mark = proc.log_size()
        arm(tmp_path)
        reply = send_raw(proc, "MSET", A0, "x", A1, "y")
        assert str(reply).startswith("LOADING"), reply
        proc.wait_log(rb"Shard 1 ready: ", 30, start=mark)
        assert shard_pids(r.info("shards"), 2)[1] != pids[1]
        assert r.mget(A0, A1) == [b"x", b"y"]
        assert r.config_set("appendonly", "no")
        # off again: writes across shards take the router's split path, with no intent
        size = os.path.getsize(tmp_path / "appendonlydir" / intent_files(tmp_path)[-1])
        r.mset({A0: "p", A1: "q"})
        assert os.path.getsize(tmp_path / "appendonlydir" / intent_files(tmp_path)[-1]) == size
    finally:
        proc.stop()
        kill_tree(proc)


def test_a_stopped_shard_is_what_the_trap_did(tmp_path: Path) -> None:
    """The whole-tree tests rely on the hook freezing shard 1 before its part runs."""
    data = tmp_path / "data"
    data.mkdir()
    with server(data, env=trap(tmp_path, "stop")) as s:
        r = client(s)
        pid = shard_pids(r.info("shards"), 2)[1]
        arm(tmp_path)
        sock = connect(s.port)
        sock.sendall(resp("MSET", A0, "x", A1, "y"))
        s.wait_log(rb"TEST-INJECT", 30)
        _wait_for(lambda: re.search(r"State:\s+T", Path(f"/proc/{pid}/status").read_text()) is not None)
        assert r.execute_command("PING")  # the front and shard 0 are not held up
        os.kill(pid, signal.SIGCONT)
        assert read_replies(sock, 1) == [b"OK"]
        sock.close()
        assert r.mget(A0, A1) == [b"x", b"y"]


def test_a_pipeline_of_split_writes_goes_under_one_intent_and_stays_whole(tmp_path: Path) -> None:
    """The router gathers consecutive split commands into one run per shard (reads among
    them); under the AOF they share one intent and one AOF group per shard."""
    data = tmp_path / "data"
    data.mkdir()
    b0, b1, c0 = key_on(0, 2, "b"), key_on(1, 2, "b"), key_on(0, 2, "c")
    pipeline = [
        ["MSET", A0, "1", A1, "2"],
        ["mset", b0, "3", b1, "4", A0, "5"],
        ["MGET", A0, A1, b0, b1],
        ["DEL", b0, b1, "nosuchkey"],
        ["UNLINK", A1, c0],
        ["MSET", b1, "6", b0, "7"],
    ]
    expected = {A0: b"5", A1: None, b0: b"7", b1: b"6"}
    with server(data) as s:  # answered as one by one
        with connect(s.port) as sock:
            sock.sendall(b"".join(resp(*c) for c in pipeline))
            assert read_replies(sock, len(pipeline)) == [b"OK", b"OK", [b"5", b"2", b"3", b"4"], 2, 1, b"OK"]
        assert dict(zip(expected, client(s).mget(*expected), strict=True)) == expected
        assert len(marks(data, 0)) == len(marks(data, 1)) == 1  # one intent, one marker per shard
    with server(data) as s:
        assert dict(zip(expected, client(s).mget(*expected), strict=True)) == expected
    with server(data, env=trap(tmp_path, "stop")) as s:
        r = client(s)
        r.flushall()
        arm(tmp_path)
        with connect(s.port) as sock:
            sock.sendall(b"".join(resp(*c) for c in pipeline))
            s.wait_log(rb"TEST-INJECT: shard 1 traps cross-shard write", 30)
            _wait_for(lambda: max(marks(data, 0)) not in marks(data, 1))
            kill_tree(s)
    with server(data) as s:  # shard 1 had run none of it: the whole pipeline is rolled forward
        assert dict(zip(expected, client(s).mget(*expected), strict=True)) == expected
        assert "rolled forward 1 part(s)" in s.text()


@pytest.mark.parametrize("aof_goes_off", [False, True])
def test_a_split_write_waits_for_a_hold_on_its_shards(tmp_path: Path, aof_goes_off: bool) -> None:
    """An MSET that arrives while a RENAME holds its shards runs after it, under its intent;
    if the AOF goes off while it waits, as a plain split (it was once never answered)."""
    data = tmp_path / "data"
    data.mkdir()
    with server(data) as s:
        r = client(s)
        r.set(A0, "renamed")
        pid0 = shard_pids(r.info("shards"), 2)[0]
        os.kill(pid0, signal.SIGSTOP)  # the RENAME's first step, on shard 0, waits: its hold stays
        try:
            with connect(s.port, timeout=20) as first, connect(s.port, timeout=20) as second, connect(s.port, timeout=20) as third:
                first.sendall(resp("RENAME", A0, A1))
                _wait_for(lambda: b"cmd=rename" in r.execute_command("CLIENT", "LIST"))  # answered by the front alone
                second.sendall(resp("MSET", A1, "mset", A0, "z"))
                _wait_for(lambda: b"cmd=mset" in r.execute_command("CLIENT", "LIST"))  # it waits for the hold
                if aof_goes_off:
                    third.sendall(resp("CONFIG", "SET", "appendonly", "no"))
                    _wait_for(lambda: r.config_get("appendonly") == {"appendonly": "no"})
                os.kill(pid0, signal.SIGCONT)
                assert read_replies(first, 1) == [b"OK"]
                assert read_replies(second, 1) == [b"OK"]
                if aof_goes_off:
                    assert read_replies(third, 1) == [b"OK"]
        finally:
            os.kill(pid0, signal.SIGCONT)
        assert r.mget(A0, A1) == [b"z", b"mset"]  # RENAME, then MSET: not interleaved
        if aof_goes_off:
            return
        marks0, marks1 = marks(data, 0), marks(data, 1)
        assert marks0 == marks1 and len(marks0) == 2 and marks0 == sorted(marks0)
    with server(data) as s:
        assert client(s).mget(A0, A1) == [b"z", b"mset"]
