"""Valkey's number rules and glob matching."""

from __future__ import annotations

import pytest

from shardserver.errors import CommandError
from shardserver.glob import glob_match
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
