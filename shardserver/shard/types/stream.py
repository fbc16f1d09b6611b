"""Streams: entries ordered by ID in nodes (blocks), plus consumer groups.

Ownership: the in-memory representation of a stream and the algorithms that
decide what Valkey replies depend on (node boundaries, trimming, tombstone
bookkeeping, the group read counter).  Commands live in ``stream_cmds.py``.

Layout, modelled on Valkey's radix tree of listpacks:

- An ID is one int, ``ms << 64 | seq``, so comparing IDs is comparing ints.
- Entries live in nodes (``_Node``) keyed by the ID of the first entry ever
  appended to them (Valkey's master ID).  ``Stream.keys`` is the sorted list
  of node keys: a lookup by ID is a bisect (O(log N)) plus a bisect inside a
  node of at most ``stream-node-max-entries`` entries.
- A new node starts when the tail node holds ``stream-node-max-entries``
  entries (live and deleted, as Valkey counts them) or its listpack would
  reach ``stream-node-max-bytes``; the listpack size is computed with
  Valkey's listpack encoding rules so nodes split where Valkey's do, which
  approximate trimming (``~``) and XINFO's radix-tree counters depend on.
- A deleted entry is removed from its node's lists, but the node remembers
  how many entries it physically held (``used``), its last appended ID and
  its byte size, as a listpack with a tombstone would.  A node whose last
  live entry goes is dropped, as in Valkey.
- Consumer groups keep a PEL (pending entries list) per group and per
  consumer: a dict ID -> ``Nack`` plus ``SortedIds`` (a chunked sorted list:
  O(log N) search, inserts and removals touching one chunk).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from itertools import islice
from typing import Any

from shardserver.shard.types import dump_value, load_value, value_type
from shardserver.shard.types.listpack import entries_size, int_size

U64 = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
INVALID_READ = -1  # Valkey's SCG_INVALID_ENTRIES_READ

# stream-node-max-bytes, stream-node-max-entries (CONFIG SET reaches them via the shard)
LIMITS = {"stream-node-max-bytes": 4096, "stream-node-max-entries": 100}
LISTPACK_MAX_SIZE = 1 << 30


def fmt_id(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & U64)


def make_id(ms: int, seq: int) -> int:
    return (ms << 64) | seq


_I63 = 1 << 63


def signed64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


# ---------------------------------------------------------------- nodes


def py_entry_bytes(master: tuple[bytes, ...], fv: tuple[bytes, ...], ms_d: int, seq_d: int) -> int:
    """Listpack bytes one entry adds to its node: flags, the ID's deltas from the
    master ID, then the values alone when the fields are the master entry's (Valkey's
    SAMEFIELDS), else the field count and every field and value; last the entry's
    element count (its lp-count)."""
    nfields = len(fv) // 2
    same = nfields == len(master) and fv[0::2] == master
    size = int_size(2 if same else 0) + int_size(ms_d) + int_size(seq_d)
    if same:
        return size + entries_size(fv[1::2]) + int_size(nfields + 3)
    return size + int_size(nfields) + entries_size(fv) + int_size(2 * nfields + 4)


try:  # the same sum in C: an XADD's largest cost after the command itself
    from shardserver._speedups import stream_entry_bytes as entry_bytes
except ImportError:  # built without the C helpers
    entry_bytes = py_entry_bytes


class _Node:
    """One listpack's worth of entries."""

    __slots__ = ("key", "key_ms", "key_seq", "last", "ids", "entries", "used", "master", "body_bytes")

    def __init__(self, key: int, master: tuple[bytes, ...]) -> None:
        self.key = key  # ID of the first entry appended (the master ID)
        self.key_ms = key >> 64  # its halves, which each entry's deltas are taken from
        self.key_seq = key & U64
        self.last = key  # ID of the last entry appended (deleted or not)
        self.ids: list[int] = []
        self.entries: list[tuple[bytes, ...]] = []  # field, value, field, value, ...
        self.used = 0  # entries appended (live + deleted)
        self.master = master  # the master entry's field names
        # header fields that do not change size: num-fields, master fields, the zero
        body = int_size(len(master)) + entries_size(master) + int_size(0)
        self.body_bytes = body  # plus every entry appended

    def lp_bytes(self) -> int:
        live = len(self.ids)
        return 7 + int_size(live) + int_size(self.used - live) + self.body_bytes

    def append(self, id_: int, fv: tuple[bytes, ...]) -> None:
        ms_d = (id_ >> 64) - self.key_ms
        seq_d = (id_ & U64) - self.key_seq
        if not -_I63 <= ms_d < _I63:  # Valkey's deltas are int64: wrap as it does
            ms_d = signed64(ms_d)
        if not -_I63 <= seq_d < _I63:
            seq_d = signed64(seq_d)
        self.body_bytes += entry_bytes(self.master, fv, ms_d, seq_d)
        self.ids.append(id_)
        self.entries.append(fv)
        self.used += 1
        self.last = id_


