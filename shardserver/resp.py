"""RESP: the one encoder and the one request parser of shardserver.

Ownership: this module owns the wire format.  The encoder turns reply values
into RESP2 or RESP3 bytes for client replies and AOF records; the parser is
sans-IO (``feed`` bytes, take commands with ``next``) and serves sockets, AOF
replay and tests alike.  It knows nothing of sockets, shards or commands.

Reply values are plain Python objects:

========================  =======================  ==========================
value                     RESP2                    RESP3
========================  =======================  ==========================
bytes / str               bulk string              bulk string
int                       integer                  integer
bool                      integer 1/0              boolean
None                      null bulk ``$-1``        null ``_``
NULL_ARRAY                null array ``*-1``       null ``_``
float                     bulk string              double
list / tuple              array                    array
dict                      flat array               map
PairsReply                flat array               map (keys may repeat)
SetReply                  array                    set
Simple                    simple string            simple string
ErrorReply                error                    error
Verbatim                  bulk string              verbatim string
Raw                       pre-encoded bytes        pre-encoded bytes
========================  =======================  ==========================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shardserver import errors
from shardserver.dtoa import grisu2

# --------------------------------------------------------------------------
# reply markers


class Simple(str):
    """A RESP simple string (``+OK``)."""

    __slots__ = ()


class ErrorReply(Exception):
    """An error reply; the text starts with the code clients map (ERR, WRONGTYPE, ...)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class SetReply(list):  # type: ignore[type-arg]
    """An array that RESP3 clients receive as a set."""

    __slots__ = ()


class PairsReply(list):  # type: ignore[type-arg]
    """A map kept as (key, value) pairs, so a key may repeat (COMMAND DOCS get get):
    a map in RESP3, a flat array in RESP2."""

    __slots__ = ()


class Verbatim(str):
    """A RESP3 verbatim string (``=``); RESP2 clients receive a bulk string."""

    __slots__ = ()


class Raw(bytes):
    """Bytes that are already RESP-encoded."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()
OK = Simple("OK")
QUEUED = Simple("QUEUED")
PONG = Simple("PONG")

RAW_OK = b"+OK\r\n"


def py_format_double(value: float) -> str:
    """Format a double the way Valkey replies with one (its ``d2string``).

    Zero prints as "0" or "-0" by its sign; other integral values within
    +-LLONG_MAX/2 print as integers; others use fpconv's digits
    (``dtoa.grisu2``: the shortest but for about one double in a thousand)
    laid out as fpconv does: plain integers while the exponent is below
    digits + 7, plain decimals down to 1e-6 (or for numbers with at most 4
    integral digits), else ``d.ddde+XX``.
    """
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if -4611686018427387903.0 <= value <= 4611686018427387903.0 and value == int(value):
        return str(int(value))
    neg = value < 0
    digits, k = grisu2(value)
    nd = len(digits)
    exp = abs(k + nd - 1)
    prefix = "-" if neg else ""
    if k >= 0 and exp < nd + 7:
        return prefix + digits + "0" * k
    if k < 0 and (k > -7 or exp < 4):
        offset = nd - abs(k)
        if offset <= 0:
            return prefix + "0." + "0" * (-offset) + digits
        return prefix + digits[:offset] + "." + digits[offset:]
    nd = min(nd, 18 - neg)
    mant = digits[0] + ("." + digits[1:nd] if nd > 1 else "")
    return f"{prefix}{mant}e{'-' if k + len(digits) - 1 < 0 else '+'}{exp}"


try:  # the same text in C (``put_double``), as bytes: replies are bytes
    from shardserver._speedups import format_double as double_bytes
except ImportError:  # built without the C helpers

    def double_bytes(value: float) -> bytes:
        return py_format_double(value).encode()


def format_double(value: float) -> str:
    """``py_format_double``'s text, from C when built."""
    return double_bytes(value).decode()


