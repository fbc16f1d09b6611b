"""The sorted set value: listpack and skiplist encodings over one order-statistics index.

Ownership: the in-memory representation of sorted sets only (no commands).

Both encodings keep ``scores`` (member -> score, O(1) ZSCORE) and ``index``,
a ``RankedList`` of (score, member) pairs in Valkey's order (score, then the
member's bytes): insert, delete, rank and the n-th element are O(log N), so a
ZADD into a million members costs about what it costs into a thousand.  The
``skiplist`` encoding (more than zset-max-listpack-entries members, or a
member longer than zset-max-listpack-value bytes) adds a ``ScanList`` for a
stable ZSCAN cursor and O(1) random members; the listpack encoding, like
Valkey's, answers ZSCAN in one reply.
"""

from __future__ import annotations

import random
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from typing import Any

from shardserver.shard.types import dump_value, load_value, value_type
from shardserver.shard.types.scanlist import ScanList

LISTPACK = "listpack"
SKIPLIST = "skiplist"
_ENCODINGS = {name.encode(): name for name in (LISTPACK, SKIPLIST)}

LIMITS: dict[str, int] = {
    "zset-max-listpack-entries": 128,
    "zset-max-listpack-value": 64,
}

Item = tuple[float, bytes]


def py_item_bisect(items: list[Item], score: float, member: bytes, right: bool, scores: array[float] | None = None) -> int:
    """bisect_left (``right``: bisect_right) of (score, member) in a sorted list of items
    (``scores``, the items' scores side by side, only speeds up the C version)."""
    return (bisect_right if right else bisect_left)(items, (score, member))


try:  # the same in C, without a generic tuple comparison per probe
    from shardserver._speedups import item_bisect
except ImportError:  # built without the C helpers
    item_bisect = py_item_bisect


