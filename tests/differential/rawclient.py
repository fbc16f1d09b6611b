"""A minimal RESP client that returns each reply as its exact bytes.

redis-py (with hiredis) folds simple strings and bulk strings into the same
``bytes`` and verbatim strings into plain strings, so reply *types* are compared
through this client: one request, one complete reply, byte for byte.
"""

from __future__ import annotations

import socket


def encode_command(args: tuple[object, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            data = a
        elif isinstance(a, str):
            data = a.encode()
        else:
            data = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RawClient:
    def __init__(self, port: int, protocol: int = 2, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.protocol = protocol
        if protocol == 3:
            self.call("HELLO", "3")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self, pos: int) -> tuple[bytes, int]:
        while True:
            end = self.buf.find(b"\r\n", pos)
            if end >= 0:
                return self.buf[pos:end], end + 2
            self._fill()

    def _need(self, end: int) -> None:
        while len(self.buf) < end:
            self._fill()

    def _skip(self, pos: int) -> int:
        """Position just after one complete reply starting at ``pos``."""
        line, pos = self._line(pos)
        kind, rest = line[:1], line[1:]
        if kind in b"+-:_,#(":
            return pos
        if kind in b"$=!":
            n = int(rest)
            if n < 0:
                return pos
            self._need(pos + n + 2)
            return pos + n + 2
        if kind in b"*~>%|":
            n = int(rest)
            if n < 0:
                return pos
            if kind in b"%|":
                n *= 2
            for _ in range(n):
                pos = self._skip(pos)
            if kind == b"|":  # an attribute precedes the real reply
                pos = self._skip(pos)
            return pos
        raise ValueError(f"bad RESP type byte in {line!r}")

    def read_reply(self) -> bytes:
        end = self._skip(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def call(self, *args: object) -> bytes:
        self.sock.sendall(encode_command(args))
        return self.read_reply()

    def pipeline(self, cmds: list[tuple[object, ...]]) -> list[bytes]:
        """Send every command at once, then read one reply per command."""
        self.sock.sendall(b"".join(encode_command(c) for c in cmds))
        return [self.read_reply() for _ in cmds]
