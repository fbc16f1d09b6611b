"""The digits Valkey prints for a double: Grisu2 as its ``fpconv_dtoa`` runs it.

Ownership: a pure function of a float; no state.  Valkey formats scores and
other doubles with fpconv (Loitsch's Grisu2 over 64-bit integers), which
finds the shortest digits in about 999 of 1000 cases and one digit more in
the rest (``6063.900000000001`` is ``6063.9000000000005`` there), so Python's
shortest ``repr`` is not enough to reply as Valkey does.  ``grisu2(v)``
returns the same digit string and decimal exponent as fpconv; the reply's
layout (``resp.format_double``) is Valkey's and works on these digits.

The algorithm, for a finite v > 0 with significand f and binary exponent e:
the boundaries of v's rounding interval are scaled by a cached power of ten
(10^k for k = -348, -340, ..., 340 as 64-bit significands rounded to
nearest) into the binary exponent window [-60, -32]; each product is a
64-bit multiply rounded half up; the interval is narrowed by one unit on
each side; digits of the upper bound are generated until the rest of the
interval is within it, then the last digit is lowered while that brings
the digits closer to v.  Every step is done in unsigned 64-bit arithmetic
(``& MASK``), so its truncations and wrap-arounds are fpconv's.

``shardserver._speedups.grisu2`` is the same in C and replaces ``py_grisu2``
when built (a test compares them over every binary exponent).
"""

from __future__ import annotations

import struct

MASK = (1 << 64) - 1
_HIDDEN = 1 << 52
_EXP_BIAS = 1023 + 52
_FIRST_K = -348
_STEP_K = 8
_N_POWERS = 87
_ALPHA, _GAMMA = -60, -32
_LOG10_2 = 0.30102999566398114
_TENS = [10**i for i in range(19, -1, -1)]  # 10^19 .. 10^0


def _cached_power(k: int) -> tuple[int, int]:
    """(f, e) with 2^63 <= f < 2^64 and 10^k ~ f * 2^e, f rounded to nearest."""
    num, den = (10**k, 1) if k >= 0 else (1, 10**-k)
    e = num.bit_length() - den.bit_length() - 64
    while True:  # the estimate can be one off either way
        n, d = (num, den << e) if e >= 0 else (num << -e, den)
        if n < d << 63:
            e -= 1
        elif n >= d << 64:
            e += 1
        else:
            return (2 * n + d) // (2 * d), e


POWERS = [_cached_power(_FIRST_K + i * _STEP_K) for i in range(_N_POWERS)]


def _mul(af: int, ae: int, bf: int, be: int) -> tuple[int, int]:
    """fpconv's 64x64 multiply: the high word, its lower half rounded up at bit 31."""
    ah, al, bh, bl = af >> 32, af & 0xFFFFFFFF, bf >> 32, bf & 0xFFFFFFFF
    ah_bl, al_bh, al_bl, ah_bh = ah * bl, al * bh, al * bl, ah * bh
    mid = (ah_bl & 0xFFFFFFFF) + (al_bh & 0xFFFFFFFF) + (al_bl >> 32) + (1 << 31)
    return (ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (mid >> 32)) & MASK, ae + be + 64


def py_grisu2(value: float) -> tuple[str, int]:
    """fpconv's digits of a finite ``value`` != 0 (its sign ignored), and K: |value| ~ digits * 10^K."""
    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    f = bits & (_HIDDEN - 1)
    biased = (bits >> 52) & 0x7FF
    if biased:
        f += _HIDDEN
        e = biased - _EXP_BIAS
    else:
        e = 1 - _EXP_BIAS
    # the upper boundary (f + 1/2 ulp), normalized so its top bit is bit 63
    uf, ue = (f << 1) + 1, e - 1
    while not uf & (_HIDDEN << 1):
        uf <<= 1
        ue -= 1
    uf, ue = (uf << 10) & MASK, ue - 10
    # the lower boundary (f - 1/2 ulp, or 1/4 ulp below a power of two), at the upper's exponent
    shift = 2 if f == _HIDDEN else 1
    lf, le = (f << shift) - 1, e - shift
    lf = (lf << (le - ue)) & MASK
    # v itself, normalized
    wf, we = f, e
    while not wf & _HIDDEN:
        wf <<= 1
        we -= 1
    wf, we = (wf << 11) & MASK, we - 11
    # the cached power that brings the upper boundary's exponent into [alpha, gamma]
    approx = int(-(ue + _N_POWERS) * _LOG10_2)  # C's truncation toward zero
    idx = (approx - _FIRST_K) // _STEP_K  # positive for every double
    while True:
        cur = ue + POWERS[idx][1] + 64
        if cur < _ALPHA:
            idx += 1
        elif cur > _GAMMA:
            idx -= 1
        else:
            break
    cf, ce = POWERS[idx]
    k = _FIRST_K + idx * _STEP_K
    wf, _ = _mul(wf, we, cf, ce)
    lf, _ = _mul(lf, ue, cf, ce)  # the lower boundary shares the upper's exponent
    uf, ue = _mul(uf, ue, cf, ce)
    lf = (lf + 1) & MASK
    uf = (uf - 1) & MASK
    return _digits(wf, uf, lf, ue, -k)


def _lower_last(digits: list[int], delta: int, rest: int, step: int, wdist: int) -> None:
    """fpconv's round_digit: step the last digit down while that moves closer to v."""
    while rest < wdist and (delta - rest) & MASK >= step and ((rest + step) & MASK < wdist or (wdist - rest) & MASK > (rest + step - wdist) & MASK):
        digits[-1] -= 1
        rest = (rest + step) & MASK


def _digits(wf: int, uf: int, lf: int, ue: int, exp10: int) -> tuple[str, int]:
    wdist = (uf - wf) & MASK
    delta = (uf - lf) & MASK
    shift = -ue
    one = 1 << shift
    whole = uf >> shift
    frac = uf & (one - 1)
    out: list[int] = []
    kappa = 10
    for div in _TENS[10:]:  # 10^9 .. 10^0: the integral part's digits
        digit = whole // div
        if digit or out:
            out.append(digit)
        whole -= digit * div
        kappa -= 1
        rest = ((whole << shift) + frac) & MASK
        if rest <= delta:
            _lower_last(out, delta, rest, (div << shift) & MASK, wdist)
            return "".join(map(str, out)), exp10 + kappa
    unit = 18  # index of 10 in _TENS; one further up per fractional digit
    while True:
        frac = (frac * 10) & MASK
        delta = (delta * 10) & MASK
        kappa -= 1
        digit = frac >> shift
        if digit or out:
            out.append(digit)
        frac &= one - 1
        if frac < delta:
            _lower_last(out, delta, frac, one, (wdist * _TENS[unit]) & MASK)
            return "".join(map(str, out)), exp10 + kappa
        unit -= 1


try:
    from shardserver._speedups import grisu2
except ImportError:  # built without the C helpers
    grisu2 = py_grisu2
