"""Bit-level operations on string values, as Valkey's bitops.c defines them.

Ownership: pure functions over ``bytes``; no keyspace, no commands.  The
shard's bitmap handlers and the front's cross-shard BITOP use them.  Bit 0 is
the most significant bit of the first byte.  Work is done many bytes at a
time through ``int.from_bytes`` / ``int.bit_count`` and byte comparisons (C
speed), never a Python loop per bit; long ranges go by windows of
``SCAN_BYTES``, so no temporary is as large as the value.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

BITOPS = (b"and", b"or", b"xor", b"not")


def _bits_of(data: bytes, first_bit: int, last_bit: int) -> tuple[int, int, int]:
    """(int of the bytes covering the bit range, its width in bits, range mask)."""
    b0, b1 = first_bit >> 3, last_bit >> 3
    chunk = data[b0 : b1 + 1]
    width = len(chunk) * 8
    x = int.from_bytes(chunk, "big")
    lo = first_bit - b0 * 8
    hi = last_bit - b0 * 8
    mask = ((1 << (width - lo)) - 1) ^ ((1 << (width - 1 - hi)) - 1)
    return x, width, mask


# BITCOUNT and BITPOS work this many bytes at a time; BITPOS stops at the first
# window that holds the bit, and skips a window of only the other bit by one comparison.
SCAN_BYTES = 1 << 16


@functools.cache
def _other_bits(bit: int, size: int) -> bytes:
    """``size`` bytes holding only the bit that is not ``bit``."""
    return (b"\xff" if bit == 0 else b"\0") * size


def count_bits(data: bytes, first_bit: int, last_bit: int) -> int:
    """Set bits in the inclusive bit range (within ``data``)."""
    b0, b1 = first_bit >> 3, last_bit >> 3
    head = 0xFF >> (first_bit & 7)
    tail = (0xFF << (7 - (last_bit & 7))) & 0xFF
    if b0 == b1:
        return (data[b0] & head & tail).bit_count()
    return (data[b0] & head).bit_count() + popcount(data, b0 + 1, b1) + (data[b1] & tail).bit_count()


def py_popcount(data: bytes, start: int, end: int) -> int:
    """Set bits in bytes [start, end): a window at a time, no copy as large as the value."""
    step = SCAN_BYTES
    return sum(int.from_bytes(data[i : min(i + step, end)], "big").bit_count() for i in range(start, end, step))


try:
    from shardserver._speedups import popcount
except ImportError:  # built without the C helpers
    popcount = py_popcount


def _find_in(data: bytes, bit: int, first_bit: int, last_bit: int) -> int:
    x, width, mask = _bits_of(data, first_bit, last_bit)
    if bit == 0:
        x = ~x
    x &= mask
    if x == 0:
        return -1
    return (first_bit & ~7) + width - x.bit_length()


def find_bit(data: bytes, bit: int, first_bit: int, last_bit: int) -> int:
    """Position of the first bit equal to ``bit`` in the inclusive range, or -1.

    Window by window from the start, so the cost is the distance to the bit
    found (as Valkey's word-at-a-time scan), not the length of the range."""
    scan = SCAN_BYTES
    skip = _other_bits(bit, scan)
    start = first_bit
    while start <= last_bit:
        b0 = start >> 3
        end = min(last_bit, (b0 + scan) * 8 - 1)
        # a whole window of the other bit (tested on whole bytes: a superset of the range's bits)
        if not ((end >> 3) - b0 + 1 == scan and data[b0 : b0 + scan] == skip):
            pos = _find_in(data, bit, start, end)
            if pos >= 0:
                return pos
        start = end + 1
    return -1


def bitop(op: bytes, values: Sequence[bytes | None]) -> bytes:
    """BITOP of the sources (None: a missing key, an empty string) padded with zeros to the longest."""
    maxlen = max((len(v) for v in values if v), default=0)
    if maxlen == 0:
        return b""

    def num(v: bytes | None) -> int:
        if not v:
            return 0
        return int.from_bytes(v, "big") << (8 * (maxlen - len(v)))

    acc = num(values[0])
    if op == b"not":
        acc = ~acc & ((1 << (8 * maxlen)) - 1)
    elif op == b"and":
        for v in values[1:]:
            acc &= num(v)
    elif op == b"or":
        for v in values[1:]:
            acc |= num(v)
    else:
        for v in values[1:]:
            acc ^= num(v)
    return acc.to_bytes(maxlen, "big")


def get_field(data: bytes, offset: int, bits: int, signed: bool) -> int:
    """The ``bits``-wide integer at bit ``offset`` (zeros past the end of ``data``)."""
    b0 = offset >> 3
    nbytes = ((offset + bits - 1) >> 3) - b0 + 1
    chunk = data[b0 : b0 + nbytes]
    x = int.from_bytes(chunk, "big") << (8 * (nbytes - len(chunk)))
    x = (x >> (nbytes * 8 - (offset - b0 * 8) - bits)) & ((1 << bits) - 1)
    if signed and x >> (bits - 1):
        x -= 1 << bits
    return x


def set_field(buf: bytearray, offset: int, bits: int, value: int) -> None:
    """Write the low ``bits`` bits of ``value`` at bit ``offset`` (``buf`` is long enough)."""
    b0 = offset >> 3
    nbytes = ((offset + bits - 1) >> 3) - b0 + 1
    shift = nbytes * 8 - (offset - b0 * 8) - bits
    x = int.from_bytes(buf[b0 : b0 + nbytes], "big")
    mask = ((1 << bits) - 1) << shift
    x = (x & ~mask) | ((value & ((1 << bits) - 1)) << shift)
    buf[b0 : b0 + nbytes] = x.to_bytes(nbytes, "big")
