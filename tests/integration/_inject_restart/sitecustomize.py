"""Fault injection for test_shardctl, active only when SHARDSERVER_TEST_RESTART_HELLO_DELAY is set.

Put on PYTHONPATH of a server under test, it makes a *restarted* shard wait
that many seconds before saying hello, so that the front reports it as
``restarting`` long enough for ``shardctl stats --watch`` to see it (a real
restart takes about 10 ms).  A shard's first start is not delayed: a marker
file per shard in the server's working directory tells the two apart.
"""

import os

if os.environ.get("SHARDSERVER_TEST_RESTART_HELLO_DELAY"):
    import time

    from shardserver import log
    from shardserver.shard import worker as _worker

    _orig_run = _worker.ShardWorker.run

    def _delayed_run(self: _worker.ShardWorker) -> None:
        marker = f".test-inject-shard{self.index}"
        if os.path.exists(marker):
            log.warning(f"TEST-INJECT: restarted shard {self.index} delays its hello")
            time.sleep(float(os.environ["SHARDSERVER_TEST_RESTART_HELLO_DELAY"]))
        else:
            open(marker, "w").close()
        _orig_run(self)

    _worker.ShardWorker.run = _delayed_run  # type: ignore[method-assign]
