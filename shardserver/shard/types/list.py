"""The list type: a deque of elements plus a model of Valkey's encoding.

Ownership: the in-memory representation of one list and its encoding
(``listpack`` or ``quicklist``), switching exactly where Valkey 9 switches.

Elements live in one ``collections.deque`` (O(1) push/pop at both ends;
indexing in the middle is O(N), as Valkey's quicklist walk).  Next to it the
class keeps what Valkey's encoding decisions depend on:

- as a listpack: its byte size ``lp_bytes`` (header, entries, end byte),
  computed with listpack's exact entry sizes (small integers take 2-10 bytes,
  strings 2-10 bytes of overhead);
- as a quicklist: one ``[count, bytes, plain]`` record per node, in order,
  updated the way quicklist.c fills, splits and frees nodes: a push goes into
  the end node while ``list-max-listpack-size`` allows it (``node size +
  element + 8`` for a size limit, the entry count for a count limit), an
  element larger than the node limit gets a plain node of its own, an emptied
  node is freed.

Conversions, as t_list.c: a listpack becomes a quicklist when the pushed
elements' raw bytes plus its own size (or its count) would exceed the node
limit; a quicklist becomes a listpack again after a shrinking command when it
is down to one packed node of at most half the limit.

``list-max-listpack-size`` is process-wide (``FILL[0]``); the shard sets it
from the configuration (``__config``).  A quicklist keeps the value it was
created with (``fill``), as Valkey's quicklist keeps its own: its node
decisions follow that one, its conversion back to a listpack and a
listpack's growth follow the configuration of the moment.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from shardserver.numbers import strict_int
from shardserver.shard.types import value_type
from shardserver.shard.types.listpack import entries_size, entry_size

FILL = [-2]  # list-max-listpack-size, as configured
_LEVELS = (4096, 8192, 16384, 32768, 65536)
_SAFETY = 8192
_OVERHEAD = 8  # quicklist's per-entry estimate when deciding whether a node takes one more
_LP_EMPTY = 7  # listpack header (6) + end byte (1)


def _size_limit(fill: int) -> int:
    if fill >= 0:
        return -1
    return _LEVELS[min(-fill - 1, len(_LEVELS) - 1)]


def exceeds(fill: int, size: int, count: int) -> bool:
    """quicklistNodeExceedsLimit: would a node of ``size`` bytes and ``count`` entries be too big."""
    if fill < 0:
        return size > _LEVELS[min(-fill - 1, len(_LEVELS) - 1)]
    if size > _SAFETY:
        return True
    return count > (fill or 1)


def is_large(size: int, fill: int) -> bool:
    """An element that gets a plain quicklist node of its own."""
    if fill >= 0:
        return size > _SAFETY
    return size > _size_limit(fill)


@value_type
class ListValue:
    TYPE = "list"
    __slots__ = ("items", "lp_bytes", "nodes", "fill")

    def __init__(self) -> None:
        self.items: deque[bytes] = deque()
        self.lp_bytes = _LP_EMPTY
        self.nodes: deque[list[int]] | None = None  # quicklist nodes [count, bytes, plain]; None = listpack
        self.fill = FILL[0]  # the quicklist's own list-max-listpack-size (set when it is created)

    # -- contract ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.items)

    def encoding(self) -> str:
        return "listpack" if self.nodes is None else "quicklist"

    def state(self) -> list[Any]:
        nodes = None if self.nodes is None else [list(n) for n in self.nodes]
        return [list(self.items), self.lp_bytes, nodes]

    @classmethod
    def from_state(cls, state: list[Any]) -> ListValue:
        items, lp_bytes, nodes = state
        value = cls()
        value.items = deque(items)
        value.lp_bytes = lp_bytes
        value.nodes = None if nodes is None else deque(nodes)
        return value  # fill: the configuration of the load, as Valkey's loaded quicklists

    def copy(self) -> ListValue:
        value = ListValue()
        value.items = self.items.copy()
        value.lp_bytes = self.lp_bytes
        value.nodes = None if self.nodes is None else deque([list(n) for n in self.nodes])
        value.fill = self.fill
        return value

    def memory_usage(self) -> int:
        size = sys.getsizeof(self.items) + 64
        if len(self.items) <= 64:
            return size + sum(sys.getsizeof(v) for v in self.items)
        sample = list(islice(self.items, 64))
        return size + sum(sys.getsizeof(v) for v in sample) * len(self.items) // len(sample)

    @classmethod
    def from_items(cls, items: Iterable[bytes]) -> ListValue:
        """A list as RPUSH of ``items`` onto a new key would build it."""
        value = cls()
        value.push(list(items), tail=True)
        return value

    # -- encoding bookkeeping ------------------------------------------------
    def grow_for(self, values: list[bytes]) -> None:
        """Convert as if ``values`` were about to be added (LSET, LINSERT do this first)."""
        self._try_grow(values)

    def _try_grow(self, values: list[bytes], add: int | None = None) -> None:
        """listTypeTryConversionAppend: a listpack that would grow too big becomes a quicklist.

        ``add``: the bytes Valkey counts for ``values`` when not their lengths (see ``moved``)."""
        if self.nodes is not None:
            return
        fill = FILL[0]
        if add is None:
            add = sum(map(len, values))
        if exceeds(fill, self.lp_bytes + add, len(self.items) + len(values)):
            self.nodes = deque()
            self.fill = fill
            if self.items:
                self.nodes.append([len(self.items), self.lp_bytes, 0])

    def _try_shrink(self) -> None:
        """listTypeTryConvertQuicklist: one packed node of at most half the limit becomes a listpack."""
        nodes = self.nodes
        if nodes is None or len(nodes) != 1 or nodes[0][2]:
            return
        fill = FILL[0]
        if fill < 0:
            if nodes[0][1] > _size_limit(fill) // 2:
                return
        elif len(self.items) > (fill or 1) // 2:
            return
        self.lp_bytes = nodes[0][1]
        self.nodes = None

    def _node_push(self, v: bytes, tail: bool) -> None:
        nodes = self.nodes
        assert nodes is not None
        fill = self.fill
        n = len(v)
        node = (nodes[-1] if tail else nodes[0]) if nodes else None
        if fill < 0:  # a size limit (the default): is_large and exceeds inlined, they were a fifth of LPUSH
            limit = _LEVELS[min(-fill - 1, len(_LEVELS) - 1)]
            large = n > limit
            fits = node is not None and node[1] + n + _OVERHEAD <= limit
        else:
            large = is_large(n, fill)
            fits = node is not None and not exceeds(fill, node[1] + n + _OVERHEAD, node[0] + 1)
        if large:
            nodes.append([1, n, 1]) if tail else nodes.appendleft([1, n, 1])
            return
        if node is not None and fits and not node[2]:
            node[0] += 1
            node[1] += entry_size(v)
            return
        new = [1, _LP_EMPTY + entry_size(v), 0]
        nodes.append(new) if tail else nodes.appendleft(new)

    def _node_pop(self, v: bytes, tail: bool) -> None:
        nodes = self.nodes
        assert nodes is not None
        node = nodes[-1] if tail else nodes[0]
        node[0] -= 1
        if node[0] == 0:
            nodes.pop() if tail else nodes.popleft()
        elif not node[2]:
            node[1] -= entry_size(v)

    def _locate(self, index: int) -> tuple[int, int]:
        """(node number, offset in it) of element ``index`` (quicklist only)."""
        assert self.nodes is not None
        if index < len(self.items) // 2:
            for i, node in enumerate(self.nodes):
                if index < node[0]:
                    return i, index
                index -= node[0]
        else:
            back = len(self.items) - 1 - index
            for j in range(len(self.nodes) - 1, -1, -1):
                node = self.nodes[j]
                if back < node[0]:
                    return j, node[0] - 1 - back
                back -= node[0]
        raise IndexError(index)

    def _node_bytes(self, start: int, count: int) -> int:
        return _LP_EMPTY + entries_size(list(islice(self.items, start, start + count)))

    # -- operations ------------------------------------------------------------
    def push(self, values: list[bytes], tail: bool, add: int | None = None) -> None:
        """LPUSH (tail False: each value goes to the head in turn) or RPUSH."""
        self._try_grow(values, add)
        items = self.items
        if self.nodes is None:
            if tail:
                items.extend(values)
            else:
                items.extendleft(values)
            self.lp_bytes += entries_size(values)
            return
        for v in values:
            self._node_push(v, tail)
            if tail:
                items.append(v)
            else:
                items.appendleft(v)

    def pop(self, tail: bool) -> bytes:
        v = self.items.pop() if tail else self.items.popleft()
        if self.nodes is None:
            self.lp_bytes -= entry_size(v)
        else:
            self._node_pop(v, tail)
        return v

    def moved(self, v: bytes) -> int:
        """The bytes Valkey's conversion check counts for ``v`` just popped from this list
        and pushed onto another (LMOVE): a quicklist hands over an integer entry as an
        integer object, which the check counts as 0 bytes; a listpack hands over a string."""
        if self.nodes is not None and strict_int(v) is not None:
            return 0
        return len(v)

    def pop_many(self, count: int, tail: bool) -> list[bytes]:
        out = [self.pop(tail) for _ in range(min(count, len(self.items)))]
        self.shrunk()
        return out

    def shrunk(self) -> None:
        """After elements were removed: maybe back to a listpack."""
        if self.nodes is not None and self.items:
            self._try_shrink()

    def index(self, i: int) -> bytes | None:
        n = len(self.items)
        if i < 0:
            i += n
        if i < 0 or i >= n:
            return None
        return self.items[i]

    # -- quicklist node model: inserts, replacements, merges (quicklist.c) ----------
    def _allow_insert(self, node: list[int] | None, size: int) -> bool:
        """_quicklistNodeAllowInsert."""
        fill = self.fill
        if node is None or node[2] or is_large(size, fill):
            return False
        return not exceeds(fill, node[1] + size + _OVERHEAD, node[0] + 1)

    def _allow_merge(self, a: list[int], b: list[int]) -> bool:
        """_quicklistNodeAllowMerge: the merged listpack loses one header and end byte."""
        if a[2] or b[2]:
            return False
        return not exceeds(self.fill, a[1] + b[1] - _LP_EMPTY, a[0] + b[0])

    def _merge(self, i: int) -> None:
        nodes = self.nodes
        assert nodes is not None
        a, b = nodes[i], nodes[i + 1]
        a[0] += b[0]
        a[1] += b[1] - _LP_EMPTY
        del nodes[i + 1]

    def _merge_around(self, c: int) -> int:
        """_quicklistMergeNodes around node ``c``; returns the index of the resulting centre."""
        nodes = self.nodes
        assert nodes is not None
        if c >= 2 and self._allow_merge(nodes[c - 1], nodes[c - 2]):
            self._merge(c - 2)
            c -= 1
        if c + 2 < len(nodes) and self._allow_merge(nodes[c + 1], nodes[c + 2]):
            self._merge(c + 1)
        if c >= 1 and self._allow_merge(nodes[c], nodes[c - 1]):
            self._merge(c - 1)
            c -= 1
        if c + 1 < len(nodes) and self._allow_merge(nodes[c], nodes[c + 1]):
            self._merge(c)
        return c

    def _split(self, k: int, first: int, keep: int) -> tuple[list[int], list[int]]:
        """Node ``k`` (its first element at ``first``) cut after ``keep`` elements: (left, right)."""
        nodes = self.nodes
        assert nodes is not None
        count = nodes[k][0]
        return [keep, self._node_bytes(first, keep), 0], [count - keep, self._node_bytes(first + keep, count - keep), 0]

    def set(self, i: int, v: bytes) -> None:
        """LSET at a valid index ``i`` (0 <= i < len); the caller ran ``grow_for`` first."""
        old = self.items[i]
        if self.nodes is None:
            self.items[i] = v
            self.lp_bytes += entry_size(v) - entry_size(old)
            return
        nodes = self.nodes
        fill = self.fill
        size = len(v)
        k, off = self._locate(i)
        node = nodes[k]
        large = is_large(size, fill)
        es = entry_size(v)
        if not node[2] and not large:
            # quicklistReplaceEntry: a packed node takes any value that is not large in
            # place, even past the node's limit (LSET's shrink check follows)
            node[1] += es - entry_size(old)
        elif node[2] and large:
            node[1] = size
        elif node[2]:
            # inserted after the plain node (into the next node when it has room), which is freed
            nxt = nodes[k + 1] if k + 1 < len(nodes) else None
            if self._allow_insert(nxt, size):
                assert nxt is not None
                nxt[0] += 1
                nxt[1] += es
                del nodes[k]
            else:
                nodes[k] = [1, _LP_EMPTY + es, 0]
        else:
            # a large value in a packed node: split after the element, a new node for the
            # value, then the old element (now the node's last) is deleted and nodes merged
            first = i - off
            new = [1, size, 1] if large else [1, _LP_EMPTY + es, 0]
            if off != node[0] - 1:
                left, right = self._split(k, first, off + 1)
                nodes[k] = left
                nodes.insert(k + 1, new)
                nodes.insert(k + 2, right)
            else:
                nodes.insert(k + 1, new)
            node = nodes[k]
            if node[0] == 1:
                del nodes[k]
            else:
                node[0] -= 1
                node[1] -= entry_size(old)
                self._merge_around(k + 1)
        self.items[i] = v
        self._try_shrink()

    def linsert(self, pivot: int, v: bytes, after: bool) -> None:
        """LINSERT next to element ``pivot``; the caller ran ``grow_for`` first."""
        items = self.items
        if self.nodes is None:
            items.insert(pivot + after, v)
            self.lp_bytes += entry_size(v)
            return
        nodes = self.nodes
        size = len(v)
        es = entry_size(v)
        k, off = self._locate(pivot)
        node = nodes[k]
        first = pivot - off
        full = not self._allow_insert(node, size)
        at_tail = after and off == node[0] - 1
        at_head = not after and off == 0
        nxt = nodes[k + 1] if k + 1 < len(nodes) else None
        prv = nodes[k - 1] if k > 0 else None
        if is_large(size, self.fill):
            if node[2] or at_tail or at_head:
                nodes.insert(k + 1 if after else k, [1, size, 1])
            else:
                left, right = self._split(k, first, off + 1 if after else off)
                nodes[k] = left
                nodes.insert(k + 1, [1, size, 1])
                nodes.insert(k + 2, right)
        elif not full:
            node[0] += 1
            node[1] += es
        elif at_tail and self._allow_insert(nxt, size):
            assert nxt is not None
            nxt[0] += 1
            nxt[1] += es
        elif at_head and self._allow_insert(prv, size):
            assert prv is not None
            prv[0] += 1
            prv[1] += es
        elif at_tail or at_head:
            nodes.insert(k + 1 if after else k, [1, _LP_EMPTY + es, 0])
        else:
            left, right = self._split(k, first, off + 1 if after else off)
            if after:  # the new node holds the elements after the pivot, the value first
                right[0] += 1
                right[1] += es
                centre = k
            else:  # the new node holds the elements before the pivot, the value last
                left[0] += 1
                left[1] += es
                centre = k + 1
            nodes[k] = left
            nodes.insert(k + 1, right)
            self._merge_around(centre)
        items.insert(pivot + after, v)

    def remove_matching(self, ele: bytes, count: int) -> int:
        """LREM: remove up to |count| elements equal to ``ele`` (all when 0), from the tail when negative."""
        items = self.items
        n = len(items)
        limit = abs(count) or n
        positions: list[int] = []
        if count < 0:
            for back, v in enumerate(reversed(items)):
                if v == ele:
                    positions.append(n - 1 - back)
                    if len(positions) == limit:
                        break
            positions.reverse()
        else:
            for i, v in enumerate(items):
                if v == ele:
                    positions.append(i)
                    if len(positions) == limit:
                        break
        if not positions:
            return 0
        size = entry_size(ele)
        gone = set(positions)
        self.items = deque(v for i, v in enumerate(items) if i not in gone)
        if self.nodes is None:
            self.lp_bytes -= size * len(positions)
            return len(positions)
        # per node: how many of its elements went (positions are sorted)
        kept: deque[list[int]] = deque()
        p = 0
        first = 0
        for node in self.nodes:
            hit = 0
            end = first + node[0]
            while p < len(positions) and positions[p] < end:
                hit += 1
                p += 1
            first = end
            if hit == node[0]:
                continue
            if hit:
                node[0] -= hit
                if not node[2]:
                    node[1] -= size * hit
            kept.append(node)
        self.nodes = kept
        return len(positions)

    def trim(self, start: int, stop: int) -> None:
        """Keep elements start..stop (inclusive, already clamped; start > stop empties)."""
        n = len(self.items)
        if start > stop or start >= n:
            head, tail = n, 0
        else:
            head, tail = start, n - 1 - stop
        for _ in range(head):
            self.pop(False)
        for _ in range(min(tail, len(self.items))):
            self.pop(True)
        self.shrunk()

    def range(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop inclusive (valid, normalised indexes)."""
        items = self.items
        n = len(items)
        count = stop - start + 1
        if start > n - 1 - stop:  # nearer the tail: walk from there
            out = list(islice(reversed(items), n - 1 - stop, n - start))
            out.reverse()
            return out
        return list(islice(items, start, start + count))

    def as_list(self) -> list[Any]:
        return list(self.items)


try:  # the shard's C loop pushes onto existing lists itself, as ListValue.push does
    from shardserver._speedups import configure_lists
except ImportError:  # built without the C helpers: every push runs the Python above
    pass
else:
    configure_lists(ListValue, FILL)