# --------------------------------------------------------------------------
# encoder


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _error_line(text: str) -> bytes:
    # Valkey replaces newlines in error texts so the reply stays one line;
    # client bytes quoted in a text (decoded with surrogateescape) go back as sent.
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode("utf-8", "surrogateescape") + b"\r\n"


def _encode_into(out: list[bytes], value: Any, resp3: bool) -> None:
    t = type(value)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif t is int:
        out.append(b":%d\r\n" % value)
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif t is Simple:
        out.append(b"+" + value.encode("utf-8", "surrogateescape") + b"\r\n")
    elif t is list or t is tuple:
        whole = reply_array(value, resp3)  # the common cases (LRANGE, ZPOPMIN ...) in one C call
        if whole is not None:
            out.append(whole)
            return
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            if type(item) is bytes:
                out.append(b"$%d\r\n%s\r\n" % (len(item), item))
            else:
                _encode_into(out, item, resp3)
    elif t is Raw:
        out.append(value)
    elif t is str:
        data = value.encode("utf-8", "surrogateescape")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif t is bool:
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif t is float:
        text = double_bytes(value)
        out.append(b",%s\r\n" % text if resp3 else _bulk(text))
    elif t is dict:
        out.append((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(value) * (1 if resp3 else 2)))
        for k, v in value.items():
            _encode_into(out, k, resp3)
            _encode_into(out, v, resp3)
    elif t is PairsReply:
        out.append((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(value) * (1 if resp3 else 2)))
        for k, v in value:
            _encode_into(out, k, resp3)
            _encode_into(out, v, resp3)
    elif t is SetReply:
        out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(value))
        for item in value:
            _encode_into(out, item, resp3)
    elif isinstance(value, ErrorReply):
        out.append(_error_line(value.text))
    elif value is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif t is Verbatim:
        data = value.encode("utf-8", "surrogateescape")
        if resp3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(data) + 4, data))
        else:
            out.append(_bulk(data))
    elif isinstance(value, bytes | bytearray | memoryview):  # bytes subclasses (RawStr) too
        out.append(_bulk(bytes(value)))
    elif isinstance(value, int):  # int subclasses (IntEnum)
        out.append(b":%d\r\n" % value)
    else:
        raise TypeError(f"cannot encode {t.__name__} as RESP")


def encode(value: Any, resp3: bool = False) -> bytes:
    """Encode one reply value as RESP2 (default) or RESP3 bytes."""
    t = type(value)
    if t is bytes:
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if value is OK:
        return RAW_OK
    if t is int:
        return b":%d\r\n" % value
    if value is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if t is list:
        whole = reply_array(value, resp3)
        if whole is not None:
            return whole
    out: list[bytes] = []
    _encode_into(out, value, resp3)
    return b"".join(out)


