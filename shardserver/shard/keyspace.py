"""A shard's keyspace: its databases, their keys, TTLs and access times.

Ownership: a shard owns the data of its slots in every database; nothing else
reads or writes it.  Each ``Database`` keeps

- ``data``: key -> value (``bytes`` for strings; ``RawStr``, a mutable
  ``bytearray``, for strings that were modified in place, which Valkey reports
  as ``raw``; objects of other types carry their own ``TYPE``),
- ``expires``: key -> absolute expiry in Unix milliseconds (volatile keys only),
- ``atime``: key -> last access in whole seconds (OBJECT IDLETIME); the int for
  one second is shared by every key touched in it, so this costs a dict entry;
  keys loaded from the AOF (bulk records of a base file, plain ``SET`` records)
  have none until touched (``last_access`` answers the second they were
  loaded: ``loaded_sec``),
- ``by_slot``: a ``SlotIndex`` of ``data``'s keys by slot, so SCAN walks slots
  with a stable cursor and slots can later move between shards,
- ``member_expiry``: a min-heap of ``(when, key)`` for values whose members
  expire on their own (hash fields with a TTL); the value checks an entry
  when it comes due (``expire_members``) and files itself again, so stale
  entries cost nothing but their slot.  ``set`` files a stored value
  (``on_store``), which covers RENAME, MOVE, COPY and restores.

Expiry is lazy (a read of an expired key deletes it) and active: each cycle
samples volatile keys in batches, repeating while more than 10% of a batch
was expired and the time budget lasts, like Valkey's active expire cycle.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from typing import Any

from shardserver.slots import SlotIndex


def py_load_plain_sets(
    data: dict[bytes, Any], by_slot: SlotIndex, records: list[list[bytes]], start: int, makers: dict[bytes, Callable[[list[bytes]], Any]] | None = None
) -> int:
    """AOF replay's fast path: store records[start:] while each creates a new key: a plain
    ``SET key value``, or a record whose name (as spelled) has a maker in ``makers`` that
    builds the value (None from it ends the run).  Returns the index of the first record
    not applied (no access time: ``Database.last_access`` answers the load time)."""
    i, n = start, len(records)
    while i < n:
        argv = records[i]
        if len(argv) < 2 or argv[1] in data:
            break
        if len(argv) == 3 and len(argv[0]) == 3 and argv[0].lower() == b"set":
            value = argv[2]
        else:
            maker = makers.get(argv[0]) if makers else None
            if maker is None:
                break
            value = maker(argv)
            if value is None:
                break
        data[argv[1]] = value
        by_slot.add(argv[1])
        i += 1
    return i


def py_store_flat(data: dict[bytes, Any], by_slot: SlotIndex, flat: list[bytes]) -> None:
    """Store [key, value, ...] pairs of bytes, indexing the new keys by slot (replacing any value)."""
    if len(flat) % 2:
        raise ValueError("store_flat(): an odd number of items")
    if not all(type(x) is bytes for x in flat):
        raise TypeError("store_flat(): keys and values must be bytes")
    for i in range(0, len(flat), 2):
        key = flat[i]
        if key not in data:
            by_slot.add(key)
        data[key] = flat[i + 1]


class RawStr(bytearray):
    """A string value modified in place (APPEND, SETRANGE, SETBIT, BITFIELD, HLLs): OBJECT ENCODING says raw.

    Mutable, so an edit costs what it changes rather than a copy of the whole
    value (Valkey edits its sds in place).  The stored object never leaves
    its key: a reply, a log record or another key gets ``frozen(value)``.
    """

    __slots__ = ()


class EmbStr(bytes):
    """A string written as text by INCRBYFLOAT: Valkey stores it embstr even when it looks like an int."""

    __slots__ = ()


STRING_TYPES = (bytes, RawStr, EmbStr)


def frozen(value: bytes | bytearray | None) -> bytes | None:
    """A string value (or None) as immutable bytes: a copy of a ``RawStr``, which later edits change."""
    return bytes(value) if type(value) is RawStr else value  # type: ignore[return-value]


def string_flags(value: bytes | bytearray) -> int:
    """How a dump records a string's encoding: 0 as its content says, 1 raw, 2 embstr."""
    return 1 if type(value) is RawStr else 2 if type(value) is EmbStr else 0


