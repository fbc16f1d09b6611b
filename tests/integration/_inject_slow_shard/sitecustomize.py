"""Fault injection for test_systemd, active only when SHARDSERVER_TEST_SLOW_SHARD is set.

Put on PYTHONPATH of a server under test, ``SHARDSERVER_TEST_SLOW_SHARD=1:1.5``
makes shard 1 wait 1.5 seconds before it says hello to the front: a stand-in
for a long data load, so the test can watch what the supervisor tells systemd
while a shard is still loading.  Nothing else changes.
"""

import os

if os.environ.get("SHARDSERVER_TEST_SLOW_SHARD"):
    import time

    from shardserver import log
    from shardserver.shard import worker as _worker

    _index, _seconds = os.environ["SHARDSERVER_TEST_SLOW_SHARD"].split(":")
    _orig_run = _worker.ShardWorker.run

    def _slow_run(self: _worker.ShardWorker) -> None:
        if self.index == int(_index):
            log.warning(f"TEST-INJECT: shard {self.index} loading for {_seconds}s")
            time.sleep(float(_seconds))  # the simulated load itself, not a synchronisation
            log.warning(f"TEST-INJECT: shard {self.index} loaded")
        _orig_run(self)

    _worker.ShardWorker.run = _slow_run  # type: ignore[method-assign]
