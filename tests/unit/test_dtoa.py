"""Valkey's double digits (fpconv's Grisu2): the cached powers, the C and Python twins, the layout."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver import dtoa
from shardserver.resp import format_double

try:
    from shardserver._speedups import grisu2 as c_grisu2
except ImportError:  # pragma: no cover - CI builds the C helpers
    c_grisu2 = None


def _double(biased: int, mantissa: int, negative: bool = False) -> float:
    return struct.unpack("<d", struct.pack("<Q", (negative << 63) | (biased << 52) | mantissa))[0]


def test_cached_powers_are_ten_to_the_k_rounded_to_nearest() -> None:
    assert len(dtoa.POWERS) == 87
    for i, (f, e) in enumerate(dtoa.POWERS):
        k = -348 + 8 * i
        assert 1 << 63 <= f < 1 << 64
        # |f * 2^e - 10^k| <= 2^e / 2, in integers: scale both sides by 2^-e (or 2^e) and 10^-k
        num, den = (10**k, 1) if k >= 0 else (1, 10**-k)
        if e >= 0:
            assert abs(f * (1 << e) * den - num) * 2 <= (1 << e) * den
        else:
            assert abs(f * den - num * (1 << -e)) * 2 <= den


KNOWN = [
    (1e23, "9999999999999999", 7, "99999999999999990000000"),
    (6063.900000000001, "60639000000000005", -13, "6063.9000000000005"),
    (460.2195282071186, "46021952820711863", -14, "460.21952820711863"),
    (0.1, "1", -1, "0.1"),
    (1.5, "15", -1, "1.5"),
    (5e-324, "5", -324, "5e-324"),
    (1.7976931348623157e308, "17976931348623157", 292, "1.7976931348623157e+308"),
]


@pytest.mark.parametrize("value,digits,k,text", KNOWN)
def test_known_values(value: float, digits: str, k: int, text: str) -> None:
    """Valkey 9's replies for these (ZADD then ZSCORE), the first three one digit longer than Python's repr."""
    assert dtoa.py_grisu2(value) == (digits, k)
    if c_grisu2 is not None:
        assert c_grisu2(value) == (digits, k)
    assert format_double(value) == text
    assert format_double(-value) == "-" + text


@pytest.mark.skipif(c_grisu2 is None, reason="built without the C helpers")
def test_c_and_python_agree_for_every_binary_exponent() -> None:
    """Every biased exponent (subnormals included) with random and edge mantissas: this
    reaches every cached power, and a wrong entry or step in either twin shows."""
    rng = random.Random(5)
    for biased in range(0, 2047):
        mantissas = [rng.getrandbits(52) for _ in range(12)] + [0, 1, (1 << 52) - 1]
        for m in mantissas:
            if biased == 0 and m == 0:
                continue
            v = _double(biased, m)
            assert c_grisu2(v) == dtoa.py_grisu2(v), (v, biased, m)


@settings(max_examples=2000)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != 0))
def test_digits_read_back_as_the_same_double(value: float) -> None:
    digits, k = dtoa.grisu2(value)
    assert digits[0] != "0"
    assert float(f"{digits}e{k}") == abs(value)
    assert len(digits) <= 17


def test_grisu2_refuses_zero_and_non_finite() -> None:
    if c_grisu2 is None:
        pytest.skip("built without the C helpers")
    for bad in (0.0, -0.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            c_grisu2(bad)
