"""Bitmaps and HyperLogLog: the bit arithmetic, the HLL representation, the C twin against
the pure Python one, the accuracy of the estimate, and the shard handlers on a keyspace."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.shard import bitmap_cmds, bitops, hll_cmds
from shardserver.shard import hyperloglog as hll
from shardserver.shard.keyspace import Keyspace, RawStr
from shardserver.shard.registry import ShardContext

try:
    from shardserver import _hll  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the extension is optional
    _hll = None

needs_c = pytest.mark.skipif(_hll is None, reason="the C extension is not built")

# ---------------------------------------------------------------- reference bit functions (one bit at a time)


def ref_bit(data: bytes, pos: int) -> int:
    return data[pos >> 3] >> (7 - (pos & 7)) & 1 if pos >> 3 < len(data) else 0


def ref_field(data: bytes, offset: int, bits: int, signed: bool) -> int:
    v = 0
    for i in range(bits):
        v = v << 1 | ref_bit(data, offset + i)
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


@settings(max_examples=300)
@given(data=st.binary(min_size=1, max_size=40), a=st.integers(0, 400), b=st.integers(0, 400))
def test_count_and_find_bits_match_bit_by_bit(data: bytes, a: int, b: int) -> None:
    n = len(data) * 8
    first, last = min(a, b) % n, max(a, b) % n
    if first > last:
        first, last = last, first
    bits = [ref_bit(data, i) for i in range(first, last + 1)]
    assert bitops.count_bits(data, first, last) == sum(bits)
    for want in (0, 1):
        expect = next((first + i for i, v in enumerate(bits) if v == want), -1)
        assert bitops.find_bit(data, want, first, last) == expect


@needs_c
@settings(max_examples=200)
@given(data=st.binary(max_size=100), a=st.integers(0, 100), b=st.integers(0, 100))
def test_popcount_in_c_matches_python(data: bytes, a: int, b: int) -> None:
    from shardserver._speedups import popcount  # type: ignore[attr-defined]

    start, end = sorted((min(a, len(data)), min(b, len(data))))
    want = sum(bin(x).count("1") for x in data[start:end])
    for buf in (data, bytearray(data), memoryview(data)):
        assert popcount(buf, start, end) == popcount(buf, start, end, True) == bitops.py_popcount(buf, start, end) == want
    for bad in ((-1, 0), (0, len(data) + 1), (1, 0)):
        with pytest.raises(IndexError):
            popcount(data, *bad)


@needs_c
def test_popcount_in_c_over_every_alignment() -> None:
    """Both C counts (the popcnt instruction's four 8-byte sums per 32 bytes, and the
    portable one) over ranges of every start and length up to several blocks."""
    from shardserver._speedups import popcount  # type: ignore[attr-defined]

    data = random.Random(7).randbytes(300)
    for start in range(0, 40):
        for end in range(start, 300, 5):
            want = sum(bin(x).count("1") for x in data[start:end])
            assert popcount(data, start, end) == popcount(data, start, end, True) == want


@settings(max_examples=300)
@given(
    data=st.lists(st.sampled_from([b"\0", b"\xff", b"\x10", b"\xfe"]), min_size=1, max_size=60).map(b"".join),
    a=st.integers(0, 500), b=st.integers(0, 500), window=st.integers(1, 5),
)
def test_windowed_count_and_find_match_bit_by_bit(data: bytes, a: int, b: int, window: int) -> None:
    """Long ranges go window by window (skipping windows of the other bit): with tiny windows
    every edge case (a range starting or ending inside a window, a bit in the last one) is small."""
    saved = bitops.SCAN_BYTES
    bitops.SCAN_BYTES = window
    try:
        n = len(data) * 8
        first, last = sorted((a % n, b % n))
        bits = [ref_bit(data, i) for i in range(first, last + 1)]
        for buf in (data, bytearray(data)):
            assert bitops.count_bits(buf, first, last) == sum(bits)
            for want in (0, 1):
                expect = next((first + i for i, v in enumerate(bits) if v == want), -1)
                assert bitops.find_bit(buf, want, first, last) == expect
    finally:
        bitops.SCAN_BYTES = saved


@settings(max_examples=300)
@given(data=st.binary(max_size=20), offset=st.integers(0, 200), bits=st.integers(1, 64), signed=st.booleans(), value=st.integers(-(2**64), 2**64))
def test_bitfield_get_and_set_match_bit_by_bit(data: bytes, offset: int, bits: int, signed: bool, value: int) -> None:
    assert bitops.get_field(data, offset, bits, signed) == ref_field(data, offset, bits, signed)
    buf = bytearray(data) + bytes(max(0, (offset + bits + 7) // 8 - len(data)))
    before = bytes(buf)
    bitops.set_field(buf, offset, bits, value)
    assert ref_field(bytes(buf), offset, bits, False) == value % (1 << bits)
    # no other bit moved
    for i in range(len(buf) * 8):
        if not offset <= i < offset + bits:
            assert ref_bit(bytes(buf), i) == ref_bit(before, i)


@given(values=st.lists(st.one_of(st.none(), st.binary(max_size=12)), min_size=1, max_size=5), op=st.sampled_from(list(bitops.BITOPS)))
def test_bitop_matches_bytewise(values: list[bytes | None], op: bytes) -> None:
    if op == b"not":
        values = values[:1]
    maxlen = max((len(v) for v in values if v), default=0)
    padded = [(v or b"").ljust(maxlen, b"\0") for v in values]
    expect = bytearray()
    for i in range(maxlen):
        acc = padded[0][i]
        if op == b"not":
            acc = ~acc & 0xFF
        for p in padded[1:]:
            acc = acc & p[i] if op == b"and" else acc | p[i] if op == b"or" else acc ^ p[i]
        expect.append(acc)
    assert bitops.bitop(op, values) == bytes(expect)


def test_bitop_of_empty_sources_is_empty() -> None:
    assert bitops.bitop(b"or", [None, b""]) == b""
    assert bitops.bitop(b"not", [None]) == b""


# ---------------------------------------------------------------- HLL: hashing and layout


def test_murmur64a_known_values() -> None:
    # pinned values (checked byte for byte against valkey-server by the differential tests)
    assert hll.py_murmur64a(b"", 0) == 0
    for data in (b"a", b"abcdefgh", b"abcdefghi", bytes(range(256))):
        assert 0 <= hll.py_murmur64a(data) < 2**64
    assert hll.py_murmur64a(b"hello") != hll.py_murmur64a(b"hellp")


@needs_c
@settings(max_examples=500)
@given(data=st.binary(max_size=64), seed=st.integers(0, 2**32 - 1))
def test_murmur64a_c_equals_python(data: bytes, seed: int) -> None:
    assert _hll.murmur64a(data, seed) == hll.py_murmur64a(data, seed)


def test_pat_len_range() -> None:
    for i in range(2000):
        index, count = hll.pat_len(b"%d" % i)
        assert 0 <= index < hll.REGISTERS and 1 <= count <= hll.Q + 1


def test_empty_hll_layout() -> None:
    assert hll.EMPTY == b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff"
    assert hll.is_hll(hll.EMPTY)
    assert hll.py_count(hll.EMPTY) == 0
    assert hll.cached_card(hll.EMPTY) == 0
    assert hll.py_registers(hll.EMPTY) == bytes(hll.REGISTERS)


def test_is_hll_rules() -> None:
    assert not hll.is_hll(b"HYLL")
    assert not hll.is_hll(b"HYLX" + hll.EMPTY[4:])
    assert not hll.is_hll(b"HYLL\x02" + hll.EMPTY[5:])
    dense = hll.py_to_dense(hll.EMPTY)
    assert dense is not None and len(dense) == hll.DENSE_SIZE and hll.is_hll(dense)
    assert not hll.is_hll(dense + b"\0")
    assert not hll.is_hll(dense[:-1])
    # a sparse value is not checked beyond its header
    assert hll.is_hll(hll.EMPTY[:16])


@pytest.mark.parametrize("seed", range(5))
def test_dense_pack_roundtrip(seed: int) -> None:
    rng = random.Random(seed)
    raw = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
    packed = hll.raw_to_dense(raw)
    assert len(packed) == hll.DENSE_BYTES
    assert hll.dense_to_raw(bytes(packed)) == raw
    # register i is bits 6i..6i+5 counted from the least significant bit of each byte
    big = int.from_bytes(packed, "little")
    for i in (0, 1, 2, 3, 4, 1000, hll.REGISTERS - 1):
        assert (big >> (6 * i)) & 63 == raw[i]


def test_sparse_update_splits_and_merges() -> None:
    buf = bytearray(hll.EMPTY)
    assert hll._sparse_update(buf, 1000, 2, 3000) == 1
    assert hll.decode(bytes(buf)) == b"Z:1000 v:2,1 Z:15383"
    assert hll._sparse_update(buf, 1020, 3, 3000) == 1
    assert hll._sparse_update(buf, 1021, 3, 3000) == 1
    assert hll.decode(bytes(buf)) == b"Z:1000 v:2,1 z:19 v:3,2 Z:15362"  # the example of Valkey's docs
    assert hll._sparse_update(buf, 1021, 2, 3000) == 0  # not higher: unchanged
    assert hll._sparse_update(buf, 1001, 2, 3000) == 1
    assert hll.decode(bytes(buf)) == b"Z:1000 v:2,2 z:18 v:3,2 Z:15362"
    assert buf[15] & 0x80  # the cached cardinality is stale


def test_sparse_promotes_above_32_and_past_max_bytes() -> None:
    buf = bytearray(hll.EMPTY)
    assert hll._sparse_update(buf, 5, 33, 3000) == 1
    assert buf[4] == hll.DENSE and len(buf) == hll.DENSE_SIZE
    assert hll._dense_get(buf, 5) == 33
    buf = bytearray(hll.EMPTY)
    assert hll._sparse_update(buf, 5, 3, 18) == 1  # growing past 18 bytes turns it dense
    assert buf[4] == hll.DENSE


def _random_elements(rng: random.Random, n: int) -> list[bytes]:
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) for _ in range(n)]


@needs_c
@pytest.mark.parametrize("sparse_max", [0, 40, 300, 3000, 20000])
def test_pfadd_c_equals_python(sparse_max: int) -> None:
    rng = random.Random(sparse_max)
    c_val = py_val = hll.EMPTY
    for _ in range(80):
        els = _random_elements(rng, rng.choice([1, 5, 30, 120]))
        c_val, c_up, c_bad = _hll.pfadd(c_val, els, sparse_max)
        py_val, py_up, py_bad = hll.py_pfadd(py_val, els, sparse_max)
        assert (c_val, c_up, c_bad) == (py_val, py_up, py_bad)
        assert _hll.count(c_val) == hll.py_count(py_val)
        assert _hll.registers(c_val) == hll.py_registers(py_val)
        assert _hll.to_dense(c_val) == hll.py_to_dense(py_val)


CORRUPT_SPARSE = [
    b"\x7f\xfe",  # one register short
    b"\x7f\xff\x00",  # one too many
    b"\x7f",  # truncated XZERO (its second byte is the terminating NUL)
    b"\x40\x00" * 3,
    b"\xff" * 10,
    b"",
    b"\x00\x7f",  # ZERO:1 then a truncated XZERO
]


@needs_c
@pytest.mark.parametrize("payload", CORRUPT_SPARSE)
def test_corrupt_sparse_c_equals_python(payload: bytes) -> None:
    value = b"HYLL\x01\x00\x00\x00" + bytes(8) + payload
    els = [b"%d" % i for i in range(40)]
    assert _hll.pfadd(value, els, 3000) == hll.py_pfadd(value, els, 3000)
    assert _hll.count(value) == hll.py_count(value) == -1
    assert _hll.registers(value) is None and hll.py_registers(value) is None
    assert _hll.to_dense(value) is None and hll.py_to_dense(value) is None
    assert _hll.store(value, bytes(hll.REGISTERS), True, 3000) is None
    assert hll.py_store(value, bytes(hll.REGISTERS), True, 3000) is None
    c_raw, py_raw = bytearray(hll.REGISTERS), bytearray(hll.REGISTERS)
    assert _hll.merge(c_raw, value) is False and hll.py_merge(py_raw, value) is False


@needs_c
def test_merge_store_count_raw_c_equals_python() -> None:
    rng = random.Random(5)
    values = []
    for n in (0, 3, 50, 400, 3000):
        v, _, _ = hll.py_pfadd(hll.EMPTY, _random_elements(rng, n), 3000)
        values.append(v)
    for dest in [None, *values]:
        for srcs in ([values[1]], [values[2], values[3]], [values[4]], values):
            c_raw, py_raw = bytearray(hll.REGISTERS), bytearray(hll.REGISTERS)
            dense = False
            for s in srcs:
                assert _hll.merge(c_raw, s) and hll.py_merge(py_raw, s)
                dense = dense or s[4] == hll.DENSE
            assert c_raw == py_raw
            assert _hll.count_raw(bytes(c_raw)) == hll.py_count_raw(bytes(py_raw))
            for use_dense in (dense, True):
                assert _hll.store(dest, bytes(c_raw), use_dense, 3000) == hll.py_store(dest, bytes(py_raw), use_dense, 3000)
            other = bytearray(hll.REGISTERS)
            other[::7] = bytes(range(1, 52)) * (len(other[::7]) // 51) + bytes(range(1, 52))[: len(other[::7]) % 51]
            c2, p2 = bytearray(c_raw), bytearray(py_raw)
            _hll.raw_max(c2, bytes(other))
            hll.py_raw_max(p2, bytes(other))
            assert c2 == p2


def test_implementation_in_use_is_reported() -> None:
    assert hll.IMPLEMENTATION in ("c", "python")
    if _hll is not None:
        assert hll.IMPLEMENTATION == "c"


def _estimate_error(add: Any, count: Any, n: int) -> float:
    value = hll.EMPTY
    batch = 10000
    for start in range(0, n, batch):
        value, _, bad = add(value, [b"element:%d" % i for i in range(start, min(n, start + batch))], 3000)
        assert not bad
    assert value[4] == hll.DENSE
    return abs(count(value) - n) / n


@needs_c
def test_estimate_of_one_million_within_two_percent() -> None:
    t = time.monotonic()
    assert _estimate_error(_hll.pfadd, _hll.count, 1_000_000) < 0.02
    assert time.monotonic() - t < 30


def test_estimate_pure_python_within_two_percent() -> None:
    # the pure-Python fallback gives the same numbers; 200k elements keep this test short
    assert _estimate_error(hll.py_pfadd, hll.py_count, 200_000) < 0.02


def test_small_cardinalities_are_near_exact() -> None:
    value = hll.EMPTY
    for n in (1, 10, 100, 1000):
        value, _, _ = hll.pfadd(hll.EMPTY, [b"x%d" % i for i in range(n)], 3000)
        assert abs(hll.count(value) - n) <= max(1, n * 0.02)
    assert value[4] == hll.SPARSE


# ---------------------------------------------------------------- handlers on a keyspace


class FakeList:
    """A non-string value, to check WRONGTYPE without depending on another type's module."""

    TYPE = "list"

    def encoding(self) -> str:
        return "listpack"

    def __len__(self) -> int:
        return 1


