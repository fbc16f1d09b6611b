"""The hash value: fields and values, optional per-field expiry (Valkey 9).

Ownership: the in-memory hash and its two encodings.  ``listpack`` (small
hashes) is a plain insertion-ordered dict, so replies come in the order
Valkey's listpack gives; ``hashtable`` adds a bucket index (for HSCAN's stable
reverse-binary cursor and O(1) random picks) and, once a field has a TTL,
per-field expiry: ``ttl`` (field -> absolute ms) and a lazy min-heap of
``(when, field)`` entries (an entry is current while ``ttl[field] == when``).
A hash never goes back from ``hashtable`` to ``listpack``, as in Valkey; a
field TTL always converts to ``hashtable``.

Expired fields stay stored until the shard's active expiry reclaims them
(Valkey keeps them too: HLEN counts them) but no read sees them.  The
database keeps a heap of hashes with volatile fields (``member_expiry`` in
keyspace.py); ``indexed`` is the time under which this hash is filed there.
"""

from __future__ import annotations

import heapq
import itertools
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

from shardserver.shard.types import value_type

# hash-max-listpack-entries / hash-max-listpack-value (CONFIG SET reaches the shards)
LIMITS = {"entries": 512, "value": 64}

_MIN_BUCKETS = 4


def _rev_bits(v: int, bits: int) -> int:
    return int(format(v, f"0{bits}b")[::-1], 2) if bits else 0


class _Buckets:
    """Fields spread over 2**k buckets by hash: HSCAN's cursor and random picks."""

    __slots__ = ("bits", "table", "n")

    def __init__(self, fields: Iterator[bytes] | list[bytes], size_hint: int = 0) -> None:
        self.bits = 2
        while (1 << self.bits) < size_hint:
            self.bits += 1
        self.table: list[list[bytes]] = [[] for _ in range(1 << self.bits)]
        self.n = 0
        for f in fields:
            self.add(f)

    def add(self, field: bytes) -> None:
        self.table[hash(field) & ((1 << self.bits) - 1)].append(field)
        self.n += 1
        if self.n > len(self.table):
            self._resize(self.bits + 1)

    def remove(self, field: bytes) -> None:
        self.table[hash(field) & ((1 << self.bits) - 1)].remove(field)
        self.n -= 1
        if self.n * 8 < len(self.table) and len(self.table) > _MIN_BUCKETS:
            bits = self.bits
            while bits > 2 and self.n * 2 < (1 << (bits - 1)):
                bits -= 1
            self._resize(bits)

    def _resize(self, bits: int) -> None:
        old = self.table
        self.bits = bits
        mask = (1 << bits) - 1
        self.table = [[] for _ in range(1 << bits)]
        for bucket in old:
            for f in bucket:
                self.table[hash(f) & mask].append(f)

    def scan(self, cursor: int, count: int, emit: Callable[[bytes], None]) -> int:
        """Valkey's reverse-binary scan: every field present throughout is visited."""
        bits = self.bits
        mask = (1 << bits) - 1
        size = 1 << bits
        v = cursor & mask
        visited = 0
        budget = count * 10
        emitted = 0
        while True:
            bucket = self.table[v]
            for f in bucket:
                emit(f)
            emitted += len(bucket)
            visited += 1
            r = _rev_bits(v, bits) + 1
            if r == size:
                return 0
            v = _rev_bits(r, bits)
            if emitted >= count or visited >= budget:
                return v

    def random(self) -> bytes:
        table = self.table
        mask = len(table) - 1
        while True:
            bucket = table[random.getrandbits(self.bits) & mask]
            if bucket:
                return random.choice(bucket)


