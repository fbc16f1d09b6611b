"""Hash slots and the slot map.

Ownership: the supervisor creates the slot map in shared memory and is the only
writer; the front and the shards read it.  A key's slot is CRC16-XMODEM of the
key (or of its non-empty ``{hash tag}``) modulo 16384, as in Valkey Cluster.

Slot map layout (native byte order): u64 version, then 16384 u16 shard ids.
"""

from __future__ import annotations

from binascii import crc_hqx
from typing import Any

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


class PySlotIndex:
    """Which keys of a database live in each slot (SCAN's stable cursor, RANDOMKEY,
    per-slot counts); the twin of ``_speedups.SlotIndex``.

    Per slot a count of live keys and a list holding every live key and maybe
    keys deleted since (or a key twice): adding appends, deleting decrements.  A
    list is compacted (dead keys dropped, repeats merged) once it grows past
    twice its live count plus 8, and dropped when its slot empties.  A key is
    live while it is in ``data``; the caller adds a key only when it enters
    ``data`` and discards it only when it leaves, so the counts are exact.
    """

    __slots__ = ("data", "lists", "counts")

    def __init__(self, data: dict[bytes, Any]) -> None:
        self.data = data
        self.lists: dict[int, list[bytes]] = {}
        self.counts: dict[int, int] = {}

    def _compact(self, slot: int) -> list[bytes]:
        data = self.data
        keys = self.lists[slot] = [k for k in dict.fromkeys(self.lists[slot]) if k in data]
        return keys

    def add(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError("keys must be bytes")
        slot = py_key_slot(key)
        keys = self.lists.get(slot)
        if keys is None:
            keys = self.lists[slot] = []
        elif len(keys) > 2 * self.counts[slot] + 8:
            keys = self._compact(slot)  # before the append: the new key may not be in data yet
        keys.append(key)
        self.counts[slot] = self.counts.get(slot, 0) + 1

    def discard(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError("keys must be bytes")
        slot = py_key_slot(key)
        n = self.counts.get(slot, 0)
        if not n:
            return
        if n == 1:
            del self.counts[slot]
            del self.lists[slot]
            return
        self.counts[slot] = n - 1
        if len(self.lists[slot]) > 2 * (n - 1) + 8:
            self._compact(slot)

    def count(self, slot: int) -> int:
        _check_slot(slot)
        return self.counts.get(slot, 0)

    def keys(self, slot: int) -> list[bytes]:
        _check_slot(slot)
        keys = self.lists.get(slot)
        if keys is None:
            return []
        if len(keys) != self.counts[slot]:
            keys = self._compact(slot)
        return list(keys)

    def slots(self) -> list[int]:
        return sorted(self.counts)

    @property
    def nonempty(self) -> int:
        return len(self.counts)


def _check_slot(slot: int) -> None:
    if not 0 <= slot < NSLOTS:
        raise ValueError("slot out of range")


try:
    from shardserver._speedups import SlotIndex, key_slot
except ImportError:  # built without the C helpers
    key_slot = py_key_slot
    SlotIndex = PySlotIndex  # type: ignore[assignment,misc]


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