@pytest.fixture
def ctx() -> ShardContext:
    c = ShardContext(Keyspace(16), 0, 1, [(0, 16383)])
    c.db.set(b"list", FakeList())
    return c


def run(ctx: ShardContext, *args: Any) -> Any:
    argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    name = argv[0].decode()
    handler = {**{f"{n}": getattr(bitmap_cmds, f"cmd_{n}") for n in ("setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro")},
               **{f"{n}": getattr(hll_cmds, f"cmd_{n}") for n in ("pfadd", "pfcount", "pfmerge", "pfdebug")}}[name]
    return handler(ctx, argv)


@pytest.mark.parametrize(
    "cmd",
    [
        ("setbit", "list", 0, 1), ("getbit", "list", 0), ("bitcount", "list"), ("bitpos", "list", 1),
        ("bitop", "and", "d", "list"), ("bitop", "or", "d", "x", "list"), ("bitfield", "list", "get", "u8", 0),
        ("bitfield", "list", "set", "u8", 0, 1), ("bitfield_ro", "list", "get", "u8", 0),
        ("pfadd", "list", "a"), ("pfcount", "list"), ("pfcount", "x", "list"), ("pfmerge", "d", "list"),
        ("pfmerge", "list", "x"), ("pfdebug", "encoding", "list"),
    ],
)
def test_wrongtype_on_non_strings(ctx: ShardContext, cmd: tuple[Any, ...]) -> None:
    with pytest.raises(CommandError) as exc:
        run(ctx, *cmd)
    assert exc.value.text == errors.WRONGTYPE
    assert not ctx.db.exists(b"d")


