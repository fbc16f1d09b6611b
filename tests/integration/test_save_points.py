"""Save points (the ``save <seconds> <changes>`` directive), INFO's change count, and
the snapshot SHUTDOWN and SIGTERM take with the AOF off.

Each shard counts its writes that changed something since its last successful
SAVE/BGSAVE snapshot (Valkey's ``dirty``) and starts a BGSAVE when a save point
is due, as Valkey's cron does; with the AOF off that snapshot is what the next
start loads (docs/persistence.md).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.integration.helpers import connect, key_on, read_until_closed, resp
from tests.integration.test_persistence import _wait_for
from tests.servers import ServerProc, kill_tree, start_shardserver


@contextmanager
def server(data: Path, *args: str) -> Iterator[ServerProc]:
    proc = start_shardserver(*args, shards=2, dir=str(data))
    try:
        yield proc
    finally:
        proc.stop()
        kill_tree(proc)


def changes(r: redis.Redis) -> int:
    return int(r.info("persistence")["rdb_changes_since_last_save"])


def test_a_due_save_point_snapshots_the_shards_that_changed_and_a_restart_loads_it(tmp_path: Path) -> None:
    a0, b0, a1 = key_on(0, 2, "a"), key_on(0, 2, "b"), key_on(1, 2, "a")
    with server(tmp_path, "--appendonly", "no", "--save", "1 2") as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        assert r.config_get("save") == {"save": "1 2"}
        mark = s.log_size()
        r.set(a1, "one")  # shard 1: one change, below the save point
        r.set(a0, "x")
        r.set(b0, "y")  # shard 0: two
        s.wait_log(rb"Shard 0: 2 changes in 1 seconds\. Saving\.\.\.", 10, start=mark)
        _wait_for(lambda: changes(r) == 1)  # shard 0's snapshot is done; shard 1's change is left
        assert r.info("persistence")["rdb_bgsave_in_progress"] == 0
        assert "Shard 1: 1 changes" not in s.text()[mark:]
        kill_tree(s)  # no SHUTDOWN: only the snapshot holds the data
    with server(tmp_path, "--appendonly", "no") as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        assert r.mget(a0, b0, a1) == [b"x", b"y", None]  # shard 1 never saved its write
        assert changes(r) == 0
        # set at run time, the shards hear it
        assert r.config_set("save", "1 1")
        mark = s.log_size()
        r.set(a1, "two")
        s.wait_log(rb"Shard 1: 1 changes in 1 seconds\. Saving\.\.\.", 10, start=mark)
        _wait_for(lambda: changes(r) == 0)
        kill_tree(s)
    with server(tmp_path, "--appendonly", "no") as s:
        assert redis.Redis(port=s.port).mget(a0, b0, a1) == [b"x", b"y", b"two"]


@pytest.mark.parametrize("aof", ["no", "yes"])
def test_rdb_changes_since_last_save_counts_writes_that_changed_something(tmp_path: Path, aof: str) -> None:
    with server(tmp_path, "--appendonly", aof) as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        assert changes(r) == 0
        r.set("a", "1")
        r.set("b", "2")
        r.delete("nosuchkey")  # nothing deleted: not a change
        r.incr("c")
        r.sadd("s", "x")
        r.sadd("s", "x")  # already there
        r.rpush("l", "e")  # a command of the handlers' path (in C and in Python)
        r.execute_command("LINSERT", "l", "BEFORE", "e", "d")
        r.execute_command("LINSERT", "l", "BEFORE", "nosuch", "d")  # no pivot: nothing changed
        assert changes(r) == 6
        r.mset({key_on(0, 2, "m"): "1", key_on(1, 2, "m"): "2"})  # one write on each shard
        assert changes(r) == 8
        assert r.save()
        assert changes(r) == 0
        r.set("a", "again")
        assert r.bgsave()
        _wait_for(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0 and changes(r) == 0)
        r.set("a", "after")
        assert changes(r) == 1


def test_a_restart_from_the_aof_starts_with_no_changes(tmp_path: Path) -> None:
    """Replayed records are not changes to save (Valkey's dirty is 0 after loading)."""
    with server(tmp_path, "--appendonly", "yes") as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        for i in range(50):
            r.set(f"k{i}", "v")
            r.rpush(f"l{i}", "e")
        assert changes(r) == 100
    with server(tmp_path, "--appendonly", "yes") as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        assert r.dbsize() == 100
        assert changes(r) == 0


def _stop_with(s: ServerProc, *cmd: str) -> None:
    """Send a SHUTDOWN (the connection closes, no reply) and wait for the tree to exit."""
    with connect(s.port, timeout=20) as sock:
        sock.sendall(resp(*cmd))
        assert read_until_closed(sock, 20) == (b"", True)
    assert s.proc.wait(30) == 0


@pytest.mark.parametrize(
    ("save", "shutdown", "kept"),
    [
        ("3600 1", ["SHUTDOWN"], True),  # save points set: a snapshot first, as Valkey
        ("", ["SHUTDOWN"], False),  # none: nothing saved (the AOF is off)
        ("", ["SHUTDOWN", "SAVE"], True),
        ("3600 1", ["SHUTDOWN", "NOSAVE"], False),
        ("3600 1", ["SIGTERM"], True),  # systemd's stop: the shards save as they exit
    ],
)
def test_shutdown_saves_as_valkey_does_with_the_aof_off(tmp_path: Path, save: str, shutdown: list[str], kept: bool) -> None:
    a0, a1 = key_on(0, 2, "a"), key_on(1, 2, "a")
    with server(tmp_path, "--appendonly", "no", "--save", save) as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        r.mset({a0: "x", a1: "y"})
        assert changes(r) == 2  # and no save point is due within the hour
        if shutdown == ["SIGTERM"]:
            s.proc.send_signal(signal.SIGTERM)
            assert s.proc.wait(30) == 0
        else:
            _stop_with(s, *shutdown)
    with server(tmp_path, "--appendonly", "no") as s:
        assert redis.Redis(port=s.port).mget(a0, a1) == ([b"x", b"y"] if kept else [None, None])


def test_a_shutdown_whose_save_fails_is_an_error_unless_forced(tmp_path: Path) -> None:
    with server(tmp_path, "--appendonly", "no", "--save", "3600 1") as s:
        r = redis.Redis(port=s.port, socket_timeout=10)
        r.set("k", "v")
        (tmp_path / "appendonlydir").write_text("not a directory")  # where the snapshot would go
        with pytest.raises(redis.ResponseError, match=r"^Errors trying to SHUTDOWN\. Check logs\.$"):
            r.shutdown()
        assert r.get("k") == b"v"  # still serving
        assert "Error trying to save the DB, can't exit." in s.text()
        _stop_with(s, "SHUTDOWN", "FORCE")