def encode_command(args: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Encode a command as a RESP multibulk request (AOF records, clients in tests)."""
    whole = bulk_array(args)  # C when built; a request is an array of bulk strings
    if whole is not None:
        return whole
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def encode_error(text: str) -> bytes:
    return _error_line(text)


# --------------------------------------------------------------------------
# request parser

INLINE_MAX = 64 * 1024  # Valkey's PROTO_INLINE_MAX_SIZE
_INT_MAX = 2**31 - 1


class ProtocolError(Exception):
    """Malformed request; the text is Valkey's and the connection must be closed."""


def _strict_int(data: bytes) -> int | None:
    """Parse like Valkey's string2ll: optional '-', digits, no spaces or '+'."""
    if not data or len(data) > 20:
        return None
    body = data[1:] if data[:1] == b"-" else data
    if not body.isdigit() or (body[:1] == b"0" and len(body) > 1):
        return None
    if data == b"-0":
        return None
    return int(data)


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command like Valkey 9; None on unbalanced quotes.

    Like the C original it stops at a NUL byte; leading blanks are C ``isspace``,
    an unquoted argument ends at space, tab, CR or LF, and quotes may open and
    close anywhere inside an argument (``a"b c"d`` is one argument).
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    blank = b" \t\n\v\f\r"
    while True:
        while i < n and line[i] in blank:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        done = False
        while not done:
            c = line[i] if i < n else 0
            c1 = line[i + 1] if i + 1 < n else 0
            if inq:
                if c == 0x5C and c1 == 0x78 and i + 3 < n and _is_hex(line[i + 2]) and _is_hex(line[i + 3]):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and c1:
                    i += 1
                    cur.append({0x6E: 10, 0x72: 13, 0x74: 9, 0x62: 8, 0x61: 7}.get(c1, c1))
                elif c == 0x22:
                    inq = False  # Valkey 9: text right after a closing quote continues the argument
                elif not c:
                    return None
                else:
                    cur.append(c)
            elif insq:
                if c == 0x5C and c1 == 0x27:
                    i += 1
                    cur.append(0x27)
                elif c == 0x27:
                    insq = False
                elif not c:
                    return None
                else:
                    cur.append(c)
            elif c in (0x20, 0x0A, 0x0D, 0x09, 0):
                done = True
            elif c == 0x22:
                inq = True
            elif c == 0x27:
                insq = True
            else:
                cur.append(c)
            if i < n:
                i += 1
        args.append(bytes(cur))


def _is_hex(c: int) -> bool:
    return c in b"0123456789abcdefABCDEF"


class RequestParser:
    """Pure-Python sans-IO request parser with Valkey's limits and error texts.

    (``routable`` is False: the front routes its commands in Python.)

    It follows Valkey's processMultibulkBuffer / processInlineBuffer step by
    step.  ``feed(data)`` appends bytes; ``next()`` returns the next command (a
    list of bytes), ``None`` when more bytes are needed, or raises
    ProtocolError.  The query buffer limit is the caller's to enforce through
    ``buffered()`` (Valkey closes such a client without a reply).
    """

    routable = False

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_buffer: int = 1 << 30) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_buffer = max_buffer
        self._buf = bytearray()
        self._pos = 0
        self._remaining = 0
        self._args: list[bytes] = []
        self._bulk = -1
        self._error: ProtocolError | None = None
        self._cmd_start = 0  # where the record being parsed began (may precede the buffer)
        self.strict = False  # AOF replay: multibulk records only; '#' lines are annotations

    def feed(self, data: bytes) -> None:
        if self._pos and (self._pos == len(self._buf) or self._pos > 65536):
            del self._buf[: self._pos]
            self._cmd_start -= self._pos
            self._pos = 0
        self._buf += data

    def unfinished(self) -> int:
        """Bytes from the start of the record in progress (or the failed one) to the end."""
        return len(self._buf) - (self._cmd_start if self._remaining else self._pos)

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def at_boundary(self) -> bool:
        return self._remaining == 0 and self._pos == len(self._buf)

    def failed(self) -> ProtocolError | None:
        return self._error

    def _fail(self, text: str) -> ProtocolError:
        self._error = ProtocolError(text)
        return self._error

    def next(self) -> list[bytes] | None:
        if self._error is not None:
            raise self._error
        buf = self._buf
        while True:
            if self._remaining == 0:
                avail = len(buf) - self._pos
                if avail <= 0:
                    return None
                self._cmd_start = self._pos
                if self.strict and buf[self._pos] != 0x2A:
                    if buf[self._pos] != 0x23:  # '#': an annotation line
                        raise self._fail(errors.AOF_BAD_FORMAT)
                    nl = buf.find(b"\n", self._pos)
                    if nl < 0:
                        return None
                    self._pos = nl + 1
                    continue
                if buf[self._pos] == 0x2A:  # '*'
                    nl = buf.find(b"\r", self._pos)
                    if nl < 0:
                        if avail > INLINE_MAX:
                            raise self._fail(errors.PROTO_BIG_MBULK)
                        return None
                    if nl - self._pos > avail - 2:
                        return None
                    if buf[nl + 1] != 0x0A:  # as Valkey: the CR of a count line must be followed by LF
                        raise self._fail(errors.PROTO_BAD_CRLF)
                    ll = _strict_int(bytes(buf[self._pos + 1 : nl]))
                    if ll is None or ll > _INT_MAX:
                        raise self._fail(errors.PROTO_BAD_MBULK)
                    if ll <= 0 and self.strict:
                        raise self._fail(errors.AOF_BAD_FORMAT)
                    self._pos = nl + 2
                    if ll <= 0:
                        continue
                    self._remaining = ll
                    self._args = []
                    self._bulk = -1
                else:
                    nl = buf.find(b"\n", self._pos)
                    nul = buf.find(b"\0", self._pos, nl if nl >= 0 else len(buf))
                    if nul >= 0:
                        nl = -1  # Valkey finds the newline with strchr: a NUL hides it
                    if nl < 0:
                        if avail > INLINE_MAX:
                            raise self._fail(errors.PROTO_BIG_INLINE)
                        return None
                    end = nl
                    consumed = 1
                    if end != self._pos and buf[end - 1] == 0x0D:
                        end -= 1
                        consumed = 2
                    args = split_args(bytes(buf[self._pos : end]))
                    if args is None:
                        raise self._fail(errors.PROTO_UNBALANCED)
                    self._pos = end + consumed
                    if args:
                        return args
                    continue
            while self._remaining:
                avail = len(buf) - self._pos
                if self._bulk < 0:
                    if avail <= 0:
                        return None
                    nl = buf.find(b"\r", self._pos)
                    if nl < 0:
                        if avail > INLINE_MAX:
                            raise self._fail(errors.PROTO_BIG_BULK)
                        return None
                    if nl - self._pos > avail - 2:
                        return None
                    if buf[self._pos] != 0x24:  # '$'
                        raise self._fail(errors.proto_expected_dollar(bytes(buf[self._pos : self._pos + 1]).decode("utf-8", "surrogateescape")))
                    if buf[nl + 1] != 0x0A:
                        raise self._fail(errors.PROTO_BAD_CRLF)
                    ll = _strict_int(bytes(buf[self._pos + 1 : nl]))
                    if ll is None or ll < 0 or ll > self.max_bulk_len:
                        raise self._fail(errors.PROTO_BAD_BULK)
                    self._pos = nl + 2
                    self._bulk = ll
                    avail = len(buf) - self._pos
                if avail < self._bulk + 2:
                    return None
                if buf[self._pos + self._bulk : self._pos + self._bulk + 2] != b"\r\n":
                    raise self._fail(errors.PROTO_BAD_CRLF)
                self._args.append(bytes(buf[self._pos : self._pos + self._bulk]))
                self._pos += self._bulk + 2
                self._bulk = -1
                self._remaining -= 1
            args, self._args = self._args, []
            return args

    def drain(self) -> list[list[bytes]]:
        """Every complete command; an error after some commands is raised on the next call."""
        cmds: list[list[bytes]] = []
        try:
            while (cmd := self.next()) is not None:
                cmds.append(cmd)
        except ProtocolError:
            if cmds:
                return cmds
            raise
        return cmds


