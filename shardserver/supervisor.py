"""The supervisor: the ``shardserver`` process that owns the other processes.

Ownership: the supervisor owns lifecycles only — it creates the shared memory
(rings, slot map), forks one front and N shards, reaps and restarts them, and
shuts everything down in order.  Signal handlers only enqueue the signal
number; the loop below acts and logs.  It never touches client data.

Children are forked (not spawned) on purpose: the eventfd doorbells and the
already-unlinked shared-memory mappings are inherited across ``fork`` only, so
nothing is ever left in /dev/shm, even after SIGKILL.  Each child asks the
kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ipc.channel import Channel
from ipc.shm import SharedRegion, sweep_stale
from shardserver import __version__, log, sdnotify
from shardserver.config import Config, ConfigError, format_fatal, parse_args
from shardserver.slots import MAP_BYTES, SlotMap

SHUTDOWN_GRACE = 5.0
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {sig} ({name})"
    return f"exited with code {os.WEXITSTATUS(status)}"


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.nshards = int(config.get("shards"))
        self.channels: list[Channel] = []
        self.region: SharedRegion | None = None
        self.slotmap: SlotMap | None = None
        self.front_pid = 0
        self.shard_pids: dict[int, int] = {}
        self.shard_started: dict[int, float] = {}
        self.quick_deaths: dict[int, int] = {}
        self.signals: list[int] = []
        self.ready = False
        self.stopping = False
        self.exit_code = 0
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.ctl, self._ctl_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    # -- children ------------------------------------------------------------
    def _fork(self, role: str, body: Callable[[], int]) -> int:
        parent = os.getpid()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            _set_pdeathsig(signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(1)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self.ctl.close()
            code = body()
        except BaseException:
            log.warning(f"{role} crashed:\n{traceback.format_exc()}")
            code = 1
        finally:
            os._exit(code)

    def start_shard(self, index: int) -> None:
        from shardserver.shard.worker import shard_main

        assert self.slotmap is not None
        ranges = self.slotmap.ranges(index)
        settings = self.config.to_dict()
        channel = self.channels[index]
        ctl_child = self._ctl_child

        def body() -> int:
            ctl_child.close()
            return shard_main(index, self.nshards, channel, ranges, settings)

        pid = self._fork(f"shard {index}", body)
        self.shard_pids[index] = pid
        self.shard_started[index] = time.monotonic()

    def start_front(self) -> None:
        from shardserver.front.server import front_main

        assert self.slotmap is not None
        slotmap = self.slotmap
        ctl_child = self._ctl_child

        def body() -> int:
            return front_main(self.config, self.channels, slotmap, ctl_child)

        self.front_pid = self._fork("front", body)

    # -- signals -----------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)  # enqueue only; the loop acts

    def install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    # -- main loop -------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.config
        removed = sweep_stale()
        if removed:
            log.notice(f"Removed {len(removed)} stale shared-memory segment(s) of dead instances")
        self.region = SharedRegion.create(MAP_BYTES, "slots")
        self.slotmap = SlotMap(self.region.buf)
        self.slotmap.assign_even(self.nshards)
        self.channels = [Channel.create(i) for i in range(self.nshards)]
        pidfile = str(cfg.get("pidfile"))
        if pidfile:
            with open(pidfile + ".tmp", "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(pidfile + ".tmp", pidfile)
        if str(cfg.get("save")):
            log.warning("'save' points are set, but shardserver writes no RDB snapshots: nothing is saved to disk")
        log.notice(
            f"shardserver {__version__} starting: pid {os.getpid()}, {self.nshards} shard(s), "
            f"port {cfg.get('port')}, dir {os.getcwd()}"
        )
        self.install_signals()
        for i in range(self.nshards):
            self.start_shard(i)
        self.start_front()
        log.notice(f"Started front (pid {self.front_pid}) and shards " + ", ".join(f"{i}:{p}" for i, p in sorted(self.shard_pids.items())))
        sdnotify.notify("STATUS=Loading shards")
        while not self.stopping:
            try:
                readable, _, _ = select.select([self._wake_r, self.ctl], [], [], 1.0)
            except InterruptedError:
                readable = []
            if self._wake_r in readable:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if self.ctl in readable:
                self._on_control()
            self._handle_signals()
            self._reap()
        self._shutdown()
        return self.exit_code

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT):
                log.warning(f"Received {signal.Signals(sig).name}, scheduling shutdown...")
                self.stopping = True
            elif sig == signal.SIGHUP:
                log.notice("Received SIGHUP: configuration reload is not implemented yet; ignoring")

    def _on_control(self) -> None:
        try:
            data = self.ctl.recv(4096)
        except OSError:
            return
        if not data:
            return
        words = data.decode().split()
        if not words:
            return
        if words[0] == "ready":
            self.ready = True
            port = words[1]
            log.notice(f"Ready to accept connections tcp port {port} ({self.nshards} shard(s))")
            sdnotify.notify("READY=1", f"STATUS=Ready to accept connections on port {port}", f"MAINPID={os.getpid()}")
        elif words[0] == "reset":
            index = int(words[1])
            if not self.stopping:
                self.start_shard(index)
                log.notice(f"Restarted shard {index} as pid {self.shard_pids[index]}; it starts empty (no AOF yet)")
        elif words[0] == "shutdown":
            log.warning(f"User requested shutdown ({words[1] if len(words) > 1 else 'default'})...")
            self.stopping = True
        elif words[0] == "failed":
            log.warning("Front could not start listening; halting")
            self.exit_code = 1
            self.stopping = True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._child_exited(pid, status)

    def _child_exited(self, pid: int, status: int) -> None:
        how = describe_status(status)
        if pid == self.front_pid:
            self.front_pid = 0
            if not self.stopping:
                log.warning(f"Front (pid {pid}) {how}; shutting down")
                self.exit_code = 1
                self.stopping = True
            return
        for index, spid in list(self.shard_pids.items()):
            if spid != pid:
                continue
            del self.shard_pids[index]
            if self.stopping:
                return
            log.warning(f"Shard {index} (pid {pid}) {how}")
            lived = time.monotonic() - self.shard_started.get(index, 0)
            if not self.ready or lived < 1.0:
                self.quick_deaths[index] = self.quick_deaths.get(index, 0) + 1
            else:
                self.quick_deaths[index] = 0
            if not self.ready or self.quick_deaths[index] >= 3:
                log.warning(f"Shard {index} fails at start-up; halting instead of restarting in a loop")
                self.exit_code = 1
                self.stopping = True
                return
            try:
                self.ctl.send(f"down {index}".encode())
            except OSError:
                self.stopping = True
            return

    # -- shutdown -------------------------------------------------------------------
    def _wait_for(self, pids: list[int], deadline: float) -> list[int]:
        left = [p for p in pids if p]
        while left and time.monotonic() < deadline:
            for p in list(left):
                try:
                    done, _ = os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    done = p
                if done:
                    left.remove(p)
            if left:
                time.sleep(0.01)
        return left

    def _stop(self, pids: list[int], what: str) -> None:
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stuck = self._wait_for(pids, time.monotonic() + SHUTDOWN_GRACE)
        for p in stuck:
            log.warning(f"{what} pid {p} did not exit in {SHUTDOWN_GRACE}s; killing it")
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait_for(stuck, time.monotonic() + SHUTDOWN_GRACE)

    def _shutdown(self) -> None:
        sdnotify.notify("STOPPING=1", "STATUS=Shutting down")
        if self.front_pid:
            self._stop([self.front_pid], "Front")
        self._stop(list(self.shard_pids.values()), "Shard")
        for ch in self.channels:
            ch.close()
        if self.region is not None:
            self.slotmap = None
            try:
                self.region.close()
            except BufferError:
                pass
        path = str(self.config.get("unixsocket"))
        if path and os.path.exists(path):
            try:
                os.unlink(path)
            except OSError:
                pass
        pidfile = str(self.config.get("pidfile"))
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        log.notice("shardserver is now ready to exit, bye bye...")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-v", "--version"):
        print(f"shardserver v={__version__} valkey_compat={__import__('shardserver').VALKEY_VERSION}")
        return
    if args and args[0] in ("-h", "--help"):
        print("Usage: shardserver [/path/to/shardserver.conf] [--directive value ...]\n"
              "       shardserver --version\n\n"
              "Every directive of the config file can be given on the command line, e.g.\n"
              "  shardserver --port 7777 --shards 2\n")
        return
    try:
        config = parse_args(args)
    except ConfigError as exc:
        sys.stderr.write(format_fatal(exc) + "\n")
        sys.exit(1)
    log.setup("S", str(config.get("loglevel")), str(config.get("logfile")))
    directory = str(config.get("dir"))
    try:
        os.chdir(directory)
    except OSError as exc:
        sys.stderr.write(f"Can't chdir to '{directory}': {exc.strerror}\n")
        sys.exit(1)
    sys.exit(Supervisor(config).run())


if __name__ == "__main__":
    main()
