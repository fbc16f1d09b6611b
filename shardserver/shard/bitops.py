"""Bit-level operations on string values, as Valkey's bitops.c defines them.

Ownership: pure functions over ``bytes``; no keyspace, no commands.  The
shard's bitmap handlers and the front's cross-shard BITOP use them.  Bit 0 is
the most significant bit of the first byte.  Work is done a whole range at a
time through ``int.from_bytes`` / ``int.bit_count`` (C speed), never a Python
loop per bit.
"""

from __future__ import annotations

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


def count_bits(data: bytes, first_bit: int, last_bit: int) -> int:
    """Set bits in the inclusive bit range (within ``data``)."""
    if first_bit & 7 == 0 and last_bit & 7 == 7:
        return int.from_bytes(data[first_bit >> 3 : (last_bit >> 3) + 1], "big").bit_count()
    x, _, mask = _bits_of(data, first_bit, last_bit)
    return (x & mask).bit_count()


def find_bit(data: bytes, bit: int, first_bit: int, last_bit: int) -> int:
    """Position of the first bit equal to ``bit`` in the inclusive range, or -1."""
    x, width, mask = _bits_of(data, first_bit, last_bit)
    if bit == 0:
        x = ~x
    x &= mask
    if x == 0:
        return -1
    return (first_bit & ~7) + width - x.bit_length()


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
