"""Valkey's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET, CLIENT KILL).

Ownership: a pure helper.  The semantics are those of Valkey's
``stringmatchlen``: ``*``, ``?``, ``[abc]``, ``[^a]``, ``[a-z]`` (reversed
ranges allowed; bounds compare as C chars, so bytes from 0x80 up sort below
0), ``\\`` escapes (inside a set an escaped byte compares exactly, even
without case), and its edges: a set that is not closed runs to the end of the
pattern, ``[a-]`` is a range up to ``]`` (which then does not close the set),
an empty subject matches only the empty pattern (callers treat a lone ``*``
as "everything" before asking), and more than 1,000 star groups never match.

Only the latest star is retried with a longer match: when the pattern after
a star fails at every later position, a longer match for an earlier star
cannot help (stringmatchlen's skip-longer-matches rule), so matching takes
O(len(pattern) * len(subject)) time.  (A regex with one ``.*`` per star
backtracked exponentially: ``a*a*a*a*a*a*a*a*a*a*b`` against 40 ``a`` took
seconds, and blocked the shard.)

``py_glob_match`` is the Python twin of ``_speedups.glob_match``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

_STAR, _ANY, _OPEN, _CLOSE, _DASH, _CARET, _ESC = b"*?[]-^\\"
_STAR_LIMIT = 1000


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _signed(c: int) -> int:
    return c - 256 if c > 127 else c


def _one(p: bytes, i: int, u: int, nocase: bool) -> tuple[bool, int]:
    """The one-character token at p[i] (not a star) against byte ``u``: (match, index after it)."""
    n = len(p)
    t = p[i]
    if t == _ANY:
        return True, i + 1
    if t == _OPEN:
        c = _signed(u)
        i += 1
        neg = i < n and p[i] == _CARET
        if neg:
            i += 1
        match = False
        while True:
            if i < n and p[i] == _ESC and n - i >= 2:
                i += 1
                if p[i] == u:
                    match = True
            elif i < n and p[i] == _CLOSE:
                break
            elif i >= n:  # not closed: the set runs to the pattern's end
                i -= 1
                break
            elif n - i >= 3 and p[i + 1] == _DASH:
                lo, hi, x = _signed(p[i]), _signed(p[i + 2]), c
                if lo > hi:
                    lo, hi = hi, lo
                if nocase:
                    lo, hi, x = _lower(lo), _lower(hi), _lower(x)
                i += 2
                if lo <= x <= hi:
                    match = True
            elif (_lower(p[i]) == _lower(u)) if nocase else (p[i] == u):
                match = True
            i += 1
        return match != neg, i + 1
    if t == _ESC and n - i >= 2:
        i += 1
    return ((_lower(p[i]) == _lower(u)) if nocase else (p[i] == u)), i + 1


def py_glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    p, s = pattern, subject
    n, m = len(p), len(s)
    if m == 0:
        return n == 0  # stringmatchlen's loop never starts: only the empty pattern
    i = j = 0
    star_i, star_j = -1, 0
    stars = 0
    while j < m:
        if i < n and p[i] == _STAR:
            while i < n and p[i] == _STAR:
                i += 1
            if i == n:
                return True
            stars += 1
            if stars > _STAR_LIMIT:
                return False
            star_i, star_j = i, j
            continue
        if i < n:
            ok, nxt = _one(p, i, s[j], nocase)
            if ok:
                i = nxt
                j += 1
                continue
        star_j += 1
        if star_i < 0 or star_j >= m:  # the star tries the rest at each later position, never at the end
            return False
        i, j = star_i, star_j
    while i < n and p[i] == _STAR:
        i += 1
    return i == n


try:
    from shardserver._speedups import glob_match as _c_glob_match
except ImportError:  # built without the C helpers
    _c_glob_match = None

glob_match: Callable[..., bool] = _c_glob_match if _c_glob_match is not None else py_glob_match


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A one-argument matcher for ``pattern`` (a lone ``*`` matches everything, as every caller wants)."""
    if pattern == b"*":
        return lambda _s: True
    if not nocase:
        return partial(glob_match, pattern)
    return lambda s: glob_match(pattern, s, True)