@value_type
class Hash:
    TYPE = "hash"
    __slots__ = ("d", "buckets", "ttl", "heap", "indexed")

    def __init__(self) -> None:
        self.d: dict[bytes, bytes] = {}
        self.buckets: _Buckets | None = None  # None: listpack encoding
        self.ttl: dict[bytes, int] = {}
        self.heap: list[tuple[int, bytes]] = []
        self.indexed: int | None = None

    @classmethod
    def small_from(cls, args: list[bytes]) -> Hash | None:
        """A new listpack hash of field/value ``args`` as HSET would build it (a repeated field:
        the last value wins), or None when HSET would convert it (too many or too long)."""
        if len(args) > 2 * LIMITS["entries"] or max(map(len, args)) > LIMITS["value"]:
            return None
        h = cls()
        h.d = dict(zip(args[0::2], args[1::2], strict=True))
        return h

    # -- encoding --------------------------------------------------------
    def encoding(self) -> str:
        return "listpack" if self.buckets is None else "hashtable"

    def convert(self) -> None:
        if self.buckets is None:
            self.buckets = _Buckets(list(self.d), len(self.d))

    def prepare(self, pairs: int, args: list[bytes]) -> None:
        """Valkey's hashTypeTryConversion before adding ``pairs`` field/value pairs."""
        if self.buckets is not None:
            return
        if pairs > LIMITS["entries"]:
            self.convert()
            return
        limit = LIMITS["value"]
        for a in args:
            if len(a) > limit:
                self.convert()
                return

    def __len__(self) -> int:
        """Stored fields, expired ones not yet reclaimed included (HLEN, as Valkey)."""
        return len(self.d)

    # -- reads -----------------------------------------------------------
    def expired(self, field: bytes, now: int) -> bool:
        when = self.ttl.get(field) if self.ttl else None
        return when is not None and when <= now

    def get(self, field: bytes, now: int) -> bytes | None:
        value = self.d.get(field)
        if value is None or (self.ttl and self.expired(field, now)):
            return None
        return value

    def expiry(self, field: bytes, now: int) -> int | None:
        """None when the field is missing or expired, -1 without TTL, else the time."""
        if field not in self.d or self.expired(field, now):
            return None
        return self.ttl.get(field, -1) if self.ttl else -1

    def items(self, now: int) -> Iterator[tuple[bytes, bytes]]:
        if not self.ttl:
            yield from self.d.items()
            return
        ttl = self.ttl
        for f, v in self.d.items():
            when = ttl.get(f)
            if when is None or when > now:
                yield f, v

    def random_field(self, now: int) -> bytes | None:
        """One random live field (None after 100 expired picks, like Valkey)."""
        if not self.d:
            return None
        if self.buckets is None:
            return random.choice(list(self.d))
        for _ in range(100):
            f = self.buckets.random()
            if not self.expired(f, now):
                return f
        return None

    def scan(self, cursor: int, count: int, now: int) -> tuple[int, list[bytes]]:
        """(next cursor, fields) for HSCAN; a listpack is returned whole."""
        if self.buckets is None:
            return 0, list(self.d)
        out: list[bytes] = []
        nxt = self.buckets.scan(cursor, count, out.append)
        if self.ttl:
            out = [f for f in out if not self.expired(f, now)]
        return nxt, out

    # -- writes ----------------------------------------------------------
    def set(self, field: bytes, value: bytes, now: int, when: int | None = None, keep_ttl: bool = False) -> tuple[bool, bool]:
        """Store a field; returns (created, an expired field was overwritten).

        ``when`` is the new absolute expiry (None: none); ``keep_ttl`` keeps a
        live field's current one.  An expired field counts as created.
        """
        d = self.d
        old = d.get(field)
        if self.buckets is None:
            # as Valkey: any set checks a listpack against the limits, an update of a
            # field too (the entries limit may have been lowered since)
            limit = LIMITS["value"]
            if when is not None or len(field) > limit or len(value) > limit or len(d) + (old is None) > LIMITS["entries"]:
                self.convert()
        was_expired = False
        if old is None:
            d[field] = value
            if self.buckets is not None:
                self.buckets.add(field)
            created = True
        else:
            was_expired = self.expired(field, now)
            d[field] = value
            created = was_expired
            if keep_ttl and not was_expired:
                return created, False
        current = self.ttl.get(field) if self.ttl else None
        if when is None:
            if current is not None:
                del self.ttl[field]
        elif current != when:
            self._set_ttl(field, when)
        return created, was_expired

    def _set_ttl(self, field: bytes, when: int) -> None:
        self.ttl[field] = when
        heapq.heappush(self.heap, (when, field))
        if len(self.heap) > 2 * len(self.ttl) + 16:
            self.heap = [(w, f) for f, w in self.ttl.items()]
            heapq.heapify(self.heap)

    def delete(self, field: bytes, now: int, even_expired: bool = False) -> bool:
        """Remove a field; an expired one only with ``even_expired`` (HDEL does not see it)."""
        if field not in self.d:
            return False
        if not even_expired and self.expired(field, now):
            return False
        self._remove(field)
        return True

    def _remove(self, field: bytes) -> None:
        del self.d[field]
        if self.buckets is not None:
            self.buckets.remove(field)
        if self.ttl:
            self.ttl.pop(field, None)
            if not self.ttl:
                self.heap = []

    def set_expire(self, field: bytes, when: int, flags: frozenset[str], now: int) -> int:
        """HEXPIRE's per-field code: -2 missing, 0 condition failed, 1 set, 2 deleted.

        ``flags`` holds "nx", "xx", "gt", "lt" (XX may come with GT or LT).
        """
        if field not in self.d or self.expired(field, now):
            return -2
        past = when <= now
        if self.buckets is None:
            if "xx" in flags or "gt" in flags:
                return 0  # a listpack field has no TTL: infinite for GT
            if past:
                self._remove(field)
                return 2
            self.convert()
        current = self.ttl.get(field) if self.ttl else None
        if "nx" in flags and current is not None:
            return 0
        if "xx" in flags and current is None:
            return 0
        if "gt" in flags and (current is None or when <= current):
            return 0
        if "lt" in flags and current is not None and when >= current:
            return 0
        if past:
            self._remove(field)
            return 2
        if current != when:
            self._set_ttl(field, when)
        return 1

    def persist(self, field: bytes, now: int) -> int:
        """HPERSIST's code: -2 missing, -1 no TTL, 1 removed."""
        if field not in self.d or self.expired(field, now):
            return -2
        if not self.ttl or field not in self.ttl:
            return -1
        del self.ttl[field]
        if not self.ttl:
            self.heap = []
        return 1

    # -- expiry of fields ------------------------------------------------
    def next_expiry(self) -> int | None:
        """The earliest field expiry, or None without volatile fields."""
        heap = self.heap
        ttl = self.ttl
        while heap and ttl.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_expired(self, now: int, limit: int) -> list[bytes]:
        """Remove up to ``limit`` fields whose time has come; returns them."""
        out: list[bytes] = []
        heap = self.heap
        ttl = self.ttl
        while heap and len(out) < limit and heap[0][0] <= now:
            when, field = heapq.heappop(heap)
            if ttl.get(field) == when:
                self._remove(field)
                out.append(field)
                heap = self.heap  # _remove may have dropped an emptied heap
        return out

    def on_store(self, db: Any, key: bytes) -> None:
        """Called by Database.set: file this hash in the db's index if it has volatile fields."""
        when = self.next_expiry()
        self.indexed = when
        if when is not None:
            db.watch_member_expiry(key, when)

    def track(self, db: Any, key: bytes) -> None:
        """After a TTL change: file the hash again if its earliest expiry moved earlier."""
        when = self.next_expiry()
        if when is not None and (self.indexed is None or when < self.indexed):
            self.indexed = when
            db.watch_member_expiry(key, when)

    def expire_members(self, db: Any, key: bytes, when: int, now: int, log: Callable[[list[bytes]], None], limit: int = 64) -> int:
        """The db index reached this hash's entry ``when``: reclaim due fields.

        Each reclaimed field is logged as HDEL; a hash left empty is deleted
        (its HDELs already say so).  Returns the number of fields reclaimed.
        """
        if self.indexed != when:
            return 0  # a stale entry: the hash was filed again under another time
        fields = self.pop_expired(now, limit)
        for f in fields:
            log([b"HDEL", key, f])
        if not self.d:
            self.indexed = None
            db.delete(key)
            return len(fields)
        self.indexed = None
        self.track(db, key)
        return len(fields)

    # -- contract: dump/load/copy/memory ---------------------------------
    def state(self) -> list[Any]:
        flat: list[bytes] = []
        for f, v in self.d.items():
            flat.append(f)
            flat.append(v)
        ttls: list[Any] = []
        for f, w in self.ttl.items():
            ttls.append(f)
            ttls.append(w)
        return [0 if self.buckets is None else 1, flat, ttls]

    @classmethod
    def from_state(cls, state: list[Any]) -> Hash:
        table, flat, ttls = state
        h = cls.__new__(cls)  # the fields are all set here: skip __init__'s empty ones
        it = iter(flat)
        h.d = dict(zip(it, it, strict=True))
        h.buckets = None
        h.ttl = {}
        h.heap = []
        h.indexed = None
        if table:
            h.convert()
        if ttls:
            for i in range(0, len(ttls), 2):
                h.ttl[ttls[i]] = ttls[i + 1]
            h.heap = [(w, f) for f, w in h.ttl.items()]
            heapq.heapify(h.heap)
        return h

    def copy(self) -> Hash:
        h = Hash()
        h.d = dict(self.d)
        if self.buckets is not None:
            h.convert()
        h.ttl = dict(self.ttl)
        h.heap = list(self.heap)
        return h

    def memory_usage(self) -> int:
        """Estimated from the container sizes and a sample of five fields, like MEMORY USAGE's SAMPLES."""
        n = len(self.d)
        size = sys.getsizeof(self.d)
        if n:
            sample = [sys.getsizeof(f) + sys.getsizeof(v) for f, v in itertools.islice(self.d.items(), 5)]
            size += sum(sample) * n // len(sample)
        if self.buckets is not None:
            size += sys.getsizeof(self.buckets.table) + 64 * len(self.buckets.table)
        if self.ttl:
            size += sys.getsizeof(self.ttl) + sys.getsizeof(self.heap) + 72 * len(self.heap)
        return size


try:  # the shard's C loop runs HSET onto existing hashes itself, as Hash.set does
    from shardserver._speedups import configure_hashes
except ImportError:  # built without the C helpers: every HSET runs the Python above
    pass
else:
    configure_hashes(Hash, _Buckets, LIMITS)
