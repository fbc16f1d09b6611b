"""Fault injection for test_persistence, active only when its variables are set.

- ``SHARDSERVER_TEST_SLOW_REWRITE=<seconds>``: a rewrite child waits that long
  after writing its snapshot's temporary file, before the rename: a stand-in
  for a large data set, so a test can kill the shard in the middle.
- ``SHARDSERVER_TEST_SLOW_LOAD=<seconds>``: replay reads 4 KiB at a time and
  waits that long after each chunk: a stand-in for a large AOF, so a test can
  watch LOADING and the progress fields.
- ``SHARDSERVER_TEST_PAUSE_AFTER_BASE=<seconds>``: a rewrite child waits that
  long after its base file got its final name, before it exits (the manifest
  does not name that file yet).
- ``SHARDSERVER_TEST_PAUSE_BEFORE_STALE_REMOVE=<seconds>``: a shard that
  finished a rewrite waits that long after the manifest names the new base,
  before it deletes the files that base replaces.
- ``SHARDSERVER_TEST_TX_TRAP=<shard>:<kill|stop>:<path>``: while ``<path>``
  exists, the next part of a cross-shard write that reaches that shard makes it
  SIGKILL or SIGSTOP itself before running it (it deletes ``<path>`` first, so
  a test arms it once).
- ``SHARDSERVER_TEST_INTENT_ROTATE=<bytes>``: the front starts a new intent
  file past that size (persistence/intents.py), so a test sees files come and go.
- ``SHARDSERVER_TEST_KILL_IN_LAYOUT_REMOVE=1``: a shard that completes a change
  of the shard count deletes the first old file, then SIGKILLs the whole
  process group: a crash while the old layout's files go.
- ``SHARDSERVER_TEST_FSYNC_LOG=<path>``: every ``os.fdatasync`` appends a line
  ``<pid> start|done <file> <size>`` to that file before and after it runs.
- ``SHARDSERVER_TEST_SLOW_FSYNC=<seconds>``: every ``os.fdatasync`` takes that
  much longer: a stand-in for a slow disk, so a test can tell what waits for it.
"""

import os

if os.environ.get("SHARDSERVER_TEST_SLOW_REWRITE"):
    from shardserver import log
    from shardserver.shard import persist as _persist

    _delay = float(os.environ["SHARDSERVER_TEST_SLOW_REWRITE"])
    _orig_write_base = _persist.write_base

    def _slow_write_base(path: str, keyspace: object) -> int:
        import time

        size = _orig_write_base(path + ".inject", keyspace)  # type: ignore[arg-type]
        log.warning(f"TEST-INJECT: rewrite child wrote its snapshot, waiting {_delay}s before the rename")
        time.sleep(_delay)  # the simulated slow rewrite itself, not a synchronisation
        os.replace(path + ".inject", path)
        return size

    _persist.write_base = _slow_write_base

if os.environ.get("SHARDSERVER_TEST_SLOW_LOAD"):
    from persistence import aof as _aof

    _pause = float(os.environ["SHARDSERVER_TEST_SLOW_LOAD"])
    _aof.CHUNK = 4096
    _orig_read = _aof.read_records

    def _slow_read(path, apply, progress=None):  # type: ignore[no-untyped-def]
        import time

        def slow_progress(fed: int) -> None:
            time.sleep(_pause)  # the simulated slow disk, not a synchronisation
            if progress is not None:
                progress(fed)

        return _orig_read(path, apply, slow_progress)

    _aof.read_records = _slow_read
    from shardserver.shard import persist as _persist2

    _persist2.read_records = _slow_read

