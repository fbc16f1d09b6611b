"""The intent file format (persistence/intents.py): ids, parts, rotation, damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence import intents as txi
from persistence.aof import AofCorrupt
from shardserver.resp import encode_command


def test_parts_round_trip_with_ids_growing_across_files(tmp_path: Path) -> None:
    log = txi.IntentLog(str(tmp_path), 2)
    first = log.append([(0, 3, [[b"mset", b"a", b"1"]]), (1, 3, [[b"mset", b"b", b"2"], [b"del", b"c"]])])
    assert first == (1, 1)
    log.rotate()
    second = log.append([(1, 0, [[b"flushall"]])])
    assert second == (2, 2)
    log.close()
    high, intents = txi.read_intents(str(tmp_path))
    assert high == 2
    assert [(i.id, i.shards, i.seq) for i in intents] == [(1, 2, 1), (2, 2, 2)]
    assert intents[0].parts == [(0, 3, [[b"mset", b"a", b"1"]]), (1, 3, [[b"mset", b"b", b"2"], [b"del", b"c"]])]
    # a new log continues after the highest id, in a new file, even once older files are gone
    log = txi.IntentLog(str(tmp_path), 3)
    assert log.seq == 3
    log.remove_before(log.seq)
    assert [s for s, _ in txi.existing(str(tmp_path))] == [3]
    log.close()
    assert txi.read_intents(str(tmp_path)) == (2, [])
    log = txi.IntentLog(str(tmp_path), 3)
    assert log.append([(0, 0, [[b"del", b"x"]])])[0] == 3
    log.close()


def test_a_partial_last_intent_is_left_out(tmp_path: Path) -> None:
    log = txi.IntentLog(str(tmp_path), 2)
    log.append([(0, 0, [[b"set", b"a", b"1"]])])
    log.append([(1, 0, [[b"set", b"b", b"2"]]), (0, 0, [[b"set", b"c", b"3"]])])
    log.close()
    path = tmp_path / txi.file_name(1)
    data = path.read_bytes()
    for cut in range(1, len(txi.encode_intent(2, [(1, 0, [[b"set", b"b", b"2"]]), (0, 0, [[b"set", b"c", b"3"]])]))):
        path.write_bytes(data[:-cut])  # a crash while the second intent was written
        high, intents = txi.read_intents(str(tmp_path))
        assert [i.id for i in intents] == [1]


def test_damage_inside_is_an_error_naming_the_file(tmp_path: Path) -> None:
    log = txi.IntentLog(str(tmp_path), 2)
    log.append([(0, 0, [[b"set", b"a", b"1"]])])
    log.append([(1, 0, [[b"set", b"b", b"2"]])])
    log.close()
    path = tmp_path / txi.file_name(1)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"$8\r\n__intent\r\n", b"$8\r\n__intenX\r\n", 1))  # not a partial last record
    with pytest.raises(AofCorrupt, match=txi.file_name(1)):
        txi.read_intents(str(tmp_path))
    header = encode_command([b"__intents", b"2", b"0"])
    assert data.startswith(header)
    part = txi.encode_intent(1, [(0, 0, [[b"set", b"a", b"1"]])])
    path.write_bytes(header + part.replace(b"$1\r\n3\r\n", b"$1\r\n7\r\n", 1) + data[len(header) + len(part) :])  # argc 3 -> 7
    with pytest.raises(AofCorrupt, match="argument counts"):
        txi.read_intents(str(tmp_path))


def test_a_failed_append_leaves_no_partial_intent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = txi.IntentLog(str(tmp_path), 2)
    log.append([(0, 0, [[b"set", b"a", b"1"]])])
    real_write = txi.os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(txi.os, "write", half_then_full)
    with pytest.raises(OSError):
        log.append([(1, 0, [[b"set", b"b", b"2"]])])
    monkeypatch.setattr(txi.os, "write", real_write)
    assert log.append([(1, 0, [[b"set", b"c", b"3"]])])[0] == 2  # the failed one took no id
    log.close()
    assert [(i.id, i.parts[0][2]) for i in txi.read_intents(str(tmp_path))[1]] == [(1, [[b"set", b"a", b"1"]]), (2, [[b"set", b"c", b"3"]])]
