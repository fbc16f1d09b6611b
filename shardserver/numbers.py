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
import time
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


def parse_ms_timeout(data: bytes) -> int:
    """Valkey's getTimeoutFromObjectOrReply in milliseconds (WAIT, WAITAOF, XREAD BLOCK):
    0 = forever; a timeout whose deadline (from now) passes the 64-bit range is refused."""
    v = strict_int(data)
    if v is None:
        raise CommandError(errors.TIMEOUT_NOT_INTEGER)
    if v < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    if v > LLONG_MAX - int(time.time() * 1000):
        raise CommandError(errors.TIMEOUT_RANGE)
    return v


def parse_c_int(data: bytes, error: str | None = None) -> int:
    """Valkey's getIntFromObjectOrReply: a 64-bit integer that must also fit a C int.

    With ``error`` that text is the reply for both failures, as Valkey does.
    """
    v = strict_int(data)
    if v is None:
        raise CommandError(error or errors.NOT_INTEGER)
    if v < -(2**31) or v > 2**31 - 1:
        raise CommandError(error or errors.INT_RANGE)
    return v


_STRTOULL_RE = re.compile(rb"^[ \t\n\v\f\r]*([+-]?)([0-9]+)\Z")


def parse_scan_cursor(data: bytes) -> int | None:
    """Valkey's string2ull for SCAN cursors, or None for an invalid cursor.

    A canonical integer must not be negative; anything else goes to strtoull,
    which takes leading spaces, a sign and leading zeros (and wraps a '-').
    Valkey reads the argument as a C string: it ends at the first NUL byte.
    """
    data = data.split(b"\0", 1)[0]
    v = strict_int(data)
    if v is not None:
        return v if v >= 0 else None
    m = _STRTOULL_RE.match(data)
    if m is None:
        return None
    digits = m.group(2).lstrip(b"0") or b"0"
    if len(digits) > 20:
        return None
    value = int(digits)
    if value > 2**64 - 1:
        return None
    return (-value) % 2**64 if m.group(1) == b"-" else value


_FLOAT_RE = re.compile(rb"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)\Z", re.I)


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
_LD_MIN_EXP = -16382  # exponent of the smallest normal long double
_LD_MAX_CHARS = 5 * 1024  # Valkey's MAX_LONG_DOUBLE_CHARS: longer input is not a number
_LD_OVERFLOW = Fraction(2) ** _LD_MAX_EXP
_INF = float("inf")

_HEX_FLOAT_RE = re.compile(rb"^[+-]?0[xX](?=\.?[0-9a-fA-F])([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?\Z")


def _round_ld(x: Fraction) -> Fraction:
    """Round to the nearest x87 long double (64-bit mantissa, ties to even).

    Below the smallest normal the spacing stays 2**-16445 (denormals), so tiny
    values lose precision and the tiniest round to zero, as strtold does.
    """
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    shift = _LD_MANT - 1 - max(e, _LD_MIN_EXP)
    scaled = a * (Fraction(2) ** shift)
    m = round(scaled)  # Fraction.__round__ rounds half to even
    return sign * Fraction(m) / (Fraction(2) ** shift)


def _exact_value(data: bytes) -> Fraction | float:
    """The exact value of a strtold-style literal; +-inf for infinities.

    Raises NOT_FLOAT for what strtold would not consume whole, and for
    literals far out of long double range (before building huge integers).
    """
    text = data.decode("ascii")
    low = text.lower().lstrip("+-")
    neg = text.startswith("-")
    if low in ("inf", "infinity"):
        return -_INF if neg else _INF
    hexm = _HEX_FLOAT_RE.match(data)
    if hexm is not None:
        int_part, frac_part, exp_text = (g.decode() if g is not None else "" for g in hexm.groups())
        mant = int((int_part + frac_part) or "0", 16)
        if mant == 0:
            return Fraction(0)
        if len(exp_text.lstrip("+-")) > 9:
            exp = -(10**9) if exp_text.startswith("-") else 10**9
        else:
            exp = int(exp_text or "0")
        exp -= 4 * len(frac_part)
        top = exp + mant.bit_length()
        if top > _LD_MAX_EXP + 1 or top < _LD_MIN_EXP - 70:
            raise CommandError(errors.NOT_FLOAT)  # ERANGE: overflow, or underflow to zero
        value = Fraction(mant) * (Fraction(2) ** exp)
        return -value if neg else value
    if not _FLOAT_RE.match(data):
        raise CommandError(errors.NOT_FLOAT)
    try:
        dec = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise CommandError(errors.NOT_FLOAT) from exc
    if dec.is_zero():
        return Fraction(0)
    adjusted = dec.adjusted()
    if adjusted > 4940 or adjusted < -4960:
        raise CommandError(errors.NOT_FLOAT)  # ERANGE: overflow, or underflow to zero
    return Fraction(dec)


def parse_long_double(data: bytes) -> Fraction | float:
    """Valkey's string2ld: strtold over the whole string; spaces, NaN and ERANGE rejected.

    Returns the value rounded to a long double, or +-inf for an infinity literal.
    """
    if not data or len(data) >= _LD_MAX_CHARS:
        raise CommandError(errors.NOT_FLOAT)
    try:
        exact = _exact_value(data)
    except UnicodeDecodeError as exc:
        raise CommandError(errors.NOT_FLOAT) from exc
    if isinstance(exact, float):
        return exact
    if exact == 0:
        return exact
    value = _round_ld(exact)
    if value == 0 or abs(value) >= _LD_OVERFLOW:
        raise CommandError(errors.NOT_FLOAT)  # strtold's ERANGE with 0 or HUGE_VAL
    return value


def format_long_double(value: Fraction) -> bytes:
    """``%.17Lf`` then trailing zeros (and a trailing dot) removed, as Valkey's LD_STR_HUMAN."""
    scaled = value * 10**17
    q = scaled.numerator // scaled.denominator
    r = scaled - q
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and q % 2 == 1):
        q += 1
    neg = q < 0
    digits = _decimal_digits(abs(q)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if neg and text != "0":
        text = "-" + text
    return text.encode()


def _decimal_digits(n: int) -> str:
    """str(n) for a non-negative int of any size (Python caps str() at 4300 digits)."""
    if n < 10**4000:
        return str(n)
    hi, lo = divmod(n, 10**4000)
    return _decimal_digits(hi) + str(lo).rjust(4000, "0")


def incr_by_float(current: bytes | None, incr: bytes) -> bytes:
    """The new value of INCRBYFLOAT, formatted as Valkey stores it."""
    base = Fraction(0) if current is None else parse_long_double(current)
    step = parse_long_double(incr)
    if isinstance(base, float) or isinstance(step, float):
        raise CommandError(errors.NAN_OR_INF)  # inf + x is inf, inf - inf is NaN
    result = _round_ld(base + step)
    if abs(result) >= _LD_OVERFLOW:
        raise CommandError(errors.NAN_OR_INF)
    return format_long_double(result)