def string_from(payload: bytes, flags: int) -> bytes | RawStr:
    """The string ``string_flags`` described."""
    return RawStr(payload) if flags == 1 else EmbStr(payload) if flags == 2 else payload


def _make_value(kind: bytes, state: Any, flags: int, loaders: dict[bytes, Callable[[Any], Any]], string_from: Callable[[bytes, int], bytes]) -> Any:
    if kind == b"string":
        if type(state) is not bytes or type(flags) is not int:
            raise TypeError("a string entry's state must be bytes and its flags an int")
        return state if flags == 0 else string_from(state, flags)
    return loaders[kind](state)


def py_load_values(
    db: Any,
    data: dict[bytes, Any],
    expires: dict[bytes, int],
    by_slot: SlotIndex,
    entries: list[Any],
    loaders: dict[bytes, Callable[[Any], Any]],
    string_from: Callable[[bytes, int], bytes],
    now: int,
    replace: Callable[[bytes, Any], None],
) -> None:
    """A base file's ``__values`` entries [key, kind, state, pexpireat or -1, flags, ...]
    into a database nobody watches: a new key is stored and indexed (and filed
    by its value's ``on_store``); an existing one goes through ``replace(key,
    value)``, an entry expired by ``now`` through ``replace(key, None)``.  A
    string's value is its state (``string_from(state, flags)`` when the flags
    say raw or embstr), another kind's ``loaders[kind](state)``."""
    if len(entries) % 5:
        raise ValueError("load_values(): entries come in fives")
    for i in range(0, len(entries), 5):
        key, kind, state, when, flags = entries[i : i + 5]
        if type(key) is not bytes or type(when) is not int:
            raise TypeError("load_values(): a key must be bytes and its expiry an int")
        if when != -1 and when <= now:
            if key in data:
                replace(key, None)
            continue
        value = _make_value(kind, state, flags, loaders, string_from)
        # setdefault: one lookup stores a new key (a base file's keys are all new); the
        # size says whether it was new (identity cannot: b"x" is a shared object)
        before = len(data)
        data.setdefault(key, value)
        if len(data) == before:
            replace(key, value)
        else:
            by_slot.add(key)
            on_store = getattr(type(value), "on_store", None)
            if on_store is not None:
                on_store(value, db, key)
        if when != -1:
            expires[key] = when


try:
    from shardserver._speedups import load_plain_sets, load_values, store_flat
except ImportError:  # built without the C helpers
    load_plain_sets, load_values, store_flat = py_load_plain_sets, py_load_values, py_store_flat


def type_name(value: Any) -> str:
    if isinstance(value, STRING_TYPES):
        return "string"
    return value.TYPE  # type: ignore[no-any-return]


class Clock:
    """The shard's notion of now, read once per batch of commands.

    ``ms`` decides expiry; AOF replay sets it to 0 so that no TTL passes
    mid-replay.  ``wall`` is the real time even then: what a replayed record
    stamps (a stream's delivery and consumer times) must be a real time.
    """

    __slots__ = ("ms", "wall", "sec", "touch")

    def __init__(self) -> None:
        self.ms = 0
        self.wall = 0
        self.sec = 0
        self.touch = True  # False while running a CLIENT NO-TOUCH client's commands
        self.tick()

    def tick(self) -> None:
        ms = int(time.time() * 1000)
        self.ms = self.wall = ms
        sec = ms // 1000
        if sec != self.sec:
            self.sec = sec


