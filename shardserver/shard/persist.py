"""A shard's durability: loading its AOF files, appending to them, rewriting them.

Ownership: each shard owns its own files under ``dir/appenddirname`` (named in
the manifest, see ``persistence.manifest``) and the lines of the manifest
that name them.  It loads them at start, appends the records of its writes
(``persistence.aof.AofWriter``), and rewrites them from a forked snapshot.
Nothing here touches a socket or another shard's files; during a change of
the shard count each new shard only reads the old files that hold its slots.

Rewrite (BGREWRITEAOF, BGSAVE, auto-aof-rewrite-*): the writer switches to a
new incremental file, which the manifest lists after the old ones before the
fork; the child writes a new base from its copy-on-write snapshot to a
temporary name, fsyncs and renames it; only then the manifest replaces the
old base and incremental files by the new base.  A kill at any point leaves a
manifest whose files replay to the full state.  SAVE writes the base in the
shard process itself (blocking the shard, as SAVE blocks Valkey).

Base file format (records as in ``persistence.aof``): per database a ``SELECT``
record, then bulk records of at most ``BULK_KEYS`` keys (or about
``BULK_BYTES``) each, in any order, each key once:

- ``__strings P``: P is a msgpack array ``[key, value, ...]`` of plain strings
  without a TTL;
- ``__values P``: P is a msgpack array ``[key, type, state, pexpireat, flags,
  ...]`` (5 items per key, laid flat); ``type`` ``string``: ``state`` is the
  bytes and ``flags`` 0 (int or embstr as the content says), 1 (raw) or 2
  (embstr); otherwise ``state`` is the type's ``state()`` (see
  ``shardserver.shard.types``) and ``flags`` 0; ``pexpireat`` is -1 for none.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgpack

from persistence import intents as txi
from persistence import manifest as mf
from persistence.aof import AofCorrupt, AofWriter, read_records, truncate
from shardserver import errors, log
from shardserver.config import parse_save_points
from shardserver.errors import CommandError
from shardserver.resp import encode_command
from shardserver.shard.keyspace import STRING_TYPES, Keyspace, string_flags
from shardserver.slots import key_slot

# runs one part of a cross-shard write: (id, intent file seq, db, commands)
Roll = Callable[[int, int, int, list[list[bytes]]], None]

if TYPE_CHECKING:
    from shardserver.shard.registry import ShardContext

Ranges = list[tuple[int, int]]


class LoadError(Exception):
    """The shard's files cannot be loaded; start-up stops with this text."""


def _overlaps(a: Ranges, b: Ranges) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


# A base file's bulk records: at most this many keys or payload bytes each.
BULK_KEYS = 1024
BULK_BYTES = 1 << 20


def snapshot_records(keyspace: Keyspace) -> Iterator[bytes]:
    """A base file's records: every live key of every database, with its TTL.

    Per database, ``SELECT`` then bulk records (loading a record per key was
    bound by parsing and dispatching it): ``__strings`` for plain strings
    without a TTL, ``__values`` for everything else, each written when full
    (docs/persistence.md).
    """
    now = keyspace.clock.ms
    pack = msgpack.packb
    if keyspace.last_tx:  # the cross-shard writes this snapshot holds (persistence/intents.py)
        yield encode_command([b"__txmark", b"%d" % keyspace.last_tx])
    for db in keyspace.dbs:
        if not db.data:
            continue
        yield encode_command([b"SELECT", b"%d" % db.id])
        expires = db.expires
        strings: list[bytes] = []
        values: list[Any] = []
        strings_size = values_size = 0
        for key, value in db.data.items():
            when = expires.get(key) if expires else None
            if type(value) is bytes and when is None:
                strings.append(key)
                strings.append(value)
                strings_size += len(key) + len(value)
                if len(strings) >= 2 * BULK_KEYS or strings_size >= BULK_BYTES:
                    yield encode_command([b"__strings", pack(strings)])
                    strings, strings_size = [], 0
                continue
            if when is not None and when <= now:
                continue
            if isinstance(value, STRING_TYPES):  # a string with a TTL, or RawStr / EmbStr keeping their encoding
                state: Any = bytes(value)
                kind, raw = b"string", string_flags(value)
                values_size += len(key) + len(value)
            else:
                kind, state, raw = value.TYPE.encode(), value.state(), 0
                values_size += len(key) + 16 * len(value) + 16  # a bound for chunking, not a size
            values += (key, kind, state, -1 if when is None else when, raw)
            if len(values) >= 5 * BULK_KEYS or values_size >= BULK_BYTES:
                yield encode_command([b"__values", pack(values)])
                values, values_size = [], 0
        if strings:
            yield encode_command([b"__strings", pack(strings)])
        if values:
            yield encode_command([b"__values", pack(values)])


