"""Members in arrival order with O(1) add, remove and random pick, and a scan cursor.

Ownership: the large encodings of sets (``hashtable``) and sorted sets
(``skiplist``, for ZSCAN) keep their members here.  A removed member leaves a
hole (None) so positions do not move and a SCAN cursor (a position) stays
valid; holes at the end are dropped at once, and the list is compacted when
holes outnumber members (amortised O(1); a scan running across a compaction
may miss members, where Valkey's reverse-binary cursor would not).
"""

from __future__ import annotations

import random
from collections.abc import Iterator


class ScanList:
    __slots__ = ("items", "pos", "holes")

    def __init__(self) -> None:
        self.items: list[bytes | None] = []
        self.pos: dict[bytes, int] = {}
        self.holes = 0

    def __len__(self) -> int:
        return len(self.pos)

    def __contains__(self, member: object) -> bool:
        return member in self.pos

    def __iter__(self) -> Iterator[bytes]:
        for m in self.items:
            if m is not None:
                yield m

    def add(self, member: bytes) -> bool:
        if member in self.pos:
            return False
        self.pos[member] = len(self.items)
        self.items.append(member)
        return True

    def remove(self, member: bytes) -> bool:
        i = self.pos.pop(member, None)
        if i is None:
            return False
        items = self.items
        items[i] = None
        self.holes += 1
        while items and items[-1] is None:
            items.pop()
            self.holes -= 1
        if self.holes > 32 and self.holes > len(self.pos):
            self._compact()
        return True

    def _compact(self) -> None:
        self.items = [m for m in self.items if m is not None]
        self.pos = {m: i for i, m in enumerate(self.items)}  # type: ignore[misc]
        self.holes = 0

    def random(self) -> bytes:
        """A uniformly random member (the list is at least half full, so few retries)."""
        items = self.items
        n = len(items)
        while True:
            m = items[random.randrange(n)]
            if m is not None:
                return m

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Up to about ``count`` members from position ``cursor``; the next cursor (0 at the end)."""
        items = self.items
        out: list[bytes] = []
        i = cursor
        n = len(items)
        budget = count * 10
        while i < n and len(out) < count and budget > 0:
            m = items[i]
            if m is not None:
                out.append(m)
            i += 1
            budget -= 1
        return (0 if i >= n else i), out
