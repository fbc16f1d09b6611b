"""Damaged AOF directories: what ``shardctl check-aof [--fix]`` does with them, and how start-up stops.

Complements the corruption tests of test_persistence.py: files that are not the
last of their shard (where a cut would silently drop the files after it), files
the manifest names but that are gone, records of unknown commands, and a
damaged manifest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import redis

from persistence import manifest as mf
from shardserver.resp import encode_command
from tests.integration.helpers import keys_on
from tests.servers import ServerProc, aof_shardserver


def server(data: Path, *args: str, shards: int = 1) -> AbstractContextManager[ServerProc]:
    return aof_shardserver(data, "--appendfsync", "always", *args, shards=shards)


def client(proc: ServerProc) -> redis.Redis:
    return redis.Redis(port=proc.port, socket_timeout=20)


def files(data: Path, shard: int) -> list[Path]:
    """``shard``'s files in the manifest's (replay) order."""
    m = mf.read(str(data / "appendonlydir"))
    assert m is not None
    return [data / "appendonlydir" / f.name for f in m.shard_files(shard)]


def check_aof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shardserver.cli", "check-aof", *args], capture_output=True, text=True, timeout=60)


def start_fails(data: Path, *args: str, shards: int = 1) -> str:
    """Start on ``data``'s files, which must stop start-up with a non-zero exit; the log."""
    proc = subprocess.run(
        [sys.executable, "-m", "shardserver.supervisor", "--port", "0", "--shards", str(shards), "--dir", str(data), "--appendonly", "yes", *args],
        capture_output=True, timeout=60,
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode != 0, out
    return out


def base_and_incr(data: Path, shards: int, before: dict[str, str], after: dict[str, str]) -> None:
    """Each shard gets a base file (a rewrite of ``before``) and, after it, an incremental file (``after``)."""
    with server(data, shards=shards) as s:
        r = client(s)
        r.mset(before)
        start = s.log_size()
        assert r.bgrewriteaof()
        for i in range(shards):
            s.wait_log(rb"Shard %d: background AOF rewrite finished" % i, start=start)
        for k, v in after.items():
            r.set(k, v)
    for i in range(shards):
        assert [p.name.split(".")[-2] for p in files(data, i)] == ["base", "incr"]


def snapshot(data: Path) -> dict[str, bytes]:
    aofdir = data / "appendonlydir"
    return {p.name: p.read_bytes() for p in aofdir.iterdir() if p.name.endswith(".aof")}


# ---------------------------------------------------------------------------- check-aof --fix


def test_fix_refuses_to_cut_a_file_that_is_not_the_last_of_its_shard(tmp_path: Path) -> None:
    """A cut base would load without the incremental file after it being coherent: --fix
    must not make that choice (valkey-check-aof cuts only the last file), and while one file
    cannot be fixed it changes nothing at all, not even another shard's truncated tail."""
    k0, k1 = keys_on(0, 2, "a", 1)[0], keys_on(1, 2, "b", 1)[0]
    base_and_incr(tmp_path, 2, {k0: "old", k1: "old"}, {k0: "new", k1: "new"})
    base0 = files(tmp_path, 0)[0]
    data = bytearray(base0.read_bytes())
    bulk = data.index(b"*2", 1)  # after the SELECT record
    data[bulk + 4] = ord("!")  # '$9' of '__strings' -> '!9'
    base0.write_bytes(bytes(data))
    incr1 = files(tmp_path, 1)[-1]
    incr1.write_bytes(incr1.read_bytes()[:-3])  # a truncated tail, which alone --fix would cut
    before = snapshot(tmp_path)

    fixed = check_aof("--fix", str(tmp_path))
    assert fixed.returncode != 0, fixed.stdout
    assert f"shard 0: {base0.name}: corrupt at byte {bulk}" in fixed.stdout, fixed.stdout
    assert "not the last file of shard 0" in fixed.stdout
    assert f"shard 1: {incr1.name}: truncated at byte" in fixed.stdout
    assert "2 bad file(s); --fix cut nothing: a missing or damaged earlier file needs a backup" in fixed.stdout
    assert "Traceback" not in fixed.stdout + fixed.stderr
    assert snapshot(tmp_path) == before


def test_fix_cuts_a_corrupt_last_file_and_the_earlier_keys_stay(tmp_path: Path) -> None:
    base_and_incr(tmp_path, 1, {"a": "1"}, {"b1": "1", "b2": "2", "b3": "3"})
    incr = files(tmp_path, 0)[-1]
    data = bytearray(incr.read_bytes())
    second = data.index(b"*3", 1)
    data[second + 1] = ord("x")  # '*3' -> '*x': the SET of b2 is no record
    incr.write_bytes(bytes(data))
    bad = check_aof(str(tmp_path))
    assert bad.returncode == 1 and f"shard 0: {incr.name}: corrupt at byte {second}" in bad.stdout, bad.stdout

    fixed = check_aof("--fix", str(tmp_path))
    assert fixed.returncode == 0, fixed.stdout
    assert f"fixed: cut to {second} bytes" in fixed.stdout
    assert incr.read_bytes() == data[:second]
    with server(tmp_path) as s:
        assert client(s).mget("a", "b1", "b2", "b3") == [b"1", b"1", None, None]


def test_a_missing_file_is_reported_and_stops_startup(tmp_path: Path) -> None:
    base_and_incr(tmp_path, 1, {"a": "1"}, {"b": "2"})
    base, incr = files(tmp_path, 0)
    base.unlink()
    incr_bytes = incr.read_bytes()
    for args in ([], ["--fix"]):
        out = check_aof(*args, str(tmp_path))
        assert out.returncode == 1, out.stdout
        assert f"shard 0: {base.name}: missing" in out.stdout
        assert "Traceback" not in out.stdout + out.stderr
    assert incr.read_bytes() == incr_bytes
    log = start_fails(tmp_path)
    assert f"shard 0: {base} is named in the manifest but missing" in log, log
    assert "Traceback" not in log


# ---------------------------------------------------------------------------- start-up


def test_a_truncated_file_that_is_not_the_last_stops_startup_even_with_load_truncated_yes(tmp_path: Path) -> None:
    base_and_incr(tmp_path, 1, {"a": "1"}, {"b": "2"})
    base = files(tmp_path, 0)[0]
    data = base.read_bytes()
    base.write_bytes(data[:-3])
    bulk = data.index(b"*2", 1)
    log = start_fails(tmp_path, "--aof-load-truncated", "yes")
    assert f"shard 0: {base}: truncated at byte {bulk} (not the last file)" in log, log
    assert "Traceback" not in log
    assert base.read_bytes() == data[:-3]  # not cut: the records after it depend on it


@pytest.mark.parametrize("grouped", [False, True], ids=["plain", "in-multi"])
def test_a_record_of_an_unknown_command_stops_startup_naming_its_offset(tmp_path: Path, grouped: bool) -> None:
    with server(tmp_path) as s:
        client(s).set("a", "1")
    incr = files(tmp_path, 0)[-1]
    data = incr.read_bytes()
    unknown = encode_command([b"NOSUCHCMD", b"x"])
    if grouped:
        head = encode_command([b"MULTI"]) + encode_command([b"SET", b"c", b"3"])
        tail = unknown + encode_command([b"EXEC"])
    else:
        head, tail = b"", unknown + encode_command([b"SET", b"b", b"2"])
    incr.write_bytes(data + head + tail)
    log = start_fails(tmp_path)
    offset = len(data) + len(head)
    assert f"shard 0: {incr}: bad record at byte {offset}: unknown command 'NOSUCHCMD'" in log, log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda text: text + "garbage here\n", "invalid manifest line 'garbage here'"),
        (lambda text: text.replace("format 1", "format 7"), "unknown manifest format 7"),
        (lambda text: text.replace(" type incr ", " type incremental "), "invalid manifest line"),
        (lambda text: text.replace("format 1", ""), "not a shardserver manifest (no format line)"),
    ],
    ids=["garbage-line", "unknown-format", "bad-type", "no-format"],
)
def test_a_damaged_manifest_stops_startup_naming_it_without_a_traceback(tmp_path: Path, edit: Callable[[str], str], problem: str) -> None:
    with server(tmp_path) as s:
        client(s).set("a", "1")
    path = tmp_path / "appendonlydir" / mf.NAME
    path.write_text(edit(path.read_text()))
    log = start_fails(tmp_path)
    assert str(path) in log and problem in log, log
    assert "Traceback" not in log
    out = check_aof("--fix", str(tmp_path))
    assert out.returncode == 1
    assert str(path) in out.stderr and problem in out.stderr, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
