"""The supervisor: the ``shardserver`` process that owns the other processes.

Ownership: the supervisor owns lifecycles only — it creates the shared memory
(rings, slot map), forks one front and N shards, reaps and restarts them, and
shuts everything down in order.  Signal handlers only enqueue the signal
number; the loop below acts and logs.  It never touches client data.

Children are forked (not spawned) on purpose: the eventfd doorbells and the
already-unlinked shared-memory mappings are inherited across ``fork`` only, so
nothing is ever left in /dev/shm, even after SIGKILL.  Each child asks the
kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG).

systemd (see docs/install.md and systemd/shardserver.service): the supervisor
is the unit's main process and the only one that notifies.  It sends READY=1
once the front reports that every shard serves, STATUS= lines while loading,
serving and restarting a shard, EXTEND_TIMEOUT_USEC= while shards load, and
WATCHDOG=1 only after a health check passed: the supervisor asks the front
(``health <seq> <timeout>`` on the control socketpair), the front pings every
shard and answers ``health <seq> ok|fail <json>``.  No answer in time means no
ping, so a wedged front, a stopped shard or a shard being restarted lets
systemd's watchdog fire.  SIGHUP (``systemctl reload``) re-reads the config
file and sends the changed run-time directives to the front (``reload``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from ipc.channel import Channel
from ipc.shm import SharedRegion, sweep_stale
from shardserver import __version__, log, sdnotify
from shardserver.config import DIRECTIVES, Config, ConfigError, format_fatal, parse_args
from shardserver.slots import MAP_BYTES, SlotMap

SHUTDOWN_GRACE = 5.0
SHUTDOWN_SAVE_GRACE = 25.0
# How often STATUS= is refreshed (and EXTEND_TIMEOUT_USEC= sent while loading)
# when the watchdog does not ask for a shorter period.
STATUS_EVERY = 5.0
# Each EXTEND_TIMEOUT_USEC= moves systemd's start deadline this far ahead; several
# times STATUS_EVERY, so one late tick on a busy machine does not fail the start.
EXTEND_BY_USEC = 30_000_000
# Upper bound of the front's wait for the shards' pings: a healthy shard answers in
# well under a millisecond; seconds mean it is stuck, whatever the watchdog period.
HEALTH_TIMEOUT_MAX = 5.0
# How long a reload may wait for the front before systemd is told it is over anyway.
RELOAD_TIMEOUT = 5.0
# CONFIG SET accepts 'dir', but every process chdir'd to it at start: changing it in
# the front alone would split them, so a reload treats it as needing a restart.
RESTART_ONLY = frozenset({"dir"})
# Values never written to the log.
SECRETS = frozenset({"requirepass"})
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


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Run a block in ``path`` (if it still exists), then come back.

    A reload must resolve relative paths in the config file (``dir``) exactly as
    at start-up, from the directory the server was started in -- not from
    ``dir``, where the supervisor lives since.
    """
    here = os.getcwd()
    try:
        os.chdir(path)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.chdir(here)


def _shown(name: str, value: str) -> str:
    return "(changed)" if name in SECRETS else repr(value)


