"""Valkey's number rules and glob matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver.errors import CommandError
from shardserver.glob import _c_glob_match as c_glob_match
from shardserver.glob import glob_match, py_glob_match
from shardserver.numbers import incr_by_float, parse_float, strict_int


@pytest.mark.parametrize(
    "text,value",
    [(b"0", 0), (b"-1", -1), (b"9223372036854775807", 2**63 - 1), (b"-9223372036854775808", -(2**63))],
)
def test_strict_int_accepts(text: bytes, value: int) -> None:
    assert strict_int(text) == value


@pytest.mark.parametrize("text", [b"", b"+1", b" 1", b"1 ", b"01", b"-0", b"9223372036854775808", b"1.0", b"abc", b"-"])
def test_strict_int_rejects(text: bytes) -> None:
    assert strict_int(text) is None


def test_parse_float() -> None:
    assert parse_float(b"1.5") == 1.5
    assert parse_float(b"-inf") == float("-inf")
    for bad in (b"nan", b"", b"1.5x", b" 1"):
        with pytest.raises(CommandError):
            parse_float(bad)


@pytest.mark.parametrize(
    "current,incr,expected",
    [
        (None, b"0.1", b"0.1"),
        (b"0.1", b"0.2", b"0.3"),
        (b"10.50", b"0.1", b"10.6"),
        (b"5.0e3", b"2.0e2", b"5200"),
        (b"3", b"-3", b"0"),
        (b"1", b"1e20", b"100000000000000000000"),  # long double precision, as Valkey
        (b"1", b"1e30", b"1000000000000000000024696061952"),
        (b"-1.5", b"0.25", b"-1.25"),
    ],
)
def test_incrbyfloat_formatting(current: bytes | None, incr: bytes, expected: bytes) -> None:
    assert incr_by_float(current, incr) == expected


def test_incrbyfloat_errors() -> None:
    with pytest.raises(CommandError, match="not a valid float"):
        incr_by_float(b"abc", b"1")
    with pytest.raises(CommandError, match="NaN or Infinity"):
        incr_by_float(b"1", b"inf")


@pytest.mark.parametrize(
    "pattern,subject,ok",
    [
        (b"*", b"anything", True),
        (b"h?llo", b"hello", True),
        (b"h?llo", b"hllo", False),
        (b"h*llo", b"heeeello", True),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[^e]llo", b"hello", False),
        (b"h[a-b]llo", b"hbllo", True),
        (b"h[b-a]llo", b"hallo", True),
        (b"h\\*llo", b"h*llo", True),
        (b"h\\*llo", b"hello", False),
        (b"a*b*c", b"a\nxbyc", True),
    ],
)
def test_glob(pattern: bytes, subject: bytes, ok: bool) -> None:
    assert glob_match(pattern, subject) is ok


def _reference(p: bytes, s: bytes, nocase: bool, nesting: int = 0, skip: list[bool] | None = None) -> bool:
    """stringmatchlen as Valkey writes it, recursive with its skip-longer-matches flag and
    its pointer steps (a byte past the end reads as the C string's NUL): an independent
    rendering to check the iterative matchers against."""
    skip = [False] if skip is None else skip
    if nesting > 1000:
        return False
    low = (lambda c: c + 32 if 65 <= c <= 90 else c) if nocase else (lambda c: c)
    sig = lambda c: c - 256 if c > 127 else c  # noqa: E731
    at = lambda i: p[i] if i < len(p) else 0  # noqa: E731
    i, j = 0, 0
    while len(p) - i and len(s) - j:
        c = p[i]
        if c == 0x2A:
            while len(p) - i and at(i + 1) == 0x2A:
                i += 1
            if len(p) - i == 1:
                return True
            while len(s) - j:
                if _reference(p[i + 1 :], s[j:], nocase, nesting + 1, skip):
                    return True
                if skip[0]:
                    return False
                j += 1
            skip[0] = True
            return False
        if c == 0x3F:
            j += 1
        elif c == 0x5B:
            i += 1
            neg = at(i) == 0x5E
            if neg:
                i += 1
            match = False
            while True:
                if at(i) == 0x5C and len(p) - i >= 2:
                    i += 1
                    match |= p[i] == s[j]
                elif at(i) == 0x5D:
                    break
                elif len(p) - i == 0:
                    i -= 1
                    break
                elif len(p) - i >= 3 and p[i + 1] == 0x2D:
                    lo, hi = sorted((sig(p[i]), sig(p[i + 2])))
                    match |= low(lo) <= low(sig(s[j])) <= low(hi)
                    i += 2
                else:
                    match |= low(p[i]) == low(s[j])
                i += 1
            if match == neg:
                return False
            j += 1
        else:
            if c == 0x5C and len(p) - i >= 2:
                i += 1
            if low(p[i]) != low(s[j]):
                return False
            j += 1
        i += 1
        if len(s) - j == 0:
            while at(i) == 0x2A:
                i += 1
            break
    return len(p) - i == 0 and len(s) - j == 0


_GLOB_BYTES = b"*?[]^-\\aAbB\x80\xff"
_SUBJECT_BYTES = b"aAbB\x80\xff*[]-"


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=9).map(lambda b: bytes(_GLOB_BYTES[x % len(_GLOB_BYTES)] for x in b)), st.binary(max_size=7).map(lambda b: bytes(_SUBJECT_BYTES[x % len(_SUBJECT_BYTES)] for x in b)), st.booleans())
def test_glob_matchers_agree_with_stringmatchlen(pattern: bytes, subject: bytes, nocase: bool) -> None:
    want = _reference(pattern, subject, nocase)
    assert py_glob_match(pattern, subject, nocase) is want
    if c_glob_match is not None:
        assert c_glob_match(pattern, subject, nocase) is want


def test_glob_edges_of_stringmatchlen() -> None:
    cases = [
        (b"**", b"", False), (b"", b"", True), (b"*", b"", False), (b"a*", b"a", True),  # an empty subject: only ""
        (b"[a-]x", b"]", True), (b"[a-]x", b"x", True), (b"[a-]x", b"b", False), (b"[ab", b"b", True), (b"[\\", b"\\", True),
        (b"[\\A]", b"a", False), (b"[a-\xff]", b"\xff", True), (b"[a-\xff]", b"b", False),  # C chars are signed
        (b"\\", b"\\", True), (b"a\\", b"a\\", True), (b"*" + b"a*" * 1001 + b"b", b"ab", False),
    ]
    for pattern, subject, ok in cases:
        assert py_glob_match(pattern, subject) is ok, pattern
        assert _reference(pattern, subject, False) is ok, pattern
        if c_glob_match is not None:
            assert c_glob_match(pattern, subject) is ok, pattern
    assert py_glob_match(b"[\\A]", b"A", True) and not py_glob_match(b"[\\A]", b"a", True)


def test_many_stars_take_polynomial_time() -> None:
    """a*a*...b against a long run of a: a backtracking regex is exponential in the stars."""
    pattern, subject = b"a*" * 12 + b"b", b"a" * 60
    assert glob_match(pattern, subject) is False
    assert py_glob_match(pattern, subject) is False
    assert py_glob_match(b"a*" * 12 + b"a", subject) is True