class Database:
    __slots__ = ("id", "data", "expires", "atime", "loaded_sec", "by_slot", "clock", "_scan_keys", "_scan_pos", "on_expire", "member_expiry", "_member_compact_at", "watched", "on_ready", "ready_pending")

    def __init__(self, db_id: int, clock: Clock) -> None:
        self.id = db_id
        self.clock = clock
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.atime: dict[bytes, int] = {}
        self.loaded_sec = 0
        self.by_slot = SlotIndex(self.data)
        self._scan_keys: list[bytes] = []
        self._scan_pos = 0
        self.on_expire: Callable[[Database, bytes], None] | None = None
        self.member_expiry: list[tuple[int, bytes]] = []
        self._member_compact_at = 64
        # keys clients are blocked on (key -> number of blocked clients), kept by
        # the front through __watch/__unwatch; creating one of them calls on_ready
        self.watched: dict[bytes, int] = {}
        self.on_ready: Callable[[Database, bytes], None] | None = None
        # watched keys reported ready whose waiters the front has not served yet:
        # a newcomer's blocking attempt counts them as empty (first blocked, first served)
        self.ready_pending: set[bytes] = set()

    # -- lookups ---------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The live value of ``key`` or None; expires it lazily and records the access."""
        value = self.peek(key)
        if value is not None and self.clock.touch:
            self.atime[key] = self.clock.sec
        return value

    def peek(self, key: bytes) -> Any:
        """The live value of ``key`` or None, without recording an access (OBJECT, DEBUG)."""
        value = self.data.get(key)
        if value is None:
            return None
        if self.expires:
            when = self.expires.get(key)
            if when is not None and when <= self.clock.ms:
                self._expire(key)
                return None
        return value

    def last_access(self, key: bytes) -> int:
        """The second ``key`` was last read or written (OBJECT IDLETIME)."""
        when = self.atime.get(key)
        if when is None:  # loaded from the AOF and not touched since
            return self.loaded_sec or self.clock.sec
        return when

    def exists(self, key: bytes) -> bool:
        return self.get(key) is not None

    # -- writes ----------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value``; drops any TTL unless ``keep_ttl``."""
        data = self.data
        if key not in data:
            self.by_slot.add(key)
            if self.watched and key in self.watched and self.on_ready is not None:
                self.on_ready(self, key)
        else:
            if self.watched and key in self.watched and self.on_ready is not None:
                old = data[key]
                if old is not value and getattr(old, "signal_on_delete", False):
                    self.on_ready(self, key)  # a stream overwritten: its XREADGROUP clients get NOGROUP
            if not keep_ttl and self.expires:
                self.expires.pop(key, None)
        data[key] = value
        self.atime[key] = self.clock.sec
        if type(value) is not bytes and type(value) not in STRING_TYPES:
            on_store = getattr(value, "on_store", None)
            if on_store is not None:
                on_store(self, key)

    def load_strings(self, flat: list[bytes]) -> None:
        """Store plain strings given as [key, value, key, value, ...] (a base file's bulk record).

        Whole-list operations instead of ``set`` per key: loading is bound by this."""
        if self.watched:  # blocked clients need the per-key path (never while loading)
            for key, value in zip(flat[0::2], flat[1::2], strict=True):
                self.set(key, value)
            return
        if self.expires or self.atime:  # keys stored before lose their TTL and access time
            for key in flat[0::2]:
                self.expires.pop(key, None)
                self.atime.pop(key, None)
        store_flat(self.data, self.by_slot, flat)
        self.loaded_sec = self.clock.sec

    def load_values(self, entries: list[Any], loaders: dict[bytes, Callable[[Any], Any]]) -> None:
        """Store values given as [key, kind, state, pexpireat or -1, flags, ...]:
        ``loaders[kind](state)`` makes a value, ``string_from(state, flags)`` a
        string (kind b"string").  An entry already expired is skipped."""
        self.loaded_sec = self.clock.sec
        if self.watched:  # blocked clients need the per-key path (never while loading)
            now = self.clock.ms
            for key, kind, state, when, flags in zip(entries[0::5], entries[1::5], entries[2::5], entries[3::5], entries[4::5], strict=True):
                self._replace_loaded(key, None if when != -1 and when <= now else _make_value(kind, state, flags, loaders, string_from))
                if when != -1 and when > now:
                    self.expires[key] = when
            return
        load_values(self, self.data, self.expires, self.by_slot, entries, loaders, string_from, self.clock.ms, self._replace_loaded)

    def _replace_loaded(self, key: bytes, value: Any) -> None:
        """A loaded entry for a key already stored (or watched): drop the old value, store ``value`` unless None."""
        self.delete(key)
        if value is not None:
            self.set(key, value)

    def signal_ready(self, key: bytes) -> None:
        """A write made a watched key servable without creating it (XADD): wake its blocked clients."""
        if self.watched and key in self.watched and self.on_ready is not None:
            self.on_ready(self, key)

    def probe(self, keys: list[bytes], kind: type) -> list[int]:
        """For a blocking command across shards, per key: 0 missing, 1 a ``kind`` value,
        2 another type, 3 a ``kind`` value whose blocked clients are about to get it."""
        pending = self.ready_pending
        out = []
        for key in keys:
            value = self.peek(key)
            out.append(0 if value is None else 2 if type(value) is not kind else 3 if key in pending else 1)
        return out

    def replace(self, key: bytes, value: Any) -> None:
        """Overwrite an existing live key's value, keeping its TTL."""
        self.data[key] = value
        self.atime[key] = self.clock.sec

    def touched(self, key: bytes) -> None:
        """A live key's value was edited in place (a ``RawStr``): written now, as ``replace`` records."""
        self.atime[key] = self.clock.sec

    def delete(self, key: bytes) -> bool:
        data = self.data
        if key not in data:
            return False
        if self.watched and key in self.watched and self.on_ready is not None and getattr(data[key], "signal_on_delete", False):
            self.on_ready(self, key)  # a stream deleted: its XREADGROUP clients get NOGROUP
        del data[key]
        self.atime.pop(key, None)
        if self.expires:
            self.expires.pop(key, None)
        self.by_slot.discard(key)
        return True

    def delete_live(self, key: bytes) -> bool:
        """Delete ``key`` if it exists and is not expired (DEL's count)."""
        if self.get(key) is None:
            return False
        return self.delete(key)

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def ttl_ms(self, key: bytes) -> int | None:
        """Absolute expiry in ms, or None when the key has none."""
        return self.expires.get(key)

    def clear(self) -> int:
        n = len(self.data)
        if self.watched and self.on_ready is not None:  # FLUSHALL/FLUSHDB: blocked XREADGROUP clients get NOGROUP
            for key in self.watched:
                if getattr(self.data.get(key), "signal_on_delete", False):
                    self.on_ready(self, key)
        self.data = {}
        self.expires = {}
        self.atime = {}
        self.by_slot = SlotIndex(self.data)
        self._scan_keys = []
        self._scan_pos = 0
        self.member_expiry = []
        self._member_compact_at = 64
        return n

    def swap(self, other: Database) -> None:
        for attr in ("data", "expires", "atime", "loaded_sec", "by_slot", "_scan_keys", "_scan_pos", "member_expiry", "_member_compact_at"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, theirs)
            setattr(other, attr, mine)
        # blocked clients stay with their database number: what is there now may serve them
        for db in (self, other):
            if db.on_ready is not None:
                for key in db.watched:
                    if key in db.data:
                        db.on_ready(db, key)

    def _expire(self, key: bytes) -> None:
        self.delete(key)
        if self.on_expire is not None:
            self.on_expire(self, key)

    def watch_member_expiry(self, key: bytes, when: int) -> None:
        heap = self.member_expiry
        heapq.heappush(heap, (when, key))
        if len(heap) > self._member_compact_at:
            # drop stale entries (a value files itself again whenever its earliest
            # member expiry moves earlier); amortised O(1) per entry
            self.member_expiry = heap = [(w, k) for w, k in heap if self._member_entry_live(k, w)]
            heapq.heapify(heap)
            self._member_compact_at = max(64, 2 * len(heap))

    def _member_entry_live(self, key: bytes, when: int) -> bool:
        """Whether (when, key) is the entry the value at ``key`` is filed under (``indexed``)."""
        return getattr(self.data.get(key), "indexed", None) == when

    def values_with_member_expiry(self) -> int:
        """Values with expiring members (INFO's keys_with_volatile_items); O(entries)."""
        keys = set()
        for when, key in self.member_expiry:
            value = self.data.get(key)
            if getattr(value, "indexed", None) == when and value.next_expiry() is not None:
                keys.add(key)
        return len(keys)

    def expire_members(self, log: Callable[[int, list[bytes]], None], deadline: float) -> int:
        """Reclaim expired members (hash fields) of the values whose index entry is due."""
        now = self.clock.ms
        total = 0
        rounds = 0
        # self.member_expiry is read each time: filing a value again may compact it
        while self.member_expiry and self.member_expiry[0][0] <= now:
            when, key = heapq.heappop(self.member_expiry)
            value = self.peek(key)
            reclaim = getattr(value, "expire_members", None)
            if reclaim is not None:
                total += reclaim(self, key, when, now, lambda argv: log(self.id, argv))
            rounds += 1
            if rounds % 16 == 0 and time.monotonic() > deadline:
                break
        return total

    # -- iteration -------------------------------------------------------
    def keys_in_slot(self, slot: int) -> list[bytes]:
        return self.by_slot.keys(slot)

    def live_keys(self) -> Iterator[bytes]:
        now = self.clock.ms
        expires = self.expires
        for key in list(self.data):
            when = expires.get(key) if expires else None
            if when is not None and when <= now:
                self._expire(key)
                continue
            yield key

    # -- active expiry ---------------------------------------------------
    def expire_cycle(self, deadline: float, batch: int = 20) -> tuple[int, int]:
        """Sample volatile keys until few are expired or ``deadline`` passes.

        Returns (sampled, expired).  The sample walks a snapshot of the volatile
        keys, so every key is looked at once per pass: O(1) amortised per key.
        """
        sampled = expired = 0
        expires = self.expires
        while expires:
            if self._scan_pos >= len(self._scan_keys):
                self._scan_keys = list(expires)
                self._scan_pos = 0
            chunk = self._scan_keys[self._scan_pos : self._scan_pos + batch]
            self._scan_pos += len(chunk)
            now = self.clock.ms
            hit = 0
            for key in chunk:
                when = expires.get(key)
                if when is not None and when <= now:
                    self._expire(key)
                    hit += 1
            sampled += len(chunk)
            expired += hit
            if hit * 10 <= len(chunk) or time.monotonic() > deadline:
                break
        return sampled, expired


