"""Tests of ipc.doorbell: ring/wait/drain, timeouts, EINTR, cross-process wake-ups."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ipc.doorbell import Doorbell


@pytest.fixture
def bell():
    b = Doorbell()
    yield b
    b.close()


def test_ring_then_wait_returns_immediately(bell: Doorbell) -> None:
    bell.ring()
    t = time.monotonic()
    assert bell.wait(5.0)
    assert time.monotonic() - t < 0.5
    assert bell.drain() == 0  # wait() drained it


def test_rings_coalesce_and_drain_counts(bell: Doorbell) -> None:
    assert bell.drain() == 0
    for _ in range(3):
        bell.ring()
    assert bell.drain() == 3
    assert bell.drain() == 0


def test_wait_timeout(bell: Doorbell) -> None:
    assert not bell.wait(0)
    t = time.monotonic()
    assert not bell.wait(0.05)
    assert 0.04 <= time.monotonic() - t < 1.0


def test_wait_survives_signals(bell: Doorbell) -> None:
    hits: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: hits.append(1))
    timers = [threading.Timer(d, os.kill, (os.getpid(), signal.SIGUSR1)) for d in (0.02, 0.05)]
    try:
        for tm in timers:
            tm.start()
        t = time.monotonic()
        assert not bell.wait(0.15)  # interrupted twice, still honours the timeout
        assert time.monotonic() - t >= 0.14
        assert len(hits) == 2
    finally:
        for tm in timers:
            tm.cancel()
        signal.signal(signal.SIGUSR1, old)


def test_ring_from_thread_wakes_blocking_wait(bell: Doorbell) -> None:
    threading.Timer(0.05, bell.ring).start()
    assert bell.wait(None)


def test_fork_inherits_bell(bell: Doorbell) -> None:
    back = Doorbell()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if bell.wait(10):  # woken by the parent
                back.ring()
                code = 0
        finally:
            os._exit(code)
    try:
        time.sleep(0.02)
        bell.ring()
        assert back.wait(10)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        back.close()


def test_fileno_and_close() -> None:
    b = Doorbell()
    fd = b.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert not os.get_inheritable(fd)  # CLOEXEC
    b.close()
    b.close()
    with pytest.raises(OSError):
        os.fstat(fd)
