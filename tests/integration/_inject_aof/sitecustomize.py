"""Fault injection for test_persistence, active only when its variables are set.

- ``SHARDSERVER_TEST_SLOW_REWRITE=<seconds>``: a rewrite child waits that long
  after writing its snapshot's temporary file, before the rename: a stand-in
  for a large data set, so a test can kill the shard in the middle.
- ``SHARDSERVER_TEST_SLOW_LOAD=<seconds>``: replay reads 4 KiB at a time and
  waits that long after each chunk: a stand-in for a large AOF, so a test can
  watch LOADING and the progress fields.
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