class Keyspace:
    """All databases of one shard."""

    def __init__(self, databases: int) -> None:
        self.clock = Clock()
        self.dbs = [Database(i, self.clock) for i in range(databases)]
        self.expired_keys = 0
        self.expired_fields = 0  # hash fields removed because their TTL passed (INFO)
        # the AOF's sink for changes no command asked for; None while AOF is off
        self.journal: Callable[[int, list[bytes]], None] | None = None
        # the id of the last cross-shard write whose part is in this shard's files
        # (persistence/intents.py): later ones are rolled forward from the intents
        self.last_tx = 0
        # [db, key] of watched keys a write created since the front last heard
        self.ready: list[list[Any]] = []
        for db in self.dbs:
            db.on_expire = self._count_expired
            db.on_ready = self._key_ready

    def _key_ready(self, db: Database, key: bytes) -> None:
        db.ready_pending.add(key)
        self.ready.append([db.id, key])

    def _count_expired(self, db: Database, key: bytes) -> None:
        self.expired_keys += 1
        if self.journal is not None:
            self.journal(db.id, [b"DEL", key])

    def propagate(self, db_id: int, argv: list[bytes]) -> None:
        """Log a change no command asked for (e.g. a hash field expiring) to the AOF."""
        if self.journal is not None:
            self.journal(db_id, argv)

    def expire_cycle(self, budget_s: float) -> int:
        deadline = time.monotonic() + budget_s
        total = 0
        for db in self.dbs:
            if db.expires:
                self.clock.tick()
                _, n = db.expire_cycle(deadline)
                total += n
            if db.member_expiry:
                self.clock.tick()
                self.expired_fields += db.expire_members(self.propagate, deadline)
            if time.monotonic() > deadline:
                break
        return total

    def key_count(self) -> int:
        return sum(len(db.data) for db in self.dbs)


try:  # the shard's C loop reads strings and edits a RawStr in place itself (GETBIT, GETRANGE, SETBIT, SETRANGE)
    from shardserver._speedups import configure_strings
except ImportError:  # built without the C helpers: those commands run their Python handlers
    pass
else:
    configure_strings(RawStr, EmbStr)
