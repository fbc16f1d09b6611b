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
    path.write_bytes(data.replace(b"$11\r\n__intentraw\r\n", b"$11\r\n__intentraX\r\n", 1))  # not a partial last record
    with pytest.raises(AofCorrupt, match=txi.file_name(1)):
        txi.read_intents(str(tmp_path))
    header = encode_command([b"__intents", b"2", b"0"])
    assert data.startswith(header)
    part = txi.encode_intent(1, [(0, 0, [[b"set", b"a", b"1"]])])
    rest = data[len(header) + len(part) :]
    path.write_bytes(header + part.replace(b"$1\r\n1\r\n$1\r\n0\r\n", b"$1\r\n2\r\n$1\r\n0\r\n", 1) + rest)  # 2 parts, 1 there
    with pytest.raises(AofCorrupt, match="argument counts"):
        txi.read_intents(str(tmp_path))
    cut = part.replace(b"$27\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n", b"$27\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$2\r\n1\r\n", 1)
    assert cut != part
    path.write_bytes(header + cut + rest)  # a part whose commands do not parse whole
    with pytest.raises(AofCorrupt, match="not whole"):
        txi.read_intents(str(tmp_path))


def test_raw_parts_are_kept_as_the_shard_gets_them(tmp_path: Path) -> None:
    log = txi.IntentLog(str(tmp_path), 2)
    raw = encode_command([b"MSET", b"a", b"1", b"b", b"2"]) + encode_command([b"del", b"c"])
    assert log.append([(0, 2, raw), (1, 2, [[b"MSET", b"d", b"4"]])]) == (1, 1)
    log.close()
    (intent,) = txi.read_intents(str(tmp_path))[1]
    assert intent.parts == [(0, 2, [[b"MSET", b"a", b"1", b"b", b"2"], [b"del", b"c"]]), (1, 2, [[b"MSET", b"d", b"4"]])]


def test_a_file_of_the_first_format_is_still_read(tmp_path: Path) -> None:
    # __intent <id> <parts> then per part <shard> <db> <n> and n commands as <argc> <arg>...
    old = encode_command([b"__intent", b"5", b"2", b"0", b"0", b"1", b"3", b"set", b"a", b"1", b"1", b"1", b"2", b"2", b"del", b"b", b"2", b"del", b"c"])
    (tmp_path / txi.file_name(4)).write_bytes(encode_command([b"__intents", b"2", b"4"]) + old)
    high, intents = txi.read_intents(str(tmp_path))
    assert high == 5
    assert [(i.id, i.seq, i.parts) for i in intents] == [(5, 4, [(0, 0, [[b"set", b"a", b"1"]]), (1, 1, [[b"del", b"b"], [b"del", b"c"]])])]


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
