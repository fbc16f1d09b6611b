"""One client connection, owned by the front.

Ownership: everything about a connection lives here — its parser, selected
database, protocol version, name, auth state and the queue that keeps replies
in request order even when consecutive commands run on different shards.
Each queued reply is a one-element list (a *cell*) whose content is filled when
the reply is known; the queue is written out up to the first empty cell.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from shardserver import errors, log
from shardserver.resp import FastRequestParser, ProtocolError, encode_error


def _load_fastpath() -> Any:
    """The front's C path (front/_fastpath.c), or None: not built, or turned off with
    SHARDSERVER_FRONT_FASTPATH=0 (the Python twins then serve every read and reply)."""
    if os.environ.get("SHARDSERVER_FRONT_FASTPATH", "1") == "0":
        return None
    try:
        from shardserver.front import _fastpath
    except ImportError:
        return None
    return _fastpath


fastpath = _load_fastpath()


class _PyConnBase:
    """The Python twin of ``_fastpath.ConnBase`` (whose fields are plain attributes here)."""

    def data_received(self, data: bytes) -> None:
        self.process_data(data)  # type: ignore[attr-defined]


class _PyBase:
    """The Python twin of ``_fastpath.FrontBase`` and ``LinkBase``: plain attributes."""


# The C bases keep the fields the C path touches on every read, run and reply
# in C structs (Python sees ordinary attributes); ConnBase.data_received runs
# the C path, and process_data is the twin either way.
ConnBase: Any = fastpath.ConnBase if fastpath is not None else _PyConnBase
FrontBase: Any = fastpath.FrontBase if fastpath is not None else _PyBase
LinkBase: Any = fastpath.LinkBase if fastpath is not None else _PyBase

if TYPE_CHECKING:
    from shardserver.front.server import Front


class ClientConnection(ConnBase, asyncio.Protocol):
    def __init__(self, front: Front, unix: bool = False) -> None:
        self.front = front
        self.unix = unix
        self.id = front.next_client_id()
        self.parser = FastRequestParser(front.proto_max_bulk_len, front.query_buffer_limit)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[list[Any]] = deque()
        self.db = 0
        self.resp3 = False
        self.authenticated = not front.requirepass
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.addr = ""
        self.laddr = ""
        self.fd = -1
        self.created = time.monotonic()
        self.last_active = self.created
        self.last_cmd: Any = None  # the Command last run (named lazily for CLIENT LIST)
        self.tot_cmds = 0
        self.net_in = 0
        self.net_out = 0
        self.closing = False
        self.close_after_flush = False
        self.paused = False
        self.write_paused = False
        self.monitoring = False
        self.no_evict = False
        self.no_touch = False  # its commands do not update keys' access time
        self.postponed: list[list[bytes]] = []  # commands held by CLIENT PAUSE WRITE
        # in a blocking command (its attempt or its wait): later commands wait, as in Valkey
        self.blocked = False
        self.deferred: tuple[bool, list[Any]] | None = None  # (routed?, items) held back meanwhile
        # a blocking command's statistics (name, front nanoseconds), counted when it completes
        self.block_stat: tuple[str, int] | None = None

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()
        if self.unix:
            # Valkey 9 formats a unix client as path:0, then brackets it as an address with a ':'
            path = str(self.front.config.get("unixsocket"))
            self.addr = self.laddr = f"[{path}:0]:0"
        else:
            self.addr = _fmt_addr(transport.get_extra_info("peername"))
            self.laddr = _fmt_addr(transport.get_extra_info("sockname"))
        if not self.front.register(self):
            transport.write(encode_error(errors.MAX_CLIENTS))
            self.closing = True
            transport.close()
            return
        if self.front.reading_paused:
            self.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.transport = None
        self.pending.clear()
        self.front.unregister(self)

    def pause_writing(self) -> None:
        # The client does not read its replies: stop reading its requests too.
        self.write_paused = True
        self.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.front.reading_paused:
            self.resume_reading()

    def process_data(self, data: bytes) -> None:
        """A client's bytes, when the C path (ConnBase.data_received) does not take them."""
        if self.closing:
            return
        self.net_in += len(data)
        self.last_active = time.monotonic()
        self.parser.feed(data)
        self.process_input()

    def process_input(self) -> None:
        """Run what the parser holds, unless CLIENT PAUSE holds this client back."""
        parser = self.parser
        front = self.front
        if self.blocked:  # as Valkey: a blocked client's next commands run once it is unblocked
            return
        if front.pause_mode is not None and front.hold_client(self):
            return
        # The C router is the fast path; MONITOR, CLIENT PAUSE, clients not yet
        # authenticated and builds without the C parser go command by command.
        if self.authenticated and parser.routable and not front.monitors and front.pause_mode is None:
            items, error = parser.drain_routed(front._fast, front.slotmap.raw_owner, front.nshards)
            self.routed(items, 0, error)
            return
        try:
            cmds = parser.drain()
        except ProtocolError as exc:
            self.protocol_error(str(exc))
            return
        front.dispatch_each(self, cmds)
        if parser.failed() is not None:
            self.protocol_error(str(parser.failed()))
            return
        self._input_done()

    def routed(self, items: list[Any], start: int, error: str | None) -> None:
        """Dispatch the router's ``items`` from ``start`` (the C path queued those before), then
        fail on the parser's protocol ``error`` or write what is ready."""
        if start < len(items):
            self.front.dispatch_routed(self, items[start:] if start else items)
        if error is not None:
            self.protocol_error(error)
            return
        self._input_done()

    def _input_done(self) -> None:
        if self.parser.buffered() > self.front.query_buffer_limit:
            log.warning(f"Closing client that reached max query buffer length: id={self.id} addr={self.addr}")
            self.close_now()
            return
        self.write_ready()

    # -- replies -----------------------------------------------------------
    def protocol_error(self, text: str) -> None:
        log.verbose(f"Protocol error from client id={self.id} addr={self.addr}: {text}")
        self.pending.append([encode_error(text)])
        self.close_after_flush = True
        self.closing = True
        self.write_ready()

    def reply(self, data: bytes) -> None:
        self.pending.append([data])

    def write_ready(self) -> None:
        pending = self.pending
        if not pending:
            return
        out = []
        while pending and pending[0][0] is not None:
            out.append(pending.popleft()[0])
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # the client went away: its replies have nowhere to go
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            self.net_out += len(data)
            transport.write(data)
        if self.close_after_flush and not pending:
            transport.close()

    def close_now(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.paused and not self.transport.is_closing():
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self.paused and not self.write_paused and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()

    # -- CLIENT LIST / INFO ---------------------------------------------------
    def describe(self) -> str:
        now = time.monotonic()
        flags = ("b" if self.front.blocking.is_blocked(self) else "") + ("U" if self.unix else "") + ("e" if self.no_evict else "") + ("T" if self.no_touch else "")
        flags = flags or "N"
        qbuf, queued = buffer_sizes(self)
        obl, oll, omem = output_layout(queued)
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} name={self.name.decode('utf-8', 'surrogateescape')} "
            f"age={int(now - self.created)} idle={int(now - self.last_active)} flags={flags} capa= db={self.db} "
            f"sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf={qbuf} qbuf-free=0 argv-mem=0 "
            f"multi-mem=0 rbs=0 rbp=0 obl={obl} oll={oll} omem={omem} tot-mem=0 events=r "
            f"cmd={self.last_cmd.fullname if self.last_cmd else 'NULL'} user=default redir=-1 resp={3 if self.resp3 else 2} "
            f"lib-name={self.lib_name.decode('utf-8', 'surrogateescape')} lib-ver={self.lib_ver.decode('utf-8', 'surrogateescape')} "
            f"tot-net-in={self.net_in} tot-net-out={self.net_out} tot-cmds={self.tot_cmds}"
        )