def py_bulk_array(seq: Any) -> bytes | None:
    """RESP array of bulk strings for a list/tuple of exact bytes, or None (the C twin's contract)."""
    if type(seq) not in (list, tuple) or any(type(x) is not bytes for x in seq):
        return None
    return b"*%d\r\n" % len(seq) + b"".join([b"$%d\r\n%s\r\n" % (len(x), x) for x in seq])


def py_reply_array(seq: Any, resp3: bool) -> bytes | None:
    """The C ``reply_array``'s contract without C: None, so the general encoder runs."""
    return None


try:
    from shardserver._speedups import Parser as _CParser
    from shardserver._speedups import bulk_array, interleave, merge_splits, reply_array
except ImportError:  # no compiler at install time: the pure-Python parser serves
    _CParser = None
    bulk_array = py_bulk_array
    reply_array = py_reply_array

    def merge_splits(merges: bytes, orders: list[bytes], parts: list[Any]) -> bytes:
        raise RuntimeError("split commands come from the C router only")

    def interleave(order: bytes, parts: list[Any]) -> bytes:
        """Merge per-shard (joined replies, u32 lengths) into request order."""
        from array import array

        cursors = {}
        for shard, part in enumerate(parts):
            if part is not None:
                cursors[shard] = [part[0], array("I", part[1]), 0, 0]
        out = []
        for shard in order:
            cur = cursors[shard]
            n = cur[1][cur[2]]
            out.append(cur[0][cur[3] : cur[3] + n])
            cur[2] += 1
            cur[3] += n
        return b"".join(out)


