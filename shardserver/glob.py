"""Valkey's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET, CLIENT KILL).

Ownership: a pure helper.  Patterns compile once into a bytes regex with the
semantics of Valkey's ``stringmatchlen``: ``*``, ``?``, ``[abc]``, ``[^a]``,
``[a-z]`` (reversed ranges allowed), and ``\\`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache


def _escape(c: int) -> bytes:
    return re.escape(bytes([c]))


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    if pattern == b"*":
        return lambda _s: True
    out = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # *
            while i + 1 < n and pattern[i + 1] == 0x2A:
                i += 1
            out += b".*"
        elif c == 0x3F:  # ?
            out += b"."
        elif c == 0x5C and i + 1 < n:  # backslash
            i += 1
            out += _escape(pattern[i])
        elif c == 0x5B:  # [
            i += 1
            negate = i < n and pattern[i] == 0x5E
            if negate:
                i += 1
            items = bytearray()
            while i < n and pattern[i] != 0x5D:
                if pattern[i] == 0x5C and i + 1 < n:
                    i += 1
                    items += _escape(pattern[i])
                elif i + 2 < n and pattern[i + 1] == 0x2D:
                    # As stringmatchlen: 'a-]' is a range up to ']', which then does not close.
                    lo, hi = pattern[i], pattern[i + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    items += _escape(lo) + b"-" + _escape(hi)
                    i += 2
                else:
                    items += _escape(pattern[i])
                i += 1
            if not items:
                out += b"[^\\s\\S]" if not negate else b"[\\s\\S]"
            else:
                out += b"[" + (b"^" if negate else b"") + bytes(items) + b"]"
        else:
            out += _escape(c)
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    rx = re.compile(bytes(out) + b"\\Z", flags)
    return lambda s: rx.match(s) is not None


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    return compile_glob(pattern, nocase)(subject)
