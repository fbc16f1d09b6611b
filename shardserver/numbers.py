"""Number parsing and formatting with Valkey's rules.

Ownership: pure functions shared by the front and the shards; no state.
Integers follow Valkey's ``string2ll`` (no '+', no spaces, no leading zeros,
64-bit signed).  INCRBYFLOAT works in x87 80-bit long double in Valkey; it is
emulated here exactly with fractions rounded to a 64-bit mantissa, and
formatted like Valkey's human-friendly ``%.17Lf`` with trailing zeros removed.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from shardserver import errors
from shardserver.errors import CommandError

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)


def strict_int(data: bytes) -> int | None:
    """Valkey's string2ll: None unless ``data`` is a canonical 64-bit integer."""
    n = len(data)
    if n == 0 or n > 20:
        return None
    if data.isdigit():
        if data[0] == 0x30 and n > 1:
            return None
        v = int(data)
    elif data[0] == 0x2D and n > 1 and data[1:].isdigit() and data[1] != 0x30:
        v = int(data)
    else:
        return None
    if v > LLONG_MAX or v < LLONG_MIN:
        return None
    return v


def parse_int(data: bytes, error: str = errors.NOT_INTEGER) -> int:
    v = strict_int(data)
    if v is None:
        raise CommandError(error)
    return v


_FLOAT_RE = re.compile(rb"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)$", re.I)


def parse_float(data: bytes, error: str = errors.NOT_FLOAT) -> float:
    """Like Valkey's getDoubleFromObject: strtod over the whole string, NaN rejected."""
    if not data or not _FLOAT_RE.match(data):
        raise CommandError(error)
    v = float(data)
    if math.isnan(v):
        raise CommandError(error)
    return v


# ---- long double emulation for INCRBYFLOAT ---------------------------------

_LD_MANT = 64
_LD_MAX_EXP = 16384


def _round_ld(x: Fraction) -> Fraction:
    """Round to the nearest x87 long double (64-bit mantissa, ties to even)."""
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    shift = _LD_MANT - 1 - e
    scaled = a * (Fraction(2) ** shift)
    m = round(scaled)  # Fraction.__round__ rounds half to even
    return sign * Fraction(m) / (Fraction(2) ** shift)


def parse_long_double(data: bytes) -> Fraction:
    """Valkey's string2ld: the whole string must be a number; NaN and spaces rejected."""
    if not data or len(data) > 5000 or not _FLOAT_RE.match(data):
        raise CommandError(errors.NOT_FLOAT)
    low = data.lower().lstrip(b"+-")
    if low.startswith(b"inf"):
        raise CommandError(errors.NAN_OR_INF)
    try:
        value = Fraction(Decimal(data.decode()))
    except (InvalidOperation, ValueError) as exc:
        raise CommandError(errors.NOT_FLOAT) from exc
    value = _round_ld(value)
    if value != 0 and abs(value) >= Fraction(2) ** _LD_MAX_EXP:
        raise CommandError(errors.NAN_OR_INF)
    return value


def format_long_double(value: Fraction) -> bytes:
    """``%.17Lf`` then trailing zeros (and a trailing dot) removed, as Valkey's LD_STR_HUMAN."""
    scaled = value * 10**17
    q = scaled.numerator // scaled.denominator
    r = scaled - q
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and q % 2 == 1):
        q += 1
    neg = q < 0
    digits = str(abs(q)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if neg and text != "0":
        text = "-" + text
    return text.encode()


def incr_by_float(current: bytes | None, incr: bytes) -> bytes:
    """The new value of INCRBYFLOAT, formatted as Valkey stores it."""
    base = Fraction(0) if current is None else parse_long_double(current)
    step = parse_long_double(incr)
    result = _round_ld(base + step)
    if result != 0 and abs(result) >= Fraction(2) ** _LD_MAX_EXP:
        raise CommandError(errors.NAN_OR_INF)
    return format_long_double(result)