def test_pf_first_bad_key_decides_the_error(ctx: ShardContext) -> None:
    ctx.db.set(b"s", b"plain")
    with pytest.raises(CommandError) as exc:
        run(ctx, "pfcount", "s", "list")
    assert exc.value.text == errors.HLL_WRONGTYPE
    with pytest.raises(CommandError) as exc:
        run(ctx, "pfcount", "list", "s")
    assert exc.value.text == errors.WRONGTYPE
    regs, dense, bad, text = hll_cmds.gather(ctx.db, [b"missing", b"s", b"list"])
    assert (bad, text, dense) == (1, errors.HLL_WRONGTYPE, False)


def test_writes_leave_raw_strings_and_keep_ttl(ctx: ShardContext) -> None:
    ctx.db.set(b"k", b"ab")
    ctx.db.set_expire(b"k", ctx.keyspace.clock.ms + 100_000)
    assert run(ctx, "setbit", "k", 0, 0) == 0
    assert type(ctx.db.get(b"k")) is RawStr
    assert ctx.db.ttl_ms(b"k") is not None
    assert run(ctx, "pfadd", "h", "a") == 1
    assert type(ctx.db.get(b"h")) is RawStr
    run(ctx, "bitop", "or", "k", "h")
    assert ctx.db.ttl_ms(b"k") is None  # BITOP writes a new value


