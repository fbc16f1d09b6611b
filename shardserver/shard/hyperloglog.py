"""HyperLogLog on strings, byte for byte as Valkey 9 stores it.

Ownership: pure functions over the string value of an HLL key (``bytes`` in,
``bytes`` out); no keyspace, no commands.  The shard's PF* handlers and the
front's cross-shard PFCOUNT/PFMERGE use them.

The value is a 16-byte header -- ``HYLL``, one encoding byte (0 dense,
1 sparse), three unused bytes, and the cached cardinality as 8 little-endian
bytes whose top bit set means "stale" -- followed by the registers:

- dense: 16384 registers of 6 bits, packed from the least significant bit of
  each byte upwards (12288 bytes);
- sparse: run-length opcodes, ``00xxxxxx`` (ZERO: 1..64 zero registers),
  ``01xxxxxx yyyyyyyy`` (XZERO: 1..16384 zero registers, 14-bit length) and
  ``1vvvvvxx`` (VAL: 1..4 registers of value 1..32).

An element is hashed with MurmurHash64A (seed 0xadc83b19); the low 14 bits
pick the register, the number of trailing zeros of the rest plus one is the
candidate value.  Sparse updates split and merge opcodes exactly as Valkey's
``hllSparseSet`` does, so the bytes after the same PFADDs are identical; a
sparse value that would grow past ``hll-sparse-max-bytes``, or a register
above 32, turns the value dense.  The estimate is Ertl's improved estimator
(arXiv:1702.01284) computed with the same floating-point steps.

The hot functions have a C twin (``shardserver/_hll.c``); this module holds
the pure-Python definitions with identical results, used when the extension
is not built.  ``IMPLEMENTATION`` says which one is in use.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence

from shardserver import errors

P = 14
Q = 64 - P  # 50
REGISTERS = 1 << P  # 16384
P_MASK = REGISTERS - 1
HDR = 16
DENSE_BYTES = REGISTERS * 6 // 8  # 12288
DENSE_SIZE = HDR + DENSE_BYTES
DENSE = 0
SPARSE = 1
SEED = 0xADC83B19
MAGIC = b"HYLL"
SPARSE_VAL_MAX = 32
SPARSE_MAX_BYTES_DEFAULT = 3000
ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)

_M64 = 0xFFFFFFFFFFFFFFFF
_MUL = 0xC6A4A7935BD1E995

# An empty sparse HLL: the header (sparse, cached cardinality 0) and XZERO:16384.
EMPTY = MAGIC + bytes([SPARSE, 0, 0, 0]) + bytes(8) + b"\x7f\xff"


# ---------------------------------------------------------------- hashing


def py_murmur64a(data: bytes, seed: int = SEED) -> int:
    """MurmurHash64A as Valkey computes it (little-endian blocks)."""
    n = len(data)
    h = seed ^ ((n * _MUL) & _M64)
    whole = n & ~7
    if whole:
        for (k,) in struct.iter_unpack("<Q", data[:whole]):
            k = (k * _MUL) & _M64
            k ^= k >> 47
            k = (k * _MUL) & _M64
            h ^= k
            h = (h * _MUL) & _M64
    if n & 7:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * _MUL) & _M64
    h ^= h >> 47
    h = (h * _MUL) & _M64
    h ^= h >> 47
    return h


def pat_len(element: bytes) -> tuple[int, int]:
    """(register index, run length of the 000..1 pattern) of an element."""
    h = py_murmur64a(element, SEED)
    rest = (h >> P) | (1 << Q)
    return h & P_MASK, (rest & -rest).bit_length()


# ---------------------------------------------------------------- validation


def is_hll(value: bytes) -> bool:
    """Whether a string passes Valkey's HLL check (magic, known encoding, dense size)."""
    if len(value) < HDR or value[:4] != MAGIC:
        return False
    enc = value[4]
    if enc > SPARSE:
        return False
    return enc != DENSE or len(value) == DENSE_SIZE


def encoding(value: bytes) -> int:
    return value[4]


def cached_card(value: bytes) -> int | None:
    """The cached cardinality, or None when it is marked stale."""
    if value[15] & 0x80:
        return None
    return int.from_bytes(value[8:16], "little")


