"""Single-process tests of ipc.ring: framing, wrap-around, backpressure, Sender/Receiver."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc.doorbell import Doorbell
from ipc.ring import HEADER_SIZE, Receiver, Ring, RingCorrupted, Sender

CAP = 4096


def make_ring(capacity: int = CAP, offset: int = 0) -> tuple[bytearray, Ring]:
    buf = bytearray(offset + Ring.required_size(capacity))
    return buf, Ring(buf, offset, capacity, init=True)


def frame_cost(n: int) -> int:
    return 8 + ((n + 7) & ~7)


def test_required_size_and_validation() -> None:
    assert Ring.required_size(4096) == HEADER_SIZE + 4096
    for bad in (0, 2048, 5000, 4097):
        with pytest.raises(ValueError):
            Ring.required_size(bad)
    with pytest.raises(ValueError):
        Ring(bytearray(8192), 4, 4096, init=True)  # misaligned
    with pytest.raises(ValueError):
        Ring(bytearray(4096), 0, 4096, init=True)  # no room for the header


def test_roundtrip_flags_and_counters() -> None:
    _, r = make_ring()
    assert r.read_frame() is None
    assert r.try_write(b"hello")
    assert r.try_write(b"", more=True)
    assert r.try_write(bytearray(b"x" * 9))
    assert r.used() == frame_cost(5) + frame_cost(0) + frame_cost(9)
    assert r.free() == CAP - r.used()
    assert r.read_frame() == (b"hello", False)
    assert r.read_frame() == (b"", True)
    payload, more = r.read_frame()  # type: ignore[misc]
    assert type(payload) is bytes and payload == b"x" * 9 and not more
    assert r.read_frame() is None
    assert (r.frames_written, r.frames_read, r.full_events) == (3, 3, 0)
    assert r.used() == 0


def test_attach_existing_ring_at_offset() -> None:
    buf, producer = make_ring(offset=192)
    consumer = Ring(buf, 192, CAP, init=False)
    producer.try_write(b"abc")
    assert consumer.read_frame() == (b"abc", False)
    # Attaching with the wrong capacity is caught by the header's capacity word.
    other = bytearray(Ring.required_size(8192))
    Ring(other, 0, CAP, init=True)
    with pytest.raises(ValueError):
        Ring(other, 0, 8192, init=False)


def test_oversized_frame_is_rejected() -> None:
    _, r = make_ring()
    assert r.max_chunk == CAP // 4
    assert r.try_write(b"a" * r.max_chunk)
    with pytest.raises(ValueError):
        r.try_write(b"a" * (r.max_chunk + 1))


def test_wrap_around_with_padding() -> None:
    _, r = make_ring()
    rng = random.Random(7)
    expected: list[bytes] = []
    pads = 0
    written = 0
    while written < 20_000:
        # Keep the ring partially full so frames land at every position.
        while True:
            n = rng.randrange(0, r.max_chunk + 1)
            msg = rng.randbytes(n)
            before = r.free()
            if not r.try_write(msg):
                break
            if before - r.free() > frame_cost(n):
                pads += 1
            expected.append(msg)
            written += 1
        for _ in range(rng.randrange(1, 6)):
            frame = r.read_frame()
            if frame is None:
                break
            assert frame == (expected.pop(0), False)
    while (frame := r.read_frame()) is not None:
        assert frame == (expected.pop(0), False)
    assert not expected
    assert pads > 500
    assert r.frames_read == r.frames_written == written
    assert r.used() == 0


def test_exact_fit_at_end_needs_no_padding() -> None:
    _, r = make_ring()
    # Advance the tail to 24 bytes before the end, then write a frame that exactly
    # fills those 24 bytes.
    for chunk in (b"z" * (r.max_chunk - 8),) * 3 + (b"w" * 992,):
        assert r.try_write(chunk)
        assert r.read_frame() == (chunk, False)
    assert 3 * frame_cost(r.max_chunk - 8) + frame_cost(992) == CAP - 24
    before = r.free()
    assert r.try_write(b"0123456789abcdef")  # 8 + 16 = 24 bytes: lands exactly at the end
    assert before - r.free() == 24
    assert r.read_frame() == (b"0123456789abcdef", False)
    assert r.try_write(b"next")
    assert r.read_frame() == (b"next", False)


def test_full_ring_never_writes_partially() -> None:
    _, r = make_ring()
    msg = b"m" * 1000
    count = 0
    while r.try_write(msg):
        count += 1
    assert count == CAP // frame_cost(1000)
    used = r.used()
    assert r.full_events == 1
    assert not r.try_write(b"x" * 100)
    assert r.full_events == 2 and r.used() == used
    assert r.try_write(b"y" * (r.free() - 8))  # what is left still fits exactly
    assert not r.try_write(b"")
    assert r.read_frame() == (msg, False)
    assert r.try_write(b"after")  # consumer made room
    for _ in range(count - 1):
        assert r.read_frame() == (msg, False)
    payload, _ = r.read_frame()  # type: ignore[misc]
    assert set(payload) == {ord("y")}
    assert r.read_frame() == (b"after", False)
    assert r.read_frame() is None


def test_full_when_padding_fits_but_frame_does_not() -> None:
    _, r = make_ring()
    big = b"b" * (r.max_chunk - 8)  # frame cost = max_chunk
    for _ in range(3):
        assert r.try_write(big)
    # 3 * 1024 used, tail at 3072; make 1024 bytes free at the start by reading one.
    assert r.read_frame() == (big, False)
    free_before, used_before = r.free(), r.used()
    # 1024 contiguous bytes remain at the end: a 1032-byte frame needs padding
    # (1024) + itself (1032) > free (2048)? No: 2056 > 2048, so it must fail.
    assert not r.try_write(b"c" * 1024)
    assert (r.free(), r.used()) == (free_before, used_before)
    # Consumer sees only whole frames that were written.
    assert r.read_frame() == (big, False)
    assert r.read_frame() == (big, False)
    assert r.read_frame() is None
    assert r.try_write(b"c" * 1024)
    assert r.read_frame() == (b"c" * 1024, False)


def test_reset() -> None:
    buf, r = make_ring()
    for _ in range(5):
        r.try_write(b"abc")
    r.consumer_waiting_space = 1
    r.reset()
    assert r.used() == 0 and r.free() == CAP
    assert r.read_frame() is None
    assert r.consumer_waiting_space == 0
    assert r.frames_written == 5  # statistics survive a reset
    assert r.try_write(b"fresh")
    assert Ring(buf, 0, CAP, init=False).read_frame() == (b"fresh", False)


def test_corrupt_header_detected() -> None:
    buf, r = make_ring()
    r.try_write(b"abc")
    buf[HEADER_SIZE : HEADER_SIZE + 4] = (CAP).to_bytes(4, "little")
    with pytest.raises(RingCorrupted):
        r.read_frame()


def test_release_allows_closing_the_buffer() -> None:
    import mmap

    m = mmap.mmap(-1, Ring.required_size(CAP))
    r = Ring(m, 0, CAP, init=True)
    r.try_write(b"x")
    with pytest.raises(BufferError):
        m.close()
    r.release()
    m.close()


# ---- Sender / Receiver ---------------------------------------------------------


def test_sender_receiver_fragmentation_single_thread() -> None:
    _, r = make_ring()
    tx, rx = Sender(r), Receiver(r)
    big = random.Random(1).randbytes(3 * CAP + 123)  # far larger than the ring
    assert not tx.send(big)
    assert 0 < tx.pending_bytes < len(big)
    got: list[bytes] = []
    while True:
        got += rx.poll()
        if tx.pump():
            break
    assert tx.pending_bytes == 0
    got += rx.poll()
    assert got == [big]


def test_sender_accepts_any_bytes_like() -> None:
    _, r = make_ring()
    tx, rx = Sender(r), Receiver(r)
    import array

    words = array.array("I", range(600))  # 2400 bytes, itemsize 4, > max_chunk
    assert tx.send(memoryview(b"abc").cast("c"))
    assert tx.send(words)
    assert tx.send(bytearray(b"ba"))
    assert rx.poll() == [b"abc", words.tobytes(), b"ba"]


def test_receiver_limit_keeps_partial_message() -> None:
    _, r = make_ring()
    tx, rx = Sender(r), Receiver(r)
    msgs = [b"a", b"b" * 2500, b"c", b"d" * 1500]
    for m in msgs:
        assert tx.send(m)
    assert rx.poll(limit=1) == [b"a"]
    assert rx.poll(limit=2) == [b"b" * 2500, b"c"]
    # Hand-feed half of a fragmented message: it must survive between polls.
    assert rx.poll(limit=0) == []
    assert rx.poll() == [b"d" * 1500]
    assert r.try_write(b"part1-", more=True)
    assert rx.poll() == []
    assert r.try_write(b"part2")
    assert rx.poll() == [b"part1-part2"]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3 * CAP), min_size=1, max_size=40),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_sender_receiver_never_drop_or_reorder(sizes: list[int], seed: int) -> None:
    _, r = make_ring()
    tx, rx = Sender(r), Receiver(r)
    rng = random.Random(seed)
    msgs = [rng.randbytes(n) for n in sizes]
    got: list[bytes] = []
    for m in msgs:
        tx.send(m)
        if rng.random() < 0.5:
            got += rx.poll(limit=rng.choice([None, 1, 3]))
    while True:
        done = tx.pump()
        got += rx.poll()
        if done and r.used() == 0:
            break
    got += rx.poll()
    assert got == msgs


def test_fragmented_messages_with_concurrent_consumer() -> None:
    """Messages bigger than the ring stream through while a thread drains it."""
    _, r = make_ring()
    data_bell, space_bell = Doorbell(), Doorbell()
    rng = random.Random(3)
    msgs = [rng.randbytes(rng.choice([10, 900, CAP + 5, 5 * CAP])) for _ in range(200)]
    got: list[bytes] = []
    rx = Receiver(r)

    def consume() -> None:
        deadline = time.monotonic() + 20
        while len(got) < len(msgs) and time.monotonic() < deadline:
            before = r.frames_read
            got.extend(rx.poll())
            # Ring on consumed *frames*, not complete messages: draining the first
            # fragments of a huge message is exactly what the producer waits for.
            if r.frames_read != before:
                space_bell.ring()
            else:
                data_bell.wait(0.05)

    t = threading.Thread(target=consume)
    t.start()
    try:
        tx = Sender(r)
        deadline = time.monotonic() + 20
        for m in msgs:
            ok = tx.send(m)
            data_bell.ring()
            while not ok and time.monotonic() < deadline:
                space_bell.wait(0.05)
                ok = tx.pump()
                data_bell.ring()
            assert ok
    finally:
        t.join(25)
    assert not t.is_alive()
    assert got == msgs
    assert r.full_events > 0
    data_bell.close()
    space_bell.close()