def make_aof_dir(path: str) -> None:
    """Create the AOF directory if it is missing; OSError says why it cannot be used.

    As Valkey: a file in its place is "Not a directory", not the "File exists"
    that ``os.makedirs`` reports.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path) from None


def write_base(path: str, keyspace: Keyspace) -> int:
    """Write a snapshot to ``path`` via a temporary name; returns its size."""
    tmp = path + ".tmp"
    size = 0
    with open(tmp, "wb", buffering=1 << 20) as f:
        for record in snapshot_records(keyspace):
            f.write(record)  # the file object buffers the small ones
            size += len(record)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    mf.fsync_dir(os.path.dirname(path))
    return size


class ShardPersistence:
    """One shard's AOF state; the worker calls ``load`` once, then ``commit`` per batch."""

    def __init__(self, ctx: ShardContext, index: int, nshards: int, ranges: Ranges, settings: dict[str, Any]) -> None:
        self.ctx = ctx
        self.index = index
        self.nshards = nshards
        self.ranges = ranges
        self.dir = os.path.join(str(settings.get("dir", ".")), str(settings.get("appenddirname", "appendonlydir")))
        self.enabled = bool(settings.get("appendonly", False))
        self.policy = str(settings.get("appendfsync", "everysec"))
        self.timestamps = bool(settings.get("aof-timestamp-enabled", False))
        self.load_truncated = bool(settings.get("aof-load-truncated", True))
        self.rewrite_pct = int(settings.get("auto-aof-rewrite-percentage", 100))
        self.rewrite_min = int(settings.get("auto-aof-rewrite-min-size", 64 * 1024 * 1024))
        self.writer: AofWriter | None = None
        self.generation = 0
        self._intent_fds: dict[int, int] = {}  # intent files this shard's parts named: seq -> read-only fd
        # while loading: what rolls a part forward, and the intents read (once, when needed)
        self._roll: Roll | None = None
        self._intents: list[txi.Intent] | None = None
        # rewrite state
        self.child = 0
        self.child_started = 0.0
        self.child_base = ""
        self.child_seq = 0  # files with a smaller seq are replaced when the child succeeds
        self.child_enables = False  # the rewrite that turns AOF on (CONFIG SET appendonly yes)
        self.child_saves = False  # a BGSAVE's snapshot: LASTSAVE counts it, BGREWRITEAOF waits for it
        self.rewrite_base_size = 0
        self.other_size = 0  # my files except the incremental one being written
        self.rewrites = 0
        self.last_rewrite_ok = True
        self.last_rewrite_secs = -1
        self.last_save = int(time.time())  # SAVE and BGSAVE only: Valkey's LASTSAVE counts RDB saves, not rewrites
        self.save_points = parse_save_points(str(settings.get("save", "")))
        self.saved_writes = 0  # writes() when the last successful save's snapshot was taken
        self.child_writes = 0  # writes() when the running child forked
        self.last_bgsave_try = 0.0
        self.save_on_exit = True  # SIGTERM saves when save points are set and the AOF is off (exit_save)
        self.scheduled = False  # a rewrite waits for the running BGSAVE (BGREWRITEAOF, appendonly yes)
        self.scheduled_enables = False  # the scheduled rewrite turns AOF on (it waited for a BGSAVE)
        self.scheduled_save = False  # a BGSAVE SCHEDULE waits for the running rewrite
        self.retry_at = 0.0  # no automatic rewrite before this (monotonic) time
        # loading facts for INFO
        self.load_ms = 0
        self.loaded_records = 0
        self.loaded_bytes = 0
        self.total_bytes = 0
        self.truncations = 0

    # -- helpers -------------------------------------------------------------
    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _entry(self, name: str, seq: int, kind: str) -> mf.FileEntry:
        """A manifest line for one of this shard's files."""
        return mf.FileEntry(name, self.index, seq, kind, self.ranges)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[mf.Manifest]:
        """The manifest under its lock; a new one gets this layout's shard count."""
        with mf.locked(self.dir) as m:
            if not m.shards:
                m.shards = self.nshards
            yield m

    def _remove(self, names: list[str]) -> None:
        """Delete files of this shard's directory; one already gone is no error."""
        for name in names:
            try:
                os.unlink(self._path(name))
            except OSError:
                pass

    def my_files(self) -> list[mf.FileEntry]:
        m = mf.read(self.dir)
        return m.shard_files(self.index) if m is not None and m.shards == self.nshards else []

    def aof_size(self) -> int:
        total = 0
        for entry in self.my_files():
            try:
                total += os.path.getsize(self._path(entry.name))
            except OSError:
                pass
        return total

    def _sized(self) -> None:
        """Remember the files' size now (auto-rewrite measures growth from it)."""
        self.rewrite_base_size = self.aof_size()
        current = self.writer.size if self.writer is not None else 0
        self.other_size = self.rewrite_base_size - current

    # -- loading -------------------------------------------------------------
    def load(self, apply: Callable[[int, list[list[bytes]]], None], progress: Callable[[int, int], None], roll: Roll | None = None) -> None:
        """Replay this shard's files into the keyspace (before the shard says hello), then
        ``roll`` forward the parts of cross-shard writes they lack (persistence/intents.py)."""
        self._roll = roll
        self._intents = None
        try:
            self._load(apply, progress)
        except mf.ManifestError as exc:  # its text names the manifest and the line: no traceback
            raise LoadError(f"shard {self.index}: {exc}") from None
        except AofCorrupt as exc:  # an intent file
            raise LoadError(f"shard {self.index}: {exc}") from None
        finally:
            self._intents = None

    def _read_intents(self) -> list[txi.Intent]:
        if self._intents is None:
            self._intents = txi.read_intents(self.dir)[1] if os.path.isdir(self.dir) else []
        return self._intents

    def _roll_forward(self, shards: int, index: int) -> int:
        """Apply the parts for shard ``index`` of a ``shards``-shard layout whose intents lie
        past the last marker replayed: the files are a prefix of that shard's queue, and
        parts were queued in id order, so they come after everything replayed."""
        if self._roll is None:
            return 0
        last = self.ctx.keyspace.last_tx
        done = 0
        for intent in self._read_intents():
            if intent.shards != shards or intent.id <= last:
                continue
            for shard, db, cmds in intent.parts:
                if shard == index:
                    self._roll(intent.id, intent.seq, db, cmds)
                    done += 1
        if done:
            log.warning(f"Shard {self.index}: rolled forward {done} part(s) of cross-shard writes from their intents")
        return done

    def note_tx(self, seq: int) -> None:
        """A part of a cross-shard write is buffered: its intent file must reach the disk first."""
        w = self.writer
        if w is None:
            return
        fd = self._intent_fds.get(seq)
        if fd is None:
            try:
                fd = os.open(os.path.join(self.dir, txi.file_name(seq)), os.O_RDONLY)
            except OSError as exc:
                log.warning(f"Shard {self.index}: cannot open intent file {seq}: {exc}")
                return
            self._intent_fds[seq] = fd
            pending = w.intents_pending()
            for old in [s for s in self._intent_fds if s < seq - 1 and s not in pending]:
                os.close(self._intent_fds.pop(old))
        w.intent_first(seq, fd)

    def _load(self, apply: Callable[[int, list[list[bytes]]], None], progress: Callable[[int, int], None]) -> None:
        start = time.monotonic()
        m = mf.read(self.dir) if os.path.isdir(self.dir) else None
        if m is None or (not m.files and not m.pending):
            if self.enabled:
                self._open_incr([])
            return
        same = m.shards == self.nshards and all(f.slots == self.ranges for f in m.shard_files(self.index))
        if same:
            if m.next_shards:
                m = self._abandon_change()
            self.generation = m.generation
            files = m.shard_files(self.index)
            self._cleanup(m)
            self._replay(files, apply, progress)
            if self.enabled:
                self._open_incr(files)
            if self._roll_forward(self.nshards, self.index) and self.writer is not None:
                # on disk before the front deletes the intents they came from
                if not (self.writer.write() and self.writer.sync_now()):
                    raise LoadError(f"shard {self.index}: cannot write the AOF: {self.writer.error_text()}")
        else:
            self._change_layout(m, apply, progress)
        self._sized()
        self.load_ms = int((time.monotonic() - start) * 1000)

    def _abandon_change(self) -> mf.Manifest:
        """Drop an interrupted change of the shard count: the old count runs again and its
        writes go to the old files, which that change's new files no longer match."""
        with self._locked() as m:
            stale = [f.name for f in m.pending]
            if stale:
                log.warning(f"Shard {self.index}: abandoning the interrupted change to {m.next_shards} shards")
            m.next_generation = m.next_shards = 0
            m.pending = []
        self._remove(stale)
        return m

    def _replay(self, files: list[mf.FileEntry], apply: Callable[[int, list[list[bytes]]], None], progress: Callable[[int, int], None]) -> None:
        sizes = []
        for entry in files:
            try:
                sizes.append(os.path.getsize(self._path(entry.name)))
            except FileNotFoundError:
                raise LoadError(f"shard {self.index}: {self._path(entry.name)} is named in the manifest but missing") from None
        self.total_bytes = sum(sizes)
        done = 0
        for i, entry in enumerate(files):
            path = self._path(entry.name)
            base_done = done

            def report(fed: int, base_done: int = base_done) -> None:
                self.loaded_bytes = base_done + fed
                progress(self.loaded_bytes, self.total_bytes)

            try:
                result = read_records(path, apply, report)
            except AofCorrupt as exc:
                raise LoadError(f"shard {self.index}: {exc}") from None
            self.loaded_records += result.records
            if result.truncated_at >= 0:
                last = i == len(files) - 1
                if not (last and self.load_truncated):
                    raise LoadError(
                        f"shard {self.index}: {path}: truncated at byte {result.truncated_at}"
                        + ("" if last else " (not the last file)")
                        + ("" if self.load_truncated else "; aof-load-truncated is no (shardctl check-aof --fix repairs it)")
                    )
                log.warning(f"!!! Warning: shard {self.index}: {path} ends with a truncated record at byte {result.truncated_at}: cutting it off")
                truncate(path, result.truncated_at)
                self.truncations += 1
            done += sizes[i]

    def _open_incr(self, files: list[mf.FileEntry]) -> None:
        """Append to this shard's last incremental file, or start one (a fresh directory)."""
        incrs = [f for f in files if f.kind == "incr"]
        try:
            if incrs:
                self._start_writer(incrs[-1].name)
                return
            make_aof_dir(self.dir)
            with self._locked() as m:
                self.generation = m.generation
                seq = m.next_seq(self.index)
                entry = self._entry(mf.file_name(self.generation, self.index, seq, "incr"), seq, "incr")
                open(self._path(entry.name), "ab").close()
                m.files.append(entry)
            self._start_writer(entry.name)
        except OSError as exc:  # start-up stops with the path and the reason, not a traceback
            what = "or create append-only dir" if exc.filename in (None, self.dir) else "the append-only file"
            raise LoadError(f"shard {self.index}: Can't open {what} {exc.filename or self.dir}: {exc.strerror}") from None

    def _start_writer(self, name: str) -> None:
        self.writer = AofWriter(self._path(name), self.policy, self.timestamps)
        self.ctx.keyspace.journal = self.writer.add

    def _cleanup(self, m: mf.Manifest) -> None:
        """Delete this shard's files the manifest no longer names (an interrupted rewrite)."""
        named = {f.name for f in m.files + m.pending}
        mine = f".s{self.index}."
        self._remove([n for n in os.listdir(self.dir) if n.startswith("shardserver.g") and mine in n and n not in named])

    def _change_layout(self, m: mf.Manifest, apply: Callable[[int, list[list[bytes]]], None], progress: Callable[[int, int], None]) -> None:
        """The shard count changed: load the old files holding my slots, then commit a new layout."""
        old = [f for f in m.files if _overlaps(f.slots, self.ranges)]
        log.notice(f"Shard {self.index}: the AOF was written by {m.shards} shards; loading {len(old)} file(s) that hold my slots")
        # replay each old shard's files in order; different old shards hold different keys
        for shard in sorted({f.shard for f in old}):
            files = [f for f in old if f.shard == shard]
            # every old shard's keys are its own slots': its flushes and swaps stay in them
            self.ctx.replay_scope = [r for f in files for r in f.slots]
            self.ctx.keyspace.last_tx = 0  # each old shard's markers are its own
            try:
                self._replay(files, apply, progress)
                self._roll_forward(m.shards, shard)
            finally:
                self.ctx.replay_scope = None
        # the new base holds every intent's parts now
        self.ctx.keyspace.last_tx = max((i.id for i in self._read_intents()), default=0)
        dropped = 0
        for db in self.ctx.keyspace.dbs:
            for key in [k for k in db.data if not self.ctx.owns_slot(key_slot(k))]:
                db.delete(key)
                dropped += 1
        target = m.generation + 1 if m.next_shards != self.nshards else m.next_generation
        base = mf.file_name(target, self.index, 1, "base")
        incr = mf.file_name(target, self.index, 2, "incr")
        write_base(self._path(base), self.ctx.keyspace)
        open(self._path(incr), "ab").close()
        stale: list[str] = []
        with mf.locked(self.dir) as m2:
            if m2.next_shards != self.nshards or m2.next_generation != target:
                m2.next_shards, m2.next_generation, m2.pending = self.nshards, target, []
            m2.pending = [f for f in m2.pending if f.shard != self.index]
            m2.pending.append(self._entry(base, 1, "base"))
            m2.pending.append(self._entry(incr, 2, "incr"))
            if {f.shard for f in m2.pending} == set(range(self.nshards)):
                stale = [f.name for f in m2.files]
                m2.generation, m2.shards, m2.files = target, self.nshards, m2.pending
                m2.next_generation = m2.next_shards = 0
                m2.pending = []
        if stale:  # only once the manifest that no longer names them is on disk
            self._remove(stale)
            log.notice(f"Shard {self.index}: the AOF now has the layout of {self.nshards} shards")
        # wait until the last new shard promoted the layout: before that, my writes
        # would go to files the manifest does not load yet
        while True:
            now = mf.read(self.dir)
            if now is not None and now.generation == target and now.shards == self.nshards:
                break
            time.sleep(0.01)
        self.generation = target
        log.notice(f"Shard {self.index}: kept my slots' keys, dropped {dropped} owned by other shards")
        if self.enabled:
            self._start_writer(incr)
        else:
            self.writer = None

    # -- the hot path ----------------------------------------------------------
    def commit(self) -> str | None:
        """Write (and under ``always`` fsync) this batch's records; an error text on failure."""
        w = self.writer
        if w is None or (not w.buf and w.error is None):
            return None
        return None if w.flush() else w.error_text()

    def write_error(self) -> str | None:
        """The pending write error that makes writes fail with MISCONF, after one retry."""
        w = self.writer
        if w is None or w.error is None:
            return None
        if w.flush():
            log.notice(f"Shard {self.index}: AOF writes succeed again")
            return None
        return w.error_text()

    # -- rewrite -----------------------------------------------------------------
    def _prepare(self, enabling: bool) -> str:
        """Name the new base and start the new incremental file (listed now unless enabling)."""
        make_aof_dir(self.dir)
        logging = self.writer is not None or enabling
        with self._locked() as m:
            self.generation = m.generation
            seq = m.next_seq(self.index)
            base = mf.file_name(self.generation, self.index, seq, "base")
            incr = mf.file_name(self.generation, self.index, seq + 1, "incr")
            if logging:
                open(self._path(incr), "ab").close()
            if self.writer is not None and not enabling:
                m.files.append(self._entry(incr, seq + 1, "incr"))
        if self.writer is not None:
            self.writer.switch(self._path(incr))
        elif enabling:
            self._start_writer(incr)
        self.child_base = base
        self.child_seq = seq + 1 if logging else seq
        self.child_enables = enabling
        return base

    def start_rewrite(self, enabling: bool = False, saves: bool = False) -> None:
        """Fork the child that writes a new base; ``saves``: it is a BGSAVE."""
        if self.child:
            raise CommandError(errors.AOF_REWRITE_RUNNING)
        try:
            base = self._prepare(enabling)
        except OSError as exc:  # an unwritable or full directory
            log.warning(f"Shard {self.index}: cannot start an AOF rewrite: {exc}")
            self.last_rewrite_ok = False
            raise CommandError(errors.AOF_REWRITE_FAILED) from None
        self.child_started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: write the snapshot and leave
            code = 1
            try:
                _die_with_parent()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                write_base(self._path(base), self.ctx.keyspace)
                code = 0
            except BaseException as exc:  # noqa: BLE001 - report anything, never return into the shard loop
                try:
                    log.warning(f"Shard {self.index}: AOF rewrite child failed: {exc!r}")
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        self.child = pid
        self.child_saves = saves
        self.child_writes = self.writes()
        log.notice(f"Shard {self.index}: background AOF rewrite started by pid {pid}")

    def bgrewriteaof(self) -> bytes:
        """BGREWRITEAOF: b"started", or b"scheduled" while a BGSAVE runs (it starts after), as Valkey."""
        if self.child and not self.child_saves:
            raise CommandError(errors.AOF_REWRITE_RUNNING)
        if self.child:
            self.scheduled = True
            return b"scheduled"
        self.start_rewrite()
        return b"started"

    def bgsave(self, schedule: bool) -> bytes:
        """BGSAVE [SCHEDULE]: b"started", or b"scheduled" after a running rewrite, as Valkey."""
        if self.child and self.child_saves:
            raise CommandError(errors.BGSAVE_RUNNING)
        if self.child:
            if not schedule:
                raise CommandError(errors.BGSAVE_AOF_RUNNING)
            self.scheduled_save = True
            return b"scheduled"
        self.start_rewrite(saves=True)
        return b"started"

    def _start_scheduled(self) -> None:
        """No child runs: start what waited for one, a rewrite before a BGSAVE (as Valkey's cron)."""
        if self.scheduled:
            enabling, saves = self.scheduled_enables, False
            self.scheduled = self.scheduled_enables = False
        elif self.scheduled_save:
            enabling, saves = False, True
            self.scheduled_save = False
        else:
            return
        try:
            self.start_rewrite(enabling=enabling, saves=saves)
        except CommandError:  # it logged why; an automatic one is tried again by cron
            self.retry_at = time.monotonic() + 5

    def poll_child(self) -> None:
        if not self.child:
            return
        try:
            pid, status = os.waitpid(self.child, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child, 1
        if pid == 0:
            return
        self.child = 0
        self.last_rewrite_secs = int(time.monotonic() - self.child_started)
        if os.waitstatus_to_exitcode(status) == 0:
            self._finish_rewrite(self.child_saves)
        else:
            self.last_rewrite_ok = False
            self._remove([self.child_base, self.child_base + ".tmp"])
            log.warning(f"Shard {self.index}: background AOF rewrite failed")
        self.child_saves = False
        self._start_scheduled()

    def _finish_rewrite(self, saves: bool) -> None:
        base = self.child_base
        keep_seq = self.child_seq
        with self._locked() as m:
            mine = m.shard_files(self.index)
            stale = [f.name for f in mine if f.seq < keep_seq]
            rest = [f for f in m.files if f.shard != self.index or f.seq >= keep_seq]
            new_base = self._entry(base, keep_seq - 1 if self.writer is not None else keep_seq, "base")
            if self.writer is not None and self.child_enables:
                rest.append(self._entry(os.path.basename(self.writer.path), keep_seq, "incr"))
            if self.writer is None:
                # a snapshot with AOF off (BGSAVE): the base alone holds the data
                stale = [f.name for f in mine]
                rest = [f for f in m.files if f.shard != self.index]
            m.files = _ordered(rest + [new_base])
        self._remove(stale)
        self.rewrites += 1
        self.last_rewrite_ok = True
        if saves:
            self.last_save = int(time.time())
            self.saved_writes = self.child_writes  # the writes since its fork stay dirty
        self._sized()
        if self.child_enables:
            self.enabled = True
        log.notice(f"Shard {self.index}: background AOF rewrite finished")

    def save(self) -> None:
        """SAVE: the snapshot written by the shard itself (it answers nothing meanwhile, as SAVE blocks Valkey)."""
        if self.child:
            raise CommandError(errors.BGSAVE_RUNNING if self.child_saves else errors.AOF_REWRITE_RUNNING)
        try:
            base = self._prepare(False)
            self.child_writes = self.writes()
            write_base(self._path(base), self.ctx.keyspace)
        except OSError as exc:
            log.warning(f"Shard {self.index}: SAVE failed: {exc}")
            self.last_rewrite_ok = False
            raise CommandError(errors.SAVE_FAILED) from None
        self._finish_rewrite(True)

    def writes(self) -> int:
        """This shard's writes that changed something since it started (ShardWorker.writes)."""
        return self.ctx.worker.writes()

    def changes_since_save(self) -> int:
        """Valkey's ``dirty``: the writes since the snapshot of the last successful SAVE/BGSAVE."""
        return self.writes() - self.saved_writes

    def _save_point(self) -> tuple[int, int] | None:
        """The first save point (seconds, changes) that is due, as Valkey's serverCron
        judges it: enough changes, the last save older, and a failed BGSAVE retried after 5 s."""
        if not self.save_points or self.child:
            return None
        now = time.time()
        if not self.last_rewrite_ok and now - self.last_bgsave_try <= 5:
            return None
        dirty = self.changes_since_save()
        for seconds, changes in self.save_points:
            if dirty >= changes and now - self.last_save > seconds:
                return seconds, changes
        return None

    def exit_save(self) -> None:
        """Before the shard exits on SIGTERM: a snapshot, as Valkey saves on SIGTERM when save
        points are set (with the AOF on, its files already hold everything)."""
        if not (self.save_on_exit and self.save_points and self.writer is None):
            return
        log.notice(f"Shard {self.index}: saving the final snapshot before exiting")
        if self.child:
            self._abort_child()
        try:
            self.save()
        except CommandError as exc:
            log.warning(f"Shard {self.index}: the final snapshot failed: {exc.text}")

    def cron(self) -> None:
        self.poll_child()
        if self.writer is not None and self.writer.error is not None:
            self.write_error()
        due = self._save_point()
        if due is not None:
            log.notice(f"Shard {self.index}: {due[1]} changes in {due[0]} seconds. Saving...")
            self.last_bgsave_try = time.time()
            try:
                self.start_rewrite(saves=True)
            except CommandError:
                pass  # it logged why; tried again after 5 s
        if (
            self.enabled
            and not self.child
            and self.rewrite_pct > 0
            and self.writer is not None
        ):
            size = self.other_size + self.writer.size
            base = max(self.rewrite_base_size, 1)
            if size >= self.rewrite_min and (size - base) * 100 // base >= self.rewrite_pct and time.monotonic() >= self.retry_at:
                log.notice(f"Shard {self.index}: starting automatic AOF rewrite ({size} bytes, {self.rewrite_pct}% growth)")
                try:
                    self.start_rewrite()
                except CommandError:
                    self.retry_at = time.monotonic() + 5  # as Valkey: retry a failed automatic rewrite later

    # -- configuration ------------------------------------------------------------
    def configure(self, name: str, value: str) -> None:
        if name == "appendfsync":
            self.policy = value
            if self.writer is not None:
                self.writer.set_policy(value)
        elif name == "aof-timestamp-enabled":
            self.timestamps = value == "yes"
            if self.writer is not None:
                self.writer.timestamps = self.timestamps
        elif name == "aof-load-truncated":
            self.load_truncated = value == "yes"
        elif name == "auto-aof-rewrite-percentage":
            self.rewrite_pct = int(value)
        elif name == "auto-aof-rewrite-min-size":
            self.rewrite_min = int(value)
        elif name == "save":
            self.save_points = parse_save_points(value)
        elif name == "appendonly":
            on = value == "yes"
            if on and not self.enabled and self.writer is None:
                if self.child:  # a BGSAVE runs: turn AOF on with the rewrite after it, as Valkey
                    self.scheduled = self.scheduled_enables = True
                else:
                    self.start_rewrite(enabling=True)
            elif not on and self.scheduled_enables:
                self.scheduled = self.scheduled_enables = False
            elif not on and (self.enabled or self.writer is not None):
                if self.child and self.child_enables:  # the rewrite turning it on goes with its files, as Valkey kills it
                    self.scheduled = False
                    self._abort_child()
                self.enabled = False
                if self.writer is not None:
                    self.writer.close()
                    self.writer = None
                self.ctx.keyspace.journal = None

    def _stop_child(self) -> None:
        """Kill the rewrite child and reap it (the manifest still names the old files)."""
        try:
            os.kill(self.child, signal.SIGKILL)
            os.waitpid(self.child, 0)
        except OSError:
            pass
        self.child = 0
        self.child_saves = False

    def cancel_save(self) -> bytes | None:
        """BGSAVE CANCEL, as Valkey: kill a running BGSAVE (b"running") or drop a scheduled one
        (b"scheduled"); None when there is neither (a rewrite is not a save: it goes on)."""
        if self.child and self.child_saves:
            self._abort_child()
            self._start_scheduled()  # a BGREWRITEAOF that waited for the BGSAVE
            return b"running"
        if self.scheduled_save:
            self.scheduled_save = False
            return b"scheduled"
        return None

    def _abort_child(self) -> None:
        """Kill the running rewrite and delete its new base (the manifest still names the old files)."""
        self._stop_child()
        self._remove([self.child_base, self.child_base + ".tmp"])
        if self.child_enables:  # AOF was being turned on: it stays off
            if self.writer is not None:
                self.writer.close()
                os.unlink(self.writer.path)
                self.writer = None
            self.ctx.keyspace.journal = None
        log.notice(f"Shard {self.index}: background AOF rewrite cancelled")

    def close(self) -> None:
        """Shutdown: flush and fsync; a rewrite in progress is abandoned."""
        if self.child:
            self._stop_child()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def info(self) -> dict[bytes, Any]:
        w = self.writer
        return {
            b"aof_enabled": 1 if self.enabled else 0,
            # as Valkey's INFO: a BGSAVE is a save in progress, not a rewrite
            b"aof_rewrite_in_progress": 1 if self.child and not self.child_saves else 0,
            b"bgsave_in_progress": 1 if self.child and self.child_saves else 0,
            b"aof_rewrite_scheduled": 1 if self.scheduled else 0,
            b"aof_rewrites": self.rewrites,
            b"aof_last_bgrewrite_status": b"ok" if self.last_rewrite_ok else b"err",
            b"aof_last_rewrite_time_sec": self.last_rewrite_secs,
            b"aof_current_rewrite_time_sec": int(time.monotonic() - self.child_started) if self.child else -1,
            b"aof_last_write_status": b"ok" if w is None or w.error is None else b"err",
            b"aof_current_size": self.aof_size() if w is not None else 0,
            b"aof_base_size": self.rewrite_base_size,
            b"aof_buffer_length": w.pending() if w is not None else 0,
            b"aof_fsyncs": w.fsyncs if w is not None else 0,
            b"aof_fsync_lag_ms": int(w.fsync_lag() * 1000) if w is not None else 0,
            b"aof_load_time_ms": self.load_ms,
            b"aof_loaded_records": self.loaded_records,
            b"aof_loaded_bytes": self.loaded_bytes,
            b"aof_truncations": self.truncations,
            b"last_save": self.last_save,
            b"changes_since_save": self.changes_since_save(),
        }


def _ordered(files: list[mf.FileEntry]) -> list[mf.FileEntry]:
    """Manifest order: by shard, the base first, then incremental files by seq."""
    return sorted(files, key=lambda f: (f.shard, f.kind != "base", f.seq))


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed shard takes its rewrite child along