if os.environ.get("SHARDSERVER_TEST_FSYNC_LOG") or os.environ.get("SHARDSERVER_TEST_SLOW_FSYNC"):
    _fsync_log = os.environ.get("SHARDSERVER_TEST_FSYNC_LOG", "")
    _fsync_delay = float(os.environ.get("SHARDSERVER_TEST_SLOW_FSYNC", "0"))
    _orig_fdatasync = os.fdatasync

    def _note(fd: int, what: str) -> None:
        if _fsync_log:
            line = f"{os.getpid()} {what} {os.readlink(f'/proc/self/fd/{fd}')} {os.fstat(fd).st_size}\n"
            out = os.open(_fsync_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(out, line.encode())
            finally:
                os.close(out)

    def _watched_fdatasync(fd: int) -> None:
        import time

        _note(fd, "start")
        if _fsync_delay:
            time.sleep(_fsync_delay)  # the simulated slow disk, not a synchronisation
        _orig_fdatasync(fd)
        _note(fd, "done")

    os.fdatasync = _watched_fdatasync

if os.environ.get("SHARDSERVER_TEST_PAUSE_AFTER_BASE"):
    from shardserver import log as _log3
    from shardserver.shard import persist as _persist3

    _after_base = float(os.environ["SHARDSERVER_TEST_PAUSE_AFTER_BASE"])
    _orig_write_base3 = _persist3.write_base

    def _pausing_write_base(path: str, keyspace: object) -> int:
        import time

        size = _orig_write_base3(path, keyspace)  # type: ignore[arg-type]
        _log3.warning(f"TEST-INJECT: rewrite child renamed its base, waiting {_after_base}s before exiting")
        time.sleep(_after_base)  # the moment a test kills in, not a synchronisation
        return size

    _persist3.write_base = _pausing_write_base

if os.environ.get("SHARDSERVER_TEST_PAUSE_BEFORE_STALE_REMOVE"):
    from shardserver import log as _log4
    from shardserver.shard import persist as _persist4

    _before_remove = float(os.environ["SHARDSERVER_TEST_PAUSE_BEFORE_STALE_REMOVE"])
    _SP = _persist4.ShardPersistence
    _orig_finish, _orig_remove = _SP._finish_rewrite, _SP._remove

    def _finish(self, *a, **kw):  # type: ignore[no-untyped-def]
        self._inject_finishing = True
        try:
            return _orig_finish(self, *a, **kw)
        finally:
            self._inject_finishing = False

    def _remove(self, names):  # type: ignore[no-untyped-def]
        if getattr(self, "_inject_finishing", False) and names:
            import time

            _log4.warning(f"TEST-INJECT: the manifest names the new base, waiting {_before_remove}s before deleting {len(names)} file(s)")
            time.sleep(_before_remove)  # the moment a test kills in, not a synchronisation
        return _orig_remove(self, names)

    _SP._finish_rewrite, _SP._remove = _finish, _remove

if os.environ.get("SHARDSERVER_TEST_TX_TRAP"):
    from shardserver import log as _log5
    from shardserver.shard import worker as _worker5

    _trap_shard, _trap_how, _trap_path = os.environ["SHARDSERVER_TEST_TX_TRAP"].split(":", 2)
    _orig_part = _worker5.ShardWorker.execute_part
    _orig_open = _worker5.ShardWorker._open_part

    def _trap(self, what):  # type: ignore[no-untyped-def]
        if self.index == int(_trap_shard) and os.path.exists(_trap_path):
            import signal

            os.unlink(_trap_path)
            _log5.warning(f"TEST-INJECT: shard {self.index} traps cross-shard write {what} ({_trap_how})")
            os.kill(os.getpid(), signal.SIGKILL if _trap_how == "kill" else signal.SIGSTOP)

    def _trapped_part(self, txid, seq, cmds, reject=None):  # type: ignore[no-untyped-def]
        _trap(self, txid)
        return _orig_part(self, txid, seq, cmds, reject)

    def _trapped_open(self, runs, i, journal, reject):  # type: ignore[no-untyped-def]
        _trap(self, runs[i][3][:40])  # a split write's part (wire.TX), before its head is read
        return _orig_open(self, runs, i, journal, reject)

    _worker5.ShardWorker.execute_part = _trapped_part
    _worker5.ShardWorker._open_part = _trapped_open

if os.environ.get("SHARDSERVER_TEST_INTENT_ROTATE"):
    from persistence import intents as _intents6

    _intents6.ROTATE_BYTES = int(os.environ["SHARDSERVER_TEST_INTENT_ROTATE"])

if os.environ.get("SHARDSERVER_TEST_KILL_IN_LAYOUT_REMOVE"):
    import sys

    from shardserver.shard import persist as _persist7

    _orig_remove7 = _persist7.ShardPersistence._remove

    def _dying_remove(self, names):  # type: ignore[no-untyped-def]
        if names and sys._getframe(1).f_code.co_name == "_change_layout":
            import signal

            os.unlink(self._path(names[0]))
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return _orig_remove7(self, names)

    _persist7.ShardPersistence._remove = _dying_remove
