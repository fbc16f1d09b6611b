"""Byte sizes of listpack entries, as Valkey encodes them.

Ownership: the one model of a listpack entry's size; the value types that
decide their encoding by listpack bytes (lists' quicklist nodes, stream
nodes) all measure with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from shardserver.numbers import strict_int


def int_size(v: int) -> int:
    """Bytes of an integer entry (encoding and back-length)."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -(2**31) <= v <= 2**31 - 1:
        return 6
    return 10


def backlen(n: int) -> int:
    """Bytes of the back-length that follows an entry of ``n`` bytes."""
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def py_entry_size(v: bytes) -> int:
    """Bytes ``v`` takes as an entry: a string that is a canonical integer is stored as one."""
    n = len(v)
    if 0 < n <= 20 and (48 <= v[0] <= 57 or v[0] == 45):  # only these can be integers
        iv = strict_int(v)
        if iv is not None:
            return int_size(iv)
    enc = 1 + n if n <= 63 else 2 + n if n <= 4095 else 5 + n
    return enc + backlen(enc)


def py_entries_size(values: Iterable[bytes]) -> int:
    return sum(py_entry_size(v) for v in values)


try:
    from shardserver._speedups import entries_size, entry_size
except ImportError:  # built without the C helpers
    entry_size, entries_size = py_entry_size, py_entries_size