class RankedList:
    """A sorted list split into blocks of at most 2 * LOAD items, with a Fenwick
    tree over the block sizes: O(log N) insert, delete, rank and n-th item.

    ``bscores`` (per block) and ``mscores`` hold the scores of ``blocks`` and
    ``maxes`` side by side as C doubles: a bisection then reads one array
    instead of a tuple and a float object per probe (two cache misses in a
    large set), and looks at a member only where the scores are equal.

    ``steps`` counts the elementary steps taken (bisections, tree steps,
    items moved inside a block, blocks touched by a rebuild), so a test can
    show the cost does not grow linearly with the size.
    """

    LOAD = 256
    __slots__ = ("blocks", "bscores", "maxes", "mscores", "tree", "size", "steps")

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._fill(sorted(items))
        self.steps = 0

    @classmethod
    def from_sorted(cls, data: list[Item]) -> RankedList:
        """A list over ``data`` already in order (a dump's): no sort, no insert steps."""
        r = cls.__new__(cls)
        r._fill(data)
        r.steps = 0
        return r

    def _fill(self, data: list[Item]) -> None:
        load = self.LOAD
        if len(data) > load:
            self.blocks = blocks = [data[i : i + load] for i in range(0, len(data), load)]
            self.maxes = [b[-1] for b in blocks]
            self.bscores = [array("d", [s for s, _ in b]) for b in blocks]
        else:  # a small set's one block, without the comprehensions
            self.blocks = [data] if data else []
            self.maxes = [data[-1]] if data else []
            self.bscores = [array("d", [s for s, _ in data])] if data else []
        self.mscores = array("d", [s for s, _ in self.maxes])
        self.tree = None
        self.size = len(data)

    def __len__(self) -> int:
        return self.size

    # -- the Fenwick tree over block sizes ----------------------------------
    def _tree(self) -> list[int]:
        tree = self.tree
        if tree is None:
            n = len(self.blocks)
            self.steps += n
            tree = [0, *(len(b) for b in self.blocks)]
            for i in range(1, n + 1):
                j = i + (i & -i)
                if j <= n:
                    tree[j] += tree[i]
            self.tree = tree
        return tree

    def _tree_add(self, block: int, delta: int) -> None:
        tree = self.tree
        if tree is None:
            return
        i = block + 1
        n = len(tree)
        steps = 0  # a local count, added once: the attribute in the loop cost as much as the loop
        while i < n:
            tree[i] += delta
            i += i & -i
            steps += 1
        self.steps += steps

    def _before(self, block: int) -> int:
        """Items in the blocks before ``block``."""
        tree = self._tree()
        total = 0
        i = block
        steps = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
            steps += 1
        self.steps += steps
        return total

    def _locate(self, index: int) -> tuple[int, int]:
        """(block, offset) of the item at ``index`` (0 <= index < size)."""
        tree = self._tree()
        n = len(tree) - 1
        pos = 0
        bit = 1 << n.bit_length()
        self.steps += n.bit_length() + 1  # one step per bit below
        while bit:
            nxt = pos + bit
            if nxt <= n and tree[nxt] <= index:
                index -= tree[nxt]
                pos = nxt
            bit >>= 1
        return pos, index

    # -- updates -------------------------------------------------------------
    def add(self, item: Item) -> None:
        blocks = self.blocks
        self.size += 1
        score, member = item
        if not blocks:
            blocks.append([item])
            self.bscores.append(array("d", (score,)))
            self.maxes.append(item)
            self.mscores.append(score)
            self.tree = None
            return
        maxes = self.maxes
        b = item_bisect(maxes, score, member, False, self.mscores)
        self.steps += 1
        if b == len(maxes):
            b -= 1
            block = blocks[b]
            block.append(item)
            self.bscores[b].append(score)
            maxes[b] = item
            self.mscores[b] = score
        else:
            block = blocks[b]
            bs = self.bscores[b]
            i = item_bisect(block, score, member, True, bs)
            block.insert(i, item)
            bs.insert(i, score)
        self.steps += 1 + (len(block) >> 6)  # the memmove inside one bounded block
        if len(block) > 2 * self.LOAD:
            self._split(b)
        else:
            self._tree_add(b, 1)

    def _split(self, b: int) -> None:
        """Cut block ``b`` in two halves."""
        block, bs = self.blocks[b], self.bscores[b]
        half = len(block) >> 1
        self.blocks.insert(b + 1, block[half:])
        self.bscores.insert(b + 1, bs[half:])
        del block[half:]
        del bs[half:]
        self.maxes[b] = block[-1]
        self.mscores[b] = bs[-1]
        self.maxes.insert(b + 1, self.blocks[b + 1][-1])
        self.mscores.insert(b + 1, self.bscores[b + 1][-1])
        self.tree = None

    def remove(self, item: Item) -> None:
        maxes = self.maxes
        score, member = item
        b = item_bisect(maxes, score, member, False, self.mscores)
        block = self.blocks[b]
        bs = self.bscores[b]
        i = item_bisect(block, score, member, False, bs)
        self.steps += 2 + (len(block) >> 6)
        del block[i]
        del bs[i]
        self.size -= 1
        if not block:
            del self.blocks[b]
            del self.bscores[b]
            del maxes[b]
            del self.mscores[b]
            self.tree = None
            return
        maxes[b] = block[-1]
        self.mscores[b] = bs[-1]
        if len(block) < self.LOAD >> 2 and len(self.blocks) > 1:
            # merge with a neighbour so blocks stay large
            other = b - 1 if b > 0 else b + 1
            lo, hi = min(b, other), max(b, other)
            self.blocks[lo].extend(self.blocks[hi])
            self.bscores[lo].extend(self.bscores[hi])
            del self.blocks[hi]
            del self.bscores[hi]
            del maxes[hi]
            del self.mscores[hi]
            maxes[lo] = self.blocks[lo][-1]
            self.mscores[lo] = self.bscores[lo][-1]
            self.tree = None
            if len(self.blocks[lo]) > 2 * self.LOAD:
                self._split(lo)
            return
        self._tree_add(b, -1)

    # -- queries -------------------------------------------------------------
    def bisect_left(self, item: Item) -> int:
        """Index of the first item >= ``item``."""
        maxes = self.maxes
        score, member = item
        b = item_bisect(maxes, score, member, False, self.mscores)
        self.steps += 1
        if b == len(maxes):
            return self.size
        return self._before(b) + item_bisect(self.blocks[b], score, member, False, self.bscores[b])

    def bisect_right(self, item: Item) -> int:
        """Index of the first item > ``item``."""
        maxes = self.maxes
        score, member = item
        b = item_bisect(maxes, score, member, True, self.mscores)
        self.steps += 1
        if b == len(maxes):
            return self.size
        return self._before(b) + item_bisect(self.blocks[b], score, member, True, self.bscores[b])

    def first_where(self, pred: Callable[[Item], bool]) -> int:
        """Index of the first item satisfying ``pred``, which must be False then True along the list."""
        maxes = self.maxes
        self.steps += 1
        b = bisect_left(maxes, True, key=pred)
        if b == len(maxes):
            return self.size
        return self._before(b) + bisect_left(self.blocks[b], True, key=pred)

    def __getitem__(self, index: int) -> Item:
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        b, i = self._locate(index)
        return self.blocks[b][i]

    def iterate(self, start: int, stop: int) -> Iterator[Item]:
        """Items at indexes start .. stop-1, in order."""
        if start >= stop:
            return
        b, i = self._locate(start)
        left = stop - start
        blocks = self.blocks
        while left > 0 and b < len(blocks):
            chunk = blocks[b][i : i + left]
            yield from chunk
            left -= len(chunk)
            b += 1
            i = 0

    def iterate_back(self, start: int, stop: int) -> Iterator[Item]:
        """Items at indexes start, start-1, ... down to stop+1 (start >= stop)."""
        if start <= stop:
            return
        b, i = self._locate(start)
        left = start - stop
        blocks = self.blocks
        while left > 0 and b >= 0:
            block = blocks[b]
            lo = max(i - left + 1, 0)
            chunk = block[lo : i + 1]
            chunk.reverse()
            yield from chunk
            left -= len(chunk)
            b -= 1
            if b >= 0:
                i = len(blocks[b]) - 1

    def __iter__(self) -> Iterator[Item]:
        for block in self.blocks:
            yield from block

    def pop_ends(self, n: int, last: bool) -> list[Item]:
        """Remove and return the first (or, ``last``, the last, backwards) ``n`` items, taken
        from the end blocks themselves: no bisection, as ZPOPMIN/ZPOPMAX need none."""
        out: list[Item] = []
        blocks, bscores, maxes, mscores = self.blocks, self.bscores, self.maxes, self.mscores
        while len(out) < n and blocks:
            b = len(blocks) - 1 if last else 0
            block, bs = blocks[b], bscores[b]
            want = n - len(out)
            if want >= len(block):  # the whole block goes
                taken = block[::-1] if last else block
                del blocks[b], bscores[b], maxes[b], mscores[b]
                self.tree = None
            elif last:
                taken = block[: -want - 1 : -1]
                del block[-want:], bs[-want:]
                maxes[b] = block[-1]
                mscores[b] = bs[-1]
                self._tree_add(b, -want)
            else:
                taken = block[:want]
                del block[:want], bs[:want]
                self._tree_add(b, -want)
            out += taken
        self.size -= len(out)
        self.steps += 1 + len(out)
        return out

    def pop_one(self, last: bool) -> Item:
        """``pop_ends(1, last)[0]`` of a non-empty list, without the lists: the usual
        ZPOPMIN/ZPOPMAX takes one item."""
        blocks = self.blocks
        b = len(blocks) - 1 if last else 0
        block = blocks[b]
        if len(block) == 1:
            item = block[0]
            del blocks[b], self.bscores[b], self.maxes[b], self.mscores[b]
            self.tree = None
        elif last:
            item = block.pop()
            bs = self.bscores[b]
            bs.pop()
            self.maxes[b] = block[-1]
            self.mscores[b] = bs[-1]
            self._tree_add(b, -1)
        else:
            item = block.pop(0)
            self.bscores[b].pop(0)
            self._tree_add(b, -1)
        self.size -= 1
        self.steps += 2
        return item

    def check(self) -> None:
        """Invariants (tests)."""
        flat = [x for b in self.blocks for x in b]
        assert flat == sorted(flat) and len(flat) == self.size
        assert self.maxes == [b[-1] for b in self.blocks]
        assert [list(bs) for bs in self.bscores] == [[s for s, _ in b] for b in self.blocks]
        assert list(self.mscores) == [s for s, _ in self.maxes]
        if self.tree is not None:
            assert list(accumulate(len(b) for b in self.blocks)) == [self._before(i + 1) for i in range(len(self.blocks))]


