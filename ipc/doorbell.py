"""Cross-process wake-up signal built on a Linux eventfd.

Ownership rule: a Doorbell is created before fork and inherited by the processes
that use it; by convention one side rings and one side waits. The eventfd is a
counter, so a ring that happens before the waiter sleeps is not lost: the next
``wait`` returns at once. Each process closes its own copy of the fd.
"""

from __future__ import annotations

import math
import os
import select
import time

# Nothing but readability is ever awaited; keep the mask in one place.
_POLL_READ = select.POLLIN | select.POLLERR | select.POLLHUP


class Doorbell:
    """Non-blocking eventfd wrapper: ``ring`` never blocks, ``wait`` blocks in poll()."""

    __slots__ = ("_fd", "_poller")

    def __init__(self) -> None:
        # CLOEXEC: fork keeps the fd (that is how workers get it); exec'd helpers don't.
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._fd, _POLL_READ)

    def fileno(self) -> int:
        """The eventfd, e.g. for ``loop.add_reader``."""
        return self._fd

    def ring(self) -> None:
        """Wake the waiter (cheap; rings coalesce)."""
        try:
            os.eventfd_write(self._fd, 1)
        except BlockingIOError:
            # Counter at its maximum: the waiter is already due to wake up.
            pass

    def drain(self) -> int:
        """Reset the counter without blocking; returns the number of rings (0 if none)."""
        try:
            return os.eventfd_read(self._fd)
        except BlockingIOError:
            return 0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until rung or ``timeout`` seconds pass; True if rung (and drained).

        A False return can also mean another waiter drained the bell first, so
        callers must re-check their condition either way.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                ms = -1
            else:
                # Round up: a small positive timeout must not become a 0 ms busy poll.
                ms = max(0, math.ceil((deadline - time.monotonic()) * 1000))
            try:
                ready = self._poller.poll(ms)
            except InterruptedError:
                # Python retries EINTR itself (PEP 475); kept so an older or patched
                # runtime still honours the deadline instead of failing.
                continue
            if not ready:
                return False
            return self.drain() > 0

    def close(self) -> None:
        """Close this process's copy of the fd (idempotent)."""
        if self._fd >= 0:
            self._poller.unregister(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return f"Doorbell(fd={self._fd})"
