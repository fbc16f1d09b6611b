"""Fault injection for test_lifecycle, active only when SHARDSERVER_TEST_START_DELAY is set.

Put on PYTHONPATH of a server under test, it makes the front's ``start()`` wait
that many seconds after it is listening (and has told the supervisor it is
ready), so that a signal deterministically lands while the front is still
starting.  Nothing else changes.
"""

import os

if os.environ.get("SHARDSERVER_TEST_START_DELAY"):
    import asyncio

    from shardserver import log
    from shardserver.front import server as _server

    _orig_start = _server.Front.start

    async def _delayed_start(self: _server.Front) -> None:
        await _orig_start(self)
        log.warning("TEST-INJECT: front start() delayed")
        await asyncio.sleep(float(os.environ["SHARDSERVER_TEST_START_DELAY"]))
        log.warning("TEST-INJECT: front start() done")

    _server.Front.start = _delayed_start  # type: ignore[method-assign]
