"""Hash slots (CRC16-XMODEM, hash tags) and the shared slot map."""

from __future__ import annotations

from binascii import crc_hqx

from shardserver.slots import MAP_BYTES, NSLOTS, SlotMap, even_ranges, key_slot


def test_crc16_reference_vector() -> None:
    assert crc_hqx(b"123456789", 0) == 0x31C3


def test_hash_tags() -> None:
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == crc_hqx(b"foo{}{bar}", 0) & 16383  # empty tag: whole key
    assert key_slot(b"foo{{bar}}zap") == crc_hqx(b"{bar", 0) & 16383
    assert key_slot(b"foo{bar}{zap}") == key_slot(b"bar")
    assert key_slot(b"{unclosed") == crc_hqx(b"{unclosed", 0) & 16383


def test_known_slots_match_valkey_cluster() -> None:
    # values from CLUSTER KEYSLOT on a real server
    assert key_slot(b"foo") == 12182
    assert key_slot(b"bar") == 5061
    assert key_slot(b"") == 0


def test_even_ranges_cover_every_slot_once() -> None:
    for n in (1, 2, 3, 7, 16):
        ranges = even_ranges(n)
        covered = [s for lo, hi in ranges for s in range(lo, hi + 1)]
        assert covered == list(range(NSLOTS))
        sizes = [hi - lo + 1 for lo, hi in ranges]
        assert max(sizes) - min(sizes) <= 1


def test_slot_map_shared_buffer_and_version() -> None:
    buf = bytearray(MAP_BYTES)
    writer = SlotMap(buf)
    reader = SlotMap(buf)
    assert reader.version == 0
    writer.assign_even(2)
    assert reader.version == 1
    assert reader.owner(0) == 0 and reader.owner(NSLOTS - 1) == 1
    assert reader.ranges(0) == [(0, 8191)]
    assert reader.ranges(1) == [(8192, 16383)]
    assert reader.snapshot()[8192] == 1


def test_c_key_slot_matches_python() -> None:
    import os

    from shardserver.slots import py_key_slot

    samples = [b"", b"{", b"}", b"{}", b"{a", b"a}", b"a{", b"}{", b"}{x}", b"{}}", b"{x}}", b"x{y}z", b"{{}}", b"foo{}{bar}", b"foo{{bar}}zap"]
    samples += [os.urandom(n) for n in range(64) for _ in range(20)]
    for key in samples:
        assert key_slot(key) == py_key_slot(key), key