class FastRequestParser:
    """RequestParser's interface over the C parser (``_speedups.c``), when built.

    ``drain_routed`` is the front's hot path: parsing and routing in one C call
    (see ``Parser_drain_routed``); its error is a str, or None.
    """

    routable = True

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_buffer: int = 1 << 30) -> None:
        self._p = _CParser(max_bulk_len, max_buffer)
        self._queue: list[list[bytes]] = []
        self._error: ProtocolError | None = None

    @property
    def max_bulk_len(self) -> int:
        return int(self._p.max_bulk_len)

    @max_bulk_len.setter
    def max_bulk_len(self, value: int) -> None:
        self._p.max_bulk_len = value

    @property
    def max_buffer(self) -> int:
        return int(self._p.max_buffer)

    @max_buffer.setter
    def max_buffer(self, value: int) -> None:
        self._p.max_buffer = value

    def feed(self, data: bytes) -> None:
        self._p.feed(data)

    def drain_routed(self, fast: dict[bytes, tuple[int, int]], owner: Any, nshards: int) -> tuple[list[Any], str | None]:
        if self._error is not None or self._queue:
            raise RuntimeError("drain_routed after drain: pick one API per parser")
        items, err = self._p.drain_routed(fast, owner, nshards)
        return items, None if err is None else self.fail(err)

    def fail(self, err: bytes) -> str:
        """Keep the C parser's protocol error (it stops this parser); its text."""
        self._error = ProtocolError(err.decode("utf-8", "surrogateescape"))
        return str(self._error)

    def buffered(self) -> int:
        return int(self._p.buffered())

    def unfinished(self) -> int:
        return int(self._p.unfinished())

    @property
    def strict(self) -> bool:
        return bool(self._p.strict)

    @strict.setter
    def strict(self, value: bool) -> None:
        self._p.strict = value

    def at_boundary(self) -> bool:
        return bool(self._p.at_boundary())

    def failed(self) -> ProtocolError | None:
        return self._error

    def drain(self) -> list[list[bytes]]:
        if self._queue:
            cmds, self._queue = self._queue, []
        else:
            cmds = []
        if self._error is not None:
            if cmds:
                return cmds
            raise self._error
        more, err = self._p.drain()
        if err is not None:
            self._error = ProtocolError(err.decode("utf-8", "surrogateescape"))
        if cmds:
            cmds.extend(more)
        else:
            cmds = more
        if not cmds and self._error is not None:
            raise self._error
        return cmds

    def next(self) -> list[bytes] | None:
        if not self._queue:
            try:
                self._queue = self.drain()
            except ProtocolError:
                raise
        if self._queue:
            return self._queue.pop(0)
        if self._error is not None:
            raise self._error
        return None


if _CParser is None:
    FastRequestParser = RequestParser  # type: ignore[misc, assignment]  # noqa: F811


ReplyEncoder = Callable[[Any, bool], bytes]