# ---------------------------------------------------------------- sorted id sets


class SortedIds:
    """A sorted set of ints in chunks: O(log N) search, cheap inserts and removals."""

    __slots__ = ("chunks", "maxes", "n")
    CHUNK = 512

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []
        self.maxes: list[int] = []
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def add(self, x: int) -> None:
        """Insert ``x`` (the caller knows it is absent)."""
        self.n += 1
        if not self.chunks:
            self.chunks.append([x])
            self.maxes.append(x)
            return
        i = bisect_left(self.maxes, x)
        if i == len(self.maxes):
            i -= 1
            chunk = self.chunks[i]
            chunk.append(x)
            self.maxes[i] = x
        else:
            chunk = self.chunks[i]
            insort(chunk, x)
        if len(chunk) > 2 * self.CHUNK:
            half = self.CHUNK
            self.chunks[i : i + 1] = [chunk[:half], chunk[half:]]
            self.maxes[i : i + 1] = [chunk[half - 1], chunk[-1]]

    def remove(self, x: int) -> None:
        i = bisect_left(self.maxes, x)
        chunk = self.chunks[i]
        j = bisect_left(chunk, x)
        del chunk[j]
        self.n -= 1
        if not chunk:
            del self.chunks[i]
            del self.maxes[i]
        elif j == len(chunk):
            self.maxes[i] = chunk[-1]

    def first(self) -> int:
        return self.chunks[0][0]

    def last(self) -> int:
        return self.maxes[-1]

    def iter_from(self, x: int) -> Iterator[int]:
        i = bisect_left(self.maxes, x)
        if i >= len(self.chunks):
            return
        chunk = self.chunks[i]
        yield from chunk[bisect_left(chunk, x) :]
        for c in self.chunks[i + 1 :]:
            yield from c

    def __iter__(self) -> Iterator[int]:
        for c in self.chunks:
            yield from c


# ---------------------------------------------------------------- groups


class Consumer:
    __slots__ = ("name", "seen_time", "active_time", "pel")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.seen_time = now
        self.active_time = -1
        self.pel = SortedIds()


class Nack:
    __slots__ = ("delivery_time", "delivery_count", "consumer")

    def __init__(self, consumer: Consumer | None, now: int) -> None:
        self.delivery_time = now
        self.delivery_count = 1
        self.consumer = consumer


class Group:
    __slots__ = ("last_id", "entries_read", "pel", "pel_ids", "consumers")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: dict[int, Nack] = {}
        self.pel_ids = SortedIds()
        self.consumers: dict[bytes, Consumer] = {}

    def add_nack(self, id_: int, nack: Nack) -> None:
        self.pel[id_] = nack
        self.pel_ids.add(id_)

    def drop_nack(self, id_: int) -> Nack:
        nack = self.pel.pop(id_)
        self.pel_ids.remove(id_)
        if nack.consumer is not None:
            nack.consumer.pel.remove(id_)
        return nack

    def create_consumer(self, name: bytes, now: int) -> Consumer | None:
        if name in self.consumers:
            return None
        c = Consumer(name, now)
        self.consumers[name] = c
        return c

    def delete_consumer(self, c: Consumer) -> int:
        pending = len(c.pel)
        for id_ in c.pel:
            del self.pel[id_]
            self.pel_ids.remove(id_)
        del self.consumers[c.name]
        return pending

    def sorted_consumers(self) -> list[Consumer]:
        return [self.consumers[k] for k in sorted(self.consumers)]


