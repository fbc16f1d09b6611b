"""Single-producer single-consumer byte ring in a shared buffer.

Ownership rule: exactly one process is the producer of a ring (it alone calls
``try_write``/``free`` and stores the tail and producer counters) and exactly one
process is its consumer (it alone calls ``read_frame``/``used`` and stores the
head and consumer counters). ``reset`` may be called by either side, but only
when the other side is known to be dead. The ring moves opaque bytes; it knows
nothing about what they mean.

Layout at ``offset`` in ``buf`` (all u64 fields native-endian, 8-byte aligned):

    line 0 (bytes   0..63, written by the producer): tail, frames_written,
           full_events, capacity (sanity check for attachers)
    line 1 (bytes 64..127, written by the consumer): head, frames_read,
           consumer_waiting_space (a rarely written flag; the wake-up protocol
           using it decides who sets and clears it), consumer_sleeping (set by
           a consumer about to block on its doorbell, see ``prepare_sleep``)
    data   (bytes 128..128+capacity)

``head``/``tail`` are monotonically increasing byte counters (position is
``counter & (capacity - 1)``); ``tail - head`` is the number of bytes in use.
Each frame is an 8-byte header (u32 length | u32 flags << 32, stored as one
native u64, i.e. u32 length then u32 flags in memory on little-endian x86) followed by the payload padded to 8 bytes. A frame never wraps: if
it does not fit before the end of the data area, a PAD header is written and the
frame starts at the next lap.

Memory ordering: aligned 8-byte loads/stores through a ``memoryview.cast('Q')``
are single machine instructions, hence atomic (no torn indexes, unlike
``struct.pack_into``), and x86-64 (TSO) keeps stores in program order and loads
in program order. So the producer copies payload and header *then* stores the
tail, and the consumer loads the tail, copies the payload, *then* stores the
head. This relies on x86-64 ordering; a weakly ordered CPU would need fences.
"""

from __future__ import annotations

import mmap
from collections import deque

# u64 slot indexes into the header. Producer and consumer fields live on
# different 64-byte cache lines so the two cores do not fight over one line.
_TAIL = 0
_FRAMES_WRITTEN = 1
_FULL_EVENTS = 2
_CAPACITY = 3
_HEAD = 8
_FRAMES_READ = 9
_WAITING = 10
_SLEEPING = 11

try:
    from ipc._fence import fence as _fence
except ImportError:  # no C helper: producers always ring the doorbell
    _fence = None

HEADER_SIZE = 128
FRAME_HEADER = 8
MIN_CAPACITY = 4096

FLAG_MORE = 0x1
# A PAD frame means "nothing more in this lap": the reader skips to position 0.
FLAG_PAD = 0x8000_0000
_MORE_WORD = FLAG_MORE << 32
_PAD_WORD = FLAG_PAD << 32
_LEN_MASK = 0xFFFF_FFFF


# Anything exposing a writable flat byte buffer; in production an mmap of a SharedRegion.
WritableBuffer = mmap.mmap | bytearray | memoryview


class RingCorrupted(RuntimeError):
    """The consumer found a frame header that cannot be valid."""