@value_type
class ZSetValue:
    TYPE = "zset"
    __slots__ = ("enc", "scores", "index", "scan_list")

    def __init__(self, enc: str = LISTPACK) -> None:
        self.enc = enc
        self.scores: dict[bytes, float] = {}
        self.index = RankedList()
        self.scan_list: ScanList | None = ScanList() if enc == SKIPLIST else None

    @classmethod
    def small_from(cls, pairs: list[Item], maxlen: int) -> ZSetValue | None:
        """A new listpack zset of (score, member) ``pairs`` as a plain ZADD builds it (a repeated
        member: the last score wins), or None when ZADD would make a skiplist."""
        if len(pairs) > LIMITS["zset-max-listpack-entries"] or maxlen > LIMITS["zset-max-listpack-value"]:
            return None
        z = cls.__new__(cls)  # the fields are all set here: skip __init__'s empty ones
        z.enc = LISTPACK
        z.scan_list = None
        z.scores = scores = {m: s or 0.0 for s, m in pairs}  # -0 stored as 0 (see insert)
        z.index = RankedList.from_sorted(sorted(zip(scores.values(), scores, strict=True)))
        return z

    @classmethod
    def create(cls, size_hint: int, value_len_hint: int) -> ZSetValue:
        """zsetTypeCreate."""
        if size_hint <= LIMITS["zset-max-listpack-entries"] and value_len_hint <= LIMITS["zset-max-listpack-value"]:
            return cls(LISTPACK)
        return cls(SKIPLIST)

    def maybe_convert(self, size_hint: int, value_len_hint: int) -> None:
        """zsetTypeMaybeConvert."""
        if self.enc == LISTPACK and (size_hint > LIMITS["zset-max-listpack-entries"] or value_len_hint > LIMITS["zset-max-listpack-value"]):
            self.to_skiplist()

    def to_skiplist(self) -> None:
        if self.enc == SKIPLIST:
            return
        self.enc = SKIPLIST
        sl = self.scan_list = ScanList()
        for m in self.scores:
            sl.add(m)

    def maybe_to_listpack(self) -> None:
        """zsetConvertToListpackIfNeeded (a stored result of ZUNIONSTORE & co)."""
        if self.enc == SKIPLIST and len(self.scores) <= LIMITS["zset-max-listpack-entries"]:
            if all(len(m) <= LIMITS["zset-max-listpack-value"] for m in self.scores):
                self.enc = LISTPACK
                self.scan_list = None
                for m in [m for m, s in self.scores.items() if not s]:  # -0 stored as 0 (see insert)
                    self.update(m, self.scores[m], 0.0)

    # -- members -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.scores)

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def insert(self, member: bytes, score: float) -> None:
        """Add a member that is not present, converting first as zsetAdd does."""
        if self.enc == LISTPACK and (
            len(self.scores) + 1 > LIMITS["zset-max-listpack-entries"] or len(member) > LIMITS["zset-max-listpack-value"]
        ):
            self.to_skiplist()
        elif not score and self.enc == LISTPACK:
            # a listpack stores an integral score as an integer, so -0 reads back as 0
            # (a skiplist keeps the double: ZSCORE says -0 there, as in Valkey)
            score = 0.0
        self.scores[member] = score
        self.index.add((score, member))
        if self.scan_list is not None:
            self.scan_list.add(member)

    def update(self, member: bytes, old: float, new: float) -> None:
        if not new and self.enc == LISTPACK:
            new = 0.0  # -0 stored as 0 (see insert)
        self.scores[member] = new
        self.index.remove((old, member))
        self.index.add((new, member))

    def pop_ends(self, n: int, maximum: bool) -> list[Item]:
        """ZPOPMIN/ZPOPMAX: remove and return up to ``n`` lowest (highest) (score, member) items."""
        items = self.index.pop_ends(n, maximum)
        scores = self.scores
        scan_list = self.scan_list
        for _, m in items:
            del scores[m]
            if scan_list is not None:
                scan_list.remove(m)
        return items

    def pop_one(self, maximum: bool) -> Item:
        """ZPOPMIN/ZPOPMAX without a count: remove and return the lowest (highest) item."""
        item = self.index.pop_one(maximum)
        del self.scores[item[1]]
        if self.scan_list is not None:
            self.scan_list.remove(item[1])
        return item

    def delete(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.index.remove((score, member))
        if self.scan_list is not None:
            self.scan_list.remove(member)
        return True

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return self.index.bisect_left((score, member))

    def items(self) -> Iterator[Item]:
        return iter(self.index)

    def random_member(self) -> bytes:
        if self.scan_list is not None:
            return self.scan_list.random()
        return self.index[random.randrange(len(self.index))][1]

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        if self.scan_list is None:
            return 0, [m for _, m in self.index]
        return self.scan_list.scan(cursor, count)

    # -- value contract ------------------------------------------------------
    def encoding(self) -> str:
        return self.enc

    def state(self) -> list[Any]:
        flat: list[Any] = []
        for score, member in self.index:
            flat.append(member)
            flat.append(score)
        return [self.enc, flat]

    @classmethod
    def from_state(cls, state: list[Any]) -> ZSetValue:
        enc, flat = state
        z = cls.__new__(cls)  # the fields are all set here: skip __init__'s empty ones
        z.enc = enc = _ENCODINGS.get(enc)  # the shared name, not a new str per sorted set
        if enc is None:
            raise ValueError(f"unknown sorted set encoding {state[0]!r}")
        members = flat[0::2]
        scores = list(map(float, flat[1::2]))
        z.scores = dict(zip(members, scores, strict=True))
        z.index = RankedList.from_sorted(list(zip(scores, members, strict=True)))
        z.scan_list = None
        if enc is SKIPLIST:
            z.scan_list = sl = ScanList()
            for m in members:
                sl.add(m)
        return z

    def copy(self) -> ZSetValue:
        return load_value(b"zset", dump_value(self))

    def memory_usage(self) -> int:
        n = len(self.scores)
        per = 56 + 64 + (40 if self.scan_list is not None else 0)  # tuple, dict entry and float, scan slot
        return sys.getsizeof(self.scores) + sum(sys.getsizeof(m) for m in self.scores) + n * per


try:  # the shard's C loop runs ZADD of one member (new or updated), ZSCORE, ZCARD and one-item pops itself, as above
    from shardserver._speedups import configure_zsets
except ImportError:  # built without the C helpers: every ZADD and ZPOPMIN runs the Python above
    pass
else:
    configure_zsets(ZSetValue, RankedList, ScanList, LIMITS, LISTPACK)
