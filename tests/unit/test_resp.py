"""The sans-IO request parsers (pure Python and hiredis-backed) and the encoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shardserver import errors
from shardserver.resp import (
    NULL_ARRAY,
    OK,
    ErrorReply,
    FastRequestParser,
    ProtocolError,
    RequestParser,
    SetReply,
    Simple,
    Verbatim,
    encode,
    encode_command,
    split_args,
)

PARSERS = [RequestParser, FastRequestParser]


def parse_all(cls: type, data: bytes, chunk: int | None = None, **kw: int) -> list[list[bytes]]:
    p = cls(**kw)
    out: list[list[bytes]] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        p.feed(piece)
        while True:
            cmd = p.next()
            if cmd is None:
                break
            out.append(cmd)
    return out


@pytest.mark.parametrize("cls", PARSERS)
def test_multibulk_and_inline(cls: type) -> None:
    data = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\nset k \"a b\"\r\n*1\r\n$4\r\nPING\r\n"
    assert parse_all(cls, data) == [[b"GET", b"a"], [b"PING"], [b"set", b"k", b"a b"], [b"PING"]]


@pytest.mark.parametrize("cls", PARSERS)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_byte_by_byte(cls: type, chunk: int) -> None:
    cmds = [[b"SET", b"key", b"x" * 100], [b"GET", b"key"], [b"PING"]]
    data = b"".join(encode_command(c) for c in cmds) + b"ECHO hi\r\n"
    assert parse_all(cls, data, chunk) == cmds + [[b"ECHO", b"hi"]]


@pytest.mark.parametrize("cls", PARSERS)
def test_empty_multibulk_and_blank_lines_skipped(cls: type) -> None:
    assert parse_all(cls, b"*0\r\n*-1\r\n\r\n   \r\nPING\r\n") == [[b"PING"]]


@pytest.mark.parametrize(
    "data,text",
    [
        (b"*abc\r\n", errors.PROTO_BAD_MBULK),
        (b"*3000000000\r\n", errors.PROTO_BAD_MBULK),
        (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-1\r\n", errors.PROTO_BAD_BULK),
        (b"*1\r\n$abc\r\n", errors.PROTO_BAD_BULK),
        (b"*1\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'"),
        (b'SET "a\r\n', errors.PROTO_UNBALANCED),
        (b"*1" + b"1" * 70000, errors.PROTO_BIG_MBULK),
        (b"x" * 70000, errors.PROTO_BIG_INLINE),
        (b"*1\r\n$4\r\nPINGxx", errors.PROTO_BAD_CRLF),
        (b"*1\r\n\xff\r\n", "ERR Protocol error: expected '$', got '\udcff'"),
        # a CR not followed by LF ends a count or length line (texts seen from valkey-server 9.1)
        (b"*\r*1\r\n$6\r\nappend\r\n", errors.PROTO_BAD_CRLF),
        (b"*x\rfoo\r\n", errors.PROTO_BAD_CRLF),
        (b"*1\rx\r\n", errors.PROTO_BAD_CRLF),
        (b"*1\r\n$3\rfoo\r\n", errors.PROTO_BAD_CRLF),
        (b"*1\r\n$x\rfoo\r\n", errors.PROTO_BAD_CRLF),
        (b"*1\r\nx3\rfoo\r\n", "ERR Protocol error: expected '$', got 'x'"),
    ],
)
@pytest.mark.parametrize("cls", PARSERS)
def test_protocol_errors_have_valkey_texts(cls: type, data: bytes, text: str) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_all(cls, data)
    assert str(exc.value) == text


@pytest.mark.parametrize("cls", PARSERS)
def test_bulk_length_limit(cls: type) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_all(cls, b"*2\r\n$3\r\nSET\r\n$2000000\r\n" + b"x" * 70000, max_bulk_len=1024 * 1024)
    assert str(exc.value) == errors.PROTO_BAD_BULK


def test_fast_parser_keeps_good_commands_before_an_error() -> None:
    p = FastRequestParser()
    p.feed(b"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n")
    assert p.drain() == [[b"PING"]]
    assert p.failed() is not None
    with pytest.raises(ProtocolError):
        p.drain()


def test_split_args_quotes_and_escapes() -> None:
    assert split_args(b'set "a\\x41\\n" \'it\\\'s\'') == [b"set", b"aA\n", b"it's"]
    assert split_args(b'"unterminated') is None
    assert split_args(b'"a"b') == [b"ab"]  # Valkey 9: a closing quote does not end the argument
    assert split_args(b'x"b c"\'d\'') == [b"xb cd"]


def test_encoder_resp2_and_resp3() -> None:
    assert encode(b"x") == b"$1\r\nx\r\n"
    assert encode(None) == b"$-1\r\n"
    assert encode(None, True) == b"_\r\n"
    assert encode(NULL_ARRAY) == b"*-1\r\n"
    assert encode(OK) == b"+OK\r\n"
    assert encode(5) == b":5\r\n"
    assert encode([b"a", 1, None]) == b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n"
    assert encode({b"a": 1}) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert encode({b"a": 1}, True) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert encode(SetReply([b"a"]), True) == b"~1\r\n$1\r\na\r\n"
    assert encode(True, True) == b"#t\r\n"
    assert encode(True) == b":1\r\n"
    assert encode(1.5, True) == b",1.5\r\n"
    assert encode(1.5) == b"$3\r\n1.5\r\n"
    assert encode(Verbatim("hi"), True) == b"=6\r\ntxt:hi\r\n"
    assert encode(ErrorReply("ERR bad\nthing")) == b"-ERR bad thing\r\n"
    assert encode(Simple("PONG")) == b"+PONG\r\n"


arg = st.binary(min_size=0, max_size=40)
command = st.lists(arg, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(command, min_size=1, max_size=20), st.integers(min_value=1, max_value=50))
def test_parsers_agree_on_random_pipelines(cmds: list[list[bytes]], chunk: int) -> None:
    data = b"".join(encode_command(c) for c in cmds)
    assert parse_all(RequestParser, data, chunk) == cmds
    assert parse_all(FastRequestParser, data, chunk) == cmds


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_agree_on_garbage(data: bytes) -> None:
    def outcome(cls: type) -> tuple[list[list[bytes]], str | None]:
        p = cls()
        got: list[list[bytes]] = []
        try:
            p.feed(data)
            while (cmd := p.next()) is not None:
                got.append(cmd)
        except ProtocolError as exc:
            return got, str(exc)
        return got, None

    assert outcome(FastRequestParser) == outcome(RequestParser)


@given(st.lists(st.one_of(st.binary(max_size=40), st.integers(), st.none()), max_size=30))
def test_bulk_array_c_and_python_agree(items: list) -> None:
    from shardserver import _speedups
    from shardserver.resp import py_bulk_array

    for seq in (items, tuple(items)):
        c = _speedups.bulk_array(seq)
        assert c == py_bulk_array(seq)
        if all(type(x) is bytes for x in items):
            assert c is not None and c == b"".join([b"*%d\r\n" % len(items)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in items])
        else:
            assert c is None
