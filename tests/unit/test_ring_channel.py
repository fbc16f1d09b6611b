"""Tests of ipc.channel: layout, both directions across fork, reset, close."""

from __future__ import annotations

import os
import signal

from ipc.channel import Channel
from ipc.ring import Receiver, Sender


def test_channel_layout_and_reset() -> None:
    ch = Channel.create(3, capacity=1 << 14)
    try:
        assert ch.index == 3
        assert ch.requests.capacity == ch.replies.capacity == 1 << 14
        assert ch.region.size >= 2 * (128 + (1 << 14))
        assert not [e for e in os.listdir("/dev/shm") if f".{os.getpid()}.ch3." in e]
        ch.requests.try_write(b"req")
        ch.replies.try_write(b"rep")
        ch.req_bell.ring()
        ch.reset()
        assert ch.requests.used() == ch.replies.used() == 0
        assert not ch.req_bell.wait(0)
        assert ch.requests.try_write(b"again")
        assert ch.requests.read_frame() == (b"again", False)
    finally:
        ch.close()


def test_channel_round_trip_across_fork() -> None:
    ch = Channel.create(0, capacity=1 << 12)
    pid = os.fork()
    if pid == 0:  # shard side: echo requests reversed until an empty message
        code = 1
        try:
            rx, tx = Receiver(ch.requests), Sender(ch.replies)
            while True:
                msgs = rx.poll()
                if not msgs:
                    if not ch.req_bell.wait(10):
                        break
                    continue
                for m in msgs:
                    # Never full here: the front waits for each reply before sending on.
                    if not tx.send(m[::-1]):
                        break
                ch.rep_bell.ring()
                if msgs[-1] == b"":
                    code = 0
                    break
        finally:
            os._exit(code)
    try:
        tx, rx = Sender(ch.requests), Receiver(ch.replies)
        sent = [os.urandom(n) for n in (1, 50, 900, 3000)] + [b""]
        got: list[bytes] = []
        for i, m in enumerate(sent):
            assert tx.send(m)
            ch.req_bell.ring()
            while len(got) <= i:
                got += rx.poll()
                if len(got) <= i:
                    assert ch.rep_bell.wait(10)
        assert got == [m[::-1] for m in sent]
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        ch.close()