def test_pfcount_updates_the_cache_and_propagates(ctx: ShardContext) -> None:
    """A read command the shard's loop does not log: the handler logs itself when it cached."""
    logged: list[tuple[int, list[bytes]]] = []
    ctx.keyspace.journal = lambda db, argv: logged.append((db, argv))
    run(ctx, "pfadd", "h", "a", "b", "c")
    assert hll.cached_card(ctx.db.get(b"h")) is None
    assert run(ctx, "pfcount", "h") == 3
    assert hll.cached_card(ctx.db.get(b"h")) == 3
    assert logged == [(0, [b"pfcount", b"h"])]
    assert run(ctx, "pfcount", "h") == 3  # the cache is valid: nothing changed, nothing logged
    assert logged == [(0, [b"pfcount", b"h"])]


def test_setbit_offset_limit_follows_proto_max_bulk_len(ctx: ShardContext) -> None:
    ctx.proto_max_bulk_len = 1024
    with pytest.raises(CommandError) as exc:
        run(ctx, "setbit", "k", 8192, 1)
    assert exc.value.text == errors.BIT_OFFSET
    assert run(ctx, "setbit", "k", 8191, 1) == 0
    assert len(ctx.db.get(b"k")) == 1024


def test_hll_sparse_max_bytes_is_read_from_the_context(ctx: ShardContext) -> None:
    ctx.hll_sparse_max_bytes = 0
    run(ctx, "pfadd", "h", "a")
    assert ctx.db.get(b"h")[4] == hll.DENSE
    ctx.hll_sparse_max_bytes = 3000
    run(ctx, "pfadd", "g", "a")
    assert ctx.db.get(b"g")[4] == hll.SPARSE


def test_pfselftest_passes_and_catches_a_broken_implementation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hll.selftest() is None
    with monkeypatch.context() as m:  # a packing that loses a register's top bit
        good = hll.raw_to_dense
        m.setattr(hll, "raw_to_dense", lambda raw: good(bytes(x & 31 for x in raw)))
        assert hll.selftest() == "ERR TESTFAILED Register error at 0"
    with monkeypatch.context() as m:  # an estimate 10% high
        count = hll.count
        m.setattr(hll, "count", lambda value: int(count(value) * 1.1))
        assert (hll.selftest() or "").startswith("ERR TESTFAILED too big error. card:")
    with monkeypatch.context() as m:  # sparse and dense counted differently
        count = hll.count
        m.setattr(hll, "count", lambda value: count(value) + (value[4] == hll.SPARSE))
        assert hll.selftest() == "ERR TESTFAILED dense/sparse disagree: 10 != 11"