class Supervisor:
    def __init__(self, config: Config, argv: list[str] | None = None, launch_dir: str | None = None) -> None:
        self.config = config
        # What the config was built from, for SIGHUP: the file (absolute path) and
        # the command-line options, which keep winning over the file on reload.
        self.argv = list(argv or [])
        self.config_file = self.argv[0] if self.argv and not self.argv[0].startswith("-") else ""
        self.launch_dir = launch_dir or os.getcwd()
        self.file_config: Config | None = None  # the file alone: to tell "overridden" from "unchanged"
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
        # systemd: all of this is idle unless $NOTIFY_SOCKET is set.
        self.notifying = sdnotify.enabled()
        watchdog = sdnotify.watchdog_usec()
        # Ping twice per watchdog period, as sd_watchdog_enabled(3) recommends.
        self.watchdog_every = watchdog / 2e6 if watchdog else 0.0
        self.tick = min(STATUS_EVERY, self.watchdog_every) if watchdog else STATUS_EVERY
        self.next_tick = 0.0
        self.health_seq = 0
        self.health_pending: tuple[int, float] | None = None  # (seq, deadline)
        self.healthy: bool | None = None  # last health verdict (None: none yet)
        self.restarting: set[int] = set()
        self.port = ""
        self.reload_seq = 0
        self.reload_pending: tuple[int, list[tuple[str, str]], float] | None = None  # (seq, pairs, deadline)
        self.reload_wanted = False  # SIGHUP before ready: reload once ready

    # -- children ------------------------------------------------------------
    def _fork(self, role: str, body: Callable[[], int]) -> int:
        parent = os.getpid()
        # Signals stay blocked across the fork: one arriving before the child has
        # replaced the supervisor's handlers would only be queued for a loop the
        # child never runs (a SIGTERM right after start-up was lost that way).
        blocked = {signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGINT}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            return pid
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            # Reloads are the supervisor's: a SIGHUP sent to the whole group
            # (`systemctl kill -s HUP`, a closed terminal) must not kill a child.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            _set_pdeathsig(signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(1)
            sdnotify.forget()  # only the supervisor talks to systemd
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
        log.notice(
            f"shardserver {__version__} starting: pid {os.getpid()}, {self.nshards} shard(s), "
            f"port {cfg.get('port')}, dir {os.getcwd()}"
        )
        self.install_signals()
        for i in range(self.nshards):
            self.start_shard(i)
        self.start_front()
        log.notice(f"Started front (pid {self.front_pid}) and shards " + ", ".join(f"{i}:{p}" for i, p in sorted(self.shard_pids.items())))
        self.file_config = self._parse_file_only()
        # The first loop iteration sends EXTEND_TIMEOUT_USEC= and asks for health.
        sdnotify.notify(f"STATUS=Loading shards (0/{self.nshards} up)")
        while not self.stopping:
            timeout = self._run_timers()
            try:
                readable, _, _ = select.select([self._wake_r, self.ctl], [], [], timeout)
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
                self._reload()

    def _on_control(self) -> None:
        try:
            data = self.ctl.recv(4096)
        except OSError:
            return
        if not data:
            return
        words = data.decode().split(maxsplit=3)
        if not words:
            return
        if words[0] == "ready":
            self.ready = True
            self.port = words[1]
            log.notice(f"Ready to accept connections tcp port {self.port} ({self.nshards} shard(s))")
            # Logged first, notified second: whoever sees READY=1 finds the line logged.
            sdnotify.notify("READY=1", f"STATUS=Ready to accept connections on port {self.port}", f"MAINPID={os.getpid()}")
            # the Prometheus exporter, if metrics-port is set
            from shardserver.metrics import start_metrics

            start_metrics(self, int(self.port))
            self.next_tick = 0.0  # first health check (and watchdog ping) right away
            if self.reload_wanted:
                self.reload_wanted = False
                self._reload()
        elif words[0] == "health":
            self._on_health(words)
        elif words[0] == "reloaded":
            self._on_reloaded(words)
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

    # -- systemd: status, watchdog, start timeout ----------------------------------
    def _run_timers(self) -> float:
        """Expire a reload the front did not confirm; send what is due to systemd.

        Returns how long the loop may sleep.
        """
        now = time.monotonic()
        if self.reload_pending is not None and now >= self.reload_pending[2]:
            self.reload_pending = None
            log.warning(f"Reload: no answer from the front within {RELOAD_TIMEOUT}s; its configuration is unknown")
            self._reload_done("Reload unconfirmed: no answer from the front")
        if not self.notifying or self.stopping:
            return 1.0 if self.reload_pending is None else max(0.0, min(1.0, self.reload_pending[2] - now))
        if self.health_pending is not None and now >= self.health_pending[1]:
            self.health_pending = None
            self._health_verdict(False, f"the front did not answer the health check within {self._health_deadline():.2f}s", {})
        if now >= self.next_tick:
            self.next_tick = now + self.tick
            if not self.ready:
                # Shards still loading: keep systemd's start timeout from firing. The
                # loop only gets here while every child is alive (a child dying at
                # start-up halts the server), so a crash never looks like a long load.
                sdnotify.notify(f"EXTEND_TIMEOUT_USEC={EXTEND_BY_USEC}")
            if self.health_pending is None and self.front_pid:
                self._ask_health(now)
        wait = self.next_tick - now
        if self.health_pending is not None:
            wait = min(wait, self.health_pending[1] - now)
        if self.reload_pending is not None:
            wait = min(wait, self.reload_pending[2] - now)
        return max(0.0, min(wait, 1.0))

    def _health_wait(self) -> float:
        """How long the front waits for the shards' pings: half a tick, at most 5 s."""
        return min(self.tick / 2, HEALTH_TIMEOUT_MAX)

    def _health_deadline(self) -> float:
        """How long the supervisor waits for the front's answer.

        A little longer than the front's own wait, shorter than a tick: at most one
        request is ever outstanding, and a late answer is ignored (stale seq).
        """
        return min(self.tick * 0.9, self._health_wait() + 1.0)

    def _ask_health(self, now: float) -> None:
        self.health_seq += 1
        try:
            # Non-blocking: a front that stopped reading must not stop the supervisor.
            self.ctl.send(f"health {self.health_seq} {self._health_wait():.3f}".encode(), socket.MSG_DONTWAIT)
        except OSError:
            self._health_verdict(False, "the front does not read its control channel", {})
            return
        self.health_pending = (self.health_seq, now + self._health_deadline())

    def _on_health(self, words: list[str]) -> None:
        """``health <seq> ok|fail <json>`` from the front."""
        if len(words) < 3 or self.health_pending is None or int(words[1]) != self.health_pending[0]:
            return  # an answer that came after its deadline: already counted as failed
        self.health_pending = None
        try:
            info = json.loads(words[3]) if len(words) > 3 else {}
        except ValueError:
            info = {}
        self._health_verdict(words[2] == "ok", str(info.get("reason", "")), info)

    def _health_verdict(self, ok: bool, reason: str, info: dict[str, Any]) -> None:
        if not self.ready:
            if "up" in info and not self.stopping:
                sdnotify.notify(f"STATUS=Loading shards ({info['up']}/{self.nshards} up)")
            return
        if ok:
            self.restarting.clear()
            if self.healthy is False:
                log.notice("Health check passes again: every shard answers")
            self.healthy = True
            status = (
                f"STATUS=Ready: {info.get('clients', 0)} clients, {info.get('ops', 0)} ops/s, "
                f"{self.nshards} shards, port {self.port}"
            )
            lines = [status, "WATCHDOG=1"] if self.watchdog_every else [status]
            sdnotify.notify(*lines)
            return
        if self.healthy is not False:
            extra = "; not pinging the systemd watchdog" if self.watchdog_every else ""
            log.warning(f"Health check failed: {reason}{extra}")
        self.healthy = False
        if self.restarting:
            sdnotify.notify("STATUS=Restarting shard " + ", ".join(map(str, sorted(self.restarting))))
        else:
            sdnotify.notify(f"STATUS=Unhealthy: {reason}")

    # -- SIGHUP: configuration reload ----------------------------------------------
    def _parse_file_only(self) -> Config | None:
        if not self.config_file:
            return None
        try:
            with _working_directory(self.launch_dir):
                return parse_args([self.config_file])
        except ConfigError:
            return None

    def _reload(self) -> None:
        """Re-read the config file; send the changed run-time directives to the front.

        Compared with what the file said before (not with CONFIG SET changes made
        since), so a reload applies what was edited and leaves the rest alone.
        Command-line options are parsed after the file again, so they keep winning.
        """
        if not self.config_file:
            log.notice("Received SIGHUP: started without a config file, nothing to reload")
            return
        if not self.ready:
            log.notice("Received SIGHUP during start-up: reloading the configuration once ready")
            self.reload_wanted = True
            return
        if self.reload_pending is not None:
            log.notice("Received SIGHUP while a reload is in progress: reloading again once it is done")
            self.reload_wanted = True
            return
        log.notice(f"Received SIGHUP, reloading the configuration from {self.config_file}")
        sdnotify.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
                        "STATUS=Reloading the configuration")
        try:
            with _working_directory(self.launch_dir):
                new = parse_args(self.argv)
                new_file = parse_args([self.config_file])
        except ConfigError as exc:
            log.warning(f"Reload failed, nothing applied: {exc}")
            self._reload_done("Reload failed: configuration error (see the log)")
            return
        pairs: list[tuple[str, str]] = []
        for name, directive in DIRECTIVES.items():
            running, wanted = self.config.get(name), new.get(name)
            if running == wanted:
                if self.file_config is not None and self.file_config.get(name) != new_file.get(name):
                    log.notice(f"{name} changed in the file, but the command line sets it: keeping the command-line value")
                continue
            if not directive.mutable or name in RESTART_ONLY:
                shown = _shown(name, new.config_get([name])[0][1])
                log.warning(f"{name} changed in the file (to {shown}): restart needed, keeping the running value")
                continue
            pairs.append((name, new.config_get([name])[0][1]))
        self.file_config = new_file
        if not pairs:
            log.notice("Configuration reloaded: no run-time directive changed")
            self._reload_done("")
            return
        self.reload_seq += 1
        message = f"reload {self.reload_seq} {json.dumps(pairs)}".encode()
        try:
            self.ctl.send(message, socket.MSG_DONTWAIT)
        except OSError as exc:
            log.warning(f"Reload failed, nothing applied: cannot reach the front ({exc})")
            self._reload_done("Reload failed: front unreachable")
            return
        self.reload_pending = (self.reload_seq, pairs, time.monotonic() + RELOAD_TIMEOUT)

    def _on_reloaded(self, words: list[str]) -> None:
        """``reloaded <seq> ok`` or ``reloaded <seq> fail <reason>`` from the front."""
        pending = self.reload_pending
        if pending is None or len(words) < 3 or int(words[1]) != pending[0]:
            return
        self.reload_pending = None
        pairs = pending[1]
        if words[2] != "ok":
            reason = " ".join(words[3:]) or "unknown reason"
            log.warning(f"Reload failed, nothing applied: the front refused it: {reason}")
            self._reload_done("Reload failed: refused by the front (see the log)")
            return
        before = dict(self.config.config_get([name for name, _ in pairs]))
        # Keep the supervisor's copy in step: it is what a restarted shard starts with
        # and what the next reload compares with.
        self.config.config_set(pairs)
        changes = ", ".join(f"{name} {_shown(name, before[name])} -> {_shown(name, value)}" for name, value in pairs)
        # Announced before a new loglevel applies here: 'loglevel warning' must not hide it.
        log.notice(f"Configuration reloaded: {changes}")
        if "loglevel" in before:
            log.set_level(str(self.config.get("loglevel")))
        self._reload_done("")

    def _reload_done(self, status: str) -> None:
        sdnotify.notify("READY=1", f"STATUS={status or f'Ready to accept connections on port {self.port}'}")
        if self.reload_wanted and self.ready:
            self.reload_wanted = False
            self._reload()

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
            self.restarting.add(index)
            sdnotify.notify(f"STATUS=Restarting shard {index}")
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

    def _stop(self, pids: list[int], what: str, grace: float = SHUTDOWN_GRACE) -> None:
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stuck = self._wait_for(pids, time.monotonic() + grace)
        for p in stuck:
            log.warning(f"{what} pid {p} did not exit in {grace}s; killing it")
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait_for(stuck, time.monotonic() + SHUTDOWN_GRACE)

    def _shutdown(self) -> None:
        sdnotify.notify("STOPPING=1", "STATUS=Shutting down")
        if self.front_pid:
            self._stop([self.front_pid], "Front")
        # a shard may write its final snapshot as it exits (save points, AOF off): time for it,
        # within systemd's TimeoutStopSec=30
        self._stop(list(self.shard_pids.values()), "Shard", SHUTDOWN_SAVE_GRACE if self.config.snapshot_at_exit() else SHUTDOWN_GRACE)
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
    if args and not args[0].startswith("-"):
        # Absolute, so SIGHUP finds the file after the chdir below (as Valkey does).
        args = [os.path.abspath(args[0]), *args[1:]]
    launch_dir = os.getcwd()
    log.setup("S", str(config.get("loglevel")), str(config.get("logfile")))
    directory = str(config.get("dir"))
    try:
        os.chdir(directory)
    except OSError as exc:
        sys.stderr.write(f"Can't chdir to '{directory}': {exc.strerror}\n")
        sys.exit(1)
    if config.get("appendonly"):
        # checked before any process starts, as Valkey stops at start-up (each shard would fail alike)
        from shardserver.shard.persist import make_aof_dir

        aof_dir = os.path.join(directory, str(config.get("appenddirname")))
        try:
            make_aof_dir(aof_dir)
        except OSError as exc:
            log.warning(f"Can't open or create append-only dir {aof_dir}: {exc.strerror}")
            sys.exit(1)
    sys.exit(Supervisor(config, args, launch_dir).run())


if __name__ == "__main__":
    main()