class Ring:
    """SPSC ring of length-prefixed frames (see module docstring for the layout)."""

    __slots__ = ("capacity", "offset", "_mask", "_max_chunk", "_hdr", "_data", "_words")

    @staticmethod
    def required_size(capacity: int) -> int:
        """Bytes of ``buf`` a ring of ``capacity`` data bytes occupies."""
        Ring._check_capacity(capacity)
        return HEADER_SIZE + capacity

    @staticmethod
    def _check_capacity(capacity: int) -> None:
        if capacity < MIN_CAPACITY or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two >= {MIN_CAPACITY}: {capacity}")

    def __init__(self, buf: WritableBuffer, offset: int, capacity: int, init: bool) -> None:
        self._check_capacity(capacity)
        if offset % 8:
            # Misaligned u64 slots would lose store atomicity.
            raise ValueError("offset must be 8-byte aligned (64 recommended)")
        mv = memoryview(buf)
        end = offset + HEADER_SIZE + capacity
        if mv.ndim != 1 or mv.itemsize != 1 or len(mv) < end:
            raise ValueError("buffer too small or not a flat byte buffer")
        self.capacity = capacity
        self.offset = offset
        self._mask = capacity - 1
        # With frames of at most capacity/4 (+ header), an empty ring always has room
        # for one frame wherever its position is, so a writer can never starve.
        self._max_chunk = capacity // 4
        self._hdr = mv[offset : offset + HEADER_SIZE].cast("Q")
        self._data = mv[offset + HEADER_SIZE : end]
        self._words = self._data.cast("Q")
        hdr = self._hdr
        if init:
            for i in range(HEADER_SIZE // 8):
                hdr[i] = 0
            hdr[_CAPACITY] = capacity
        elif hdr[_CAPACITY] != capacity:
            raise ValueError(f"ring at offset {offset} has capacity {hdr[_CAPACITY]}")

    # ---- producer side -------------------------------------------------------

    @property
    def max_chunk(self) -> int:
        """Largest payload ``try_write`` accepts in one frame."""
        return self._max_chunk

    def free(self) -> int:
        """Bytes not in use (frame headers and padding count as used)."""
        hdr = self._hdr
        return self.capacity - (hdr[_TAIL] - hdr[_HEAD])

    def try_write(self, data: bytes | bytearray | memoryview, more: bool = False) -> bool:
        """Write one frame; False (and a full_event) if it does not fit. Never partial.

        ``data`` must be bytes, bytearray or a 1-D memoryview of format 'B'.
        """
        n = len(data)
        if n > self._max_chunk:
            raise ValueError(f"frame of {n} bytes exceeds max_chunk {self._max_chunk}")
        need = (n + 15) & ~7  # 8-byte header + payload rounded up to 8
        hdr = self._hdr
        tail = hdr[_TAIL]
        cap = self.capacity
        free = cap - (tail - hdr[_HEAD])
        pos = tail & self._mask
        if pos + need > cap:
            pad = cap - pos
            if pad + need > free:
                hdr[_FULL_EVENTS] += 1
                return False
            # Only pad when the frame is sure to fit too, so a failed write leaves
            # the ring untouched. The PAD header is published with this frame's tail.
            self._words[pos >> 3] = _PAD_WORD
            tail += pad
            pos = 0
        elif need > free:
            hdr[_FULL_EVENTS] += 1
            return False
        start = pos + 8
        self._data[start : start + n] = data
        self._words[pos >> 3] = n | _MORE_WORD if more else n
        hdr[_FRAMES_WRITTEN] += 1
        hdr[_TAIL] = tail + need  # publish: must be the last store
        return True

    # ---- consumer side -------------------------------------------------------

    def used(self) -> int:
        """Bytes in use (ring depth, including frame headers and padding)."""
        hdr = self._hdr
        return hdr[_TAIL] - hdr[_HEAD]

    def read_frame(self) -> tuple[bytes, bool] | None:
        """Consume one frame: ``(payload copy, more flag)``, or None if empty."""
        hdr = self._hdr
        head = hdr[_HEAD]
        while head != hdr[_TAIL]:
            pos = head & self._mask
            word = self._words[pos >> 3]
            if word & _PAD_WORD:
                head += self.capacity - pos
                hdr[_HEAD] = head
                continue
            n = word & _LEN_MASK
            start = pos + 8
            if start + n > self.capacity:
                raise RingCorrupted(f"frame length {n} at position {pos}")
            payload = self._data[start : start + n].tobytes()
            hdr[_FRAMES_READ] += 1
            hdr[_HEAD] = head + ((n + 15) & ~7)  # release the space: after the copy
            return payload, bool(word & _MORE_WORD)
        return None

    def read_frames(self, out: list[tuple[bytes, bool]], limit: int) -> int:
        """Consume up to ``limit`` frames into ``out``; returns how many.

        Same as calling ``read_frame`` in a loop, but the head is stored once at
        the end (fewer shared-memory stores and less Python call overhead).
        """
        hdr = self._hdr
        words = self._words
        data = self._data
        mask = self._mask
        cap = self.capacity
        head = hdr[_HEAD]
        tail = hdr[_TAIL]
        count = 0
        while count < limit:
            if head == tail:
                tail = hdr[_TAIL]  # refresh once before giving up
                if head == tail:
                    break
            pos = head & mask
            word = words[pos >> 3]
            if word & _PAD_WORD:
                head += cap - pos
                continue
            n = word & _LEN_MASK
            start = pos + 8
            if start + n > cap:
                raise RingCorrupted(f"frame length {n} at position {pos}")
            out.append((data[start : start + n].tobytes(), bool(word & _MORE_WORD)))
            head += (n + 15) & ~7
            count += 1
        if head != hdr[_HEAD]:
            if count:
                hdr[_FRAMES_READ] += count
            hdr[_HEAD] = head
        return count

    # ---- shared --------------------------------------------------------------

    def reset(self) -> None:
        """Empty the ring. Only when the other side is known dead (not concurrent-safe)."""
        hdr = self._hdr
        hdr[_HEAD] = 0
        hdr[_TAIL] = 0
        hdr[_WAITING] = 0
        hdr[_SLEEPING] = 0

    # ---- wake-up protocol ------------------------------------------------------
    # Consumer: ``if ring.prepare_sleep(): bell.wait(...)`` then ``ring.end_sleep()``.
    # Producer: after publishing, ``if ring.needs_wake(): bell.ring()``.  With the
    # fence on both sides (Dekker), either the consumer sees the new frame or
    # the producer sees the flag, so a doorbell ring is skipped only while the
    # consumer is awake and will look at the ring again.

    def prepare_sleep(self) -> bool:
        """Consumer: announce sleeping; True if the ring is still empty (safe to block)."""
        hdr = self._hdr
        hdr[_SLEEPING] = 1
        if _fence is not None:
            _fence()
        return bool(hdr[_TAIL] == hdr[_HEAD])

    def end_sleep(self) -> None:
        """Consumer: awake again (producers may skip the doorbell)."""
        self._hdr[_SLEEPING] = 0

    def needs_wake(self) -> bool:
        """Producer, after publishing frames: must the consumer's doorbell be rung?"""
        if _fence is None:
            return True
        _fence()
        return bool(self._hdr[_SLEEPING])

    @property
    def full_events(self) -> int:
        """Times a write did not fit (backpressure events)."""
        return self._hdr[_FULL_EVENTS]

    @property
    def frames_written(self) -> int:
        return self._hdr[_FRAMES_WRITTEN]

    @property
    def frames_read(self) -> int:
        return self._hdr[_FRAMES_READ]

    @property
    def consumer_waiting_space(self) -> int:
        """Free-form u64 flag word for wake-up protocols (the ring never reads it).

        Intended use: the producer sets it before sleeping on "ring is full"; the
        consumer, after freeing space, clears it and rings the producer's bell.
        Setting a flag and then reading the other side's index is a store->load
        pattern that x86 may reorder, so the sleeper must use a wait timeout.
        """
        return self._hdr[_WAITING]

    @consumer_waiting_space.setter
    def consumer_waiting_space(self, value: int) -> None:
        self._hdr[_WAITING] = value

    # Producer blocked on a full ring: ``want_space()``, then try to write again;
    # the consumer, after reading, calls ``space_wanted()`` and if True rings the
    # producer.  Fenced on both sides (Dekker), so either the producer's retry
    # finds room or the consumer sees the flag.
    def want_space(self) -> None:
        """Producer: ask to be woken when the consumer frees space."""
        self._hdr[_WAITING] = 1
        if _fence is not None:
            _fence()

    def space_wanted(self) -> bool:
        """Consumer, after reading: True (and the flag cleared) if the producer waits for room."""
        if _fence is not None:
            _fence()
        if self._hdr[_WAITING]:
            self._hdr[_WAITING] = 0
            return True
        return False

    def release(self) -> None:
        """Drop this object's views of the buffer (so the mmap can be closed)."""
        self._words.release()
        self._data.release()
        self._hdr.release()

    def __repr__(self) -> str:
        hdr = self._hdr
        return (
            f"Ring(capacity={self.capacity}, head={hdr[_HEAD]}, tail={hdr[_TAIL]}, "
            f"full_events={hdr[_FULL_EVENTS]})"
        )


class Sender:
    """Message-level, non-blocking producer on a :class:`Ring`.

    Ownership rule: one Sender per ring, in the ring's producer process. Messages
    are queued locally when the ring is full and pushed in order by later
    ``send``/``pump`` calls; nothing is ever dropped or reordered. Messages larger
    than ``max_chunk`` go out as several frames, all but the last flagged MORE.

    Note for wake-up protocols: a ``send``/``pump`` that returns False may still
    have pushed some frames, so wake the consumer after every call, not only
    after successful ones.
    """

    __slots__ = ("ring", "_queue", "_offset", "_pending", "_chunk")

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self._queue: deque[memoryview] = deque()
        self._offset = 0  # bytes of _queue[0] already in the ring
        self._pending = 0
        self._chunk = ring.max_chunk

    @property
    def pending_bytes(self) -> int:
        """Payload bytes queued locally, not yet in the ring."""
        return self._pending

    def send(self, msg: bytes | bytearray | memoryview) -> bool:
        """Queue ``msg`` and push what fits; True if nothing is left queued.

        The caller must not mutate ``msg`` while it may still be queued.
        """
        if type(msg) is not bytes and type(msg) is not bytearray:
            # Byte-count lengths and slice assignment into the ring need format 'B'.
            msg = memoryview(msg).cast("B")
        # Fast path: nothing queued ahead of us and it fits in one frame.
        if not self._queue and len(msg) <= self._chunk and self.ring.try_write(msg):
            return True
        mv = memoryview(msg)
        self._queue.append(mv)
        self._pending += len(mv)
        return self.pump()

    def pump(self) -> bool:
        """Push queued data into the ring; True if the queue is now empty."""
        queue = self._queue
        ring = self.ring
        chunk = self._chunk
        while queue:
            mv = queue[0]
            off = self._offset
            rest = len(mv) - off
            if rest > chunk:
                if not ring.try_write(mv[off : off + chunk], True):
                    return False
                self._offset = off + chunk
                self._pending -= chunk
                continue
            if not ring.try_write(mv[off:] if off else mv, False):
                return False
            queue.popleft()
            self._offset = 0
            self._pending -= rest
        return True

    def clear(self) -> None:
        """Drop everything queued (after ``Ring.reset`` when the consumer died)."""
        self._queue.clear()
        self._offset = 0
        self._pending = 0


class Receiver:
    """Message-level consumer on a :class:`Ring`: reassembles MORE fragments.

    Ownership rule: one Receiver per ring, in the ring's consumer process. A
    partially received message is kept across ``poll`` calls.

    Note for wake-up protocols: ``poll`` can free ring space yet return ``[]``
    (it consumed leading fragments of a large message). Decide whether to wake a
    blocked producer from ``ring.frames_read`` / ``ring.consumer_waiting_space``,
    not from the returned list.
    """

    __slots__ = ("ring", "_parts", "_frames")

    # Frames fetched per ring access; bounds the work done before yielding.
    BATCH = 256

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self._parts: list[bytes] = []
        self._frames: list[tuple[bytes, bool]] = []

    def poll(self, limit: int | None = None) -> list[bytes]:
        """Return the complete messages now available (at most ``limit``)."""
        out: list[bytes] = []
        frames = self._frames
        parts = self._parts
        read_frames = self.ring.read_frames
        batch = self.BATCH
        while True:
            want = batch if limit is None else min(batch, limit - len(out))
            if want <= 0:
                break
            # When a limit is set, read at most one frame per missing message so no
            # complete message is left stranded in our local buffer.
            got = read_frames(frames, want)
            for payload, more in frames:
                if more:
                    parts.append(payload)
                elif parts:
                    parts.append(payload)
                    out.append(b"".join(parts))
                    parts.clear()
                else:
                    out.append(payload)
            frames.clear()
            if got < want:
                break  # ring was empty: do not pay for another look
        return out

    def clear(self) -> None:
        """Drop a partially received message (after ``Ring.reset``)."""
        self._parts.clear()
