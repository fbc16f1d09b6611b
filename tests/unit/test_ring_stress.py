"""Multi-process stress test: 2,000,000 messages through a Channel to a forked consumer.

The consumer sleeps in ``Doorbell.wait`` whenever the ring is empty (no spinning);
the producer sleeps on the reply bell when the ring is full, using the ring's
``consumer_waiting_space`` flag so the consumer only rings back when asked.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import struct
import time
import zlib

from ipc.channel import Channel
from ipc.ring import Receiver, Sender

N_MESSAGES = int(os.environ.get("STRESS_N", 2_000_000))
CAPACITY = 1 << 16  # small ring: many wraps, pads, full events and fragments
TIME_LIMIT = 40.0
HDR = struct.Struct("<QI")  # sequence number, crc32 of the body seeded with seq

# Size schedule shared by producer and consumer (the child inherits it via fork).
# Mostly small, some medium, a few larger than max_chunk and than the whole ring.
_rng = random.Random(12345)
SIZES = [
    _rng.choice(
        [_rng.randrange(0, 64)] * 6 + [_rng.randrange(64, 400)] * 3 + [_rng.randrange(400, 4000)]
    )
    for _ in range(4999)
]
for i in range(0, len(SIZES), 1250):
    SIZES[i] = _rng.choice([CAPACITY // 4 + 1, 40_000, CAPACITY + 777, 3 * CAPACITY])
BLOB = _rng.randbytes(4 * CAPACITY)
END = b"END"  # shorter than HDR, so it can never be mistaken for a data message


def body(seq: int) -> bytes:
    n = SIZES[seq % len(SIZES)]
    off = (seq * 7919) % (len(BLOB) - n)
    return BLOB[off : off + n]


def consumer(ch: Channel, result_fd: int) -> int:
    """Child: verify order, count and checksums; report JSON on ``result_fd``."""
    ring = ch.requests
    rx = Receiver(ring)
    crc32 = zlib.crc32
    unpack = HDR.unpack_from
    nsizes = len(SIZES)
    expected = 0
    waits = 0
    error = None
    deadline = time.monotonic() + TIME_LIMIT + 10
    done = False
    while not done and error is None:
        msgs = rx.poll()
        # Check after every poll (not only when messages completed): consuming the
        # first fragments of a huge message is what a blocked producer waits for.
        if ring.consumer_waiting_space:
            ring.consumer_waiting_space = 0
            ch.rep_bell.ring()
        if not msgs:
            waits += 1
            if not ch.req_bell.wait(1.0) and (time.monotonic() > deadline or os.getppid() == 1):
                error = f"timed out waiting for message {expected}"
            continue
        for m in msgs:
            if m == END:
                done = True
                break
            seq, crc = unpack(m)
            if seq != expected:
                error = f"expected seq {expected}, got {seq}"
                break
            if len(m) - 12 != SIZES[seq % nsizes] or crc32(memoryview(m)[12:], seq) != crc:
                error = f"corrupt message {seq} (len {len(m)})"
                break
            expected += 1
    if done and expected != N_MESSAGES:
        error = f"END after {expected} messages"
    report = {"ok": error is None, "count": expected, "waits": waits, "error": error}
    os.write(result_fd, json.dumps(report).encode())
    return 0 if error is None else 1


def test_two_million_messages_across_processes() -> None:
    ch = Channel.create(0, capacity=CAPACITY)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            os.close(rfd)
            code = consumer(ch, wfd)
        finally:
            os._exit(code)
    os.close(wfd)
    start = time.monotonic()
    deadline = start + TIME_LIMIT
    try:
        ring = ch.requests
        sender = Sender(ring)
        send = sender.send
        pack = HDR.pack
        crc32 = zlib.crc32
        ring_bell = ch.req_bell.ring

        def wait_for_space() -> None:
            nonlocal pid
            while True:
                ring.consumer_waiting_space = 1
                done = sender.pump()  # re-check after raising the flag: no lost wake-up
                # Ring even when not done: a failed pump may still have pushed some
                # fragments, and the consumer may be asleep waiting for exactly those.
                ring_bell()
                if done:
                    return
                # Timeout: the flag store and the consumer's head load are not ordered
                # against each other on x86, so a wake-up can rarely be missed.
                ch.rep_bell.wait(0.005)
                assert time.monotonic() < deadline, f"producer timed out: {ring!r}"
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    pid = 0  # reaped: nothing to kill in teardown
                    raise AssertionError("consumer died: " + os.read(rfd, 65536).decode())

        for seq in range(N_MESSAGES):
            b = body(seq)
            if not send(pack(seq, crc32(b, seq)) + b):
                wait_for_space()
            if seq & 127 == 127:
                ring_bell()
        if not send(END):
            wait_for_space()
        ring_bell()
        produced = time.monotonic() - start

        report = b""
        while True:
            ready, _, _ = select.select([rfd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "consumer did not report in time"
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            report += chunk
        _, status = os.waitpid(pid, 0)
        pid = 0
        elapsed = time.monotonic() - start
        result = json.loads(report)
        print(
            f"\n{N_MESSAGES} msgs: produced in {produced:.1f}s, verified in {elapsed:.1f}s "
            f"({elapsed / N_MESSAGES * 1e6:.2f} us/msg); full_events={ring.full_events} "
            f"frames={ring.frames_read} consumer waits={result['waits']}"
        )
        assert result["ok"], result["error"]
        assert result["count"] == N_MESSAGES
        assert os.waitstatus_to_exitcode(status) == 0
        assert ring.used() == 0
        assert ring.full_events > 0  # backpressure really happened
        assert ring.frames_read == ring.frames_written > N_MESSAGES  # fragments too
        assert elapsed < TIME_LIMIT
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(rfd)
        ch.close()
