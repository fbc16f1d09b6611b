"""AOF files: the manifest format, the writer, strict replay, truncation and corruption."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistence import manifest as mf
from persistence.aof import AofCorrupt, AofWriter, read_records, truncate
from shardserver.resp import FastRequestParser, ProtocolError, RequestParser, encode_command


def _replay(path: Path) -> tuple[list[tuple[int, list[bytes]]], int]:
    out: list[tuple[int, list[bytes]]] = []
    result = read_records(str(path), lambda db, records: out.extend((db, argv) for argv in records))
    return out, result.truncated_at


def _write(path: Path, policy: str = "always", timestamps: bool = False) -> AofWriter:
    w = AofWriter(str(path), policy, timestamps)
    w.add(0, [b"SET", b"a", b"1"])
    w.add(3, [b"SET", b"b", b"2"])
    w.add_group(3, [[b"DEL", b"a"], [b"SET", b"c", b"x"]])
    w.add(0, [b"INCR", b"n"])
    assert w.flush()
    w.close()
    return w


def test_manifest_round_trip_and_errors(tmp_path: Path) -> None:
    m = mf.Manifest(generation=2, shards=2)
    m.files.append(mf.FileEntry(mf.file_name(2, 0, 1, "base"), 0, 1, "base", [(0, 8191)]))
    m.files.append(mf.FileEntry(mf.file_name(2, 0, 2, "incr"), 0, 2, "incr", [(0, 8191)]))
    m.files.append(mf.FileEntry(mf.file_name(2, 1, 1, "incr"), 1, 1, "incr", [(8192, 10000), (12000, 16383)]))
    m.next_generation, m.next_shards = 3, 1
    m.pending.append(mf.FileEntry(mf.file_name(3, 0, 1, "base"), 0, 1, "base", [(0, 16383)]))
    again = mf.parse(m.render())
    assert again == m
    assert again.shard_files(0)[1].name == "shardserver.g2.s0.2.incr.aof"
    assert again.next_seq(0) == 3 and again.next_seq(1) == 2
    mf.write(str(tmp_path), m)
    assert mf.read(str(tmp_path)) == m
    assert not (tmp_path / (mf.NAME + ".tmp")).exists()
    assert mf.read(str(tmp_path / "missing")) is None
    with pytest.raises(mf.ManifestError, match="no format line"):
        mf.parse("layout 0 shards 1\n")
    with pytest.raises(mf.ManifestError, match=":3: invalid manifest line"):
        mf.parse("format 1\nlayout 0 shards 1\nfile x shard 0 seq 1 type snapshot slots 0-1\n")
    with pytest.raises(mf.ManifestError, match="invalid manifest line"):
        mf.parse("format 1\nfile ../etc/passwd shard 0 seq 1 type base slots 0-1\n")


def test_manifest_locked_update_writes_only_on_change(tmp_path: Path) -> None:
    with mf.locked(str(tmp_path)) as m:
        m.shards = 1
    first = (tmp_path / mf.NAME).stat().st_mtime_ns
    with mf.locked(str(tmp_path)) as m:
        assert m.shards == 1
    assert (tmp_path / mf.NAME).stat().st_mtime_ns == first


def test_writer_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    _write(path)
    records, cut = _replay(path)
    assert cut == -1
    assert records == [
        (0, [b"SET", b"a", b"1"]),
        (3, [b"SET", b"b", b"2"]),
        (3, [b"DEL", b"a"]),
        (3, [b"SET", b"c", b"x"]),
        (0, [b"INCR", b"n"]),
    ]


def test_timestamps_are_annotations(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    _write(path, timestamps=True)
    assert path.read_bytes().startswith(b"#TS:")
    records, cut = _replay(path)
    assert cut == -1 and len(records) == 5


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_writer_policies_append(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "a.aof"
    w = AofWriter(str(path), policy)
    w.add(0, [b"SET", b"k", b"v"])
    assert w.flush()
    assert path.read_bytes() == encode_command([b"SET", b"k", b"v"])
    assert w.fsyncs == (1 if policy == "always" else 0)
    w.close()


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_an_intent_file_is_fsynced_before_the_file_holding_its_part(tmp_path: Path, policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """persistence/intents.py: a part on disk implies its intent on disk."""
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    intent_fd = os.open(tmp_path / "intents", os.O_RDWR | os.O_CREAT)
    w = AofWriter(str(tmp_path / "a.aof"), policy)
    w._stop_thread()  # the sync below stands for the thread's (same code path: _sync_all)
    w.intent_first(7, intent_fd)
    assert w.intents_pending() == {7}
    w.add_group(0, [[b"SET", b"k", b"v"], [b"__txmark", b"1"]])
    assert w.write() and w.sync_now()
    assert synced == [intent_fd, w.fd]
    assert w.intents_pending() == set()
    # an fsync of this file that is already under way took its list: the intent goes
    # before the parts reach the OS, once for all of them
    synced.clear()
    w._busy = True
    w.intent_first(8, intent_fd)
    w.add_group(0, [[b"SET", b"k", b"w"], [b"__txmark", b"2"]])
    w.intent_first(8, intent_fd)
    w.add_group(0, [[b"SET", b"j", b"w"], [b"__txmark", b"3"]])
    assert synced == []
    assert w.write()
    assert synced == [intent_fd]
    w._busy = False
    w.close()
    os.close(intent_fd)


def test_every_truncation_replays_a_prefix_of_whole_groups(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    _write(path, timestamps=True)
    data = path.read_bytes()
    full, _ = _replay(path)
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        records, at = _replay(path)
        assert records == full[: len(records)]
        # a group is all or nothing
        assert not (any(r[1] == [b"DEL", b"a"] for r in records) and not any(r[1] == [b"SET", b"c", b"x"] for r in records))
        if at >= 0:
            assert at <= cut
            truncate(str(path), at)
            again, at2 = _replay(path)
            assert at2 == -1 and again == records
        else:
            assert cut == 0 or data[:cut].endswith(b"\r\n")


def test_corruption_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    _write(path)
    data = path.read_bytes()
    second = data.index(b"*3", 1)
    path.write_bytes(data[:second] + b"?" + data[second + 1 :])
    with pytest.raises(AofCorrupt) as info:
        _replay(path)
    assert info.value.offset == second
    assert str(path) in str(info.value)
    # a bad bulk header inside a record reports the record's start
    path.write_bytes(data[:second + 4] + b"%" + data[second + 5 :])
    with pytest.raises(AofCorrupt) as info:
        _replay(path)
    assert info.value.offset == second


def test_exec_without_multi_and_nested_multi_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    path.write_bytes(encode_command([b"EXEC"]))
    with pytest.raises(AofCorrupt, match="EXEC without MULTI"):
        _replay(path)
    path.write_bytes(encode_command([b"MULTI"]) + encode_command([b"MULTI"]) + encode_command([b"EXEC"]))
    with pytest.raises(AofCorrupt, match="nested MULTI"):
        _replay(path)


@pytest.mark.parametrize("parser_cls", [FastRequestParser, RequestParser])
def test_strict_parser_refuses_inline_and_empty_records(parser_cls: type) -> None:
    p = parser_cls()
    p.strict = True
    p.feed(b"#TS:1\r\n*1\r\n$4\r\nPING\r\nPING\r\n")
    assert p.drain() == [[b"PING"]]
    with pytest.raises(ProtocolError, match="Bad file format"):
        p.drain()
    assert p.unfinished() == len(b"PING\r\n")
    p = parser_cls()
    p.strict = True
    p.feed(b"*0\r\n")
    with pytest.raises(ProtocolError, match="Bad file format"):
        p.drain()
    # a normal parser still takes inline commands
    p = parser_cls()
    p.feed(b"PING\r\n")
    assert p.drain() == [[b"PING"]]


def test_failed_write_keeps_the_records(tmp_path: Path) -> None:
    path = tmp_path / "a.aof"
    w = AofWriter(str(path), "always")
    w.add(0, [b"SET", b"k", b"v"])
    real_fd = w.fd
    w.fd = os.open(os.devnull, os.O_RDONLY)  # writes fail with EBADF
    assert not w.flush()
    assert w.error is not None and w.pending() > 0
    os.close(w.fd)
    w.fd = real_fd
    assert w.flush()
    assert w.error is None and w.pending() == 0
    w.close()
    assert _replay(path)[0] == [(0, [b"SET", b"k", b"v"])]


def test_a_record_apply_refuses_is_corruption_at_its_offset(tmp_path: Path) -> None:
    from persistence.aof import BadRecord

    path = tmp_path / "f.aof"
    records = [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"], [b"BAD", b"x"], [b"SET", b"c", b"3"]]
    body = b"".join(encode_command(r) for r in records)
    group = encode_command([b"MULTI"]) + encode_command([b"SET", b"d", b"4"]) + encode_command([b"BAD", b"y"]) + encode_command([b"EXEC"])
    path.write_bytes(body + group)

    def apply(db: int, run: list[list[bytes]]) -> None:
        for j, argv in enumerate(run):
            if argv[0] == b"BAD":
                raise BadRecord(j, f"bad {argv[1].decode()}")

    with pytest.raises(AofCorrupt) as exc:
        read_records(str(path), apply)
    bad = len(b"".join(encode_command(r) for r in records[:2]))
    assert exc.value.offset == bad and exc.value.reason == "bad x"
    path.write_bytes(encode_command([b"SET", b"z", b"0"]) + group)  # the bad record inside a MULTI group
    with pytest.raises(AofCorrupt) as exc:
        read_records(str(path), apply)
    assert exc.value.offset == len(encode_command([b"SET", b"z", b"0"]) + encode_command([b"MULTI"]) + encode_command([b"SET", b"d", b"4"]))
    assert exc.value.reason == "bad y"


def test_the_buffer_is_emptied_in_place_across_writes(tmp_path: Path) -> None:
    """The shard's C loop holds ``buf`` through a batch: a write must empty that very
    object, never replace it, or records appended after the write would be lost."""
    path = tmp_path / "a.aof"
    w = AofWriter(str(path), "no")
    buf = w.buf
    expect: list[tuple[int, list[bytes]]] = []
    for i in range(300):
        argv = [b"SET", b"k%d" % i, b"v" * (i * 7)]
        w.add(i % 3, argv)
        expect.append((i % 3, argv))
        if i % 7 == 0:
            assert w.write()
            assert w.buf is buf and w.pending() == 0
    w.close()
    assert _replay(path)[0] == expect


def test_buffer_reset_keeps_room_and_refuses_an_exported_buffer() -> None:
    from shardserver import _speedups  # .ci/run fails when a C helper is not built

    buf = bytearray(b"x" * 5000)
    del buf[:100]  # a start shifted inside the allocation
    room = buf.__alloc__()
    _speedups.aof_buffer_reset(buf)
    assert buf == b"" and buf.__alloc__() == room
    buf += b"abc"
    assert buf == b"abc"
    big = bytearray(3 << 20)
    _speedups.aof_buffer_reset(big)
    assert big == b"" and big.__alloc__() < 1 << 20  # a burst's room is given back
    with memoryview(buf) as view:
        with pytest.raises(BufferError):
            _speedups.aof_buffer_reset(buf)
        assert bytes(view) == b"abc"
    with pytest.raises(TypeError):
        _speedups.aof_buffer_reset(b"bytes")  # type: ignore[arg-type]


def test_an_open_group_takes_every_record_until_it_closes(tmp_path: Path) -> None:
    """A cross-shard part's group (ShardWorker._open_part): the C loop's records and
    Python's, a handler's own group among them, replay all or none with the marker."""
    path = tmp_path / "a.aof"
    w = AofWriter(str(path), "always")
    w.add(0, [b"SET", b"a", b"1"])
    w.open_group(2)  # the SELECT goes before the MULTI, never inside it
    w.buf += encode_command([b"MSET", b"k", b"v"])  # as the C loop appends
    w.log(2, [b"DEL", b"x"], [[b"DEL", b"x"], [b"HDEL", b"h", b"f"]])  # a handler's group: flattened
    w.close_group([b"__txmark", b"9"])
    assert not w.grouping
    assert w.flush()
    w.close()
    data = path.read_bytes()
    assert data.count(b"MULTI") == 1 and data.count(b"EXEC") == 1
    assert data.index(b"SELECT") < data.index(b"MULTI")
    records, at = _replay(path)
    assert at == -1
    assert records == [(0, [b"SET", b"a", b"1"]), (2, [b"MSET", b"k", b"v"]), (2, [b"DEL", b"x"]), (2, [b"HDEL", b"h", b"f"]), (2, [b"__txmark", b"9"])]
    path.write_bytes(data[:-len(encode_command([b"EXEC"]))])  # cut before its EXEC: none of it
    assert _replay(path)[0] == [(0, [b"SET", b"a", b"1"])]