_REPLY_CHUNK = 16 * 1024  # Valkey's PROTO_REPLY_CHUNK_BYTES


class BufferPeaks:
    """The largest input and output buffers of any client over the last 8 seconds
    (INFO's client_recent_max_input_buffer / _output_buffer), kept as Valkey keeps
    them: one slot per second in a ring of 8, each the maximum sampled during
    its second; a slot is cleared when its second comes round again."""

    SLOTS = 8

    def __init__(self) -> None:
        self.peaks = [[0, 0] for _ in range(self.SLOTS)]
        self.seconds = [-1] * self.SLOTS

    def sample(self, now: float, input_bytes: int, output_bytes: int) -> None:
        second = int(now)
        i = second % self.SLOTS
        if self.seconds[i] != second:
            self.seconds[i] = second
            self.peaks[i] = [0, 0]
        peak = self.peaks[i]
        if input_bytes > peak[0]:
            peak[0] = input_bytes
        if output_bytes > peak[1]:
            peak[1] = output_bytes

    def recent_max(self, which: int, now: float | None = None) -> int:
        """0: input, 1: output; slots older than 8 seconds no longer count."""
        second = int(time.monotonic() if now is None else now)
        return max((p[which] for p, s in zip(self.peaks, self.seconds, strict=True) if second - s < self.SLOTS), default=0)


def output_layout(queued: int) -> tuple[int, int, int]:
    """Output the socket has not taken yet, laid out as Valkey's 16 KB reply buffer and
    list of 16 KB blocks: (obl, oll, omem) as CLIENT LIST shows them."""
    obl = min(queued, _REPLY_CHUNK)
    omem = queued - obl
    return obl, -(-omem // _REPLY_CHUNK), omem


def buffer_sizes(conn: ClientConnection) -> tuple[int, int]:
    """(bytes read but not yet parsed, bytes written but not yet taken by the socket)."""
    transport = conn.transport
    return conn.parser.buffered(), (transport.get_write_buffer_size() if transport is not None else 0)


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)
