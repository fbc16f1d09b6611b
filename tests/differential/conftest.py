"""Differential tests: the same commands to shardserver and to a real Valkey 9.

One Valkey and two shardservers (2 shards and 1 shard) run for the whole
session; the one-shard server runs the front's Python twins of its C path.  The ``pair`` fixture connects to Valkey and to one shardserver in one
protocol (RESP2 or RESP3), FLUSHALLs both, and offers:

- ``both(*cmd)``: the command through redis-py (raw: no response callbacks,
  no decoding) on both servers; errors become ``Err`` values holding the
  exception class and its text; asserts the two replies are equal and returns
  ``(shard_reply, valkey_reply)``.
- ``exact(*cmd)`` / ``exact_many(cmds)``: the command as raw RESP bytes through
  a minimal client, compared byte for byte (reply types included: simple vs
  bulk strings, RESP3 null/map/set/verbatim).
- ``script(text)``: one command per line (shell-quoted), each through ``both``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import redis

from tests.differential.rawclient import RawClient
from tests.servers import ServerProc, shardserver, valkey

# Keys whose hash slots fall in different halves of 0..16383, so with two shards
# they live on different shards (shard 0 owns 0..8191, shard 1 owns 8192..16383).
LOW_KEYS = (b"b", b"c", b"k2")  # slots 3300, 7365, 449
HIGH_KEYS = (b"a", b"x", b"k1")  # slots 15495, 16287, 12706


class Err(str):
    """An error reply, as '<redis-py exception class>: <text>'."""

    __slots__ = ()


def _client(port: int, protocol: int) -> redis.Redis:
    r = redis.Redis(port=port, protocol=protocol, decode_responses=False, single_connection_client=True, socket_timeout=20)
    r.response_callbacks.clear()  # raw replies: no parsing into bools, dicts or floats
    return r


def call(r: redis.Redis, *args: Any) -> Any:
    try:
        return r.execute_command(*args)
    except redis.exceptions.ResponseError as exc:
        return Err(f"{type(exc).__name__}: {exc}")
    except redis.exceptions.AuthenticationError as exc:
        return Err(f"{type(exc).__name__}: {exc}")


class Pair:
    def __init__(self, shard_port: int, valkey_port: int, protocol: int, shards: int) -> None:
        self.shard_port = shard_port
        self.valkey_port = valkey_port
        self.protocol = protocol
        self.shards = shards
        self.s = _client(shard_port, protocol)
        self.v = _client(valkey_port, protocol)
        self._raw: tuple[RawClient, RawClient] | None = None

    # -- raw-bytes clients, made on first use -------------------------------
    @property
    def raw(self) -> tuple[RawClient, RawClient]:
        if self._raw is None:
            self._raw = (RawClient(self.shard_port, self.protocol), RawClient(self.valkey_port, self.protocol))
        return self._raw

    def close(self) -> None:
        self.s.close()
        self.v.close()
        if self._raw is not None:
            for c in self._raw:
                c.close()

    # -- comparisons ---------------------------------------------------------
    def run(self, *args: Any) -> tuple[Any, Any]:
        """The replies of both servers, not compared."""
        return call(self.s, *args), call(self.v, *args)

    def both(self, *args: Any) -> tuple[Any, Any]:
        a, b = self.run(*args)
        assert a == b, f"{_show(args)} (RESP{self.protocol}, {self.shards} shards)\n  shard : {a!r}\n  valkey: {b!r}"
        return a, b

    def exact(self, *args: Any) -> bytes:
        rs, rv = self.raw
        a, b = rs.call(*args), rv.call(*args)
        assert a == b, f"{_show(args)} (RESP{self.protocol}, {self.shards} shards)\n  shard : {a!r}\n  valkey: {b!r}"
        return a

    def exact_many(self, cmds: Iterable[tuple[Any, ...]]) -> list[bytes]:
        """Pipelined: every command sent at once to each server, then compared in order."""
        cmds = list(cmds)
        rs, rv = self.raw
        a, b = rs.pipeline(cmds), rv.pipeline(cmds)
        for cmd, x, y in zip(cmds, a, b, strict=True):
            assert x == y, f"{_show(cmd)} (RESP{self.protocol}, {self.shards} shards)\n  shard : {x!r}\n  valkey: {y!r}"
        return a

    def script(self, text: str) -> None:
        for line in text.strip().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                self.both(*shlex.split(line))

    def close_ints(self, *args: Any, tolerance: int) -> tuple[int, int]:
        """Integer replies that may differ by ``tolerance`` (TTLs while time passes)."""
        a, b = self.run(*args)
        assert isinstance(a, int) and isinstance(b, int), f"{_show(args)}: {a!r} / {b!r}"
        assert abs(a - b) <= tolerance and (a < 0) == (b < 0), f"{_show(args)}: shard {a}, valkey {b}"
        return a, b

    def flushall(self) -> None:
        for r in (self.s, self.v):
            r.execute_command("SELECT", 0)
            r.execute_command("FLUSHALL")


def _show(args: Iterable[Any]) -> str:
    return " ".join(shlex.quote(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)) for a in args)


@pytest.fixture(scope="session")
def valkey_port() -> Iterator[int]:
    with valkey() as port:
        yield port


@pytest.fixture(scope="session")
def shard2() -> Iterator[ServerProc]:
    with shardserver(shards=2) as server:
        assert redis.Redis(port=server.port).info("shards")["front_fastpath"] == 1
        yield server


@pytest.fixture(scope="session")
def shard1() -> Iterator[ServerProc]:
    # the one-shard server runs the front's Python twins (front/_fastpath.c off), so
    # every differential test checks both the C path (2 shards) and them against Valkey
    with shardserver(shards=1, env={"SHARDSERVER_FRONT_FASTPATH": "0"}) as server:
        assert redis.Redis(port=server.port).info("shards")["front_fastpath"] == 0
        yield server


def _make_pair(request: pytest.FixtureRequest, valkey_port: int, shards: int, protocol: int) -> Iterator[Pair]:
    server: ServerProc = request.getfixturevalue("shard2" if shards == 2 else "shard1")
    p = Pair(server.port, valkey_port, protocol, shards)
    p.flushall()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(params=[(2, 2), (2, 3), (1, 2)], ids=["2shards-resp2", "2shards-resp3", "1shard-resp2"])
def pair(request: pytest.FixtureRequest, valkey_port: int) -> Iterator[Pair]:
    """Valkey and a shardserver, both flushed; every (shards, protocol) combination."""
    shards, protocol = request.param
    yield from _make_pair(request, valkey_port, shards, protocol)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair2(request: pytest.FixtureRequest, valkey_port: int) -> Iterator[Pair]:
    """Valkey and the two-shard shardserver, both protocols (server-wide commands)."""
    yield from _make_pair(request, valkey_port, 2, request.param)
