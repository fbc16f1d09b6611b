"""Valkey's double digits (fpconv's Grisu2): the cached powers, the C and Python twins, the layout."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver import dtoa, resp
from shardserver.resp import format_double, py_format_double

try:
    from shardserver._speedups import format_double as c_format_double
    from shardserver._speedups import grisu2 as c_grisu2
    from shardserver._speedups import reply_array as c_reply_array
except ImportError:  # pragma: no cover - CI builds the C helpers
    c_grisu2 = c_format_double = c_reply_array = None


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


@pytest.mark.skipif(c_format_double is None, reason="built without the C helpers")
def test_c_layout_agrees_with_python_for_every_binary_exponent() -> None:
    """The C text (replies) against the Python layout: every exponent, both signs, and
    the values at each layout's edges (integers, plain decimals, exponents)."""
    rng = random.Random(7)
    values = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 4611686018427387903.0, 4611686018427387904.0 * 2,
              -4611686018427387904.0, 9007199254740993.0, 123456789012345678901234.0, 1e-7, 1.5e-6, 0.000123, 1234.5e-9]
    values += [10.0**k for k in range(-330, 309)] + [1.25 * 10.0**k for k in range(-20, 30)]
    for biased in range(0, 2047):
        for m in [rng.getrandbits(52) for _ in range(6)] + [0, 1, (1 << 52) - 1]:
            values.append(_double(biased, m))
    for v in values:
        for x in (v, -v):
            assert c_format_double(x) == py_format_double(x).encode(), x


_scalars = st.one_of(
    st.binary(max_size=8),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    st.none(),
    st.booleans(),
    st.just(resp.Simple("OK")),
)
_replies = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12)


@pytest.mark.skipif(c_reply_array is None, reason="built without the C helpers")
@settings(max_examples=1500)
@given(st.lists(_replies, max_size=5), st.booleans())
def test_c_reply_array_is_the_general_encoders_bytes_or_none(value: list[object], resp3: bool) -> None:
    whole = c_reply_array(value, resp3)
    out: list[bytes] = []
    saved = resp.reply_array
    resp.reply_array = resp.py_reply_array  # the general encoder alone
    try:
        resp._encode_into(out, value, resp3)
    finally:
        resp.reply_array = saved
    if whole is None:  # only for what the C path leaves to Python: bools, Simple, ints past 64 bits
        assert any(type(x) in (bool, resp.Simple) or (type(x) is int and not -(2**63) <= x < 2**63) for x in _leaves(value))
    else:
        assert whole == b"".join(out)


def _leaves(value: object) -> list[object]:
    if type(value) in (list, tuple):
        return [leaf for item in value for leaf in _leaves(item)]  # type: ignore[attr-defined]
    return [value]