# ---------------------------------------------------------------- the stream


@value_type
class Stream:
    TYPE = "stream"

    __slots__ = ("keys", "nodes", "length", "last_id", "first_id", "max_deleted", "entries_added", "groups", "_rax_nodes")
    # deleting or overwriting a watched stream wakes its blocked XREADGROUP clients (keyspace.py)
    signal_on_delete = True

    def __init__(self) -> None:
        self.keys: list[int] = []  # node keys, sorted
        self.nodes: list[_Node] = []
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] | None = None
        self._rax_nodes = -1  # cached XINFO radix-tree-nodes, -1 when stale

    # -- the value-class contract --------------------------------------------
    def encoding(self) -> str:
        return "stream"

    def __len__(self) -> int:
        return self.length

    def copy(self) -> Stream:
        return load_value(b"stream", dump_value(self))

    def memory_usage(self) -> int:
        total = 200 + 80 * len(self.nodes)
        for node in self.nodes:
            total += node.lp_bytes() + 16 * len(node.ids)
        for g in (self.groups or {}).values():
            total += 100 + 80 * len(g.pel) + sum(60 + len(c.name) for c in g.consumers.values())
        return total

    def state(self) -> list[Any]:
        nodes = [[n.key, n.last, n.used, list(n.master), n.body_bytes, n.ids, [list(e) for e in n.entries]] for n in self.nodes]
        groups = []
        for name, g in (self.groups or {}).items():
            consumers = [[c.name, c.seen_time, c.active_time] for c in g.consumers.values()]
            pel = [[i, n.delivery_time, n.delivery_count, n.consumer.name if n.consumer else None] for i, n in g.pel.items()]
            groups.append([name, g.last_id.to_bytes(16, "big"), g.entries_read, consumers, pel])
        head = [self.length, self.last_id.to_bytes(16, "big"), self.first_id.to_bytes(16, "big"), self.max_deleted.to_bytes(16, "big"), self.entries_added, self.groups is not None]
        packed_nodes = [[n[0].to_bytes(16, "big"), n[1].to_bytes(16, "big"), n[2], n[3], n[4], [i.to_bytes(16, "big") for i in n[5]], n[6]] for n in nodes]
        packed_groups = [[g[0], g[1], g[2], g[3], [[p[0].to_bytes(16, "big"), p[1], p[2], p[3]] for p in g[4]]] for g in groups]
        return [head, packed_nodes, packed_groups]

    @classmethod
    def from_state(cls, state: list[Any]) -> Stream:
        head, nodes, groups = state
        s = cls()
        s.length = head[0]
        s.last_id = int.from_bytes(head[1], "big")
        s.first_id = int.from_bytes(head[2], "big")
        s.max_deleted = int.from_bytes(head[3], "big")
        s.entries_added = head[4]
        for key, last, used, master, body, ids, entries in nodes:
            node = _Node(int.from_bytes(key, "big"), tuple(master))
            node.last = int.from_bytes(last, "big")
            node.used = used
            node.body_bytes = body
            node.ids = [int.from_bytes(i, "big") for i in ids]
            node.entries = [tuple(e) for e in entries]
            s.keys.append(node.key)
            s.nodes.append(node)
        if head[5]:
            s.groups = {}
            for name, last_id, entries_read, consumers, pel in groups:
                g = Group(int.from_bytes(last_id, "big"), entries_read)
                for cname, seen, active in consumers:
                    c = Consumer(cname, seen)
                    c.active_time = active
                    g.consumers[cname] = c
                for raw_id, dtime, dcount, owner in pel:
                    i = int.from_bytes(raw_id, "big")
                    consumer = g.consumers[owner] if owner is not None else None
                    nack = Nack(consumer, dtime)
                    nack.delivery_count = dcount
                    g.add_nack(i, nack)
                    if consumer is not None:
                        consumer.pel.add(i)
                s.groups[name] = g
        return s

    # -- appending -------------------------------------------------------------
    def next_auto_id(self, now_ms: int) -> int | None:
        """streamNextID: None when the sequence would wrap past the last possible ID."""
        last_ms = self.last_id >> 64
        if now_ms > last_ms:
            return make_id(now_ms, 0)
        if self.last_id == MAX_ID:
            return None
        return self.last_id + 1

    def append(self, id_: int, fv: tuple[bytes, ...], nbytes: int = -1) -> None:
        """Add an entry whose ID the caller checked is greater than ``last_id``
        (``nbytes``: the fields' and values' length, when the caller has it)."""
        node = self.nodes[-1] if self.nodes else None
        if node is not None:
            max_bytes = LIMITS["stream-node-max-bytes"]
            if max_bytes == 0 or max_bytes > LISTPACK_MAX_SIZE:
                max_bytes = LISTPACK_MAX_SIZE
            max_entries = LIMITS["stream-node-max-entries"]
            if node.lp_bytes() + (nbytes if nbytes >= 0 else sum(map(len, fv))) >= max_bytes:
                node = None
            elif max_entries and node.used >= max_entries:
                node = None
        if node is None:
            node = _Node(id_, tuple(fv[0::2]))
            self.keys.append(id_)
            self.nodes.append(node)
            self._rax_nodes = -1
        node.append(id_, fv)
        self.length += 1
        self.entries_added += 1
        self.last_id = id_
        if self.length == 1:
            self.first_id = id_

    # -- lookups and iteration ---------------------------------------------------
    def _node_index(self, id_: int) -> int:
        """Index of the node that would hold ``id_`` (-1 before the first node)."""
        return bisect_right(self.keys, id_) - 1

    def get(self, id_: int) -> tuple[bytes, ...] | None:
        i = self._node_index(id_)
        if i < 0:
            return None
        node = self.nodes[i]
        j = bisect_left(node.ids, id_)
        if j < len(node.ids) and node.ids[j] == id_:
            return node.entries[j]
        return None

    def exists(self, id_: int) -> bool:
        return self.get(id_) is not None

    def range(self, start: int, end: int, rev: bool = False) -> Iterator[tuple[int, tuple[bytes, ...]]]:
        """Live entries with start <= ID <= end, in order (or reversed)."""
        if start > end or not self.nodes:
            return
        if not rev:
            i = max(self._node_index(start), 0)
            nodes = self.nodes
            first = True
            while i < len(nodes):
                node = nodes[i]
                j = bisect_left(node.ids, start) if first else 0
                first = False
                ids = node.ids
                entries = node.entries
                while j < len(ids):
                    id_ = ids[j]
                    if id_ > end:
                        return
                    yield id_, entries[j]
                    j += 1
                i += 1
        else:
            i = self._node_index(end)
            nodes = self.nodes
            first = True
            while i >= 0:
                node = nodes[i]
                ids = node.ids
                entries = node.entries
                j = (bisect_right(ids, end) if first else len(ids)) - 1
                first = False
                while j >= 0:
                    id_ = ids[j]
                    if id_ < start:
                        return
                    yield id_, entries[j]
                    j -= 1
                i -= 1

    def last_valid_id(self) -> int:
        """The ID of the last live entry (0 when empty)."""
        for node in reversed(self.nodes):  # a node emptied by an exact MINID trim stays, as in Valkey
            if node.ids:
                return node.ids[-1]
        return 0

    def first_valid_id(self) -> int:
        for node in self.nodes:
            if node.ids:
                return node.ids[0]
        return 0

    def first_physical_id(self) -> int:
        """The first entry of the first node, tombstone or not (streamGetEdgeID without skipping)."""
        return self.nodes[0].key if self.nodes else 0

    # -- deleting ----------------------------------------------------------------
    def delete(self, id_: int) -> bool:
        i = self._node_index(id_)
        if i < 0:
            return False
        node = self.nodes[i]
        j = bisect_left(node.ids, id_)
        if j >= len(node.ids) or node.ids[j] != id_:
            return False
        if len(node.ids) == 1:  # the node's last live entry: the node goes
            del self.keys[i]
            del self.nodes[i]
            self._rax_nodes = -1
        else:
            del node.ids[j]
            del node.entries[j]
        self.length -= 1
        return True

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: by MAXLEN (``maxlen``) or MINID (``minid``); returns entries removed."""
        deleted = 0
        nodes = self.nodes
        removed_nodes = 0
        while removed_nodes < len(nodes):
            if maxlen is not None and self.length <= maxlen:
                break
            node = nodes[removed_nodes]
            entries = len(node.ids)
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                remove_node = self.length - entries >= maxlen
            else:
                assert minid is not None
                remove_node = node.last < minid
            if remove_node:
                removed_nodes += 1
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            # remove entries from inside this node
            k = 0
            ids = node.ids
            if maxlen is not None:
                k = min(self.length - maxlen, entries)
            else:
                assert minid is not None
                k = bisect_left(ids, minid)
            if k:
                del ids[:k]
                del node.entries[:k]
                self.length -= k
                deleted += k
            break
        if removed_nodes:
            del self.keys[:removed_nodes]
            del self.nodes[:removed_nodes]
            self._rax_nodes = -1
        if self.length == 0:
            self.first_id = 0
        elif deleted:
            self.first_id = self.first_valid_id()
        return deleted

    # -- consumer-group bookkeeping ----------------------------------------------
    def range_has_tombstones(self, start: int, end: int = MAX_ID) -> bool:
        if not self.length or self.max_deleted == 0:
            return False
        return start <= self.max_deleted <= end

    def estimate_distance(self, id_: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry: an ID's read counter, or INVALID_READ."""
        if not self.entries_added:
            return 0
        if not self.length and id_ <= self.last_id:
            return self.entries_added
        if id_ != 0 and id_ < self.max_deleted:
            return INVALID_READ
        if id_ == self.last_id:
            return self.entries_added
        if id_ > self.last_id:
            return INVALID_READ
        if self.max_deleted == 0 or self.max_deleted < self.first_id:
            if id_ < self.first_id:
                return self.entries_added - self.length
            if id_ == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID_READ

    def group_lag(self, g: Group) -> int | None:
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID_READ and not self.range_has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        read = self.estimate_distance(g.last_id)
        if read != INVALID_READ:
            return self.entries_added - read
        return None

    def advance_group(self, g: Group, id_: int) -> None:
        """A group delivers ``id_`` beyond its last ID: move it and its read counter."""
        if g.entries_read != INVALID_READ and g.last_id >= self.first_id and not self.range_has_tombstones(g.last_id):
            g.entries_read += 1
        elif self.entries_added:
            g.entries_read = self.estimate_distance(id_)
        g.last_id = id_

    # -- XINFO helpers -------------------------------------------------------------
    def rax_nodes(self) -> int:
        """The node count of Valkey's radix tree over the 16-byte node keys."""
        if self._rax_nodes < 0:
            keys = [k.to_bytes(16, "big") for k in self.keys]
            self._rax_nodes = _rax_count(keys, 0, len(keys), 0) if keys else 1
        return self._rax_nodes


def _rax_count(keys: list[bytes], lo: int, hi: int, depth: int) -> int:
    """Nodes of a compressed radix tree holding keys[lo:hi] (sorted, equal length) below ``depth``."""
    count = 0
    while True:
        if depth == 16:
            return count + 1
        a, b = keys[lo], keys[hi - 1]
        lcp = depth
        while lcp < 16 and a[lcp] == b[lcp]:
            lcp += 1
        if lcp > depth:  # a compressed node spanning the common bytes
            count += 1
            depth = lcp
            continue
        # a branching node; one child per distinct byte
        count += 1
        i = lo
        while i < hi:
            c = keys[i][depth]
            j = i + 1
            while j < hi and keys[j][depth] == c:
                j += 1
            count += _rax_count(keys, i, j, depth + 1)
            i = j
        return count


def first_n(it: Iterator[Any], n: int) -> list[Any]:
    return list(islice(it, n))


try:  # the shard's C loop appends XADD's entries to a stream's last node itself, as Stream.append does
    from shardserver._speedups import configure_streams
except ImportError:  # built without the C helpers: every XADD runs the Python above
    pass
else:
    configure_streams(Stream, _Node, LIMITS)
