"""AOF record files: the writer a shard appends with, and the reader replay uses.

Ownership: this module owns the bytes of AOF files; it knows nothing of
sockets, and of commands only that a record is one.

Format of a file (base or incremental): a sequence of records, each a RESP
multibulk command as ``shardserver.resp.encode_command`` writes it.  Records
apply to the database chosen by the last ``SELECT`` record (0 at the start of
each file).  Several records that form one atomic change are framed by
``MULTI`` and ``EXEC`` records; replay applies such a group only when its
``EXEC`` is present.  A base file's bulk records (``__strings``,
``__values``) are records like any other here; their payloads are the
shard's business (``shardserver/shard/persist.py``).  Lines starting with ``#`` are annotations
(``#TS:<unix time>`` when ``aof-timestamp-enabled``) and are skipped.

Fsync policies: ``always`` fsyncs in ``flush`` (the shard flushes once per
batch of commands, before it replies: group commit); ``everysec`` leaves it to
a thread that fsyncs once a second; ``no`` leaves it to the OS.  A failed
write keeps the unwritten bytes, truncates any partial record away and
reports the error; ``flush`` retries them later.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shardserver.resp import FastRequestParser, ProtocolError, bulk_array, encode_command

_MULTI = encode_command([b"MULTI"])
_EXEC = encode_command([b"EXEC"])
_SELECT0 = encode_command([b"SELECT", b"0"])
CHUNK = 1 << 20


def _load_reset() -> Callable[[bytearray], None]:
    """Empty a bytearray: in C keeping its room (the shard refills it every batch), else ``clear``."""
    try:
        from shardserver._speedups import aof_buffer_reset
    except ImportError:
        return bytearray.clear
    return aof_buffer_reset  # type: ignore[no-any-return]


_reset = _load_reset()


class AofWriter:
    """Appends records to one open file; the shard owns one at a time.

    Durability is counted in bytes ever written (``written``) and bytes known
    to be on disk (``synced``), across file switches.  Under ``always`` the
    shard fsyncs in ``flush``; under ``everysec`` a thread fsyncs once a second.
    """

    def __init__(self, path: str, fsync: str = "everysec", timestamps: bool = False) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size  # of the current file
        self.policy = fsync
        self.timestamps = timestamps
        # The records not yet written, in one buffer that the shard's C loop appends
        # to as well; emptied in place, never replaced, so no caller holds a stale one.
        self.buf = bytearray()
        self.db = 0  # the database the file's records apply to now
        self.grouping = False  # between open_group and close_group
        self.error: OSError | None = None
        self.last_ts = 0
        self.written = 0  # bytes written since this writer opened (all files)
        self.synced = 0  # of those, bytes known to be on disk
        self.last_sync = time.monotonic()
        self.fsyncs = 0
        self._cond = threading.Condition()  # the fd, the sync request, the thread's life
        self._busy = False  # the thread is in fdatasync on ``fd`` without the lock
        # intent files (persistence/intents.py) to fdatasync before this file: seq -> fd
        self._first: dict[int, int] = {}
        self._stop = False
        self._thread: threading.Thread | None = None
        # The file may end under another database's SELECT (a restart reopens the last
        # incremental file): the first write says again that what follows is db 0's.
        self.reselect = self.size > 0
        if fsync == "everysec":
            self._start_thread()

    # -- records -----------------------------------------------------------
    def add(self, db: int, argv: list[bytes]) -> None:
        if db != self.db:
            self.buf += encode_command([b"SELECT", b"%d" % db])
            self.db = db
        self.buf += bulk_array(argv) or encode_command(argv)

    def add_group(self, db: int, argvs: list[list[bytes]]) -> None:
        """Records that must replay all or none."""
        if len(argvs) == 1 or self.grouping:  # inside an open group they are in one already
            for argv in argvs:
                self.add(db, argv)
            return
        buf = self.buf
        if db != self.db:
            buf += encode_command([b"SELECT", b"%d" % db])
            self.db = db
        buf += _MULTI
        for a in argvs:
            buf += encode_command(a)
        buf += _EXEC

    def open_group(self, db: int) -> None:
        """Start a group (``MULTI``) that the records until ``close_group`` join, from the
        C loop as from Python; its database is ``db`` throughout."""
        if db != self.db:
            self.buf += encode_command([b"SELECT", b"%d" % db])
            self.db = db
        self.buf += _MULTI
        self.grouping = True

    def close_group(self, last: list[bytes]) -> None:
        """End the open group with the record ``last`` (a part's ``__txmark``)."""
        self.buf += encode_command(last)
        self.buf += _EXEC
        self.grouping = False

    def pending(self) -> int:
        return len(self.buf)

    # -- writing -----------------------------------------------------------
    def write(self) -> bool:
        """Write what is buffered to the OS (no fsync); False on an I/O error."""
        if not self.buf:
            return self.error is None or self._retry_sync()
        if self._first:
            try:
                self._sync_first_if_busy()
            except OSError as exc:  # nothing written: the parts wait with the rest
                self.error = exc
                return False
        data = self.buf
        if self.reselect:  # buffered records without a SELECT before them are db 0's
            data[0:0] = _SELECT0
            self.reselect = False
        if self.timestamps:
            now = int(time.time())
            if now != self.last_ts:
                data[0:0] = b"#TS:%d\r\n" % now
                self.last_ts = now
        done = 0
        try:
            while done < len(data):
                if not done:
                    done = os.write(self.fd, data)
                    continue
                with memoryview(data) as view:
                    done += os.write(self.fd, view[done:])
        except OSError as exc:
            self.error = exc
            if done:
                # the file must end on a whole record: cut the partial write off
                try:
                    os.ftruncate(self.fd, self.size)
                    done = 0
                except OSError:
                    pass
            self.size += done
            self.written += done
            del data[:done]
            return False
        self.size += done
        self.written += done
        _reset(data)
        self.error = None
        return True

    def flush(self) -> bool:
        """Write, and under ``always`` fsync before returning; False on an I/O error."""
        if not self.write():
            return False
        if self.policy == "always" and self.synced < self.written:
            return self.sync_now()
        return True

    def sync_now(self) -> bool:
        """fsync on the caller's thread; False (and ``error`` set) when it fails."""
        with self._cond:
            self._idle()
            target = self.written
            first = self._take_first()
            try:
                _sync_all(first, self.fd)
            except OSError as exc:
                self._first.update(first)
                self.error = exc
                return False
            self._synced_to(target)
        return True

    def intent_first(self, seq: int, fd: int) -> None:
        """A cross-shard part goes into the buffer: its intent file ``fd`` must be on disk
        before an fsync of this file can hold the part (persistence/intents.py).  (An
        fsync under way when the part is written is dealt with in ``write``.)"""
        with self._cond:
            self._first[seq] = fd

    def _sync_first_if_busy(self) -> None:
        """Before parts reach the OS: an fsync the thread has under way took its list of
        intent files before theirs were noted, and may still take in the parts, so their
        intent files go to disk now (once per write, not once per part)."""
        with self._cond:
            fds = list(self._first.values()) if self._busy else ()
        for fd in fds:
            os.fdatasync(fd)

    def intents_pending(self) -> set[int]:
        """The seqs of the intent files still to fsync before this file."""
        with self._cond:
            return set(self._first)

    def _take_first(self) -> dict[int, int]:
        """The intent files to fsync before this file (the lock is held)."""
        first, self._first = self._first, {}
        return first

    def _idle(self) -> None:
        """Wait (holding the lock) until the thread is not using the fd."""
        while self._busy:
            self._cond.wait()

    def _synced_to(self, target: int) -> None:
        if target > self.synced:
            self.synced = target
            self.fsyncs += 1
        self.last_sync = time.monotonic()

    def _retry_sync(self) -> bool:
        if self.sync_now():
            self.error = None
            return True
        return False

    def error_text(self) -> str:
        """The last I/O error as MISCONF shows it (``No space left on device``)."""
        assert self.error is not None
        return self.error.strerror or str(self.error)

    def log(self, db: int, argv: list[bytes], records: list[list[bytes]] | None) -> bool:
        """Log a write that succeeded: ``argv`` as received, or the handler's ``records``
        (``ctx.rewrite``; empty: nothing).  True when something was logged."""
        if records is None:
            self.add(db, argv)
            return True
        if records:
            self.add_group(db, records)
            return True
        return False

    def fsync_lag(self) -> float:
        """Seconds the oldest written but not yet fsynced record has waited (0 when all are synced)."""
        return 0.0 if self.synced >= self.written else time.monotonic() - self.last_sync

    # -- the fsync thread ------------------------------------------------------
    def _start_thread(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._sync_loop, name="aof-fsync", daemon=True)
            self._thread.start()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            with self._cond:
                self._stop = True
                self._cond.notify()
            self._thread.join()
            self._thread = None

    def _sync_loop(self) -> None:
        with self._cond:
            while not self._stop:
                self._cond.wait(1.0)
                target = self.written
                if self._stop or target <= self.synced:
                    continue
                # fsync without the lock: the shard keeps writing meanwhile
                fd = self.fd
                first = self._take_first()
                self._busy = True
                self._cond.release()
                try:
                    _sync_all(first, fd)
                    failed = None
                except OSError as exc:
                    failed = exc
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
                if failed is not None:
                    self._first.update(first)
                    self.error = failed
                else:
                    self._synced_to(target)

    def set_policy(self, policy: str) -> None:
        self.policy = policy
        if policy == "everysec":
            self._start_thread()
        else:
            self._stop_thread()

    def switch(self, path: str) -> None:
        """Continue in a new file (a rewrite started); the old one is written and synced first."""
        self.write()
        with self._cond:  # the thread never fsyncs an fd being closed
            self._idle()
            target = self.written
            _sync_all(self._take_first(), self.fd)
            self._synced_to(target)
            os.close(self.fd)
            self.path = path
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.size = os.fstat(self.fd).st_size
            self.db = 0
            self.reselect = self.size > 0

    def close(self) -> None:
        """Write, fsync and close (shutdown)."""
        self._stop_thread()
        self.write()
        try:
            _sync_all(self._take_first(), self.fd)
            self._synced_to(self.written)
        except OSError:
            pass
        os.close(self.fd)


def _sync_all(first: dict[int, int], fd: int) -> None:
    """fdatasync the intent files, then ``fd``: a part on disk implies its intent on disk."""
    for intent_fd in first.values():
        os.fdatasync(intent_fd)
    os.fdatasync(fd)


# -- reading ------------------------------------------------------------------


class AofCorrupt(Exception):
    """A record that cannot be read; names the file and the byte offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: bad record at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class BadRecord(Exception):
    """Raised by ``read_records``' ``apply``: record ``index`` of the run it got cannot be applied
    (its payload is damaged); ``read_records`` turns it into AofCorrupt with the record's offset."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


@dataclass
class ReadResult:
    records: int = 0
    size: int = 0
    truncated_at: int = -1  # where a truncated tail starts, or -1


_SPECIAL = (b"SELECT", b"MULTI", b"EXEC")


def _spellings(word: bytes) -> set[bytes]:
    out = {b""}
    for c in word:
        out = {s + bytes([x]) for s in out for x in {c, c | 0x20}}
    return out


# every case spelling: one set lookup per record instead of upper() (loading is bound by this loop)
_SPECIAL_ANY_CASE = frozenset(s for w in _SPECIAL for s in _spellings(w))


def read_records(
    path: str,
    apply: Callable[[int, list[list[bytes]]], None],
    progress: Callable[[int], None] | None = None,
) -> ReadResult:
    """Replay ``path``: ``apply(db, records)`` for runs of records, groups only when complete.

    A file that ends inside a record or an unterminated MULTI group reports
    ``truncated_at`` (the offset of the first byte not applied); any other
    defect raises AofCorrupt.  ``SELECT`` records are not passed on: ``db``
    says which database a run applies to.
    """
    parser = FastRequestParser(max_bulk_len=2**62, max_buffer=2**62)
    parser.strict = True
    result = ReadResult()
    db = 0
    group: list[list[bytes]] | None = None
    group_start = 0
    fed = 0

    def size(records: list[list[bytes]]) -> int:
        return sum(len(encode_command(a)) for a in records)

    def run(records: list[list[bytes]], first: int, exec_at: int = -1) -> None:
        """``apply`` cmds[first:...] of this batch, or (``exec_at`` >= 0) the group whose
        EXEC is cmds[exec_at]; a BadRecord gets its offset (records are canonical, so
        their lengths give offsets; computed only then)."""
        try:
            apply(db, records)
        except BadRecord as exc:
            if exec_at < 0:
                offset = batch_at + size(cmds[: first + exc.index])
            else:
                start = group_start if group_start != -1 else batch_at + size(cmds[:exec_at]) - size(records) - len(_MULTI)
                offset = start + len(_MULTI) + size(records[: exc.index])
            raise AofCorrupt(path, offset, exc.reason) from None

    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            batch_at = fed - parser.unfinished()  # where the records drained next start
            if chunk:
                parser.feed(chunk)
                fed += len(chunk)
            try:
                cmds = parser.drain()
            except ProtocolError as exc:
                raise AofCorrupt(path, fed - parser.unfinished(), str(exc)) from None
            result.records += len(cmds)
            run_start = 0  # cmds[run_start:i] are plain records not yet applied
            for i, argv in enumerate(cmds):
                name = argv[0]
                if name not in _SPECIAL_ANY_CASE:
                    if group is not None:
                        group.append(argv)
                        run_start = i + 1
                    continue
                name = name.upper()
                if group is None and run_start < i:
                    run(cmds[run_start:i], run_start)
                run_start = i + 1
                if group is not None:
                    if name == b"EXEC":
                        run(group, 0, i)
                        group = None
                    elif name == b"MULTI":
                        raise AofCorrupt(path, group_start, "nested MULTI")
                    else:  # SELECT inside a group: not something shardserver writes
                        raise AofCorrupt(path, group_start, "SELECT inside MULTI")
                elif name == b"SELECT":
                    try:
                        db = int(argv[1])
                    except (IndexError, ValueError):
                        raise AofCorrupt(path, fed - parser.unfinished(), "bad SELECT") from None
                elif name == b"MULTI":
                    group = []
                    group_start = -1  # known at the end of this batch, if still open
                else:
                    raise AofCorrupt(path, fed - parser.unfinished(), "EXEC without MULTI")
            if group is None and run_start < len(cmds):
                run(cmds[run_start:], run_start)
            if group is not None and group_start == -1:
                # An open group at a batch end: every record since its MULTI was parsed in
                # this batch, and records are canonical, so their lengths give its offset.
                tail = sum(len(encode_command(a)) for a in group) + len(_MULTI)
                group_start = fed - parser.unfinished() - tail
            if progress is not None:
                progress(fed)
            if not chunk:
                break
    result.size = fed
    if parser.unfinished() or group is not None:
        result.truncated_at = group_start if group is not None else fed - parser.unfinished()
    return result


def truncate(path: str, offset: int) -> None:
    """Cut a file at ``offset`` (a truncated tail) and make it durable."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
