"""Helpers shared by the integration tests: key placement, raw sockets, processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import hiredis
import psutil

from shardserver.slots import even_ranges, key_slot
from tests.servers import READY_RE, ServerProc

SHM_DIR = "/dev/shm"


def shard_of(key: bytes | str, nshards: int) -> int:
    """The shard that owns ``key`` on a server with the default (even) slot map."""
    if isinstance(key, str):
        key = key.encode()
    slot = key_slot(key)
    for index, (lo, hi) in enumerate(even_ranges(nshards)):
        if lo <= slot <= hi:
            return index
    raise AssertionError("slot outside every range")


def keys_on(shard: int, nshards: int, prefix: str = "k", count: int = 1) -> list[str]:
    """``count`` distinct keys ``prefix<n>`` owned by ``shard``."""
    out: list[str] = []
    n = 0
    while len(out) < count:
        key = f"{prefix}{n}"
        if shard_of(key, nshards) == shard:
            out.append(key)
        n += 1
    return out


def key_on(shard: int, nshards: int, prefix: str = "k") -> str:
    return keys_on(shard, nshards, prefix, 1)[0]


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; (data, closed). closed is False on timeout."""
    sock.settimeout(timeout)
    out = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(out), True
            out += chunk
    except TimeoutError:
        return bytes(out), False
    except ConnectionResetError:
        return bytes(out), True


def read_replies(sock: socket.socket, n: int, timeout: float = 10.0) -> list[object]:
    """Read exactly ``n`` RESP replies (errors come back as hiredis.ReplyError values)."""
    reader = hiredis.Reader()
    replies: list[object] = []
    deadline = time.monotonic() + timeout
    while len(replies) < n:
        reply = reader.gets()
        if reply is not False:
            replies.append(reply)
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"only {len(replies)} of {n} replies arrived")
        sock.settimeout(left)
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"server closed after {len(replies)} of {n} replies")
        reader.feed(chunk)
    assert reader.gets() is False, "more replies than commands"
    return replies


def resp(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Poll (nothing to await for processes that are not our children) until all are gone."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left:
        left = [p for p in left if not process_gone(p)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return left


def shm_entries(pid: int | None = None) -> list[str]:
    """shardserver segments in /dev/shm (of ``pid`` when given, else of dead or unknown pids)."""
    out = []
    for name in os.listdir(SHM_DIR):
        m = re.match(r"shardserver\.(\d+)\.", name)
        if not m:
            continue
        owner = int(m.group(1))
        if pid is not None:
            if owner == pid:
                out.append(name)
        elif not psutil.pid_exists(owner):
            out.append(name)
    return out


def shard_pids(info_shards: dict[str, object], nshards: int) -> list[int]:
    return [int(info_shards[f"shard{i}"]["pid"]) for i in range(nshards)]  # type: ignore[index]


@contextmanager
def server_cmd(*args: str, timeout: float = 30.0, workdir: str | None = None) -> Iterator[ServerProc]:
    """Start ``shardserver`` with exactly ``args`` (e.g. a config file first); killed in teardown."""
    workdir = workdir or tempfile.mkdtemp(prefix="shardserver-test-")
    cmd = [sys.executable, "-m", "shardserver.supervisor", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    server = ServerProc(proc=proc, port=0, dir=workdir)
    try:
        m = server.wait_log(READY_RE.pattern, timeout)
        server.port = int(m.group(1))
        yield server
    finally:
        server.stop()
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def sync_log(server: ServerProc) -> None:
    """Make sure every line the server's processes wrote so far has been captured.

    SIGHUP makes the supervisor log a line; the processes share one pipe, so once that
    line is read, everything written before the signal was sent has been read too.
    """
    mark = server.log_size()
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(rb"Received SIGHUP", 10, start=mark)

