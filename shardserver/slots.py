"""Hash slots and the slot map.

Ownership: the supervisor creates the slot map in shared memory and is the only
writer; the front and the shards read it.  A key's slot is CRC16-XMODEM of the
key (or of its non-empty ``{hash tag}``) modulo 16384, as in Valkey Cluster.

Slot map layout (native byte order): u64 version, then 16384 u16 shard ids.
"""

from __future__ import annotations

from binascii import crc_hqx

NSLOTS = 16384
MAP_BYTES = 8 + 2 * NSLOTS


def py_key_slot(key: bytes) -> int:
    """The slot of ``key``: only the first non-empty ``{...}`` counts when present."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) & 16383


def py_index_key(by_slot: dict[int, set[bytes]], key: bytes) -> None:
    """Add ``key`` to a slot index (slot -> set of keys)."""
    slot = py_key_slot(key)
    keys = by_slot.get(slot)
    if keys is None:
        by_slot[slot] = {key}
    else:
        keys.add(key)


def py_index_keys(by_slot: dict[int, set[bytes]], keys: list[bytes]) -> None:
    for key in keys:
        py_index_key(by_slot, key)


def py_unindex_key(by_slot: dict[int, set[bytes]], key: bytes) -> None:
    """Remove ``key`` from a slot index, and its slot's set once empty."""
    slot = py_key_slot(key)
    keys = by_slot.get(slot)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del by_slot[slot]


try:
    from shardserver._speedups import index_key, index_keys, key_slot, unindex_key
except ImportError:  # built without the C helpers
    key_slot = py_key_slot
    index_key, index_keys, unindex_key = py_index_key, py_index_keys, py_unindex_key


def even_ranges(shards: int) -> list[tuple[int, int]]:
    """Inclusive slot ranges giving each shard an equal share (as equal as 16384 allows)."""
    out = []
    for i in range(shards):
        lo = i * NSLOTS // shards
        hi = (i + 1) * NSLOTS // shards - 1
        out.append((lo, hi))
    return out


class SlotMap:
    """Slot -> shard table over a shared buffer, with a version that bumps on change."""

    def __init__(self, buf: memoryview | bytearray, offset: int = 0) -> None:
        mv = memoryview(buf)[offset : offset + MAP_BYTES]
        self._version = mv[:8].cast("Q")
        self.raw_owner = mv[8:]  # the table as bytes, read live by the C router
        self._owner = self.raw_owner.cast("H")

    @property
    def version(self) -> int:
        return self._version[0]

    def assign_even(self, shards: int) -> None:
        for shard, (lo, hi) in enumerate(even_ranges(shards)):
            for slot in range(lo, hi + 1):
                self._owner[slot] = shard
        self._version[0] += 1

    def owner(self, slot: int) -> int:
        return self._owner[slot]

    def snapshot(self) -> list[int]:
        """A private copy for the hot path; compare ``version`` to know when to refresh."""
        return self._owner.tolist()

    def ranges(self, shard: int) -> list[tuple[int, int]]:
        """The inclusive slot ranges ``shard`` owns."""
        out: list[tuple[int, int]] = []
        owner = self._owner
        start = -1
        for slot in range(NSLOTS):
            if owner[slot] == shard:
                if start < 0:
                    start = slot
            elif start >= 0:
                out.append((start, slot - 1))
                start = -1
        if start >= 0:
            out.append((start, NSLOTS - 1))
        return out