def with_card(value: bytes, card: int) -> bytes:
    return value[:8] + card.to_bytes(8, "little") + value[16:]


# ---------------------------------------------------------------- dense <-> raw (one byte per register)

# Four registers live in three bytes b0 b1 b2:
#   r0 = b0 & 63, r1 = b0 >> 6 | (b1 & 15) << 2, r2 = b1 >> 4 | (b2 & 3) << 4, r3 = b2 >> 2.
# Each step is a bytes.translate over a strided slice; bytewise OR goes through int.
_T = {
    "and63": bytes(b & 63 for b in range(256)),
    "shr6": bytes(b >> 6 for b in range(256)),
    "lo4shl2": bytes((b & 15) << 2 for b in range(256)),
    "shr4": bytes(b >> 4 for b in range(256)),
    "lo2shl4": bytes((b & 3) << 4 for b in range(256)),
    "shr2": bytes(b >> 2 for b in range(256)),
    "shl6": bytes((b << 6) & 0xFF for b in range(256)),
    "shl4": bytes((b << 4) & 0xFF for b in range(256)),
    "shl2": bytes((b << 2) & 0xFF for b in range(256)),
}


def _or(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def dense_to_raw(registers: bytes) -> bytearray:
    """16384 register values from the 12288 packed bytes of a dense HLL."""
    b0, b1, b2 = registers[0::3], registers[1::3], registers[2::3]
    raw = bytearray(REGISTERS)
    raw[0::4] = b0.translate(_T["and63"])
    raw[1::4] = _or(b0.translate(_T["shr6"]), b1.translate(_T["lo4shl2"]))
    raw[2::4] = _or(b1.translate(_T["shr4"]), b2.translate(_T["lo2shl4"]))
    raw[3::4] = b2.translate(_T["shr2"])
    return raw


def raw_to_dense(raw: bytes) -> bytearray:
    """The 12288 packed bytes for 16384 register values (each taken mod 64)."""
    raw = bytes(raw).translate(_T["and63"])
    r0, r1, r2, r3 = raw[0::4], raw[1::4], raw[2::4], raw[3::4]
    out = bytearray(DENSE_BYTES)
    out[0::3] = _or(r0, r1.translate(_T["shl6"]))
    out[1::3] = _or(r1.translate(_T["shr2"]), r2.translate(_T["shl4"]))
    out[2::3] = _or(r2.translate(_T["shr4"]), r3.translate(_T["shl2"]))
    return out


def _dense_get(buf: bytearray, index: int) -> int:
    pos = HDR + index * 6 // 8
    fb = index * 6 & 7
    b1 = buf[pos + 1] if pos + 1 < len(buf) else 0
    return ((buf[pos] >> fb) | (b1 << (8 - fb))) & 63


def _dense_set(buf: bytearray, index: int, value: int) -> None:
    pos = HDR + index * 6 // 8
    fb = index * 6 & 7
    buf[pos] = (buf[pos] & ~(63 << fb) | (value << fb)) & 0xFF
    if fb > 2:  # the register spills into the next byte
        buf[pos + 1] = (buf[pos + 1] & ~(63 >> (8 - fb)) | (value >> (8 - fb))) & 0xFF


def _dense_update(buf: bytearray, index: int, count: int) -> int:
    if count > _dense_get(buf, index):
        _dense_set(buf, index, count)
        return 1
    return 0


# ---------------------------------------------------------------- sparse


def _xzero_len(buf: bytearray, p: int, end: int) -> int:
    # A truncated XZERO reads the string's terminating NUL as its second byte, as Valkey does.
    return (((buf[p] & 0x3F) << 8) | (buf[p + 1] if p + 1 < end else 0)) + 1


def _sparse_runs(buf: bytes | bytearray) -> list[tuple[int, int]] | None:
    """(value, run length) pairs of a sparse HLL, or None when it is corrupt."""
    runs: list[tuple[int, int]] = []
    end = len(buf)
    p = HDR
    idx = 0
    while p < end:
        b = buf[p]
        if b & 0xC0 == 0:
            run, val = (b & 0x3F) + 1, 0
            p += 1
        elif b & 0x80 == 0:
            run, val = (((b & 0x3F) << 8) | (buf[p + 1] if p + 1 < end else 0)) + 1, 0
            p += 2
        else:
            run, val = (b & 3) + 1, ((b >> 2) & 0x1F) + 1
            p += 1
        if idx + run > REGISTERS:
            return None
        idx += run
        runs.append((val, run))
    if idx != REGISTERS:
        return None
    return runs


def _sparse_to_raw(buf: bytes | bytearray) -> bytearray | None:
    runs = _sparse_runs(buf)
    if runs is None:
        return None
    raw = bytearray(REGISTERS)
    i = 0
    for val, run in runs:
        if val:
            raw[i : i + run] = bytes([val]) * run
        i += run
    return raw


def _to_dense_inplace(buf: bytearray) -> bool:
    """Turn a sparse HLL dense, keeping its header bytes; False when it is corrupt."""
    if buf[4] == DENSE:
        return True
    raw = _sparse_to_raw(buf)
    if raw is None:
        return False
    head = bytearray(buf[:HDR])
    head[4] = DENSE
    buf[:] = head + raw_to_dense(raw)
    return True


def _val(value: int, run: int) -> int:
    return 0x80 | ((value - 1) << 2) | (run - 1)


def _zero_ops(n: int) -> bytes:
    if n > 64:
        n -= 1
        return bytes([0x40 | (n >> 8), n & 0xFF])
    return bytes([n - 1])


def _sparse_update(buf: bytearray, index: int, count: int, sparse_max: int) -> int:
    """Raise register ``index`` to ``count`` in a sparse HLL: 1 changed, 0 not, -1 corrupt.

    Splits the opcode covering the register, then merges equal neighbouring
    VAL opcodes in a window of five from the previous opcode, as Valkey does;
    promotes to dense when the value is above 32 or the string would grow
    past ``sparse_max``.
    """
    if count > SPARSE_VAL_MAX:
        return _promote(buf, index, count)
    end = len(buf)
    p = HDR
    first = 0
    prev = -1
    span = 0
    oplen = 1
    while p < end:
        b = buf[p]
        if b & 0xC0 == 0:
            span, oplen = (b & 0x3F) + 1, 1
        elif b & 0x80:
            span, oplen = (b & 3) + 1, 1
        else:
            span, oplen = _xzero_len(buf, p, end), 2
        if index <= first + span - 1:
            break
        prev = p
        p += oplen
        first += span
    if span == 0 or p >= end:
        return -1
    b = buf[p]
    is_val = bool(b & 0x80)
    is_xzero = not is_val and bool(b & 0x40)
    if is_val:
        cur = ((b >> 2) & 0x1F) + 1
        if cur >= count:
            return 0
        if span == 1:
            buf[p] = _val(count, 1)
            return _merge_window(buf, prev, end)
    elif not is_xzero and span == 1:
        buf[p] = _val(count, 1)
        return _merge_window(buf, prev, end)
    last = first + span - 1
    if is_val:
        seq = bytearray()
        if index != first:
            seq.append(_val(cur, index - first))
        seq.append(_val(count, 1))
        if index != last:
            seq.append(_val(cur, last - index))
    else:
        seq = bytearray()
        if index != first:
            seq += _zero_ops(index - first)
        seq.append(_val(count, 1))
        if index != last:
            seq += _zero_ops(last - index)
    old = 2 if is_xzero else 1
    delta = len(seq) - old
    if delta > 0 and end + delta > sparse_max:
        return _promote(buf, index, count)
    if p + old <= end:
        buf[p : p + old] = seq
    else:  # a truncated XZERO: the string grows by the same delta as in Valkey
        new_len = end + delta
        buf[p:] = seq
        del buf[new_len:]
    return _merge_window(buf, prev, len(buf))


def _merge_window(buf: bytearray, prev: int, end: int) -> int:
    p = prev if prev >= 0 else HDR
    scan = 5
    while p < end and scan > 0:
        scan -= 1
        b = buf[p]
        if b & 0xC0 == 0x40:
            p += 2
            continue
        if b & 0xC0 == 0:
            p += 1
            continue
        if p + 1 < end and buf[p + 1] & 0x80:
            b2 = buf[p + 1]
            v1 = (b >> 2) & 0x1F
            if v1 == (b2 >> 2) & 0x1F:
                run = (b & 3) + (b2 & 3) + 2
                if run <= 4:
                    buf[p + 1] = _val(v1 + 1, run)
                    del buf[p]
                    end -= 1
                    continue
        p += 1
    buf[15] |= 0x80
    return 1


def _promote(buf: bytearray, index: int, count: int) -> int:
    if not _to_dense_inplace(buf):
        return -1
    _dense_update(buf, index, count)
    return 1


# ---------------------------------------------------------------- the operations (pure Python)


def py_pfadd(value: bytes, elements: Sequence[bytes], sparse_max: int) -> tuple[bytes, int, bool]:
    """Add elements to a valid HLL: (new value, registers changed, corrupt).

    On corruption the changes made before it are kept, as in Valkey; the
    cached cardinality is marked stale when anything changed.
    """
    buf = bytearray(value)
    updated = 0
    for element in elements:
        index, count = pat_len(element)
        if buf[4] == DENSE:
            r = _dense_update(buf, index, count)
        else:
            r = _sparse_update(buf, index, count, sparse_max)
        if r < 0:
            return bytes(buf), updated, True
        updated += r
    if updated:
        buf[15] |= 0x80
    return bytes(buf), updated, False


def py_registers(value: bytes) -> bytes | None:
    """The 16384 register values of a valid HLL (None when a sparse one is corrupt)."""
    if value[4] == DENSE:
        return bytes(dense_to_raw(value[HDR:]))
    raw = _sparse_to_raw(value)
    return None if raw is None else bytes(raw)


def py_raw_max(raw: bytearray, other: bytes) -> None:
    """raw[i] = max(raw[i], other[i]) over 16384 one-byte registers."""
    raw[:] = bytes(map(max, raw, other))


def py_merge(raw: bytearray, value: bytes) -> bool:
    """raw[i] = max(raw[i], register i of ``value``); False when ``value`` is corrupt."""
    regs = py_registers(value)
    if regs is None:
        return False
    raw[:] = bytes(map(max, raw, regs))
    return True


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        zp = z
        z += x * y
        y += y
        if zp == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        zp = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if zp == z:
            return z / 3


def _llround(v: float) -> int:
    if math.isinf(v) or math.isnan(v):
        return 0
    r = math.floor(v)
    if v - r >= 0.5:
        r += 1
    return int(r)


def estimate(histogram: Sequence[int]) -> int:
    """The cardinality estimate from a histogram of the 16384 register values."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    return _llround(ALPHA_INF * m * m / z)


def py_count_raw(raw: bytes) -> int:
    raw = bytes(raw).translate(_T["and63"])
    return estimate([raw.count(v) for v in range(64)])


def py_count(value: bytes) -> int:
    """The estimate of a valid HLL, or -1 when a sparse one is corrupt."""
    if value[4] == DENSE:
        return py_count_raw(dense_to_raw(value[HDR:]))
    runs = _sparse_runs(value)
    if runs is None:
        return -1
    hist = [0] * 64
    for val, run in runs:
        hist[val] += run
    return estimate(hist)


def py_to_dense(value: bytes) -> bytes | None:
    buf = bytearray(value)
    if not _to_dense_inplace(buf):
        return None
    return bytes(buf)


def py_store(dest: bytes | None, raw: bytes, use_dense: bool, sparse_max: int) -> bytes | None:
    """PFMERGE's write: the destination (None: a new HLL) raised to ``raw``.

    With ``use_dense`` the destination turns dense and takes ``raw`` whole;
    otherwise every non-zero register is set one by one, in order, so a
    sparse destination changes exactly as in Valkey.  None when the
    destination is corrupt.
    """
    buf = bytearray(EMPTY if dest is None else dest)
    if use_dense:
        if not _to_dense_inplace(buf):
            return None
        buf[HDR:] = raw_to_dense(raw)
    else:
        for index, count in enumerate(raw):
            if count:
                if buf[4] == DENSE:
                    _dense_update(buf, index, count)
                else:
                    _sparse_update(buf, index, count, sparse_max)
    buf[15] |= 0x80
    return bytes(buf)


# ---------------------------------------------------------------- C or Python

PURE = {
    "murmur64a": py_murmur64a,
    "pfadd": py_pfadd,
    "count": py_count,
    "count_raw": py_count_raw,
    "merge": py_merge,
    "raw_max": py_raw_max,
    "store": py_store,
    "to_dense": py_to_dense,
    "registers": py_registers,
}

try:
    from shardserver import _hll  # type: ignore[attr-defined]

    murmur64a = _hll.murmur64a
    pfadd = _hll.pfadd
    count = _hll.count
    count_raw = _hll.count_raw
    merge = _hll.merge
    raw_max = _hll.raw_max
    store = _hll.store
    to_dense = _hll.to_dense
    registers = _hll.registers
    IMPLEMENTATION = "c"
except ImportError:  # no compiler at install time: the same results, slower
    murmur64a = py_murmur64a
    pfadd = py_pfadd
    count = py_count
    count_raw = py_count_raw
    merge = py_merge
    raw_max = py_raw_max
    store = py_store
    to_dense = py_to_dense
    registers = py_registers
    IMPLEMENTATION = "python"


def selftest(seed: int = 0) -> str | None:
    """PFSELFTEST: None when this implementation passes, else the error reply's text.

    1. The dense packing: random register values survive raw -> dense -> raw,
       and a dense HLL built from them (``store``) reads them back.
    2. The estimate: the integers 1..100000 (8 bytes, little endian) are
       added to a sparse and to a dense HLL; at 10, 100, ... 100000 elements
       the two must agree while the sparse one is still sparse, and the
       count must be within 5 standard errors (1.04 / sqrt(16384) each, at
       least one element) of the truth.
    """
    rng = random.Random(seed)
    for round_ in range(1000):
        raw = rng.randbytes(REGISTERS).translate(_T["and63"])  # 16384 random 6-bit registers
        if bytes(dense_to_raw(raw_to_dense(raw))) != raw:
            return errors.HLL_SELFTEST_REGISTER.format(round_)
        if round_ < 20:  # the encoder and reader the commands use, on a few of them
            built = store(None, raw, True, 0)
            if built is None or registers(built) != raw:
                return errors.HLL_SELFTEST_REGISTER.format(round_)
    sparse, dense = EMPTY, to_dense(EMPTY)
    if dense is None:
        return errors.HLL_SELFTEST_NO_DENSE
    added = 0
    checkpoint = 10
    while checkpoint <= 100_000:
        batch = [i.to_bytes(8, "little") for i in range(added + 1, checkpoint + 1)]
        sparse = pfadd(sparse, batch, 1 << 30)[0]
        dense = pfadd(dense, batch, 0)[0]
        added = checkpoint
        card_sparse, card_dense = count(sparse), count(dense)
        if sparse[4] == SPARSE and card_sparse != card_dense:
            return errors.HLL_SELFTEST_DISAGREE.format(card_dense, card_sparse)
        err = abs(card_dense - checkpoint)
        allowed = max(checkpoint * 5 * 1.04 / math.sqrt(REGISTERS), 1.0)
        if err > allowed:
            return errors.HLL_SELFTEST_ERROR.format(card_dense, err)
        checkpoint *= 10
    return None


def decode(value: bytes) -> bytes:
    """PFDEBUG DECODE's text for a sparse HLL."""
    out = []
    end = len(value)
    p = HDR
    while p < end:
        b = value[p]
        if b & 0xC0 == 0:
            out.append(b"z:%d" % ((b & 0x3F) + 1))
            p += 1
        elif b & 0x80 == 0:
            out.append(b"Z:%d" % ((((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1))
            p += 2
        else:
            out.append(b"v:%d,%d" % (((b >> 2) & 0x1F) + 1, (b & 3) + 1))
            p += 1
    return b" ".join(out)
